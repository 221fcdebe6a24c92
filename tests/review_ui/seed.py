"""A small finished run written straight into the real database, for fast review tests.

The pipeline's own output (the demo run) is exercised by the browser tests; these tests need
exact, known proposals: three judge proposals of 6, 4 and 3 notes (the first of two clearly
separated halves, with stored embeddings so a suggested split has a right answer), plus four
unclustered notes, and the run's audit sample.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.audit.labels import draw_audit_sample
from service.review.projection import init_run_states
from service.storage.models import (
    Batch,
    Embedding,
    Note,
    Project,
    Proposal,
    ProposalMember,
    Run,
    RunNote,
)

MODEL_ID = "test-model"


@dataclass(frozen=True, slots=True)
class SeededRun:
    project_id: int
    run_id: int
    proposals: list[int]  # largest first: sizes 6, 4, 3
    members: dict[int, list[int]]
    halves: tuple[list[int], list[int]]  # the two true groups of the first proposal
    unclustered: list[int]


def _project(session: Session, name: str) -> Project:
    project = session.scalar(select(Project).where(Project.name == name))
    if project is None:
        project = Project(name=name)
        session.add(project)
        session.flush()
    return project


def _note(session: Session, project: Project, batch: Batch, text: str, i: int) -> Note:
    sha = hashlib.sha256(text.encode()).hexdigest()
    note = Note(
        project_id=project.id, batch_id=batch.id, text=text, text_sha256=sha,
        external_id=f"n{i}", trace_id=f"t{i}", trace_url=f"https://traces.example/t{i}",
        author=f"reviewer{i % 3}",
    )  # fmt: skip
    session.add(note)
    return note


def _vector(rng: np.random.Generator, centre: int) -> bytes:
    v = rng.normal(0, 0.05, 16).astype(np.float32)
    v[centre] += 1.0
    return (v / np.linalg.norm(v)).astype(np.float32).tobytes()


PROPOSALS = [
    ("Wrong refund amount", "The agent states a refund amount that does not match policy.",
     ["refund", "amount"], [f"refund amount wrong case {i}" for i in range(3)]
     + [f"tone too casual case {i}" for i in range(3)]),
    ("Hallucinated order status", "The agent invents a shipping status.", ["order", "status"],
     [f"made up shipping status {i}" for i in range(4)]),
    ("Ignored user language", "Answers in English to a non-English user.", ["language"],
     [f"replied in english to spanish user {i}" for i in range(3)]),
]  # fmt: skip


def seed_run(session: Session, project_name: str = "demo", xss: str | None = None) -> SeededRun:
    """Write one finished run with three pending judge proposals; returns their ids."""
    project = _project(session, project_name)
    batch = Batch(
        project_id=project.id, payload_sha256="0" * 64, source="test",
        n_received=17, n_stored=17, n_duplicates=0,
    )  # fmt: skip
    session.add(batch)
    session.flush()
    now = datetime.now(UTC)
    run = Run(
        project_id=project.id, batch_id=batch.id, scope="batch", seed=7,
        params={"embedding_model_id": MODEL_ID}, config_hash="x" * 64, status="succeeded",
        stage="done", done=17, total=17, n_notes=17, n_clusters=3, n_unclustered=4,
        judge_id="keyword-not-an-llm", judge_version="kw-1", started_at=now, finished_at=now,
    )  # fmt: skip
    session.add(run)
    session.flush()
    rng = np.random.default_rng(0)
    i = 0
    proposals, members = [], {}
    halves: tuple[list[int], list[int]] = ([], [])
    for label, (name, definition, keywords, texts) in enumerate(PROPOSALS):
        if xss and label == 2:
            texts = [*texts[:-1], xss]
        notes = []
        for j, text in enumerate(texts):
            text = f"{text} [{project_name}]"
            note = _note(session, project, batch, text, i)
            session.flush()
            session.add(RunNote(run_id=run.id, note_id=note.id, cluster_label=label,
                                raw_label=label, probability=0.9, reassigned=j == 1))  # fmt: skip
            centre = label * 2 + (1 if label == 0 and j >= 3 else 0)
            session.add(Embedding(model_id=MODEL_ID, text_sha256=note.text_sha256, dim=16,
                                  vector=_vector(rng, centre)))  # fmt: skip
            notes.append(note.id)
            i += 1
        proposal = Proposal(
            run_id=run.id, origin="judge", name=name, definition=definition, keywords=keywords,
            judge_id="keyword-not-an-llm", judge_version="kw-1", confidence=0.8,
            misfit_note_ids=notes[-1:],
        )  # fmt: skip
        session.add(proposal)
        session.flush()
        session.add_all(
            ProposalMember(proposal_id=proposal.id, note_id=n, rank=r, reassigned=r == 1)
            for r, n in enumerate(notes)
        )
        proposals.append(proposal.id)
        members[proposal.id] = notes
        if label == 0:
            halves = (notes[:3], notes[3:])
    unclustered = []
    for j in range(4):
        note = _note(session, project, batch, f"one-off oddity {j} [{project_name}]", i)
        session.flush()
        session.add(RunNote(run_id=run.id, note_id=note.id, cluster_label=-1, raw_label=-1,
                            probability=0.0))  # fmt: skip
        unclustered.append(note.id)
        i += 1
    session.flush()
    init_run_states(session, run.id)
    draw_audit_sample(session, run.id, 5, run.seed)
    return SeededRun(project.id, run.id, proposals, members, halves, unclustered)
