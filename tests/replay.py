"""Store a recorded judge output as a finished run: replay mode (METRICS.md §6.2).

A judge's proposals (names, definitions, member notes) recorded elsewhere, or produced by a
simulated judge, are stored through the same code path as a live run
(:func:`service.run_store.store_results`): clusters, immutable proposals and members, pending
proposal states, and the blind audit draw. Notes of the batch in no proposal are the judge's
noise (unclustered). No embedding or clustering happens here, so the simulation in
``bench/simulate_agreement.py`` and the agreement tests can exercise the review log, the audit
draw and every agreement figure on a known judge output quickly.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import select

from judges import CategoryProposal, ClusterSample
from judges.judge import SampleNote
from service.context import Services
from service.errors import BadInput, NotFound
from service.runs.store import ClusterResult, store_results
from service.storage.models import Batch, Note, Run


@dataclass(frozen=True, slots=True)
class RecordedProposal:
    """One proposal of a recorded judge output.

    Attributes:
        name: The judge's name for the category.
        note_ids: The notes the judge put in it (disjoint across proposals).
        definition: The judge's definition.
    """

    name: str
    note_ids: tuple[int, ...]
    definition: str = ""


def _batch_notes(services: Services, project_id: int, batch_id: int) -> dict[int, str]:
    with services.db.transaction() as session:
        batch = session.get(Batch, batch_id)
        if batch is None or batch.project_id != project_id:
            raise NotFound(f"no batch {batch_id} in this project", field="batch_id")
        rows = session.execute(
            select(Note.id, Note.text).where(Note.batch_id == batch_id).order_by(Note.id)
        ).all()
    return {int(i): str(t) for i, t in rows}


def _check(proposals: Sequence[RecordedProposal], notes: dict[int, str]) -> None:
    seen: set[int] = set()
    for p in proposals:
        if not p.note_ids:
            raise BadInput(f"proposal {p.name!r} has no notes", field="proposals")
        strangers = set(p.note_ids) - notes.keys()
        if strangers or seen & set(p.note_ids):
            raise BadInput(
                f"proposal {p.name!r}: notes outside the batch or in two proposals",
                field="proposals",
            )
        seen |= set(p.note_ids)


def _result(proposals: Sequence[RecordedProposal], notes: dict[int, str]) -> ClusterResult:
    ids = sorted(notes)
    label_of = {n: k for k, p in enumerate(proposals) for n in p.note_ids}
    labels = np.array([label_of.get(n, -1) for n in ids], dtype=np.int_)
    samples, judged = [], []
    for k, p in enumerate(proposals):
        members = tuple(SampleNote(n, notes[n]) for n in p.note_ids)
        samples.append(ClusterSample(k, len(members), (), members, members[:3]))
        judged.append(CategoryProposal(p.name, p.definition, tuple(p.note_ids), confidence=1.0))
    return ClusterResult(
        note_ids=ids,
        labels=labels,
        raw_labels=labels.copy(),
        probabilities=np.ones(len(ids), dtype=np.float64),
        reassigned=np.zeros(len(ids), dtype=np.bool_),
        samples=samples,
        proposals=judged,
        min_cluster_size=0,
    )


def _new_run(
    services: Services,
    project_id: int,
    batch_id: int,
    judge_id: str,
    judge_version: str,
    seed: int,
    created_by: str | None,
) -> int:
    """A running run row for the recorded output (``store_results`` finishes it)."""
    params = {"scope": "batch", "replay": True, "judge_id": judge_id}
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()
    with services.db.transaction() as session:
        run = Run(
            project_id=project_id,
            batch_id=batch_id,
            scope="batch",
            seed=seed,
            params=params,
            config_hash=digest,
            status="running",
            stage="store",
            judge_id=judge_id,
            judge_version=judge_version,
            created_by=created_by,
            timings={},
            started_at=datetime.now(UTC),
        )
        session.add(run)
        session.flush()
        return int(run.id)


def store_judge_output(
    services: Services,
    project_id: int,
    batch_id: int,
    proposals: Sequence[RecordedProposal],
    *,
    judge_id: str,
    judge_version: str,
    seed: int = 0,
    created_by: str | None = None,
) -> int:
    """Store a recorded judge output over a batch as a finished run; returns the run id.

    Args:
        services: The app's services.
        project_id: The batch's project.
        batch_id: The batch the judge labelled (every note of it is in the run).
        proposals: The judge's proposals; batch notes in none are the judge's noise.
        judge_id: Kind of judge (e.g. ``simulated``).
        judge_version: Version of the judge (agreement figures are kept per version).
        seed: The run's seed (the audit draw uses it).
        created_by: Who stored it.

    Raises:
        NotFound: The batch is not in the project.
        BadInput: A proposal is empty, or has notes outside the batch or in two proposals.
    """
    notes = _batch_notes(services, project_id, batch_id)
    _check(proposals, notes)
    run_id = _new_run(services, project_id, batch_id, judge_id, judge_version, seed, created_by)
    store_results(services, run_id, _result(proposals, notes), {})
    return run_id
