"""The run's "File notes" page: select notes wherever they sit in the run, file them at once.

``GET /runs/{run_id}/file`` lists the run's unclustered notes and its pending proposals' notes,
each with a checkbox (``j``/``k`` and ``space`` select, ``a`` picks the category, Enter files:
the unclustered page's keys); ``POST /runs/{run_id}/file`` files the selected notes into the
chosen category with :func:`service.review.filing.file_notes`, one action that one ``u``
undoes, and comes back to the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from review_ui import pages
from review_ui.forms import parse_destination
from review_ui.rendering import render, see_other
from service import scopes
from service.errors import BadInput
from service.http.deps import CallerDep, SessionDep
from service.review.filing import FilingView, file_notes, filing_view

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class FilingPage:
    chrome: pages.Chrome
    view: FilingView
    undo_label: str | None


@router.get("/runs/{run_id}/file")
def filing_page(request: Request, run_id: int, session: SessionDep, who: CallerDep) -> Response:
    scopes.readable_run(session, who, run_id)
    view = filing_view(session, who, run_id)
    undo = pages._undo_label(session, who, run_id) if view.role in pages.REVIEWERS else None
    title = f"Run {run_id} — file notes"
    where = pages.chrome(request, who, title, project=view.run.project, run_id=run_id)
    return render(request, "file_notes.html", FilingPage(where, view, undo))


@router.post("/runs/{run_id}/file")
def file_selected(
    request: Request, run_id: int, session: SessionDep, who: CallerDep,
    to: Annotated[str, Form()] = "", note_ids: Annotated[list[int] | None, Form()] = None,
) -> Response:  # fmt: skip
    """The page's form: ``to`` is ``c:<category id>``."""
    category = parse_destination(to).get("to_category_id")
    if category is None:
        raise BadInput("pick the category the notes go to", field="to")
    filed = file_notes(session, who, run_id, category, note_ids or [])
    places = len(filed.taken_from) + (1 if filed.unclustered else 0)
    pages.flash(request, f"Filed {len(filed.note_ids)} note(s) from {places} place(s).")
    return see_other(f"/runs/{run_id}/file")
