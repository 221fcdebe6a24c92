"""What a review event stores: one frozen payload model per action, checked when it is recorded.

A ``review_event`` is insert-only. Its ``after`` JSON holds what a replay needs (the action's
payload below) plus the event's footprint under ``"touched"``; its ``before`` JSON what the
action found (``{}`` for actions without a ``before`` model).

===============  ============================  ============================================
action           after                         before
===============  ============================  ============================================
confirm          :class:`ConfirmAfter`         :class:`StatusBefore` (``pending``)
rename           :class:`Naming`               :class:`Naming` (the old name and definition)
reject           :class:`RejectAfter`          :class:`StatusBefore`
split            :class:`SplitAfter`           :class:`StatusBefore`
merge            :class:`MergeAfter`           :class:`StatusBefore`
move, assign     :class:`MoveAfter`            —
revert           :class:`RevertAfter`          :class:`RevertBefore`
audit_label      :class:`AuditLabelAfter`      —
set_blind        :class:`SetBlindAfter`        —
create_category  :class:`CreateCategoryAfter`  —
===============  ============================  ============================================

:func:`encode` checks that a payload is the model its action stores and turns it into JSON;
:func:`after_of` and :func:`footprint_of` read events back (projection, undo, audit labels).
A workflow action also stores, under ``after["prior"]`` (a :class:`Prior`), the touched
proposals' states and the touched notes' labels as it found them: what undo puts back
(:func:`prior_of`; ``None`` for events recorded before it was stored).
A payload stores exactly the keys it was given (``exclude_unset``), in field order, so the
JSON is what the actions have always written and old logs read back, and replay, unchanged.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.domain import ProposalStatus, RejectReason, ReviewAction
from service.storage.models import ReviewEvent


class Payload(BaseModel):
    """Base of every stored payload: frozen, and no key the model does not name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def stored(self) -> dict[str, Any]:
        """The JSON to store: the keys this payload was given, in field order."""
        return self.model_dump(mode="json", exclude_unset=True)


class Footprint(Payload):
    """``after["touched"]``: what an event changed or used.

    ``proposals`` get ``version + 1``; undo refuses to revert an event when a later one shares
    a proposal (or a proposal it created), a note, or a category it created. An action records
    only the keys that concern it; absent keys read as empty lists.
    """

    proposals: list[int] = Field(default_factory=list)
    created_proposals: list[int] = Field(default_factory=list)
    notes: list[int] = Field(default_factory=list)
    categories: list[int] = Field(default_factory=list)
    created_categories: list[int] = Field(default_factory=list)

    def complete(self) -> Footprint:
        """The same footprint with every key set (a revert records its target's in full)."""
        return Footprint.model_validate(self.model_dump())


class PriorState(Payload):
    """A touched proposal's state as the event found it (its version aside: versions only grow)."""

    proposal_id: int
    status: ProposalStatus
    name: str
    definition: str
    category_id: int | None = None
    member_note_ids: list[int]


class PriorLabel(Payload):
    """A touched note's label as the event found it (a note without a label is not listed)."""

    note_id: int
    category_id: int | None = None
    is_noise: bool
    event_id: int


class Prior(Payload):
    """``after["prior"]``: what the event's footprint looked like before it; undo restores it."""

    proposals: list[PriorState] = Field(default_factory=list)
    labels: list[PriorLabel] = Field(default_factory=list)


class StatusBefore(Payload):
    """The status a decision found (always ``pending``)."""

    status: ProposalStatus


class Naming(Payload):
    """A name and definition: a rename's new ones (``after``) and old ones (``before``)."""

    name: str
    definition: str


class ConfirmAfter(Payload):
    """The category a confirm landed in; a new category is recreated from these on replay."""

    category_id: int
    new_category: bool = False
    name: str
    definition: str
    origin: str
    group: str | None = None  # set by a bulk confirm: one undo reverts the whole group


class RejectAfter(Payload):
    reason: RejectReason


class SplitAfter(Payload):
    """Note ids per child proposal, and the children's ids (same order)."""

    groups: list[list[int]]
    child_proposal_ids: list[int]


class MergeAfter(Payload):
    """The destination: a proposal of the run, or a category (the other is ``None``)."""

    into_proposal_id: int | None = None
    category_id: int | None = None


class MoveAfter(Payload):
    """Where moved (or assigned) notes went; the notes are the event's ``note_ids``."""

    to_proposal_id: int | None = None
    to_category_id: int | None = None
    to_noise: bool = False
    group: str | None = None  # set when filing notes from several places: one undo reverts all


class RevertBefore(Payload):
    action: ReviewAction


class RevertAfter(Payload):
    """What was undone; the event's ``reverts_event_id`` names the undone event."""

    undone_action: ReviewAction


class AuditLabelAfter(Payload):
    """A blind label of one sample note: exactly one of a category, a new name, or noise."""

    position: int
    inclusion_prob: float
    category_id: int | None = None
    new_category_name: str | None = None
    noise: bool | None = None

    @model_validator(mode="after")
    def _one_label(self) -> AuditLabelAfter:
        given = [self.category_id, self.new_category_name, self.noise]
        if sum(v is not None for v in given) != 1:
            raise ValueError("a label is exactly one of category_id, new_category_name, noise")
        return self

    def label(self) -> dict[str, Any]:
        """The label alone, as stored: ``{"category_id": 3}``, ``{"noise": true}``, …"""
        keys = {"category_id", "new_category_name", "noise"}
        return self.model_dump(mode="json", include=keys, exclude_unset=True)


class SetBlindAfter(Payload):
    enabled: bool


class TakenFrom(Payload):
    """Notes a new category took out of a pending proposal."""

    proposal_id: int
    note_ids: list[int]


class CreateCategoryAfter(Payload):
    """A category from selected notes: recreated from these on replay.

    The notes are the event's ``note_ids``; ``taken_from`` names the pending proposals that held
    some of them (they leave those proposals), in proposal id order.
    """

    category_id: int
    name: str
    definition: str
    taken_from: list[TakenFrom] = Field(default_factory=list)


AFTER: dict[ReviewAction, type[Payload]] = {
    ReviewAction.confirm: ConfirmAfter,
    ReviewAction.rename: Naming,
    ReviewAction.reject: RejectAfter,
    ReviewAction.split: SplitAfter,
    ReviewAction.merge: MergeAfter,
    ReviewAction.move: MoveAfter,
    ReviewAction.assign: MoveAfter,
    ReviewAction.revert: RevertAfter,
    ReviewAction.audit_label: AuditLabelAfter,
    ReviewAction.set_blind: SetBlindAfter,
    ReviewAction.create_category: CreateCategoryAfter,
}
BEFORE: dict[ReviewAction, type[Payload]] = {
    ReviewAction.confirm: StatusBefore,
    ReviewAction.rename: Naming,
    ReviewAction.reject: StatusBefore,
    ReviewAction.split: StatusBefore,
    ReviewAction.merge: StatusBefore,
    ReviewAction.revert: RevertBefore,
}

P = TypeVar("P", bound=Payload)


BOOKKEEPING = ("touched", "prior")  # keys of ``after`` beside the action's payload


def encode(
    action: ReviewAction,
    after: Payload,
    touched: Footprint,
    before: Payload | None = None,
    prior: Prior | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``after`` and ``before`` JSON of a new event; ``TypeError`` for the wrong models."""
    if type(after) is not AFTER[action]:
        raise TypeError(f"{action} stores {AFTER[action].__name__}, not {type(after).__name__}")
    wanted = BEFORE.get(action)
    if (None if before is None else type(before)) is not wanted:
        raise TypeError(f"{action} stores before={wanted and wanted.__name__}, not {before!r}")
    stored = {**after.stored(), "touched": touched.stored()}
    if prior is not None:
        stored["prior"] = prior.model_dump(mode="json")
    return stored, before.stored() if before else {}


def after_of(event: ReviewEvent, kind: type[P]) -> P:
    """The event's ``after`` payload (``touched`` and ``prior`` aside) as ``kind``."""
    action = ReviewAction(event.action)
    if AFTER[action] is not kind:
        raise TypeError(f"{action} stores {AFTER[action].__name__}, not {kind.__name__}")
    payload = {k: v for k, v in (event.after or {}).items() if k not in BOOKKEEPING}
    return kind.model_validate(payload)


def prior_of(event: ReviewEvent) -> Prior | None:
    """What the event found (``None`` for events recorded before ``prior`` was stored)."""
    raw = (event.after or {}).get("prior")
    return None if raw is None else Prior.model_validate(raw)


def footprint_of(event: ReviewEvent) -> Footprint:
    """The footprint the event recorded (empty lists for keys it did not record)."""
    return Footprint.model_validate((event.after or {}).get("touched", {}))
