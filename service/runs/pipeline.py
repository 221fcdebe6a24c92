"""A run: load notes → embed (cached) → match → cluster → sample → judge → store, with progress.

``match`` carries the codebook over (:mod:`service.runs.carryover`): notes that fit a confirmed
category become carry-over proposals of it; only the rest is clustered and judged.

Each stage reports ``stage``, ``done`` and ``total`` on the run row and its seconds in
``timings``. Results are stored in one transaction at the end, so a run that fails (or a
process killed mid-run) leaves earlier runs, notes and reviews untouched. Every write goes
through the worker that claimed the run (``run.worker``): once the run is released or marked
interrupted, its old worker's progress, failure and results no longer reach it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import select, update

from clustering import (
    NoteClusterer,
    boundary_indices,
    ctfidf_keywords,
    nearest_clusters,
    representative_indices,
)
from judges import CategoryProposal, ClusterSample, ContrastCluster, ExistingCategory, SampleNote
from service.context import Services
from service.domain import CategoryStatus, RunStatus
from service.errors import BadInput
from service.runs import embedding_cache
from service.runs.carryover import CarryOver, label_groups, match_notes
from service.runs.heartbeat import Heartbeat
from service.runs.store import ClusterResult, RunLost, held_by, store_results
from service.storage.models import Category, Note, NoteAssignment, Run

Progress = Callable[[str, int, int], None]
log = logging.getLogger("axial.jobs")


@dataclass(frozen=True, slots=True)
class LoadedNotes:
    ids: list[int]
    texts: list[str]
    hashes: list[str]

    def subset(self, positions: npt.NDArray[np.int64]) -> LoadedNotes:
        return LoadedNotes(
            [self.ids[i] for i in positions],
            [self.texts[i] for i in positions],
            [self.hashes[i] for i in positions],
        )


@dataclass(frozen=True, slots=True)
class Clustered:
    """The clusterer's output for the notes left after carry-over (nothing for fewer than 2)."""

    labels: npt.NDArray[np.int64]
    raw_labels: npt.NDArray[np.int64]
    probabilities: npt.NDArray[np.float64]
    reassigned: npt.NDArray[np.bool_]
    min_cluster_size: int
    timings: dict[str, float]


def now() -> datetime:
    return datetime.now(UTC)


def clusterer_for(services: Services, seed: int, min_cluster_size: int | None) -> NoteClusterer:
    return NoteClusterer(
        min_cluster_size=min_cluster_size or services.settings.min_cluster_size,
        random_state=seed,
    )


def run_params(
    services: Services, seed: int, min_cluster_size: int | None, scope: str
) -> dict[str, Any]:
    """Everything that decides a run's clusters and proposals, for the config hash."""
    clusterer = clusterer_for(services, seed, min_cluster_size)
    settings = services.settings
    return {
        "scope": scope,
        "embedding_model": settings.embedding_model,
        "embedding_backend": settings.embedding_backend,
        "clusterer": {k: v for k, v in vars(clusterer).items() if k != "random_state"},
        "judge_id": services.judge.judge_id,
        "judge_version": services.judge.judge_version,
    }


def config_hash(params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()


def select_notes(services: Services, project_id: int, batch_id: int | None) -> LoadedNotes:
    """A batch's notes, or every note of the project without a human decision yet."""
    with services.db.transaction() as session:
        query = select(Note.id, Note.text, Note.text_sha256).where(Note.project_id == project_id)
        if batch_id is not None:
            query = query.where(Note.batch_id == batch_id)
        else:
            decided = select(NoteAssignment.note_id).where(NoteAssignment.project_id == project_id)
            query = query.where(Note.id.not_in(decided))
        rows = session.execute(query.order_by(Note.id)).all()
    return LoadedNotes([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])


def check_runnable(notes: LoadedNotes) -> None:
    if len(notes.ids) < 2:
        raise BadInput(
            f"a run needs at least 2 notes to cluster; this scope has {len(notes.ids)}",
            field="batch_id",
        )


class RunReporter:
    """Writes stage progress to the run row (its own short transactions) and tells ``echo``.

    ``echo`` hears every stage as it begins and every ``progress`` call; the row is written at
    each stage's start and at most every 0.5 s within one.
    """

    def __init__(
        self,
        services: Services,
        run_id: int,
        echo: Progress | None = None,
        holder: str | None = None,
    ) -> None:
        self.services, self.run_id, self.echo, self.holder = services, run_id, echo, holder
        self.timings: dict[str, float] = {}
        self._last = 0.0

    def stage(self, stage: str, total: int) -> None:
        """``stage`` begins: told to ``echo`` at once (0 of ``total``), then to the run row."""
        if self.echo is not None:
            self.echo(stage, 0, total)
        self._write(stage=stage, done=0, total=total)

    def progress(self, stage: str, done: int, total: int) -> None:
        if self.echo is not None:
            self.echo(stage, done, total)
        if time.monotonic() - self._last > 0.5 or done >= total:
            self._write(done=done, total=total)

    def _write(self, **values: Any) -> None:
        self._last = time.monotonic()
        with self.services.db.transaction() as session:
            session.execute(
                update(Run)
                .where(*held_by(self.run_id, self.holder))
                .values(heartbeat_at=now(), **values)
            )


def execute_run(services: Services, run_id: int, echo: Progress | None = None) -> None:
    """Execute a claimed run to the end; an error is recorded on the run (stage + message).

    The run is executed for the worker that claimed it (``run.worker``, read here): if that
    worker loses it meanwhile (released, or marked interrupted), nothing more is written.
    """
    with services.db.transaction() as session:
        run = session.get(Run, run_id)
        assert run is not None
        project_id, batch_id, seed = run.project_id, run.batch_id, run.seed
        min_size = run.params.get("clusterer", {}).get("min_cluster_size")
        holder = run.worker
    reporter = RunReporter(services, run_id, echo, holder)
    stage = "load"
    beat = Heartbeat(services, run_id, holder)
    beat.start()
    try:
        started = time.perf_counter()
        reporter.stage("load", 0)
        notes = select_notes(services, project_id, batch_id)
        check_runnable(notes)
        reporter.timings["load"] = time.perf_counter() - started
        stage = "embed"
        vectors = _timed(reporter, "embed", lambda: embed(services, notes, reporter))
        stage = "match"
        carry = _timed(
            reporter, "match", lambda: match(services, project_id, notes, vectors, reporter)
        )
        rest = carry.rest
        stage = "cluster"
        reporter.stage("cluster", len(rest))
        clustered = _timed(
            reporter, "cluster", lambda: cluster(services, seed, min_size, vectors[rest])
        )
        reporter.timings.update(clustered.timings)  # reduce / hdbscan / reassign split
        stage = "judge"
        part = notes.subset(rest)
        samples = build_samples(part, vectors[rest], clustered.labels, clustered.probabilities)
        proposals = _timed(
            reporter, "judge", lambda: judge(services, project_id, samples, reporter)
        )
        stage = "store"
        result = combine(notes, vectors, rest, carry, clustered, samples, proposals)
        reporter.stage("store", 1)
        store_results(services, run_id, result, reporter.timings, holder)
    except RunLost as exc:  # released or marked interrupted meanwhile: not ours to finish
        log.warning("%s", exc)
    except Exception as exc:  # the run records what failed; the worker goes on
        fail_run(services, run_id, stage, exc, reporter.timings, holder)
    finally:
        beat.stop()


def _timed(reporter: RunReporter, stage: str, work: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    result = work()
    reporter.timings[stage] = round(time.perf_counter() - started, 4)
    return result


def fail_run(
    services: Services,
    run_id: int,
    stage: str,
    exc: BaseException,
    timings: dict[str, float],
    holder: str | None = None,
) -> None:
    """Record the stage and error on the run, if ``holder`` still holds it."""
    message = f"{stage}: {type(exc).__name__}: {exc}"
    with services.db.transaction() as session:
        session.execute(
            update(Run)
            .where(*held_by(run_id, holder))
            .values(
                status=RunStatus.failed,
                stage=stage,
                error=message[:4000],
                finished_at=now(),
                timings=timings,
            )
        )


def embed(services: Services, notes: LoadedNotes, reporter: RunReporter) -> npt.NDArray[np.float32]:
    """Vectors for the notes, embedding only texts this model has never seen."""
    reporter.stage("embed", len(notes.ids))
    return embedding_cache.embed_with_cache(
        services.db,
        services.embedder,
        notes.texts,
        notes.hashes,
        on_progress=lambda done: reporter.progress("embed", done, len(notes.ids)),
    )


def match(
    services: Services,
    project_id: int,
    notes: LoadedNotes,
    vectors: npt.NDArray[np.float32],
    reporter: RunReporter,
) -> CarryOver:
    """Carry the codebook over: which notes fit a confirmed category (stage ``match``)."""
    reporter.stage("match", len(notes.ids))
    return match_notes(
        services,
        project_id,
        notes.ids,
        vectors,
        notes.texts,
        on_progress=lambda done, total: reporter.progress("match", done, total),
    )


def cluster(
    services: Services, seed: int, min_size: int | None, vectors: npt.NDArray[np.float32]
) -> Clustered:
    """Cluster the notes carry-over left (all noise when fewer than 2 are left)."""
    n = vectors.shape[0]
    if n < 2:
        none = np.full(n, -1, dtype=np.int64)
        size = min_size or services.settings.min_cluster_size or 0
        return Clustered(none, none.copy(), np.zeros(n), np.zeros(n, dtype=bool), size, {})
    fitted = clusterer_for(services, seed, min_size).fit(vectors)
    return Clustered(
        fitted.labels_,
        fitted.raw_labels_,
        fitted.probabilities_,
        fitted.reassigned_,
        fitted.min_cluster_size_,
        dict(fitted.timings_),
    )


def combine(
    notes: LoadedNotes,
    vectors: npt.NDArray[np.float32],
    rest: npt.NDArray[np.int64],
    carry: CarryOver,
    clustered: Clustered,
    samples: list[ClusterSample],
    proposals: list[CategoryProposal],
) -> ClusterResult:
    """Every note's place: the clusterer's for the rest, a carry-over cluster for the others."""
    n = len(notes.ids)
    labels = np.full(n, -1, dtype=np.int64)
    labels[rest] = clustered.labels
    raw = np.full(n, -1, dtype=np.int64)
    raw[rest] = clustered.raw_labels
    probabilities = carry.scores.astype(np.float64).copy()
    probabilities[rest] = clustered.probabilities
    reassigned = np.zeros(n, dtype=bool)
    reassigned[rest] = clustered.reassigned
    first = int(clustered.labels.max()) + 1 if (clustered.labels >= 0).any() else 0
    groups = label_groups(carry, first, notes.texts, vectors, labels, notes.ids)
    for group in groups:
        raw[list(group.indices)] = group.label
    return ClusterResult(
        notes.ids, labels, raw, probabilities, reassigned, samples, proposals,
        clustered.min_cluster_size, carried=groups, carry_over=carry.summary(),
    )  # fmt: skip


def build_samples(
    notes: LoadedNotes,
    vectors: npt.NDArray[np.float32],
    labels: npt.NDArray[np.int_],
    probabilities: npt.NDArray[np.float64],
) -> list[ClusterSample]:
    """What the judge sees of each cluster: members, representatives, boundary, contrast."""
    clusters = sorted(int(c) for c in set(labels.tolist()) if c >= 0)
    if not clusters:
        return []
    keywords = ctfidf_keywords(notes.texts, labels, top_n=8)
    reps = representative_indices(vectors, labels, k=5)
    edges = boundary_indices(vectors, labels, probabilities, k=3)
    near = nearest_clusters(vectors, labels, k=2)

    def note(i: int) -> SampleNote:
        return SampleNote(notes.ids[i], notes.texts[i])

    samples = []
    for c in clusters:
        members = np.flatnonzero(labels == c)
        contrast = tuple(
            ContrastCluster(o, tuple(keywords.get(o, [])), tuple(note(i) for i in reps[o][:3]))
            for o in near.get(c, [])
        )
        samples.append(
            ClusterSample(
                label=c,
                size=len(members),
                keywords=tuple(keywords.get(c, [])),
                members=tuple(note(int(i)) for i in members),
                representative=tuple(note(i) for i in reps.get(c, [])),
                boundary=tuple(note(i) for i in edges.get(c, [])),
                contrast=contrast,
            )
        )
    return samples


def existing_categories(services: Services, project_id: int) -> list[ExistingCategory]:
    with services.db.transaction() as session:
        rows = session.scalars(
            select(Category)
            .where(Category.project_id == project_id, Category.status == CategoryStatus.active)
            .order_by(Category.id)
        ).all()
        return [ExistingCategory(c.id, c.name, c.definition) for c in rows]


def judge(
    services: Services, project_id: int, samples: Sequence[ClusterSample], reporter: RunReporter
) -> list[CategoryProposal]:
    reporter.stage("judge", len(samples))
    categories = existing_categories(services, project_id)
    proposals = services.judge.propose(
        samples, categories, on_progress=lambda done: reporter.progress("judge", done, len(samples))
    )
    if len(proposals) != len(samples):
        raise RuntimeError(f"judge returned {len(proposals)} proposals for {len(samples)} clusters")
    return proposals
