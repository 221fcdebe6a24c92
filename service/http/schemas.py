"""Shapes every route shares: the error body and the documented error responses."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


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
