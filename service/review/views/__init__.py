"""The read side of the review: what the API, the CLI and the UI show, one model per entity.

- a note: :class:`NoteRow` (its text and trace, its current human label, and what the proposal it
  is shown in says of it), built by :func:`note_rows` (:func:`note_row`: as submitted);
- a run: :class:`~service.runs.read.RunRow` (:func:`~service.runs.read.run_row`, also for the
  runs API and the CLI; :func:`run_header`, :func:`project_runs`);
- a proposal: :class:`ProposalRow` in lists and queues (:func:`queue`,
  :func:`pending_proposals`); :class:`ProposalDetail` (the row, the judge's output, the
  members and the merge suggestions) in the run's proposal list (:func:`run_proposals`);
  :class:`ProposalView` (the detail and what a reviewer needs to decide) for one proposal
  (:func:`proposal_detail`); a row's ``kind`` says whether it proposes a new category or carries
  notes over into a confirmed one;
- a category: :class:`CategoryRow` with its count, in all and per week (:class:`WeekCount`)
  (:func:`project_categories`; :func:`project_note_count`, the "of" of "31 of 100 notes"),
  :class:`CategoryView` with its member notes too (:func:`categories`), and
  :class:`~service.review.similarity.CategoryRef` as a target (:func:`active_categories`);
- the unclustered notes: every one of a run's (:func:`unclustered_notes`), and
  :class:`UnclusteredView`, the ones not placed in a live proposal with where they may go
  (:func:`unclustered`).

The dataclasses live in :mod:`~service.review.views.models`, the functions that build them from
the database in :mod:`~service.review.views.build` (categories: :mod:`~service.review.views.categories`).
"""

from service.review.views.build import (
    active_categories,
    my_projects,
    note_row,
    note_rows,
    pending_proposals,
    project_id,
    project_runs,
    proposal_detail,
    queue,
    run_header,
    run_proposals,
    unclustered,
    unclustered_notes,
)
from service.review.views.categories import (
    categories,
    project_categories,
    project_note_count,
)
from service.review.views.models import (
    CategoryRow,
    CategoryView,
    NoteRow,
    ProposalDetail,
    ProposalRow,
    ProposalView,
    QueueView,
    UnclusteredView,
    WeekCount,
)
from service.runs.read import RunRow, run_row

__all__ = [
    "CategoryRow",
    "CategoryView",
    "NoteRow",
    "ProposalDetail",
    "ProposalRow",
    "ProposalView",
    "QueueView",
    "RunRow",
    "UnclusteredView",
    "WeekCount",
    "active_categories",
    "categories",
    "my_projects",
    "note_row",
    "note_rows",
    "pending_proposals",
    "project_categories",
    "project_id",
    "project_note_count",
    "project_runs",
    "proposal_detail",
    "queue",
    "run_header",
    "run_proposals",
    "run_row",
    "unclustered",
    "unclustered_notes",
]
