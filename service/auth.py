"""Who is asking, and may they: API keys (hashed), UI users (scrypt), roles per project.

Roles, least to most: ``client`` (submit batches, start runs, read its own batches and runs),
``reviewer`` (read runs and proposals, review), ``lead`` (everything, plus dashboards, settings,
keys). API clients send ``Authorization: Bearer <key>``; the UI keeps a signed session cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.errors import BadInput, Forbidden, NotFound, Unauthenticated
from service.storage.models import ApiKey, Membership, Project, User

KEY_PREFIX = "axk_"


class Role(StrEnum):
    client = "client"
    reviewer = "reviewer"
    lead = "lead"


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


def principal_for_key(session: Session, key: str) -> Principal:
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
    if row is None or row.revoked_at is not None:
        raise Unauthenticated("unknown or revoked API key")
    return Principal(
        name=f"key:{row.name}", kind="key", roles={row.project_id: Role(row.role)}, key_id=row.id
    )


def principal_for_key_id(session: Session, key_id: int) -> Principal:
    """The principal of a key the UI signed in with (the session stores the id, never the key)."""
    row = session.get(ApiKey, key_id)
    if row is None or row.revoked_at is not None:
        raise Unauthenticated("the key this session signed in with was revoked; sign in again")
    return Principal(
        name=f"key:{row.name}", kind="key", roles={row.project_id: Role(row.role)}, key_id=row.id
    )


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


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
    else:
        user.password_hash = hash_password(password)
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
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not check_password(password, user.password_hash):
        raise Unauthenticated("wrong username or password")
    return user


def project_by_name(session: Session, name: str) -> Project:
    project = session.scalar(select(Project).where(Project.name == name))
    if project is None:
        raise NotFound(f"no project named {name!r}", field="project")
    return project
