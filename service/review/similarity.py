"""Nearest confirmed categories of a proposal: cosine between centroids of stored embeddings."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.storage.models import Embedding, Note, NoteAssignment, Run


@dataclass(frozen=True, slots=True)
class CategoryRef:
    """A confirmed category as a target: its id, name, note count and similarity (if scored)."""

    category_id: int
    name: str
    count: int = 0
    similarity: float | None = None


def member_vectors(session: Session, run: Run, note_ids: list[int]) -> dict[int, np.ndarray]:
    """Stored embeddings of the notes for the run's model (the most common one if unnamed)."""
    if not note_ids:
        return {}
    shas = dict(
        session.execute(select(Note.id, Note.text_sha256).where(Note.id.in_(note_ids))).all()
    )
    rows = session.execute(
        select(Embedding.model_id, Embedding.text_sha256, Embedding.vector).where(
            Embedding.text_sha256.in_(set(shas.values()))
        )
    ).all()
    model_id = (run.params or {}).get("embedding_model_id")
    if model_id is None and rows:
        model_id = Counter(r.model_id for r in rows).most_common(1)[0][0]
    by_sha = {
        r.text_sha256: np.frombuffer(r.vector, dtype=np.float32)
        for r in rows
        if r.model_id == model_id
    }
    return {int(n): by_sha[sha] for n, sha in shas.items() if sha in by_sha}


def _centroid(vectors: list[np.ndarray]) -> np.ndarray | None:
    if not vectors:
        return None
    c = np.mean(np.stack(vectors), axis=0)
    norm = float(np.linalg.norm(c))
    return c / norm if norm > 0 else None


def nearest_categories(
    session: Session, run: Run, note_ids: list[int], categories: list[CategoryRef], k: int = 3
) -> list[CategoryRef]:
    """Up to ``k`` active categories closest to the proposal's members (cosine of centroids)."""
    if not categories or not note_ids:
        return []
    wanted = {c.category_id for c in categories}
    assigned = [
        (int(n), int(c))
        for n, c in session.execute(
            select(NoteAssignment.note_id, NoteAssignment.category_id).where(
                NoteAssignment.project_id == run.project_id, NoteAssignment.category_id.is_not(None)
            )
        )
        if c in wanted and n not in note_ids
    ]
    vecs = member_vectors(session, run, note_ids + [n for n, _ in assigned])
    mine = _centroid([vecs[n] for n in note_ids if n in vecs])
    if mine is None:
        return []
    scored = []
    for cat in categories:
        centre = _centroid([vecs[n] for n, c in assigned if c == cat.category_id and n in vecs])
        if centre is not None:
            sim = round(float(mine @ centre), 3)
            scored.append(CategoryRef(cat.category_id, cat.name, cat.count, sim))
    scored.sort(key=lambda c: -(c.similarity or 0.0))
    return scored[:k]
