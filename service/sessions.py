"""Server-side UI sessions and the sign-in throttle.

A browser that signs in gets a cookie with a random token; the ``ui_session`` row keeps only its
SHA-256, who signed in (a user or an API key) and when it expires. Logout deletes the row, a
password change deletes the user's other rows, a lead deletes a member's rows
(``DELETE /api/v1/projects/{project}/users/{username}/sessions``), and expired rows are refused
and swept at each sign-in. Revoking a key ends the sessions it signed in (the key is checked on
every request).

:class:`LoginThrottle` counts failed sign-ins per username and per client address in a sliding
window (per process); past the limit the form answers 429 with ``Retry-After``.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import deque
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from service.auth import Principal, principal_for_key_id, principal_for_user, project_by_name
from service.errors import NotFound, Unauthenticated
from service.storage.models import Membership, UiSession, User

COOKIE = "axial_session"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(
    session: Session, ttl_s: int, *, user_id: int | None = None, key_id: int | None = None
) -> str:
    """Store a new session for a user or a key; returns the token for the cookie (only here)."""
    now = datetime.now(UTC)
    session.execute(delete(UiSession).where(UiSession.expires_at <= now))
    token = secrets.token_urlsafe(32)
    session.add(
        UiSession(
            token_hash=_hash(token),
            user_id=user_id,
            key_id=key_id,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_s),
        )
    )
    session.flush()
    return token


def _row(session: Session, token: str) -> UiSession | None:
    if not token or len(token) > 200:
        return None
    row = session.scalar(select(UiSession).where(UiSession.token_hash == _hash(token)))
    if row is None or _aware(row.expires_at) <= datetime.now(UTC):
        return None
    return row


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes (stored as UTC)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def session_principal(session: Session, token: str) -> Principal:
    """The caller a session cookie stands for; 401 if it is unknown, expired or revoked."""
    row = _row(session, token)
    if row is None:
        raise Unauthenticated("your session has ended (signed out, expired or revoked); sign in")
    if row.user_id is not None:
        return principal_for_user(session, row.user_id)
    if row.key_id is not None:
        return principal_for_key_id(session, row.key_id)
    raise Unauthenticated("your session has ended; sign in")


def end_session(session: Session, token: str) -> None:
    """Logout: the session's row is deleted (a no-op for an unknown token)."""
    if token and len(token) <= 200:
        session.execute(delete(UiSession).where(UiSession.token_hash == _hash(token)))


def revoke_user_sessions(session: Session, user_id: int, *, keep_token: str | None = None) -> int:
    """Delete every session of a user (but ``keep_token``'s); returns how many ended."""
    query = delete(UiSession).where(UiSession.user_id == user_id)
    if keep_token:
        query = query.where(UiSession.token_hash != _hash(keep_token))
    return int(session.execute(query).rowcount or 0)  # type: ignore[attr-defined]


def revoke_member_sessions(session: Session, caller: Principal, project: str, username: str) -> int:
    """A lead of ``project`` ends every session of one of its members; returns how many ended.

    Raises:
        Forbidden: the caller does not lead the project.
        NotFound: no member of that name in the project (``username``).
    """
    found = project_by_name(session, project)
    caller.require(found.id, "lead")
    user = session.scalar(select(User).where(User.username == username))
    if user is None or session.get(Membership, (user.id, found.id)) is None:
        raise NotFound(f"no member {username!r} in project {project!r}", field="username")
    return revoke_user_sessions(session, user.id)


class LoginThrottle:
    """Failed sign-ins per username and per client address in a sliding window (thread-safe).

    Args:
        per_user: failures of one username allowed within the window.
        per_address: failures from one client address allowed within the window.
        window_s: the window, in seconds.
    """

    def __init__(self, per_user: int, per_address: int, window_s: float) -> None:
        self.per_user, self.per_address, self.window_s = per_user, per_address, window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _retry_after(self, bucket: str, limit: int, now: float) -> int:
        times = self._failures.get(bucket)
        if times is None:
            return 0
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[bucket]
            return 0
        if len(times) < limit:
            return 0
        return max(1, int(times[-limit] + self.window_s - now + 0.999))

    def retry_after(self, username: str, address: str) -> int:
        """Seconds until a sign-in for this username from this address may be tried; 0 = now."""
        now = time.monotonic()
        with self._lock:
            return max(
                self._retry_after(f"u:{username.lower()}", self.per_user, now),
                self._retry_after(f"a:{address}", self.per_address, now),
            )

    def failed(self, username: str, address: str) -> None:
        """Count a failed sign-in against the username (if any) and the address."""
        now = time.monotonic()
        with self._lock:
            buckets = [f"a:{address}"] + ([f"u:{username.lower()}"] if username else [])
            for bucket in buckets:
                self._failures.setdefault(bucket, deque()).append(now)
                if len(self._failures) > 100_000:  # bounded memory under a spray of names
                    self._failures.pop(next(iter(self._failures)))

    def succeeded(self, username: str) -> None:
        """A right password clears the username's failures (not the address's)."""
        with self._lock:
            self._failures.pop(f"u:{username.lower()}", None)
