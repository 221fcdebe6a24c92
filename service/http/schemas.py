"""Shapes every route shares: the error body, the documented error responses, timestamps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema


def utc_timestamp(value: object) -> str:
    """An instant as ISO 8601 in UTC with an explicit ``Z``: ``2026-12-02T16:44:05.123456Z``.

    Takes a ``datetime`` or an ISO 8601 string. A value without an offset is UTC: every
    timestamp is stored in UTC, and SQLite hands it back without its offset (PostgreSQL keeps
    it, in the session's time zone, which is converted here).
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        moment = datetime.fromisoformat(value)  # ValueError: not a timestamp
    else:
        raise TypeError(f"a timestamp must be a datetime or an ISO 8601 string, not {value!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


UtcTimestamp = Annotated[
    str,
    BeforeValidator(utc_timestamp),
    WithJsonSchema({"type": "string", "format": "date-time", "examples": ["2026-12-02T16:44:05Z"]}),
]
"""Every timestamp of every response: ISO 8601, UTC, always with ``Z`` (:func:`utc_timestamp`)."""


class ErrorOut(BaseModel):
    """Every 4xx answer: a stable code, a message for people, and the field it concerns."""

    model_config = ConfigDict(extra="allow")

    error: str = Field(description="Stable code: invalid_input, not_found, stale_version, …")
    message: str = Field(description="What went wrong, for people.")
    field: str | None = Field(None, description="The input field the error concerns, if any.")


_MEANING = {
    401: "Not signed in: no key, an unknown or revoked key, or no session.",
    403: "The caller's role in this project does not allow this.",
    404: "No such project, batch, run, proposal, category or note.",
    409: "Conflict: a stale version, an already decided proposal, or the blind audit first.",
    413: "The request body or batch is larger than the limit.",
    422: "Invalid input; `field` names it and `message` says why.",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status documented with the :class:`ErrorOut` shape."""
    return {s: {"model": ErrorOut, "description": _MEANING[s]} for s in statuses}
