"""Request and response shapes of the blind-name links (``GET/POST /runs/{run_id}/audit/links``).

A blind "new category" name of a run's audit, per reviewer and normalised name, with where it
links in the codebook, why (the evidence of the final review) and who linked it
(:mod:`service.audit.links`). Answers carry no key beyond the ones named.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from service.http.schemas import UtcTimestamp
from service.review.common import MAX_NAME


class Strict(BaseModel):
    """An answer with no key beyond the ones named."""

    model_config = ConfigDict(extra="forbid")


class LinkIn(BaseModel):
    """A lead's link of a blind name: exactly one of category_id, noise, automatic."""

    blind_name: str = Field(
        min_length=1, max_length=MAX_NAME, description="The name as a reviewer wrote it blind."
    )
    category_id: int | None = Field(None, description="Link it to this active category.")
    noise: bool = Field(False, description="Link it to noise.")
    automatic: bool = Field(False, description="Hand it back to the rule (the final review).")
    reviewer: str | None = Field(
        None,
        description="Only this reviewer's use of the name (actor id such as key:12, or a display "
        "name only one key or user has); default: every reviewer who wrote it.",
    )


class LinkEvidenceOut(Strict):
    category_id: int | None = Field(description="A category of the final review (null: noise).")
    name: str = Field(description="Its name.")
    notes: int = Field(description="Notes of the blind name the final review put there.")


class BlindLinkOut(Strict):
    """One reviewer's blind "new category" name in the run, and where it links."""

    blind_name: str = Field(description="The name as the reviewer first wrote it.")
    name_key: str = Field(description="The normalised name (case, punctuation, spaces).")
    reviewer: str = Field(description="The reviewer's display name.")
    actor: str = Field(description="The reviewer's identity (key:<id>, user:<id>).")
    note_ids: list[int] = Field(description="The notes they gave it.")
    status: Literal["linked", "pending"] = Field(
        description="pending until every one of its notes has its final label (or the run is "
        "reviewed), unless a lead linked it."
    )
    source: Literal["lead", "automatic", "pending"] = Field(description="Who linked it.")
    category_id: int | None = Field(description="Where it links (null: noise or pending).")
    category_name: str | None = Field(description="That category's name.")
    noise: bool = Field(description="It links to noise.")
    evidence: list[LinkEvidenceOut] = Field(
        description="|B ∩ H_c| per category of the final review, in the rule's order."
    )
    undecided: int = Field(description="Of its notes, still without a final label.")
    tie: bool = Field(
        description="The top count was shared; the larger category, then the lower id won."
    )
    automatic_category_id: int | None = Field(
        description="Where the rule links it (null: noise or pending)."
    )
    overridden_by: str | None = Field(None, description="The lead who set the link.")
    overridden_at: UtcTimestamp | None = Field(None, description="When (ISO 8601).")
    override_event_id: int | None = Field(None, description="The audit_link event.")


class LinksOut(Strict):
    run_id: int = Field(description="The run.")
    watermark: int = Field(description="The highest review event id reflected.")
    reviewed: bool = Field(description="No proposal of the run is pending.")
    pending_proposals: list[int] = Field(description="Its proposals still pending.")
    links: list[BlindLinkOut] = Field(description="Per reviewer and name.")
    event_id: int | None = Field(None, description="The audit_link event just recorded (POST).")
