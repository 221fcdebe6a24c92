"""Account routes of the JSON API: a lead ends a member's UI sessions.

``DELETE /api/v1/projects/{project}/users/{username}/sessions`` deletes every server-side
session of the user (:mod:`service.sessions`): their browsers must sign in again. API keys are
revoked with ``axial keys``; that also ends the sessions they signed in.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from service.http.deps import CallerDep, SessionDep
from service.http.schemas import errors
from service.sessions import revoke_member_sessions

router = APIRouter(prefix="/api/v1", tags=["api"])


class SessionsRevoked(BaseModel):
    username: str = Field(description="The member whose sessions ended.")
    sessions_ended: int = Field(description="How many signed-in browsers were signed out.")


@router.delete(
    "/projects/{project}/users/{username}/sessions", responses=errors(401, 403, 404, 422)
)
def delete_user_sessions(
    project: Annotated[str, Path(description="Project name.")],
    username: Annotated[str, Path(max_length=100, description="A member of the project.")],
    session: SessionDep,
    caller: CallerDep,
) -> SessionsRevoked:
    """Lead only: sign a member of the project out everywhere (every UI session of theirs)."""
    ended = revoke_member_sessions(session, caller, project, username)
    return SessionsRevoked(username=username, sessions_ended=ended)
