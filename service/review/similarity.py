"""How close proposals and categories are: cosine between centroids of stored embeddings.

Two uses: the nearest confirmed categories of a proposal (:func:`nearest_categories`), and the
**merge suggestions** of a run's pending proposals (:func:`merge_suggestions`): for each, the
closest other pending proposals of the run and active categories of the project, best first,
so that a merge is one key in the UI.

What they read that never changes is kept across requests
(:class:`service.review.vector_cache.VectorCache`, one per database engine): a note's vector under a model (notes and embeddings are only ever inserted),
and the centroid of a list of notes whose every note has one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import Session

from service.domain import CategoryStatus, ProposalStatus
from service.review.vector_cache import vector_cache
from service.storage.db import read
from service.storage.models import (
    Category,
    Embedding,
    Note,
    NoteAssignment,
    ProposalState,
    Run,
    RunNote,
)

if TYPE_CHECKING:  # NumPy is imported where vectors are read, so list and count reads skip it
    import numpy as np

CHUNK = 500  # ids per IN (...) query
MAX_SUGGESTIONS = 3
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class CategoryRef:
    """A confirmed category as a target: its id, name, note count and similarity (if scored)."""

    category_id: int
    name: str
    count: int = 0
    similarity: float | None = None


@dataclass(frozen=True, slots=True)
class MergeSuggestion:
    """Where a pending proposal could be merged: another pending proposal of the run or an
    active category (exactly one of the ids is set), and the cosine between their centroids."""

    name: str
    similarity: float
    proposal_id: int | None = None
    category_id: int | None = None

    @property
    def target(self) -> str:
        """The UI's destination value: ``p:<id>`` or ``c:<id>``."""
        return f"p:{self.proposal_id}" if self.proposal_id is not None else f"c:{self.category_id}"

    def to_json(self) -> dict[str, object]:
        return {
            "proposal_id": self.proposal_id,
            "category_id": self.category_id,
            "name": self.name,
            "similarity": self.similarity,
        }


def _model_id(run: Run, rows: list[tuple[str, str, bytes]]) -> str | None:
    model_id = (run.params or {}).get("embedding_model_id")
    if model_id is None and rows:
        model_id = Counter(r[0] for r in rows).most_common(1)[0][0]
    return str(model_id) if model_id is not None else None


def member_vectors(session: Session, run: Run, note_ids: list[int]) -> dict[int, np.ndarray]:
    """Stored embeddings of the notes for the run's model (the most common one if unnamed).

    A run that names its model (every run stores ``embedding_model_id``) reads the vectors by
    the embedding table's primary key (model id, text digest), not by digest alone (a scan).
    """
    import numpy as np

    if not note_ids:
        return {}
    ids = sorted(set(note_ids))
    shas: dict[int, str] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        rows_ = session.execute(select(Note.id, Note.text_sha256).where(Note.id.in_(chunk))).all()
        shas.update((int(n), str(sha)) for n, sha in rows_)
    digests = sorted(set(shas.values()))
    named = (run.params or {}).get("embedding_model_id")
    rows: list[tuple[str, str, bytes]] = []
    for start in range(0, len(digests), CHUNK):
        query = select(Embedding.model_id, Embedding.text_sha256, Embedding.vector).where(
            Embedding.text_sha256.in_(digests[start : start + CHUNK])
        )
        if named is not None:
            query = query.where(Embedding.model_id == str(named))
        rows += [(str(m), str(d), bytes(v)) for m, d, v in session.execute(query).all()]
    model_id = _model_id(run, rows)
    by_sha = {d: np.frombuffer(v, dtype=np.float32) for m, d, v in rows if m == model_id}
    return {int(n): by_sha[sha] for n, sha in shas.items() if sha in by_sha}


def _centroid(vectors: list[np.ndarray]) -> np.ndarray | None:
    import numpy as np

    if not vectors:
        return None
    c = np.mean(np.stack(vectors), axis=0)
    norm = float(np.linalg.norm(c))
    return c / norm if norm > 0 else None


class StateLike(Protocol):
    """What the similarity reads of a proposal state: a ``ProposalState``, or a row of one."""

    @property
    def proposal_id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def member_note_ids(self) -> list[Any]: ...


# The reads of every queue and proposal read, built once (service.storage.db.read).
_CATEGORY_NAMES = select(Category.id, Category.name).where(
    Category.project_id == bindparam("project_id"),
    Category.status == CategoryStatus.active.value,
)
_CATEGORY_MEMBERS = (
    select(NoteAssignment.note_id, NoteAssignment.category_id)
    .where(
        NoteAssignment.project_id == bindparam("project_id"),
        NoteAssignment.category_id.is_not(None),
    )
    .order_by(NoteAssignment.note_id)
)
_RUN_VECTORS = (
    select(RunNote.note_id, Embedding.vector)
    .join(Note, Note.id == RunNote.note_id)
    .outerjoin(  # a LEFT JOIN: the run's notes drive the join, vectors by primary key
        Embedding,
        and_(
            Embedding.model_id == bindparam("model_id"),
            Embedding.text_sha256 == Note.text_sha256,
        ),
    )
    .where(RunNote.run_id == bindparam("run_id"))
)


class RunSimilarity:
    """What the similarity of one run's proposals reads, read once (per request).

    The run's pending proposals, the project's active categories and their notes, and the
    notes' vectors: :func:`merge_suggestions` and :func:`nearest_categories` of one request
    share them. ``states`` (every proposal state of the run) and ``categories`` (the active
    categories' names by id) may be given when the caller has read them already.
    """

    def __init__(
        self,
        session: Session,
        run: Run,
        states: Sequence[StateLike] | None = None,
        categories: dict[int, str] | None = None,
    ) -> None:
        self.session, self.run = session, run
        self._states = states
        self._names = categories
        self._members: dict[int, list[int]] | None = None
        self._vectors: dict[int, np.ndarray] = {}
        self._asked: set[int] | None = None
        named = (run.params or {}).get("embedding_model_id")
        self._model = str(named) if named is not None else ""
        # a run without a named model takes the most common one: nothing kept for it
        self._cache = vector_cache(session) if named is not None else None

    @property
    def pending(self) -> dict[int, tuple[str, list[int]]]:
        """The run's pending proposals: name and member note ids, by proposal id."""
        states = self._states
        if states is None:
            states = list(
                self.session.scalars(
                    select(ProposalState).where(
                        ProposalState.run_id == self.run.id,
                        ProposalState.status == ProposalStatus.pending,
                    )
                )
            )
            self._states = states
        return {
            int(s.proposal_id): (s.name, [int(n) for n in s.member_note_ids])
            for s in states
            if s.status == ProposalStatus.pending
        }

    @property
    def category_names(self) -> dict[int, str]:
        """The project's active categories' names, by id."""
        if self._names is None:
            rows = read(self.session, _CATEGORY_NAMES, {"project_id": self.run.project_id})
            self._names = {int(cid): name for cid, name in rows}
        return self._names

    def category_members(self, wanted: set[int], exclude: set[int]) -> dict[int, list[int]]:
        """The note ids of each wanted category, by id, ``exclude`` left out."""
        if not wanted:
            return {}
        if self._members is None:
            self._members = {}
            rows = read(self.session, _CATEGORY_MEMBERS, {"project_id": self.run.project_id})
            for n, c in rows:
                if c is not None:
                    self._members.setdefault(int(c), []).append(int(n))
        return {
            c: [n for n in self._members.get(c, []) if n not in exclude] for c in sorted(wanted)
        }

    def vectors(self, note_ids: list[int] | set[int]) -> dict[int, np.ndarray]:
        """The notes' vectors (those that have one), each read once.

        Vectors kept from earlier requests are not read again; when some are not kept, the
        first call reads the vectors of every note of the run in one query (its proposals'
        notes are the run's), when the run names its model; notes of other runs (a category's
        earlier notes) are read by id.
        """
        wanted = set(note_ids)
        if self._cache is not None:
            for n in wanted - self._vectors.keys():
                kept = self._cache.vector(self._model, n)
                if kept is not None:
                    self._vectors[n] = kept
            if wanted <= self._vectors.keys():
                return self._vectors
        known = set(self._vectors)
        if self._asked is None:
            self._asked = self._read_run_vectors()
        missing = sorted(wanted - self._asked)
        if missing:
            self._vectors.update(member_vectors(self.session, self.run, missing))
            self._asked.update(missing)
        if self._cache is not None:
            self._cache.keep_vectors(
                self._model, {n: v for n, v in self._vectors.items() if n not in known}
            )
        return self._vectors

    def centroids(self, lists: dict[K, list[int]]) -> dict[K, np.ndarray | None]:
        """The centroid of each list of notes (``None``: no note of it has a vector): the ones
        kept from earlier requests, the others from one read of their notes' vectors."""
        out: dict[K, np.ndarray | None] = {}
        todo: dict[K, list[int]] = {}
        for key, notes in lists.items():
            if self._cache is not None:
                found, centre = self._cache.centroid(self._model, tuple(notes))
                if found:
                    out[key] = centre
                    continue
            todo[key] = notes
        if todo:
            vecs = self.vectors({n for notes in todo.values() for n in notes})
            for key, notes in todo.items():
                have = [vecs[n] for n in notes if n in vecs]
                out[key] = _centroid(have)
                if self._cache is not None and len(have) == len(notes):
                    self._cache.keep_centroid(self._model, tuple(notes), out[key])
        return out

    def _read_run_vectors(self) -> set[int]:
        """Every note of the run with its vector under the run's model, if any; the notes read."""
        import numpy as np

        named = (self.run.params or {}).get("embedding_model_id")
        if named is None:
            return set()
        params = {"model_id": str(named), "run_id": self.run.id}
        rows = read(self.session, _RUN_VECTORS, params).all()
        for n, vector in rows:
            if vector is not None:
                self._vectors[int(n)] = np.frombuffer(bytes(vector), dtype=np.float32)
        return {int(n) for n, _ in rows}


def nearest_categories(
    session: Session,
    run: Run,
    note_ids: list[int],
    categories: list[CategoryRef],
    k: int = 3,
    similarity: RunSimilarity | None = None,
) -> list[CategoryRef]:
    """Up to ``k`` active categories closest to the proposal's members (cosine of centroids)."""
    if not categories or not note_ids:
        return []
    found = similarity or RunSimilarity(session, run)
    wanted = {c.category_id for c in categories}
    members = found.category_members(wanted, set(note_ids))
    lists: dict[int | None, list[int]] = {None: note_ids}
    lists.update(members.items())
    centres = found.centroids(lists)
    mine = centres[None]
    if mine is None:
        return []
    scored = []
    for cat in categories:
        centre = centres[cat.category_id]
        if centre is not None:
            sim = round(float(mine @ centre), 3)
            scored.append(CategoryRef(cat.category_id, cat.name, cat.count, sim))
    scored.sort(key=lambda c: -(c.similarity or 0.0))
    return scored[:k]


def merge_suggestions(
    session: Session,
    run: Run,
    proposal_ids: list[int] | None = None,
    k: int = MAX_SUGGESTIONS,
    similarity: RunSimilarity | None = None,
) -> dict[int, list[MergeSuggestion]]:
    """The closest merge targets of the run's pending proposals, best first, at most ``k`` each.

    Targets are the run's other pending proposals and the project's active categories (a
    confirmed proposal's notes are in its category, which stands for it), scored by the cosine
    between centroids of the stored embeddings (the run's model).

    Args:
        session: The open transaction.
        run: The run.
        proposal_ids: The proposals to suggest for (default: every pending one); decided ones get
            none.
        k: Most suggestions per proposal.
        similarity: What the request has read of the run already (read here otherwise).

    Returns:
        Suggestions by proposal id (an empty list for a proposal without embedded members).
    """
    import numpy as np

    found = similarity or RunSimilarity(session, run)
    pending = found.pending
    asked = list(pending) if proposal_ids is None else proposal_ids
    out: dict[int, list[MergeSuggestion]] = {pid: [] for pid in asked}
    sources = [pid for pid in asked if pid in pending]
    if not sources:
        return out
    names = found.category_names
    held = {n for _, notes in pending.values() for n in notes}
    members = found.category_members(set(names), held)
    lists: dict[tuple[bool, int], list[int]] = {(True, pid): ns for pid, (_, ns) in pending.items()}
    lists.update(((False, cid), members[cid]) for cid in names)
    found_centres = found.centroids(lists)
    targets: list[tuple[MergeSuggestion, np.ndarray]] = []
    centres: dict[int, np.ndarray] = {}
    for pid, (name, _) in pending.items():
        centre = found_centres[(True, pid)]
        if centre is not None:
            centres[pid] = centre
            targets.append((MergeSuggestion(name, 0.0, proposal_id=pid), centre))
    for cid, name in names.items():
        centre = found_centres[(False, cid)]
        if centre is not None:
            targets.append((MergeSuggestion(name, 0.0, category_id=cid), centre))
    if not targets:
        return out
    matrix = np.stack([c for _, c in targets])
    target_pids = np.array([-1 if t.proposal_id is None else t.proposal_id for t, _ in targets])
    for pid in sources:
        if pid not in centres:
            continue
        sims = matrix @ centres[pid]
        keep = _contenders(sims, np.flatnonzero(target_pids != pid), k)
        ranked = [replace(targets[i][0], similarity=round(float(sims[i]), 3)) for i in keep]
        ranked.sort(key=lambda s: (-s.similarity, s.target))
        out[pid] = ranked[:k]
    return out


def _contenders(sims: np.ndarray, keep: np.ndarray, k: int) -> np.ndarray:
    """The targets (indices in ``keep``) that can be among the ``k`` best once similarities are
    rounded to 3 decimals and ties broken by target: every one within 0.001 of the k-th best
    similarity. Rounding never reorders, so the others are beaten by k targets whatever the tie
    rule; ranking only the contenders gives the same k as ranking all."""
    import numpy as np

    if len(keep) <= k:
        return keep
    values = sims[keep]
    kth = float(np.partition(values, len(values) - k)[len(values) - k])
    if not np.isfinite(values).all():
        return keep
    contenders: np.ndarray = keep[values >= kth - 0.001]
    return contenders
