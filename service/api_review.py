"""Review routes of the JSON API (filled in by the review facade work)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["review"])
