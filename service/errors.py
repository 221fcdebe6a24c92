"""Service errors carry their HTTP status and a stable code; one handler in app.py renders them."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """Base error: ``status`` and ``code`` are rendered as ``{"error", "message", ...}``."""

    status, code = 500, "internal"

    def __init__(self, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def to_json(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, **self.detail}


class BadInput(ServiceError):
    """Input that cannot be accepted; ``field`` names where, ``line`` the line of a file."""

    status, code = 422, "invalid_input"

    def __init__(self, message: str, *, field: str, **detail: Any) -> None:
        super().__init__(message, field=field, **detail)


class PayloadTooLarge(BadInput):
    status, code = 413, "too_large"


class Unauthenticated(ServiceError):
    status, code = 401, "unauthenticated"


class Forbidden(ServiceError):
    """The caller's role does not allow this; ``field`` names what was lacking (``role`` unless
    a request field says more, e.g. ``batch_id``), ``needed`` the roles that would do."""

    status, code = 403, "forbidden"

    def __init__(self, message: str, *, field: str = "role", **detail: Any) -> None:
        super().__init__(message, field=field, **detail)


class NotFound(ServiceError):
    status, code = 404, "not_found"


class Conflict(ServiceError):
    status, code = 409, "conflict"


class Busy(Conflict):
    """The database could not take this write now (concurrent writers): nothing was stored."""

    code = "busy"


class MustAuditFirst(Conflict):
    """Blind-first: a reviewer labels a run's audit sample before seeing its proposals."""

    code = "must_audit_first"


class AlreadyDecided(Conflict):
    code = "already_decided"


class StaleVersion(Conflict):
    code = "stale_version"
