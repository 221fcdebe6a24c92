"""Form posts of the review pages: each calls the same ``service.review`` action as the API.

Answered by 303: decisions (confirm, reject, merge) go on to the next pending proposal of the
run, edits (rename, split, move) back to the proposal. A 409/422 re-renders the proposal with
the message and its current state (see ``rendering.render_error``).
Destinations come from one select: ``p:<proposal id>``, ``c:<category id>`` or ``noise``.

Each post is one unit of work (``SessionDep``): the caller is authenticated, the action applied
and the next page looked up in one transaction, committed before the redirect is sent and
rolled back if the action fails. Handlers are plain ``def``: FastAPI parses the form first,
then runs them in its thread pool, off the event loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from review_ui import pages
from review_ui.rendering import see_other
from service import review
from service.audit import labels as audit_labels
from service.audit.draw import AuditSize
from service.auth import Principal
from service.domain import EventMode, RejectReason
from service.errors import BadInput
from service.http.deps import CallerDep, ServicesDep, SessionDep
from service.review import views

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

router = APIRouter(include_in_schema=False)
Version = Annotated[int, Form()]


def parse_destination(value: str, field: str = "to") -> dict[str, Any]:
    """``p:12`` → to_proposal_id, ``c:3`` → to_category_id, ``noise`` → to_noise."""
    kind, _, raw = value.partition(":")
    if value == "noise":
        return {"to_noise": True}
    if kind in ("p", "c") and raw.isdigit():
        return {"to_proposal_id" if kind == "p" else "to_category_id": int(raw)}
    raise BadInput("pick where the notes go", field=field)


class SplitForm(BaseModel):
    """The split form: ``version`` and one ``g<note id>=<group number>`` field per member."""

    model_config = ConfigDict(extra="allow")

    version: int = 0

    def groups(self) -> list[list[int]]:
        """Note ids per group, groups in number order, notes in form order."""
        by_group: dict[int, list[int]] = {}
        for key, value in (self.model_extra or {}).items():
            if key.startswith("g") and key[1:].isdigit() and str(value).isdigit():
                by_group.setdefault(int(str(value)), []).append(int(key[1:]))
        return [by_group[g] for g in sorted(by_group)]


class CarryOversForm(BaseModel):
    """The queue's "accept all carry-over proposals": one ``p<proposal id>=<version>`` each."""

    model_config = ConfigDict(extra="allow")

    def items(self) -> list[tuple[int, int]]:
        """(proposal id, version) pairs in form order; malformed fields are ignored."""
        return [
            (int(key[1:]), int(str(value)))
            for key, value in (self.model_extra or {}).items()
            if key.startswith("p") and key[1:].isdigit() and str(value).isdigit()
        ]


def _after_decision(
    request: Request, session: Session, who: Principal, proposal_id: int
) -> Response:
    view = views.proposal_detail(session, who, proposal_id)
    following = view.next_pending()
    if following is None:
        pages.flash(request, "No pending proposals left in this run.")
        return see_other(f"/runs/{view.run.run_id}")
    return see_other(f"/proposals/{following}")


@router.post("/proposals/{proposal_id}/confirm")
def confirm(
    request: Request, proposal_id: int, version: Version, session: SessionDep, who: CallerDep,
    into: Annotated[str, Form()] = "auto",
) -> Response:  # fmt: skip
    result = review.confirm(session, who, proposal_id, version, into)
    name = (result.state or {}).get("name", "")
    how = "as a new category" if result.extra["new_category"] else "into an existing category"
    pages.flash(request, f"Confirmed “{name}” {how}.")
    return _after_decision(request, session, who, proposal_id)


@router.post("/runs/{run_id}/carry-overs/confirm")
def confirm_carry_overs(
    request: Request, run_id: int, form: Annotated[CarryOversForm, Form()],
    session: SessionDep, who: CallerDep,
) -> Response:  # fmt: skip
    done = review.confirm_carry_overs(session, who, run_id, form.items())
    notes = sum(len((r.state or {}).get("member_note_ids", [])) for r in done)
    pages.flash(
        request,
        f"Accepted {len(done)} carry-over proposal(s), {notes} notes, into their categories "
        "(u undoes them all).",
    )
    return see_other(f"/runs/{run_id}")


@router.post("/proposals/{proposal_id}/rename")
def rename(
    request: Request, proposal_id: int, version: Version, session: SessionDep, who: CallerDep,
    name: Annotated[str, Form()], definition: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    review.rename(session, who, proposal_id, version, name, definition)
    pages.flash(request, "Renamed.")
    return see_other(f"/proposals/{proposal_id}")


@router.post("/proposals/{proposal_id}/reject")
def reject(
    request: Request, proposal_id: int, version: Version, session: SessionDep, who: CallerDep,
    reason: Annotated[str, Form()] = RejectReason.noise,
) -> Response:  # fmt: skip
    review.reject(session, who, proposal_id, version, reason)
    pages.flash(request, f"Rejected ({reason.replace('_', ' ')}); its notes are noise.")
    return _after_decision(request, session, who, proposal_id)


@router.post("/proposals/{proposal_id}/split")
def split(
    request: Request, proposal_id: int, form: Annotated[SplitForm, Form()],
    session: SessionDep, who: CallerDep,
) -> Response:  # fmt: skip
    """Groups come as ``g<note id>=<group number>`` fields, one per member."""
    result = review.split(session, who, proposal_id, form.version, form.groups())
    children = result.extra["child_proposal_ids"]
    pages.flash(request, f"Split into {len(children)} proposals.")
    return see_other(f"/proposals/{children[0]}")


@router.post("/proposals/{proposal_id}/merge")
def merge(
    request: Request, proposal_id: int, version: Version, session: SessionDep, who: CallerDep,
    into: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    dest = parse_destination(into, "into")
    if dest.get("to_noise"):
        raise BadInput("merge into a proposal or a category (reject makes noise)", field="into")
    review.merge(
        session, who, proposal_id, version,
        into_proposal_id=dest.get("to_proposal_id"), into_category_id=dest.get("to_category_id"),
    )  # fmt: skip
    pages.flash(request, "Merged.")
    return _after_decision(request, session, who, proposal_id)


@router.post("/proposals/{proposal_id}/move")
def move(
    request: Request, proposal_id: int, version: Version, session: SessionDep, who: CallerDep,
    to: Annotated[str, Form()] = "", note_ids: Annotated[list[int] | None, Form()] = None,
) -> Response:  # fmt: skip
    review.move(session, who, proposal_id, version, note_ids or [], **parse_destination(to))
    pages.flash(request, f"Moved {len(note_ids or [])} note(s).")
    return see_other(f"/proposals/{proposal_id}")


@router.post("/proposals/{proposal_id}/claim")
def claim(
    request: Request, proposal_id: int, session: SessionDep, who: CallerDep, svc: ServicesDep
) -> Response:
    review.claim(session, who, proposal_id, svc.settings.claim_ttl_s)
    pages.flash(request, "Claimed: others see this proposal is taken.")
    return see_other(f"/proposals/{proposal_id}")


@router.post("/proposals/{proposal_id}/release")
def release(proposal_id: int, session: SessionDep, who: CallerDep) -> Response:
    review.release(session, who, proposal_id)
    return see_other(f"/proposals/{proposal_id}")


@router.post("/runs/{run_id}/undo")
def undo(request: Request, run_id: int, session: SessionDep, who: CallerDep) -> Response:
    result = review.undo(session, who, run_id)
    pages.flash(request, f"Undid {result.extra['undone_action']}.")
    if result.proposal_id is not None:
        return see_other(f"/proposals/{result.proposal_id}")
    return see_other(f"/runs/{run_id}/unclustered")


@router.post("/runs/{run_id}/assign")
def assign(
    request: Request, run_id: int, session: SessionDep, who: CallerDep,
    to: Annotated[str, Form()] = "", note_ids: Annotated[list[int] | None, Form()] = None,
) -> Response:  # fmt: skip
    review.assign(session, who, run_id, note_ids or [], **parse_destination(to))
    pages.flash(request, f"Assigned {len(note_ids or [])} note(s).")
    return see_other(f"/runs/{run_id}/unclustered")


@router.post("/runs/{run_id}/categories")
def new_category(
    request: Request, run_id: int, session: SessionDep, who: CallerDep,
    name: Annotated[str, Form()] = "", note_ids: Annotated[list[int] | None, Form()] = None,
) -> Response:  # fmt: skip
    """The unclustered page's "new category from the selected notes"."""
    run, _ = views.run_header(session, who, run_id)
    made = review.create_category(session, who, run.project, name, note_ids or [])
    pages.flash(request, f"New category “{made.name}” from {len(made.note_ids)} note(s).")
    return see_other(f"/runs/{run_id}/unclustered")


@router.post("/runs/{run_id}/blind")
def blind(
    request: Request, run_id: int, session: SessionDep, who: CallerDep, svc: ServicesDep,
    enabled: Annotated[int, Form()] = 0,
) -> Response:  # fmt: skip
    audit_labels.set_blind(session, who, run_id, bool(enabled), AuditSize.of(svc.settings))
    pages.flash(request, "Blind mode is " + ("on." if enabled else "off."))
    return see_other(f"/runs/{run_id}")


def _audit_choice(
    session: Session, who: Principal, run_id: int, label: str, typed: str
) -> dict[str, Any]:
    """The audit form's label: a typed name wins over the select. Typed "noise" is noise and
    the name of an active category (any case) is that category; any other name is new."""
    name = typed.strip()
    if name:
        if name.casefold() == "noise":
            return {"noise": True}
        run, _ = views.run_header(session, who, run_id)
        project = views.project_id(session, who, run.project, "read")
        for category in views.active_categories(session, project):
            if category.name.casefold() == name.casefold():
                return {"category_id": category.category_id}
        return {"new_category_name": name}
    if label == "noise":
        return {"noise": True}
    if label.startswith("c:") and label[2:].isdigit():
        return {"category_id": int(label[2:])}
    raise BadInput("type a name for the note's failure, or pick a category or noise", field="label")


@router.post("/runs/{run_id}/audit/labels")
def audit_label(
    request: Request, run_id: int, session: SessionDep, who: CallerDep,
    note_id: Annotated[int, Form()], label: Annotated[str, Form()] = "",
    new_category_name: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    choice = _audit_choice(session, who, run_id, label, new_category_name)
    done = audit_labels.label(session, who, run_id, note_id, **choice)
    if done["mode"] == EventMode.revised:
        pages.flash(request, "Revision recorded: your blind label still counts, this one does not.")
    if done["proposals_opened"]:  # the whole sample is labelled
        pages.flash(request, "Blind audit done: your labels are recorded; the proposals are open.")
        return see_other(f"/runs/{run_id}")
    # ?after= (not a #fragment, whose scroll takes the focus away): review.js focuses the next
    # note after this one that still needs a label
    return see_other(f"/runs/{run_id}/audit?after={note_id}")
