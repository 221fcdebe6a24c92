"""The codebook carries over: a run's notes that fit a confirmed category arrive as its proposals.

Before clustering, a run matches each of its notes against the project's **confirmed
categories** (the active ones and their current member notes, vectors from the embedding
cache, their texts' words beside) with :class:`clustering.carryover.CategoryMatcher`: a note's
score for a category is its mean similarity (embeddings and TF-IDF rows alike) to that
category's nearest confirmed members, and the threshold is calibrated on the
project's own decisions (held-out notes and held-out categories, the latter weighted by how
often the project's later batches brought notes of categories it did not have yet,
:func:`clustering.carryover.observed_novelty`; too few decisions: the matcher's fallback).
Notes that fit arrive as **carry-over proposals**, one per matched category:
``origin="carry_over"``, named and defined as the category is, ``matched_category_id`` set and
``confidence`` the notes' mean match score; confirming one files its notes into that category
(one call). Only the other notes are clustered for new categories (none when fewer than 2 are
left), and the judge is not asked to name carry-over proposals.

A carry-over proposal has a ``cluster`` row of its own (the labels after the clusterer's, in
the order of :attr:`CarryOver.groups`), so the run's ``run_note`` rows still say where every
note went: its ``cluster_label`` and ``raw_label`` are that cluster, ``probability`` its match
score. The run's ``params["carry_over"]`` records what was matched and with which threshold.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.orm import Session

from clustering import ctfidf_keywords, representative_indices
from clustering.carryover import CategoryMatcher, lexical_features, observed_novelty
from service.context import Services
from service.domain import CategoryStatus, ProposalOrigin
from service.runs import embedding_cache
from service.storage.models import (
    Category,
    Cluster,
    Note,
    NoteAssignment,
    Proposal,
    ProposalMember,
    Run,
)

MATCHER_ID = "carry-over"
MATCHER_VERSION = "category-matcher/4"
# CategoryMatcher's parameters for runs. A note is carried over when, on the project's own
# decisions, a note at its score lands in the right category at least as often as not
# (precision 0.5): with no proposal holding most of a batch (the clusterer's
# max_cluster_share), the notes left to clustering land in clusters no purer than that, and a
# wrong carry-over costs the reviewer one move, as a stray in a cluster does. Lower cuts paid
# less still on the shared sets but would fill carry-over proposals with notes more often
# wrong than right. A note's similarity to a confirmed note counts their shared words as much
# as their embeddings (lexical_weight 1): on stackoverflow_titles the oracle reviewer paid
# 0.61 of sorting by hand with embeddings alone, 0.48-0.49 with both. How many nearest
# members make a category's score (k) is chosen per run on the same held-out decisions, among
# 5, 10, 20 and 40: the one whose best category is most often right (title-like notes of broad
# categories match better on more members; under 5 a score is one near-duplicate's). Novelty
# (how often a new note is of a failure the codebook lacks, so that such notes stay for
# clustering) is 0.05 only until the project has reviewed a batch after its first; from then
# on it is the project's own rate (observed_novelty). Version 3 kept 0.05 always: on
# stackoverflow_titles, banking77 and clinc150, whose later weeks bring no new category, that
# left to clustering notes whose best category was right at least as often as not. Version 1
# was precision 0.75, embeddings alone; version 2 k 5. Figures: bench/effort.py
# --library --carry-over; bench/README.md, "Review effort".
MATCHER_PARAMS: dict[str, Any] = {
    "precision": 0.5,
    "novelty": 0.05,
    "lexical_weight": 1.0,
    "k": [5, 10, 20, 40],
}
# At most this many confirmed notes per category (its latest, by note id) describe it to the
# matcher: a bounded read and memory however large a category grows (k is 5).
MAX_MEMBERS_PER_CATEGORY = 300
PREDICT_CHUNK = 1024  # run notes scored at a time (a chunk x codebook similarity matrix)

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class Codebook:
    """The project's confirmed categories as the matcher sees them."""

    names: dict[int, str]
    definitions: dict[int, str]
    note_ids: list[int]  # confirmed member notes (capped per category)
    category_ids: npt.NDArray[np.int64]  # each member's category
    texts: list[str]
    hashes: list[str]
    novelty: float | None = None  # observed_novelty over all confirmed notes (None: no history)


@dataclass(frozen=True, slots=True)
class CarriedGroup:
    """The run's notes matched to one confirmed category: one carry-over proposal.

    ``indices`` are positions in the run's notes; ``label`` the cluster label it is stored
    under (set once the clusterer's labels are known); ``keywords`` and ``representative``
    (note ids) describe it like a cluster.
    """

    category_id: int
    name: str
    definition: str
    indices: tuple[int, ...]
    note_ids: tuple[int, ...]
    scores: tuple[float, ...]
    label: int = -1
    keywords: tuple[str, ...] = ()
    representative: tuple[int, ...] = ()

    @property
    def confidence(self) -> float:
        return float(np.mean(self.scores)) if self.scores else 0.0


@dataclass(frozen=True, slots=True)
class CarryOver:
    """What matching a run's notes against the codebook found.

    Attributes:
        matched: Per run note, the category it carries over into (-1: none).
        scores: Per run note, its best match score.
        groups: One group per matched category, largest first (ties: smaller category id).
        threshold: The matcher's threshold (``None``: no codebook, nothing matched).
        calibrated: The threshold was calibrated on the project's decisions.
        codebook_notes: Confirmed notes the matcher was fitted on.
        categories: Confirmed categories in the codebook.
        k: Nearest members per category the calibration chose (``None``: nothing matched).
        novelty: The matcher's novelty (``None``: nothing matched).
    """

    matched: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float64]
    groups: tuple[CarriedGroup, ...]
    threshold: float | None = None
    calibrated: bool = False
    codebook_notes: int = 0
    categories: int = 0
    k: int | None = None
    novelty: float | None = None

    @property
    def rest(self) -> npt.NDArray[np.int64]:
        """Positions of the notes left to clustering."""
        return np.flatnonzero(self.matched < 0).astype(np.int64)

    def summary(self) -> dict[str, Any]:
        """What the run records in ``params["carry_over"]``."""
        return {
            "matcher": MATCHER_VERSION,
            "params": {**MATCHER_PARAMS, "max_members_per_category": MAX_MEMBERS_PER_CATEGORY},
            "threshold": None if self.threshold is None else round(self.threshold, 4),
            "k": self.k,
            "novelty": None if self.novelty is None else round(self.novelty, 4),
            "calibrated": self.calibrated,
            "codebook_notes": self.codebook_notes,
            "categories": self.categories,
            "notes": int((self.matched >= 0).sum()),
            "proposals": len(self.groups),
        }


def matcher_params(novelty: float | None) -> dict[str, Any]:
    """The matcher's parameters for a run: MATCHER_PARAMS, with the project's own novelty
    (:func:`clustering.carryover.observed_novelty`) once it has one."""
    return MATCHER_PARAMS if novelty is None else {**MATCHER_PARAMS, "novelty": novelty}


def nothing_carried(n: int) -> CarryOver:
    return CarryOver(np.full(n, -1, dtype=np.int64), np.zeros(n), ())


def load_codebook(session: Session, project_id: int, exclude: set[int]) -> Codebook:
    """The project's active categories and their latest confirmed notes (``exclude`` aside)."""
    categories = session.scalars(
        select(Category).where(
            Category.project_id == project_id, Category.status == CategoryStatus.active
        )
    ).all()
    names = {int(c.id): c.name for c in categories}
    rows = session.execute(
        select(
            NoteAssignment.note_id,
            NoteAssignment.category_id,
            Note.text,
            Note.text_sha256,
            Note.batch_id,
        )
        .join(Note, Note.id == NoteAssignment.note_id)
        .where(NoteAssignment.project_id == project_id, NoteAssignment.category_id.is_not(None))
        .order_by(NoteAssignment.note_id.desc())
    ).all()
    confirmed = [
        (int(nid), int(cid), str(text), str(sha), int(batch))
        for nid, cid, text, sha, batch in rows
        if cid is not None and int(cid) in names and int(nid) not in exclude
    ]
    # every confirmed note (not only the capped members): how often later batches were new
    novelty = observed_novelty([c[4] for c in confirmed], [c[1] for c in confirmed])
    taken: dict[int, int] = {}
    kept = []
    for nid, cid, text, sha, _batch in confirmed:
        if taken.get(cid, 0) >= MAX_MEMBERS_PER_CATEGORY:
            continue
        taken[cid] = taken.get(cid, 0) + 1
        kept.append((nid, cid, text, sha))
    kept.sort()
    return Codebook(
        names=names,
        definitions={int(c.id): c.definition for c in categories},
        note_ids=[k[0] for k in kept],
        category_ids=np.array([k[1] for k in kept], dtype=np.int64),
        texts=[k[2] for k in kept],
        hashes=[k[3] for k in kept],
        novelty=novelty,
    )


def match_notes(
    services: Services,
    project_id: int,
    note_ids: Sequence[int],
    vectors: npt.NDArray[np.float32],
    texts: Sequence[str],
    on_progress: Progress | None = None,
) -> CarryOver:
    """Match the run's notes to the project's confirmed categories.

    Args:
        services: Database and embedder (the codebook's vectors come from the cache).
        project_id: The run's project.
        note_ids: The run's notes.
        vectors: Their vectors, row i for note i.
        texts: Their texts, row i for note i: with the codebook's, the words the match counts
            beside the embeddings (:func:`clustering.carryover.lexical_features`).
        on_progress: Called with (notes scored, notes in all).

    Returns:
        The matches; nothing is matched when the project has no confirmed note.
    """
    n = len(note_ids)
    with services.db.transaction() as session:
        # the run's own notes never describe a category to themselves (a re-run of a batch)
        book = load_codebook(session, project_id, exclude=set(note_ids))
    if not book.note_ids or n == 0:
        return nothing_carried(n)
    known = embedding_cache.embed_with_cache(
        services.db, services.embedder, book.texts, book.hashes
    )
    lexical = lexical_features(book.texts, texts)
    known_rows, run_rows = (None, None) if lexical is None else lexical
    params = matcher_params(book.novelty)
    matcher = CategoryMatcher(**params).fit(known, book.category_ids, known_rows)
    matched = np.full(n, -1, dtype=np.int64)
    scores = np.zeros(n)
    for start in range(0, n, PREDICT_CHUNK):
        stop = min(n, start + PREDICT_CHUNK)
        rows = None if run_rows is None else run_rows[start:stop]
        matched[start:stop], scores[start:stop] = matcher.predict(vectors[start:stop], rows)
        if on_progress is not None:
            on_progress(stop, n)
    groups = []
    for cid in sorted({int(c) for c in matched if c >= 0}):
        where = np.flatnonzero(matched == cid)
        groups.append(
            CarriedGroup(
                category_id=cid,
                name=book.names[cid],
                definition=book.definitions[cid],
                indices=tuple(int(i) for i in where),
                note_ids=tuple(int(note_ids[int(i)]) for i in where),
                scores=tuple(round(float(scores[i]), 4) for i in where),
            )
        )
    groups.sort(key=lambda g: (-len(g.indices), g.category_id))
    return CarryOver(
        matched,
        scores,
        tuple(groups),
        float(matcher.threshold_),
        bool(matcher.calibrated_),
        len(book.note_ids),
        len(set(book.category_ids.tolist())),
        int(matcher.k_),
        float(params["novelty"]),
    )


def label_groups(
    carry: CarryOver,
    first_label: int,
    texts: Sequence[str],
    vectors: npt.NDArray[np.float32],
    labels: npt.NDArray[np.int64],
    note_ids: Sequence[int],
) -> tuple[CarriedGroup, ...]:
    """Give each group its cluster label (from ``first_label`` on) in ``labels`` (in place),
    and describe it: keywords (c-TF-IDF over the run) and representative notes."""
    for g, group in enumerate(carry.groups):
        labels[list(group.indices)] = first_label + g
    if not carry.groups:
        return ()
    keywords = ctfidf_keywords(texts, labels, top_n=8)
    reps = representative_indices(vectors, labels, k=5)
    return tuple(
        replace(
            group,
            label=first_label + g,
            keywords=tuple(keywords.get(first_label + g, [])),
            representative=tuple(int(note_ids[i]) for i in reps.get(first_label + g, [])),
        )
        for g, group in enumerate(carry.groups)
    )


def store_carried(
    session: Session, run: Run, groups: Sequence[CarriedGroup], threshold: float | None
) -> None:
    """Store each group as a cluster and a carry-over proposal of the run (its result
    transaction; :func:`service.review.projection.init_run_states` gives them pending states).

    A group whose category is no longer active when the run stores its results (merged or
    undone meanwhile) is stored all the same: its notes wait for review, and confirming with
    ``into=auto`` then follows the merge or creates the category anew.
    """
    for group in groups:
        cluster = Cluster(
            run_id=run.id,
            label=group.label,
            size=len(group.note_ids),
            keywords=list(group.keywords),
            representative_note_ids=list(group.representative),
            nearest_labels=[],
        )
        session.add(cluster)
        session.flush()
        proposal = Proposal(
            run_id=run.id,
            cluster_id=cluster.id,
            origin=ProposalOrigin.carry_over,
            name=group.name[:300],
            definition=group.definition,
            keywords=list(group.keywords),
            judge_id=MATCHER_ID,
            judge_version=MATCHER_VERSION,
            confidence=round(group.confidence, 4),
            matched_category_id=group.category_id,
            misfit_note_ids=[],
            raw_output={
                "threshold": threshold,
                "scores": {str(n): s for n, s in zip(group.note_ids, group.scores, strict=True)},
            },
        )
        session.add(proposal)
        session.flush()
        order = sorted(
            range(len(group.note_ids)), key=lambda i: (-group.scores[i], group.note_ids[i])
        )
        session.add_all(
            ProposalMember(
                proposal_id=proposal.id, note_id=group.note_ids[i], rank=rank, reassigned=False
            )
            for rank, i in enumerate(order)
        )
