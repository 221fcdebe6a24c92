"""The service's vocabulary: the states of runs, proposals and categories, and the review actions.

Every value is a ``StrEnum``, so it is stored, sent as JSON and compared exactly as the plain
string it was before (``RunStatus.queued == "queued"``), while code and the OpenAPI document name
the closed set of values.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a key or a login may do in a project (``service.auth.PERMISSIONS``)."""

    client = "client"
    reviewer = "reviewer"
    lead = "lead"


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


class ProposalOrigin(StrEnum):
    """Where a proposal came from (``proposal.origin``)."""

    judge = "judge"  # a cluster of the run, named by the judge
    carry_over = "carry_over"  # notes that fit a confirmed category, before clustering
    split = "split"  # type: ignore[assignment]  # a reviewer split a proposal


MACHINE_ORIGINS = (ProposalOrigin.judge, ProposalOrigin.carry_over)
"""Proposals the run made (judge output in the agreement's sense); split children are human work."""


class ProposalKind(StrEnum):
    """What a proposal offers the reviewer: a new category, or more notes for a confirmed one."""

    new = "new"
    carry_over = "carry_over"


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
    create_category = "create_category"  # a category from selected notes (issue #14)


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
