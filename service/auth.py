"""Who is asking, and may they: API keys (hashed), UI users (scrypt), roles per project.

Roles, least to most: ``client`` (submit batches, start runs, read its own batches and runs),
``reviewer`` (read runs and proposals, review), ``lead`` (everything, plus dashboards, settings,
keys). API clients send ``Authorization: Bearer <key>``; the UI keeps a signed session cookie.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from service.domain import Role as Role  # re-exported: where most callers look for it
from service.errors import BadInput, Forbidden, NotFound, Unauthenticated
from service.storage.db import read
from service.storage.models import ApiKey, ApiKeyGrant, Membership, Project, UiSession, User

KEY_PREFIX = "axk_"


# What each action needs. Reviewers do not submit notes; clients do not review.
PERMISSIONS: dict[str, frozenset[Role]] = {
    "submit": frozenset({Role.client, Role.lead}),
    "read": frozenset({Role.client, Role.reviewer, Role.lead}),
    "review": frozenset({Role.reviewer, Role.lead}),
    "lead": frozenset({Role.lead}),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: a display name, a stable identity and a role per project id.

    ``name`` is what people read (``key:<key name>`` or the username); two keys may share a
    name. ``actor`` is who the caller *is*: ``key:<key id>`` or ``user:<user id>``. Every review
    event records both, and whatever asks "the same reviewer?" (the blind-first gate, blind
    labels, the judge reveal) compares ``actor``, never ``name``.
    """

    name: str
    kind: str  # "key" | "user"
    roles: dict[int, Role] = field(default_factory=dict)
    key_id: int | None = None
    user_id: int | None = None

    @property
    def actor(self) -> str:
        """The stable identity: ``key:<id>``, ``user:<id>``; ``name:<name>`` for a principal
        built by hand without an id (tools and tests)."""
        if self.kind == "key" and self.key_id is not None:
            return f"key:{self.key_id}"
        if self.kind == "user" and self.user_id is not None:
            return f"user:{self.user_id}"
        return f"name:{self.name}"

    def role_in(self, project_id: int) -> Role | None:
        return self.roles.get(project_id)

    def require(self, project_id: int, permission: str) -> Role:
        """The caller's role in the project, or 403 naming what is missing."""
        role = self.roles.get(project_id)
        allowed = PERMISSIONS[permission]
        if role is None:
            raise Forbidden(f"{self.name} has no role in this project", needed=sorted(allowed))
        if role not in allowed:
            raise Forbidden(
                f"role {role.value!r} may not {permission} here; needs one of "
                + ", ".join(sorted(r.value for r in allowed)),
                role=role.value,
                needed=sorted(r.value for r in allowed),
            )
        return role

    def owns(self, actor: str | None) -> bool:
        """Whether a batch or run recorded as made by ``actor`` is the caller's own (an unknown
        maker, NULL on rows older than migration 0004 with an ambiguous name, is no one's)."""
        return actor is not None and actor == self.actor

    @property
    def is_lead_anywhere(self) -> bool:
        return Role.lead in self.roles.values()


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, project: Project, role: Role, name: str) -> str:
    """Store a new key (hashed) and return the plain key, which is shown only this once."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiKey(
            project_id=project.id,
            name=name,
            role=role.value,
            prefix=key[:12],
            key_hash=hash_key(key),
        )
    )
    session.flush()
    return key


# A key with its grants, in one statement built once (by its hash for API requests, by its id
# for a UI session signed in with it): read on every request, so a revoked key is refused at
# once, but no ORM object is made of it.
_KEY_WITH_GRANTS = select(
    ApiKey.id,
    ApiKey.project_id,
    ApiKey.name,
    ApiKey.role,
    ApiKey.revoked_at,
    ApiKeyGrant.project_id,
    ApiKeyGrant.role,
).outerjoin(ApiKeyGrant, ApiKeyGrant.key_id == ApiKey.id)
_KEY_BY_HASH = _KEY_WITH_GRANTS.where(ApiKey.key_hash == bindparam("key_hash"))
_KEY_BY_ID = _KEY_WITH_GRANTS.where(ApiKey.id == bindparam("key_id"))


def _key_principal(rows: Sequence[Sequence[Any]], refused: str) -> Principal:
    """A key's principal from its rows of ``_KEY_WITH_GRANTS``: its role in its project, plus
    its grants elsewhere; ``refused`` (401) when the key is unknown or revoked."""
    if not rows or rows[0][4] is not None:
        raise Unauthenticated(refused)
    key_id, project_id, name, role = rows[0][:4]
    roles = {
        int(g_project): Role(g_role) for *_, g_project, g_role in rows if g_project is not None
    }
    roles[int(project_id)] = Role(role)
    return Principal(name=f"key:{name}", kind="key", roles=roles, key_id=int(key_id))


def principal_for_key(session: Session, key: str) -> Principal:
    """The caller a key stands for, read fresh from the database on every call (an unknown or
    revoked key: 401)."""
    rows = read(session, _KEY_BY_HASH, {"key_hash": hash_key(key)}).all()
    return _key_principal(rows, "unknown or revoked API key")


def principal_for_key_id(session: Session, key_id: int) -> Principal:
    """The principal of a key the UI signed in with (the session stores the id, never the key)."""
    rows = read(session, _KEY_BY_ID, {"key_id": key_id}).all()
    return _key_principal(rows, "the key this session signed in with was revoked; sign in again")


def grant_key(session: Session, key_id: int, project: Project, role: Role) -> None:
    """Give a key a role in another project (the lead key that created it through the API)."""
    session.add(ApiKeyGrant(key_id=key_id, project_id=project.id, role=role.value))
    session.flush()


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


@functools.cache
def _no_user_hash() -> str:
    """Checked instead when the username is unknown: the same scrypt work, so the time a wrong
    sign-in takes does not tell whether the user exists (made once, on first use)."""
    return hash_password(secrets.token_urlsafe(16))


def check_password(password: str, stored: str) -> bool:
    try:
        _, salt_hex, digest_hex = stored.split("$")
    except ValueError:
        return False
    candidate = hash_password(password, bytes.fromhex(salt_hex)).split("$")[2]
    return hmac.compare_digest(candidate, digest_hex)


def add_user(session: Session, username: str, password: str, project: Project, role: Role) -> User:
    """Create a UI login (or add a project role to an existing one)."""
    if not username.strip():
        raise BadInput("username must not be empty", field="username")
    if len(password) < 8:
        raise BadInput("password must have at least 8 characters", field="password")
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        user = User(username=username, password_hash=hash_password(password))
        session.add(user)
        session.flush()
    elif not check_password(password, user.password_hash):
        set_password(session, user, password)
    membership = session.get(Membership, (user.id, project.id))
    if membership is None:
        session.add(Membership(user_id=user.id, project_id=project.id, role=role.value))
    else:
        membership.role = role.value
    session.flush()
    return user


def principal_for_user(session: Session, user_id: int) -> Principal:
    user = session.get(User, user_id)
    if user is None:
        raise Unauthenticated("session user no longer exists; sign in again")
    rows = session.scalars(select(Membership).where(Membership.user_id == user_id))
    return Principal(
        name=user.username,
        kind="user",
        roles={m.project_id: Role(m.role) for m in rows},
        user_id=user.id,
    )


def login(session: Session, username: str, password: str) -> User:
    """The user, if the password is theirs; else 401. An unknown username costs the same scrypt
    work as a known one and gets the same answer."""
    user = session.scalar(select(User).where(User.username == username)) if username else None
    right = check_password(password, user.password_hash if user else _no_user_hash())
    if user is None or not right:
        raise Unauthenticated("wrong username or password", field="username")
    return user


def set_password(session: Session, user: User, password: str, keep_token: str | None = None) -> int:
    """Change a user's password and end every session of theirs (but ``keep_token``'s, the
    browser that changed it); returns how many sessions ended."""
    if len(password) < 8:
        raise BadInput("password must have at least 8 characters", field="password")
    user.password_hash = hash_password(password)
    query = delete(UiSession).where(UiSession.user_id == user.id)
    if keep_token:
        query = query.where(UiSession.token_hash != hashlib.sha256(keep_token.encode()).hexdigest())
    ended = session.execute(query).rowcount  # type: ignore[attr-defined]
    session.flush()
    return int(ended or 0)


def project_by_name(session: Session, name: str) -> Project:
    project = session.scalar(select(Project).where(Project.name == name))
    if project is None:
        raise NotFound(f"no project named {name!r}", field="project")
    return project


def change_password(
    session: Session, caller: Principal, current: str, new: str, keep_token: str | None = None
) -> int:
    """A signed-in user changes their own password (the current one first); every other session
    of theirs ends. Returns how many ended.

    Raises:
        BadInput: a key session (no password), a wrong current password, a new one too short.
    """
    user = session.get(User, caller.user_id) if caller.kind == "user" and caller.user_id else None
    if user is None:
        raise BadInput("this session signed in with an API key: it has no password", field="role")
    if not check_password(current, user.password_hash):
        raise BadInput("the current password is wrong", field="current_password")
    if new == current:
        raise BadInput("the new password is the current one", field="new_password")
    return set_password(session, user, new, keep_token)
