"""Request and response shapes of :mod:`service.http.review`: review actions, queue, audit.

Every response model mirrors, key for key, the JSON the review routes have always answered
(built from :class:`~service.review.ActionResult` and the :mod:`~service.review.views` read
models). Response models forbid extra keys, so a handler answering a key its model does not name
fails loudly in the tests instead of silently losing it. A blind label carries exactly one of
``category_id``, ``new_category_name`` and ``noise``; the audit routes leave the other two out
(``response_model_exclude_unset``). Timestamps are ISO 8601 in UTC with ``Z`` (``UtcTimestamp``).

Request models declare what the actions enforce (``version`` ≥ 1, name and definition lengths,
2–9 split groups, non-empty note lists); an answer that breaks them is 422 naming the field.
What needs the database (membership, destinations, one-of choices) stays in the actions, which
answer 422 naming the field too.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from service.auth import Role
from service.domain import (
    EventMode,
    ProposalKind,
    ProposalStatus,
    RejectReason,
    ReviewAction,
    RunStatus,
)
from service.http.schemas import ErrorOut, UtcTimestamp, errors
from service.http.schemas_api import MergeSuggestionOut
from service.review.common import MAX_DEFINITION, MAX_NAME
from service.review.split import MAX_GROUPS

_CONFLICTS = {
    "stale_version": "`stale_version`: the proposal changed since the `version` you acted on "
    "(`changed_by`, `changed_at` and the `current` state say how)",
    "already_decided": "`already_decided`: the proposal (or the destination) is no longer "
    "pending (`status`, `current`)",
    "must_audit_first": "`must_audit_first`: the run is in blind mode and you have not labelled "
    "its audit sample yet (`pending`, `audit`)",
    "claimed": "`conflict`: someone else holds an unexpired claim (`claimed_by`, `proposal`)",
    "undo": "`conflict`: nothing left to undo, or a later action built on it "
    "(`blocked_by_event_id`, `blocked_by`)",
    "not_blind": "`conflict`: the run is not in blind mode",
}


def review_errors(*statuses: int, conflicts: tuple[str, ...] = ()) -> dict[int | str, Any]:
    """``responses=`` for a review route: :func:`~service.http.schemas.errors`, and a 409 that
    names the conflict codes this route can answer."""
    responses = errors(*statuses)
    if conflicts:
        what = "; ".join(_CONFLICTS[c] for c in conflicts)
        responses[409] = {"model": ErrorOut, "description": f"Conflict — {what}."}
    return responses


# -- requests -----------------------------------------------------------------------------------

NoteIds = Annotated[
    list[int],
    Field(
        min_length=1,
        json_schema_extra={"uniqueItems": True},
        description="Note ids, at least one, each once.",
    ),
]
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME)]


class Versioned(BaseModel):
    version: int = Field(ge=1, description="The proposal version you acted on (409 if stale).")


class ConfirmIn(Versioned):
    into: Literal["auto", "new", "matched"] = Field(
        "auto",
        description="auto: a carry-over proposal into the category it was matched to; any other "
        "into an active category of the same name, else a new one (the judge's guess at a match "
        "is not followed); new: always a new category; matched: the matched category.",
    )


class ProposalAt(Versioned):
    id: int = Field(ge=1, description="A carry-over proposal of the run.")


class ConfirmCarryOversIn(BaseModel):
    proposals: list[ProposalAt] = Field(
        min_length=1,
        max_length=1000,
        description="The carry-over proposals to accept, each with the version you looked at.",
    )


class RenameIn(Versioned):
    name: str = Field(
        min_length=1,
        max_length=MAX_NAME,
        description=f"The new name (whitespace collapsed; not blank; ≤ {MAX_NAME} characters).",
    )
    definition: str | None = Field(
        None,
        max_length=MAX_DEFINITION,
        description=f"The new definition (≤ {MAX_DEFINITION} characters); omit to keep it.",
    )


class RejectIn(Versioned):
    reason: RejectReason = Field(
        RejectReason.noise,
        description="noise: the notes say nothing usable; not_a_failure: no failure described.",
    )


class SplitIn(Versioned):
    groups: list[Annotated[list[int], Field(min_length=1)]] = Field(
        min_length=2,
        max_length=MAX_GROUPS,
        description=f"Note ids per new proposal: 2–{MAX_GROUPS} non-empty groups holding every "
        "member of the proposal exactly once.",
    )
    names: list[Name] | None = Field(
        None, description="A name per group (same order); omit for '<name> (i/k)'."
    )


class MergeIn(Versioned):
    into_proposal_id: int | None = Field(
        None, description="A pending or confirmed proposal of the same run (or into_category_id)."
    )
    into_category_id: int | None = Field(
        None, description="An active category of the project (or into_proposal_id)."
    )


class Where(BaseModel):
    """Where notes go: exactly one of the three."""

    to_proposal_id: int | None = Field(
        None, description="A pending or confirmed proposal of the run."
    )
    to_category_id: int | None = Field(None, description="An active category of the project.")
    to_noise: bool = Field(False, description="Label the notes noise.")


class MoveIn(Versioned, Where):
    note_ids: NoteIds = Field(description="Members to move; not all of them (merge instead).")


class AssignIn(Where):
    note_ids: NoteIds = Field(description="Unclustered notes of the run not in a proposal.")


class UndoIn(BaseModel):
    event_id: int | None = Field(
        None, description="Default: your last action in the run; a lead may name anyone's."
    )


class BlindIn(BaseModel):
    enabled: bool = Field(description="Turn blind mode on (drawing the sample if none) or off.")


class LabelIn(BaseModel):
    """A blind label: exactly one of category_id, new_category_name, noise."""

    note_id: int = Field(description="A note of the run's audit sample.")
    category_id: int | None = Field(None, description="An active category of the project.")
    new_category_name: str | None = Field(
        None, max_length=MAX_NAME, description="A category that does not exist yet, by name."
    )
    noise: bool = Field(False, description="The note describes no failure category.")


# -- responses ----------------------------------------------------------------------------------


class Out(BaseModel):
    """A response: no key beyond the ones named (the contract is exact)."""

    model_config = ConfigDict(extra="forbid")


class ProposalStateOut(Out):
    """A proposal's current review state (also the ``current`` of a 409)."""

    proposal_id: int = Field(description="Proposal id.")
    run_id: int = Field(description="Its run.")
    status: ProposalStatus = Field(description="pending, confirmed, rejected, merged or split.")
    version: int = Field(description="1 + the review events that touched it; send it back.")
    name: str = Field(description="Current name.")
    definition: str = Field(description="Current definition.")
    category_id: int | None = Field(description="The category it was confirmed or merged into.")
    member_note_ids: list[int] = Field(description="Current members.")
    size: int = Field(description="Number of members.")
    updated_by: str | None = Field(description="Who changed it last.")
    updated_at: UtcTimestamp | None = Field(description="When it was changed last (ISO 8601).")
    last_event_id: int | None = Field(description="The last review event that touched it.")


class ActionOut(Out):
    """What an action did (rename and reject answer exactly this)."""

    event_id: int = Field(description="The review event recorded.")
    action: ReviewAction = Field(description="The event's action.")
    proposal_id: int | None = Field(description="The proposal acted on (null: none).")
    run_id: int = Field(description="The run.")
    proposal: ProposalStateOut | None = Field(description="The proposal's new state.")


class ConfirmOut(ActionOut):
    category_id: int = Field(description="The category the proposal was confirmed into.")
    new_category: bool = Field(description="The confirm created that category.")


class ConfirmedOut(Out):
    proposal_id: int = Field(description="A proposal accepted.")
    category_id: int = Field(description="The category it was confirmed into (its match).")
    event_id: int = Field(description="Its confirm event.")


class ConfirmCarryOversOut(Out):
    run_id: int = Field(description="The run.")
    confirmed: list[ConfirmedOut] = Field(description="One entry per proposal, in order.")


class SplitOut(ActionOut):
    child_proposal_ids: list[int] = Field(description="The new pending proposals, in order.")
    groups: list[list[int]] = Field(description="Their members, in the proposal's order.")


class MergeOut(ActionOut):
    into_proposal_id: int | None = Field(description="The proposal merged into, if any.")
    category_id: int | None = Field(description="The destination's category (null: pending).")


class MoveOut(ActionOut):
    """A move of members, or an assignment of unclustered notes."""

    note_ids: list[int] = Field(description="The notes moved.")
    to_proposal_id: int | None = Field(description="Destination proposal, if any.")
    to_category_id: int | None = Field(description="Destination category, if any.")
    to_noise: bool = Field(description="The notes became noise.")


class UndoOut(ActionOut):
    """The revert event; ``proposal`` is the undone action's proposal as it is now."""

    reverted_event_id: int = Field(description="The event undone.")
    undone_action: ReviewAction = Field(description="What it did.")
    reverted_event_ids: list[int] | None = Field(
        None, description="Every event undone, when the action was a bulk confirm."
    )


class SuggestedSplitOut(Out):
    proposal_id: int = Field(description="The proposal.")
    groups: list[list[int]] = Field(description="Two groups of member ids (k-means, k=2).")


class ClaimOut(Out):
    proposal_id: int = Field(description="The proposal.")
    claimed_by: str = Field(description="You.")
    expires_at: UtcTimestamp = Field(description="When the claim lapses (ISO 8601).")


class ReleaseOut(Out):
    proposal_id: int = Field(description="The proposal.")
    claimed_by: None = Field(description="Nobody holds it now.")


class RunRowOut(Out):
    run_id: int = Field(description="Run id.")
    project: str = Field(description="Project name.")
    status: RunStatus = Field(description="queued → running → succeeded | failed.")
    stage: str = Field(description="Current (or failing) stage.")
    done: int = Field(description="Items of the stage done.")
    total: int = Field(description="Items of the stage in all.")
    n_notes: int = Field(description="Notes in the run.")
    n_clusters: int = Field(description="Clusters found.")
    n_unclustered: int = Field(description="Notes left unclustered.")
    n_judge_failed: int = Field(description="Clusters the judge failed to name.")
    blind_mode: bool = Field(description="Reviewers label the audit sample blind first.")
    created_at: UtcTimestamp | None = Field(description="Queued at (ISO 8601).")
    finished_at: UtcTimestamp | None = Field(description="Finished at (ISO 8601).")
    error: str | None = Field(description="Why the run failed.")
    pending: int = Field(description="Proposals not decided yet.")
    decided: int = Field(description="Proposals decided.")


class ProposalRowOut(Out):
    proposal_id: int = Field(description="Proposal id.")
    name: str = Field(description="Current name.")
    status: ProposalStatus = Field(description="pending, confirmed, rejected, merged or split.")
    version: int = Field(description="Current version (send it with an action).")
    size: int = Field(description="Number of members.")
    origin: str = Field(
        description="judge, carry_over (matched to a confirmed category), or split (made by a "
        "reviewer's split)."
    )
    judge_id: str = Field(description="The judge that named it.")
    judge_failed: bool = Field(description="The judge failed to name the cluster.")
    confidence: float = Field(
        description="The judge's confidence; for a carry-over, the notes' mean match score."
    )
    category_id: int | None = Field(description="Its category once confirmed or merged.")
    updated_by: str | None = Field(description="Who changed it last.")
    claimed_by: str | None = Field(description="Who holds an unexpired claim on it.")
    kind: ProposalKind = Field(
        description="carry_over: more notes for the confirmed category matched_category_id "
        "(confirm files them there); new: a cluster proposed as a new category."
    )
    matched_category_id: int | None = Field(
        description="carry_over: the category matched; new: the judge's guess, if any."
    )


class QueueProposalOut(ProposalRowOut):
    merge_suggestions: list[MergeSuggestionOut] = Field(
        description="Pending only: the closest other pending proposals and active categories, "
        "best first, at most 3."
    )


class QueueOut(Out):
    run: RunRowOut = Field(description="The run.")
    pending: int = Field(description="Pending proposals.")
    decided: int = Field(description="Decided proposals.")
    proposals: list[QueueProposalOut] = Field(description="Pending first, then largest first.")


class NoteRowOut(Out):
    note_id: int = Field(description="Note id.")
    text: str = Field(description="The note.")
    author: str | None = Field(description="Who wrote it.")
    trace_url: str | None = Field(description="A link to the trace.")
    trace_id: str | None = Field(description="The trace it is on.")
    external_id: str | None = Field(description="The submitter's id of the note.")
    reassigned: bool = Field(description="Moved here by a reviewer or the pipeline.")
    misfit: bool = Field(description="The judge said it does not fit the proposal.")
    label: str | None = Field(description="Its current human label: a category name or noise.")


class CategoryRefOut(Out):
    category_id: int = Field(description="Category id.")
    name: str = Field(description="Its name.")
    count: int = Field(description="Notes in it.")
    similarity: float | None = Field(description="Cosine to the proposal's notes, if scored.")


class ProposalDetailOut(ProposalRowOut):
    run_id: int = Field(description="Its run.")
    member_note_ids: list[int] = Field(description="Current members.")
    role: Role | Literal[""] = Field(description="The caller's role in the project.")
    definition: str = Field(description="Current definition.")
    judge_name: str = Field(description="The name the judge proposed.")
    judge_definition: str = Field(description="The definition the judge proposed.")
    judge_version: str = Field(description="The judge's version (prompt + model).")
    failure_reason: str | None = Field(description="Why the judge failed, if it did.")
    keywords: list[str] = Field(description="Keywords of the cluster.")
    parent_proposal_id: int | None = Field(description="The proposal it was split from.")
    members: list[NoteRowOut] = Field(description="Its notes.")
    misfits: list[NoteRowOut] = Field(description="Its notes the judge called misfits.")
    matched: CategoryRefOut | None = Field(description="The category the judge matched.")
    nearest: list[CategoryRefOut] = Field(description="Up to 3 closest active categories.")
    categories: list[CategoryRefOut] = Field(description="Every active category (targets).")
    targets: list[ProposalRowOut] = Field(
        description="Other live proposals of the run (merge and move targets)."
    )
    pending_ids: list[int] = Field(description="Pending proposals of the run, in queue order.")
    claim_expires_at: UtcTimestamp | None = Field(description="When the current claim lapses.")
    merge_suggestions: list[MergeSuggestionOut] = Field(
        description="Pending only: the closest other pending proposals and active categories, "
        "best first, at most 3 (the UI's merge default is the first)."
    )


class BlindOut(Out):
    event_id: int = Field(description="The set_blind event.")
    run_id: int = Field(description="The run.")
    blind_mode: bool = Field(description="Blind mode now.")
    sample_size: int = Field(description="Notes in the audit sample (0 when turned off).")


class AuditLabelOut(Out):
    """A blind label: exactly one of the three keys is present."""

    category_id: int | None = Field(None, description="An existing category.")
    new_category_name: str | None = Field(None, description="A category named anew.")
    noise: bool | None = Field(None, description="Noise (always true when present).")


class AuditItemOut(Out):
    position: int = Field(description="Place in the random presentation order.")
    note_id: int = Field(description="Note id.")
    text: str = Field(description="The note (no judge output).")
    author: str | None = Field(description="Who wrote it.")
    trace_url: str | None = Field(description="A link to the trace.")
    inclusion_prob: float = Field(description="Its probability of being drawn.")
    my_label: AuditLabelOut | None = Field(
        description="Your blind label of it (your last before the judge's work was shown)."
    )
    my_revision: AuditLabelOut | None = Field(
        None, description="Your latest revision after the reveal (absent if none)."
    )


class AuditSampleOut(Out):
    """How big the audit is, by which rule, and the interval width that buys."""

    size: int = Field(description="Notes in the sample.")
    run_notes: int = Field(description="Notes in the run.")
    rule: str = Field(
        description="The size rule (AXIAL_AUDIT_SAMPLE_SIZE, …_MAX_SHARE, …_MIN_SIZE)."
    )
    reference_error: float = Field(description="The error rate the width is quoted at.")
    expected_half_width: float | None = Field(
        description="Half-width of the judge error's 95% interval at that rate, for this size."
    )


class AuditOut(Out):
    run_id: int = Field(description="The run.")
    blind_mode: bool = Field(description="The run is in blind mode.")
    must_audit_first: bool = Field(description="You label the sample before seeing proposals.")
    pending: int = Field(description="Sample notes you have still to label (when gated).")
    revealed: bool = Field(description="The judge's work for this run has been shown to you.")
    revealed_at: UtcTimestamp | None = Field(
        description="When it was first shown to you (ISO 8601)."
    )
    accepts: Literal["blind", "revision"] = Field(
        description="What a label you post now is recorded as: blind, or a revision (after the "
        "reveal; never in the judge error rate)."
    )
    sample: AuditSampleOut = Field(description="The audit size and what it buys.")
    notes: list[AuditItemOut] = Field(description="The sample, in presentation order.")


class LabelOut(Out):
    """The recorded label (blind, or a revision): exactly one of the three label keys is present."""

    event_id: int = Field(description="The audit_label event.")
    run_id: int = Field(description="The run.")
    note_id: int = Field(description="The labelled note.")
    position: int = Field(description="Its place in the sample.")
    inclusion_prob: float = Field(description="Its probability of being drawn.")
    category_id: int | None = Field(None, description="An existing category.")
    new_category_name: str | None = Field(None, description="A category named anew.")
    noise: bool | None = Field(None, description="Noise (always true when present).")
    mode: EventMode = Field(
        description="blind, or revised: given after the judge's work for the run was shown to you."
    )
    counts_in_headline: bool = Field(
        description="It feeds the judge error rate (blind labels only; revisions never do)."
    )
    replaces_event_id: int | None = Field(
        None, description="A revision: your blind label event it replaces (null if none)."
    )
    must_audit_first: bool = Field(description="You still have sample notes to label.")
    pending: int = Field(description="How many.")
    proposals_opened: bool = Field(description="This label finished the sample.")


class RebuildOut(Out):
    project: str = Field(description="The project.")
    rebuilt: Literal[True] = Field(description="The projection was rebuilt from the log.")
