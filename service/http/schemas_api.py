"""Request and response shapes of :mod:`service.http.api`: projects, batches, runs, proposals.

Every response model mirrors, key for key, the JSON the routes have always answered; keys that
only some answers carry (``lead_key``) are optional and left out when absent (the routes use
``response_model_exclude_unset``). Timestamps are ISO 8601 in UTC with ``Z`` (``UtcTimestamp``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from service.auth import Role
from service.domain import ProposalKind, ProposalStatus, RunStatus
from service.http.schemas import UtcTimestamp
from service.notes.batches import PROJECT_NAME_PATTERN
from service.review.common import MAX_DEFINITION, MAX_NAME

# Seeds are stored in a 32-bit column and seed NumPy's generators: 0 … 2³¹ − 1.
MAX_SEED = 2**31 - 1
# HDBSCAN's smallest cluster; larger than the largest batch (AXIAL_MAX_BATCH_NOTES' default)
# it could only ever call every note noise.
MAX_MIN_CLUSTER_SIZE = 10_000


# -- requests -----------------------------------------------------------------------------------


class ProjectIn(BaseModel):
    name: str = Field(
        min_length=1,
        max_length=100,
        pattern=PROJECT_NAME_PATTERN,
        description="Project name: 1–100 letters, digits, '.', '_' or '-', starting with a "
        "letter or digit.",
        examples=["weekly-ea"],
    )


class RunIn(BaseModel):
    batch_id: int | None = Field(
        None, description="Cluster this batch; omit for every note without a human decision yet."
    )
    seed: int | None = Field(
        None,
        ge=0,
        le=MAX_SEED,
        description="Seed; same notes + config + seed → same clusters. Default from settings.",
    )
    min_cluster_size: int | None = Field(
        None,
        ge=2,
        le=MAX_MIN_CLUSTER_SIZE,
        description="HDBSCAN's smallest cluster; omit for the rule of n (or the setting).",
    )


class NoteSubmitted(BaseModel):
    """One submitted note (JSON ``notes`` item, JSONL line or CSV row); unknown fields and
    CSV columns go into ``metadata``."""

    text: str = Field(description="The note; not empty, at most AXIAL_MAX_NOTE_CHARS characters.")
    external_id: str | None = Field(
        None, max_length=200, description="Your id; a known one is skipped as a duplicate."
    )
    trace_id: str | None = Field(None, max_length=200, description="The trace the note is on.")
    trace_url: str | None = Field(None, max_length=2000, description="A link to the trace.")
    author: str | None = Field(None, max_length=200, description="Who wrote the note.")
    metadata: dict[str, Any] | None = Field(None, description="Anything else, kept as is.")


class CategoryIn(BaseModel):
    """A confirmed category from selected notes of the project."""

    name: str = Field(
        min_length=1,
        max_length=MAX_NAME,
        description=f"Its name (whitespace collapsed; not blank; ≤ {MAX_NAME} characters); no "
        "active category of the project may have it already (409).",
    )
    definition: str | None = Field(
        None, max_length=MAX_DEFINITION, description="Its definition (empty when omitted)."
    )
    note_ids: list[int] = Field(
        min_length=1,
        json_schema_extra={"uniqueItems": True},
        description="Notes of the project, each once: unclustered, noise, or in pending "
        "proposals of any run (they leave those proposals); none in a confirmed category.",
    )


def batch_request_body() -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of a batch submission (the route parses the body itself)."""
    note = NoteSubmitted.model_json_schema()
    text = {"type": "string", "description": "One note per line (JSONL) or row (CSV)."}
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["notes"],
                    "properties": {"notes": {"type": "array", "minItems": 1, "items": note}},
                }
            },
            "application/x-ndjson": {"schema": text},
            "text/csv": {"schema": text},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "A .csv file, or JSONL under any other name.",
                        }
                    },
                }
            },
        },
    }


# -- responses ----------------------------------------------------------------------------------


class ProjectCreated(BaseModel):
    id: int = Field(description="Project id.")
    name: str = Field(description="Project name.")
    created_at: UtcTimestamp = Field(description="When it was created (ISO 8601).")
    lead_key: str | None = Field(
        None,
        description="A lead API key for the new project, shown only here; only when the "
        "caller used an API key (a signed-in user becomes the lead instead).",
    )


class ProjectOut(BaseModel):
    id: int = Field(description="Project id.")
    name: str = Field(description="Project name.")
    role: Role = Field(description="The caller's role in the project.")
    notes: int = Field(description="Notes stored in the project.")
    created_at: UtcTimestamp = Field(description="When it was created (ISO 8601).")


class Duplicate(BaseModel):
    external_id: str = Field(description="The submitted external id the project already has.")
    note_id: int = Field(description="The stored note with that external id.")


class BatchCreated(BaseModel):
    id: int = Field(description="Batch id (also in the Location header).")
    project: str = Field(description="Project name.")
    n_received: int = Field(description="Notes in the submission.")
    n_stored: int = Field(description="Notes stored (new).")
    n_duplicates: int = Field(description="Notes skipped: external ids known or repeated.")
    duplicates: list[Duplicate] = Field(description="Known external ids that were skipped.")
    note_ids: list[int] = Field(description="Ids of the stored notes, in submission order.")
    replayed: bool = Field(description="An Idempotency-Key replay: the original batch.")


class NoteOut(BaseModel):
    note_id: int = Field(description="Note id.")
    external_id: str | None = Field(description="The submitter's id of the note.")
    text: str = Field(description="The note.")
    author: str | None = Field(description="Who wrote it.")
    trace_id: str | None = Field(description="The trace it is on.")
    trace_url: str | None = Field(description="A link to the trace.")


class BatchNote(NoteOut):
    metadata: dict[str, Any] | None = Field(description="Other submitted fields, as given.")


class BatchOut(BaseModel):
    id: int = Field(description="Batch id.")
    project: str | None = Field(description="Project name.")
    source: str = Field(description="How it was submitted: json, jsonl, csv (CLI: the suffix).")
    submitted_by: str | None = Field(description="The key or user that submitted it.")
    n_received: int = Field(description="Notes in the submission.")
    n_stored: int = Field(description="Notes stored (new).")
    n_duplicates: int = Field(description="Notes skipped as duplicates.")
    created_at: UtcTimestamp = Field(description="When it was stored (ISO 8601).")
    notes: list[BatchNote] = Field(description="Its stored notes, by id.")


class RunOut(BaseModel):
    id: int = Field(description="Run id.")
    project: str | None = Field(description="Project name.")
    batch_id: int | None = Field(description="The batch clustered; null: every undecided note.")
    scope: Literal["batch", "unconfirmed"] = Field(
        description="batch: one batch; unconfirmed: every note without a human decision."
    )
    status: RunStatus = Field(description="queued → running → succeeded | failed.")
    stage: str = Field(description="Current (or failing) stage: queued, load, embed, … done.")
    done: int = Field(description="Items of the stage done.")
    total: int = Field(description="Items of the stage in all.")
    error: str | None = Field(description="Why the run failed, prefixed by its stage.")
    seed: int = Field(description="The seed used.")
    params: dict[str, Any] = Field(description="Everything that decides the clusters.")
    config_hash: str = Field(description="SHA-256 of params: same hash + notes → same result.")
    timings: dict[str, float] = Field(description="Seconds per finished stage.")
    judge_id: str | None = Field(description="The judge (keyword-not-an-llm: no LLM).")
    judge_version: str | None = Field(description="The judge's version (prompt + model).")
    n_notes: int = Field(description="Notes in the run.")
    n_clusters: int = Field(description="Clusters found.")
    n_unclustered: int = Field(description="Notes left unclustered.")
    n_judge_failed: int = Field(description="Clusters the judge failed to name.")
    blind_mode: bool = Field(description="Reviewers label the audit sample blind first.")
    created_by: str | None = Field(description="Who started it.")
    created_at: UtcTimestamp = Field(description="Queued at (ISO 8601).")
    started_at: UtcTimestamp | None = Field(description="Started at (ISO 8601).")
    finished_at: UtcTimestamp | None = Field(description="Finished at (ISO 8601).")


class RunStatusOut(RunOut):
    must_audit_first: bool = Field(
        description="For this caller: label the run's blind audit sample before its proposals."
    )
    audit_pending: int = Field(description="Audit notes this caller has still to label.")


class RunRetried(RunOut):
    """The new run queued by ``POST /runs/{id}/retry``."""

    retry_of: int = Field(description="The failed run it retries (which stays as it was).")


class Member(NoteOut):
    misfit: bool = Field(description="The judge said the note does not fit the proposal.")
    reassigned: bool = Field(
        description="The clusterer moved the note here from noise (its nearest cluster)."
    )


class MergeSuggestionOut(BaseModel):
    """A merge target for a pending proposal: exactly one of ``proposal_id`` (another pending
    proposal of the run) and ``category_id`` (an active category) is set."""

    proposal_id: int | None = Field(description="A pending proposal of the same run.")
    category_id: int | None = Field(description="An active category of the project.")
    name: str = Field(description="Its current name.")
    similarity: float = Field(description="Cosine between the two centroids (embeddings).")


class ProposalOut(BaseModel):
    id: int = Field(description="Proposal id.")
    run_id: int = Field(description="Its run.")
    kind: ProposalKind = Field(
        description="carry_over: notes matched to a confirmed category before clustering "
        "(confirm files them into matched_category_id); new: a cluster proposed as a new "
        "category."
    )
    origin: str = Field(
        description="judge (a cluster the judge named), carry_over (matched to a confirmed "
        "category), or split (a reviewer split a proposal)."
    )
    parent_proposal_id: int | None = Field(description="The proposal it was split from.")
    name: str = Field(description="Current name (after any rename).")
    definition: str = Field(description="Current definition.")
    judge_name: str = Field(description="The name the judge proposed.")
    judge_definition: str = Field(description="The definition the judge proposed.")
    judge_id: str = Field(description="The judge.")
    judge_version: str = Field(description="The judge's version.")
    judge_failed: bool = Field(description="The judge gave no usable answer for this cluster.")
    failure_reason: str | None = Field(description="Why the judge failed.")
    confidence: float = Field(
        description="The judge's confidence; for a carry-over, the notes' mean match score."
    )
    tokens: int | None = Field(description="Tokens the judge call used.")
    latency_ms: float | None = Field(description="How long the judge call took.")
    keywords: list[str] = Field(description="The cluster's distinctive words (c-TF-IDF).")
    matched_category_id: int | None = Field(
        description="carry_over: the confirmed category the notes were matched to; new: an "
        "existing category the judge guessed (confirm follows it only with into=matched)."
    )
    misfit_note_ids: list[int] = Field(description="Members the judge said do not fit.")
    status: ProposalStatus = Field(description="The human decision so far.")
    version: int = Field(description="Pass it back with a review action (stale → 409).")
    category_id: int | None = Field(description="The category a confirmation made or joined.")
    updated_by: str | None = Field(description="Who last changed it.")
    claimed_by: str | None = Field(description="The reviewer holding a claim on it.")
    claim_expires_at: UtcTimestamp | None = Field(description="When that claim lapses (ISO 8601).")
    count: int = Field(description="Members.")
    members: list[Member] = Field(description="Its notes.")
    merge_suggestions: list[MergeSuggestionOut] = Field(
        description="Pending proposals only: the closest other pending proposals of the run and "
        "active categories, best first, at most 3."
    )


class UnclusteredNote(NoteOut):
    category_id: int | None = Field(description="The category a reviewer assigned it to.")
    is_noise: bool = Field(description="A reviewer marked it noise.")


class WeekCountOut(BaseModel):
    week: str = Field(description="An ISO week (2026-W48).")
    count: int = Field(description="The category's notes submitted that week.")


class CategoryOut(BaseModel):
    id: int = Field(description="Category id (stable from week to week).")
    name: str = Field(description="Name.")
    definition: str = Field(description="Definition.")
    origin: str = Field(description="judge (confirmed as proposed) or human.")
    origin_proposal_id: int | None = Field(description="The proposal it was confirmed from.")
    count: int = Field(description="Notes in the category.")
    of: int = Field(description="Notes in the project.")
    label: str = Field(description='"<name> — <count> of <of> notes".')
    weeks: list[WeekCountOut] = Field(
        description="Its notes by the ISO week they were submitted in, oldest first."
    )


class TakenFromOut(BaseModel):
    proposal_id: int = Field(description="A pending proposal that held some of the notes.")
    note_ids: list[int] = Field(description="The notes it lost.")


class CategoryCreated(CategoryOut):
    event_id: int = Field(description="The create_category review event.")
    run_id: int = Field(
        description="The run the event belongs to (POST /runs/{run_id}/undo undoes it): the "
        "latest run that held any of the notes, else the project's latest run."
    )
    note_ids: list[int] = Field(description="The notes now in the category.")
    taken_from: list[TakenFromOut] = Field(
        description="The pending proposals the notes left, by proposal id."
    )
