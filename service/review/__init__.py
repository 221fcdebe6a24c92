"""The review facade: every review action and read, one code path for the API and the UI.

Each function takes the open session (the request's unit of work,
:data:`service.http.deps.SessionDep`; ``db.transaction()`` elsewhere) and the caller's
:class:`~service.auth.Principal`, checks the caller's role in the project (``review``, or
``lead`` for blind-mode switches), and raises :mod:`service.errors` on bad input (422), unknown
ids (404), missing roles (403), decided proposals (409 ``already_decided``) and stale versions
(409 ``stale_version``, naming who changed the proposal and its new state).

Actions (each one insert-only ``review_event`` applied by :mod:`~service.review.projection`):
:func:`confirm`, :func:`rename`, :func:`reject`, :func:`split`, :func:`merge`, :func:`move`,
:func:`assign` (unclustered notes), :func:`create_category` (a confirmed category from selected
notes of the project), :func:`confirm_carry_overs` (many carry-over proposals at once, one undo),
:func:`undo`. Claims: :func:`claim`, :func:`release`.
The current state is a projection of the events (:mod:`~service.review.projection`). Reads for
pages, API and CLI: :mod:`~service.review.views`, one read model per entity. The blind audit's
labels are review events too, recorded by :mod:`service.audit.labels`. What each event stores is
one typed payload per action (:mod:`~service.review.events`).
"""

from service.review.actions import assign, confirm, merge, move, reject, rename
from service.review.bulk import confirm_carry_overs
from service.review.categories import CreatedCategory, create_category
from service.review.claims import active_claim, claim, release
from service.review.common import ActionResult
from service.review.split import split, suggest_split
from service.review.undo import last_undoable, undo

__all__ = [
    "ActionResult",
    "CreatedCategory",
    "active_claim",
    "assign",
    "claim",
    "confirm",
    "confirm_carry_overs",
    "create_category",
    "last_undoable",
    "merge",
    "move",
    "reject",
    "release",
    "rename",
    "split",
    "suggest_split",
    "undo",
]
