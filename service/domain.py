"""The service's vocabulary: the states of runs, proposals and categories, and the review actions.

Every value is a ``StrEnum``, so it is stored, sent as JSON and compared exactly as the plain
string it was before (``RunStatus.queued == "queued"``), while code and the OpenAPI document name
the closed set of values.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """A run's life: queued → running → succeeded or failed."""

    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


class ProposalStatus(StrEnum):
    """The human decision on a judge proposal (``proposal_state.status``)."""

    pending = "pending"
    confirmed = "confirmed"
    rejected = "rejected"
    merged = "merged"
    split = "split"  # type: ignore[assignment]  # the member shadows str.split on purpose


class CategoryStatus(StrEnum):
    """A confirmed category: active, or merged into another."""

    active = "active"
    merged = "merged"


class ReviewAction(StrEnum):
    """What a review event did (``review_event.action``); each is one insert-only event."""

    confirm = "confirm"
    rename = "rename"
    reject = "reject"
    split = "split"  # type: ignore[assignment]  # the member shadows str.split on purpose
    merge = "merge"
    move = "move"
    assign = "assign"
    revert = "revert"
    audit_label = "audit_label"
    audit_link = "audit_link"  # a lead links a blind "new category" name to the codebook
    set_blind = "set_blind"


class EventMode(StrEnum):
    """Whether a review event was made blind (the audit, judge hidden), in the workflow, or is a
    revision: an audit label given after the judge's work for the run was shown to its author."""

    blind = "blind"
    workflow = "workflow"
    revised = "revised"


class RejectReason(StrEnum):
    """Why a proposal was rejected: its notes are noise, or they describe no failure."""

    noise = "noise"
    not_a_failure = "not_a_failure"
