"""The review facade: every review action and read, one code path for the API and the UI.

Each function takes the open transaction (``services.db.transaction()``) and the caller's
:class:`~service.auth.Principal`, checks the caller's role in the project (``review``, or
``lead`` for blind-mode switches), and raises :mod:`service.errors` on bad input (422), unknown
ids (404), missing roles (403), decided proposals (409 ``already_decided``) and stale versions
(409 ``stale_version``, naming who changed the proposal and its new state).

Actions (each one insert-only ``review_event`` applied by :mod:`service.projection`):
:func:`confirm`, :func:`rename`, :func:`reject`, :func:`split`, :func:`merge`, :func:`move`,
:func:`assign` (unclustered notes), :func:`undo`. Blind audit: :func:`draw_audit_sample`,
:func:`set_blind`, :func:`audit_sample`, :func:`label`. Claims: :func:`claim`, :func:`release`.
Reads for pages and API: :mod:`service.review.views`.
"""

from service.review.actions import assign, confirm, merge, move, reject, rename
from service.review.audit import AuditItem, audit_sample, draw_audit_sample, label, set_blind
from service.review.claims import active_claim, claim, release
from service.review.common import ActionResult
from service.review.split import split, suggest_split
from service.review.undo import last_undoable, undo

__all__ = [
    "ActionResult",
    "AuditItem",
    "active_claim",
    "assign",
    "audit_sample",
    "claim",
    "confirm",
    "draw_audit_sample",
    "label",
    "last_undoable",
    "merge",
    "move",
    "reject",
    "release",
    "rename",
    "set_blind",
    "split",
    "suggest_split",
    "undo",
]
