"""``POST /api/v1/runs/{run_id}/notes/file``: file selected notes of a run into a category.

The notes may sit anywhere in the run: unclustered, or in any of its pending proposals (the
carry-over proposal of another category, a new proposal). One action, one undo
(:mod:`service.review.filing`); the run's page offers it as "File notes".
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from service.http.deps import CallerDep, SessionDep, in_one_thread
from service.http.schemas_api import TakenFromOut
from service.http.schemas_review import NoteIds, review_errors
from service.review.filing import MAX_NOTES, file_notes

router = APIRouter(prefix="/api/v1", tags=["review"])


class FileNotesIn(BaseModel):
    category_id: int = Field(description="An active category of the run's project.")
    note_ids: NoteIds = Field(
        max_length=MAX_NOTES,
        description="Notes of the run, unclustered or in its pending proposals (not every note "
        "of a proposal: merge it instead).",
    )


class FileNotesOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category_id: int
    run_id: int
    note_ids: list[int]
    taken_from: list[TakenFromOut] = Field(description="The pending proposals that lost notes.")
    unclustered: list[int] = Field(description="The notes that were unclustered.")
    event_ids: list[int] = Field(
        description="One move event per proposal, one assign for the unclustered notes; "
        "POST /runs/{run_id}/undo reverts them together."
    )


@router.post(
    "/runs/{run_id}/notes/file",
    responses=review_errors(401, 403, 404, 422, conflicts=("must_audit_first",)),
)
@in_one_thread
def post_file_notes(
    run_id: int, body: FileNotesIn, session: SessionDep, caller: CallerDep
) -> FileNotesOut:
    """File notes of the run into a confirmed category, from wherever they sit in the run
    (unclustered, or any pending proposal: the proposals keep their other notes). One review
    action: ``POST /runs/{run_id}/undo`` reverts it whole."""
    filed = file_notes(session, caller, run_id, body.category_id, body.note_ids)
    return FileNotesOut.model_validate(filed.to_json())
