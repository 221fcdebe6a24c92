"""One context dataclass per page, built from the review facade (``service.review``).

Every builder takes the request's open session and passes it to ``service`` functions; nothing
here queries or opens a transaction. Templates receive ``{"page": page}`` only. Everything
user-supplied (notes, names, definitions, authors) reaches the templates as plain strings and is
autoescaped there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Request

from service import review
from service.audit import labels as audit_labels
from service.audit.draw import AuditSize
from service.auth import Principal, Role
from service.domain import ProposalStatus
from service.review import views
from service.review.similarity import CategoryRef
from service.review.views import (
    CategoryView,
    ProposalView,
    QueueView,
    RunRow,
    UnclusteredView,
)

if TYPE_CHECKING:  # the request's unit of work (service.http.deps.SessionDep), passed through
    from sqlalchemy.orm import Session

REVIEWERS = (Role.reviewer, Role.lead)  # roles that see the review actions


@dataclass(frozen=True, slots=True)
class Chrome:
    """What every page shows around its content: who is signed in, messages, where we are."""

    title: str
    user: str | None = None  # the display name
    actor: str | None = None  # who that is (Principal.actor): what "mine?" compares
    flash: list[str] = field(default_factory=list)
    project: str | None = None
    run_id: int | None = None
    lead: bool = False  # the signed-in user leads a project: the header links the dashboard


def flash(request: Request, message: str) -> None:
    """Queue a message for the next page the browser shows."""
    messages = list(request.session.get("flash", []))
    request.session["flash"] = [*messages[-4:], message]


def chrome(request: Request, who: Principal | None, title: str, **where: Any) -> Chrome:
    messages = list(request.session.pop("flash", []) or []) if "session" in request.scope else []
    lead = who.is_lead_anywhere if who else False
    return Chrome(
        title=title, user=who.name if who else None, actor=who.actor if who else None,
        flash=messages, lead=lead, **where,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class LoginPage:
    chrome: Chrome
    next: str
    error: str | None = None


@dataclass(frozen=True, slots=True)
class HomePage:
    chrome: Chrome
    projects: list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class RunsPage:
    chrome: Chrome
    project: str
    role: str
    runs: list[RunRow]

    @property
    def working(self) -> bool:
        return any(r.working for r in self.runs)


@dataclass(frozen=True, slots=True)
class QueuePage:
    chrome: Chrome
    queue: QueueView
    undo_label: str | None


@dataclass(frozen=True, slots=True)
class ProposalPage:
    chrome: Chrome
    view: ProposalView
    undo_label: str | None
    groups: dict[int, int]  # note id -> split group (1-based), suggested or all 1
    suggested: bool = False
    error: str | None = None
    can_review: bool = True

    @property
    def my_claim(self) -> bool:
        """The signed-in caller holds the proposal's unexpired claim (by identity, not name)."""
        actor = self.view.claim_actor
        return actor is not None and actor == self.chrome.actor


@dataclass(frozen=True, slots=True)
class UnclusteredPage:
    chrome: Chrome
    view: UnclusteredView
    undo_label: str | None


@dataclass(frozen=True, slots=True)
class CategoriesPage:
    chrome: Chrome
    project: str
    categories: list[CategoryView]
    notes: int = 0  # notes in the project: "77 of 203 notes labelled"

    @property
    def total(self) -> int:
        return sum(c.count for c in self.categories)


@dataclass(frozen=True, slots=True)
class AuditPage:
    chrome: Chrome
    run: RunRow
    role: str
    audit: audit_labels.AuditView
    categories: list[CategoryRef]

    @property
    def items(self) -> list[audit_labels.AuditItem]:
        return self.audit.items

    @property
    def labelled(self) -> int:
        return self.audit.labelled

    def category_name(self, category_id: int | None) -> str:
        names = {c.category_id: c.name for c in self.categories}
        return names.get(category_id or 0, f"category {category_id}")

    @property
    def names(self) -> list[str]:
        """Names to offer while typing a label: noise, the active categories, and the new
        category names this reviewer already gave in this sample (to reuse them exactly)."""
        given = [
            str(label["new_category_name"])
            for item in self.items
            for label in (item.my_label, item.my_revision)
            if label and label.get("new_category_name")
        ]
        names = ["noise", *(c.name for c in self.categories), *given]
        return list(dict.fromkeys(names))


@dataclass(frozen=True, slots=True)
class ErrorPage:
    chrome: Chrome
    status: int
    code: str
    message: str
    field: str | None = None  # the request field at fault, when one is


def _undo_label(session: Session, who: Principal, run_id: int) -> str | None:
    event = review.last_undoable(session, who, run_id)
    if event is None:
        return None
    named = (event.before or {}).get("name") or (event.after or {}).get("name")
    if named:
        return f"{event.action} of “{named}”"
    target = f" of proposal {event.proposal_id}" if event.proposal_id else ""
    return f"{event.action}{target}"


def queue_page(request: Request, session: Session, who: Principal, run_id: int) -> QueuePage:
    q = views.queue(session, who, run_id)
    can_review = q.role in REVIEWERS
    undo = _undo_label(session, who, run_id) if can_review else None
    title = f"Run {run_id} — {q.pending} pending"
    where = chrome(request, who, title, project=q.run.project, run_id=run_id)
    return QueuePage(where, q, undo)


def proposal_page(
    request: Request,
    session: Session,
    who: Principal,
    proposal_id: int,
    *,
    suggest: bool = False,
    error: str | None = None,
) -> ProposalPage:
    view = views.proposal_detail(session, who, proposal_id)
    can_review = view.role in REVIEWERS
    groups = {m.note_id: 1 for m in view.members}
    if suggest and can_review and view.row.status == ProposalStatus.pending:
        for i, group in enumerate(review.suggest_split(session, who, proposal_id), start=1):
            groups.update({nid: i for nid in group})
    undo = _undo_label(session, who, view.run.run_id) if can_review else None
    where = chrome(request, who, view.row.name, project=view.run.project, run_id=view.run.run_id)
    return ProposalPage(where, view, undo, groups, suggest, error, can_review)


def unclustered_page(
    request: Request, session: Session, who: Principal, run_id: int
) -> UnclusteredPage:
    view = views.unclustered(session, who, run_id)
    undo = _undo_label(session, who, run_id) if view.role in REVIEWERS else None
    title = f"Run {run_id} — unclustered notes"
    where = chrome(request, who, title, project=view.run.project, run_id=run_id)
    return UnclusteredPage(where, view, undo)


def categories_page(
    request: Request, session: Session, who: Principal, project: str
) -> CategoriesPage:
    cats = views.categories(session, who, project)
    notes = views.project_note_count(session, views.project_id(session, who, project, "read"))
    where = chrome(request, who, f"{project} — categories", project=project)
    return CategoriesPage(where, project, cats, notes)


def runs_page(request: Request, session: Session, who: Principal, project: str) -> RunsPage:
    role, runs = views.project_runs(session, who, project)
    return RunsPage(chrome(request, who, f"{project} — runs", project=project), project, role, runs)


def audit_page(
    request: Request, session: Session, who: Principal, run_id: int, rule: AuditSize
) -> AuditPage:
    run, role = views.run_header(session, who, run_id)
    audit = audit_labels.audit_view(session, who, run_id, rule)
    project_id = views.project_id(session, who, run.project, "review")
    cats = views.active_categories(session, project_id)
    title = f"Run {run_id} — blind audit"
    where = chrome(request, who, title, project=run.project, run_id=run_id)
    return AuditPage(where, run, role, audit, cats)
