"""The error hierarchy: each error carries an HTTP status and a stable problem code (RFC 9457)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class FieldError:
    """One invalid input: where it is (a JSON pointer, query parameter or header) and why."""

    detail: str
    pointer: str | None = None
    parameter: str | None = None
    header: str | None = None

    def as_dict(self) -> dict[str, str]:
        """Render as an RFC 9457 ``errors`` member entry."""
        out = {"detail": self.detail}
        if self.pointer is not None:
            out["pointer"] = self.pointer
        if self.parameter is not None:
            out["parameter"] = self.parameter
        if self.header is not None:
            out["header"] = self.header
        return out


@dataclass
class RegistryError(Exception):
    """Base of every error the service reports to a caller on purpose."""

    detail: str = "The request could not be completed."
    errors: Sequence[FieldError] = field(default_factory=tuple)
    headers: Mapping[str, str] = field(default_factory=dict)
    extensions: Mapping[str, Any] = field(default_factory=dict)
    # Set by audit-aware services on a refusal (denied, not found) whose unit of work holds only
    # the audit event of that refusal: the unit of work commits it, then the error is answered.
    commit_unit_of_work: bool = False

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal error"

    def __post_init__(self) -> None:
        super().__init__(self.detail)

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"


class BadRequest(RegistryError):
    """The request is malformed (not a payload validation failure)."""

    status = 400
    code = "bad-request"
    title = "Bad request"


class Unauthenticated(RegistryError):
    """No valid credentials were presented."""

    status = 401
    code = "unauthenticated"
    title = "Authentication required"

    def __post_init__(self) -> None:
        super().__post_init__()
        if "WWW-Authenticate" not in self.headers:
            self.headers = {**self.headers, "WWW-Authenticate": 'Bearer realm="registry"'}


class Forbidden(RegistryError):
    """The caller is known but not allowed to do this."""

    status = 403
    code = "forbidden"
    title = "Forbidden"


class NotFound(RegistryError):
    """The resource does not exist (or the caller may not know that it does)."""

    status = 404
    code = "not-found"
    title = "Not found"


class MethodNotAllowed(RegistryError):
    """The resource exists but not with this HTTP method."""

    status = 405
    code = "method-not-allowed"
    title = "Method not allowed"


class Conflict(RegistryError):
    """The request conflicts with the current state (duplicate, stale version)."""

    status = 409
    code = "conflict"
    title = "Conflict"


class PayloadTooLarge(RegistryError):
    """The request body is larger than allowed."""

    status = 413
    code = "payload-too-large"
    title = "Payload too large"


class UnsupportedMediaType(RegistryError):
    """The request body is not in a media type this endpoint accepts."""

    status = 415
    code = "unsupported-media-type"
    title = "Unsupported media type"


class ValidationFailed(RegistryError):
    """The payload is well-formed but breaks a rule; ``errors`` points at each field."""

    status = 422
    code = "validation-failed"
    title = "Validation failed"


class RateLimited(RegistryError):
    """Too many requests; the caller should retry after ``Retry-After`` seconds."""

    status = 429
    code = "rate-limited"
    title = "Too many requests"


class ServiceUnavailable(RegistryError):
    """A dependency (the database) is unavailable; retrying later may succeed."""

    status = 503
    code = "service-unavailable"
    title = "Service unavailable"

    def __post_init__(self) -> None:
        super().__post_init__()
        # RFC 9110 10.2.3: a 503 says when to come back, so clients do not retry at once.
        if "Retry-After" not in self.headers:
            self.headers = {**self.headers, "Retry-After": "5"}


class AuditUnavailable(ServiceUnavailable):
    """The access could not be recorded, so it was not made (no access without its record)."""

    code = "audit-unavailable"
    title = "Audit log unavailable"


class DatabaseUnavailable(ServiceUnavailable):
    """The database cannot be reached or did not answer in time."""

    code = "database-unavailable"
    title = "Database unavailable"


def all_error_types() -> list[type[RegistryError]]:
    """Every concrete error class, for the problem-type catalogue."""
    seen: list[type[RegistryError]] = [RegistryError]
    stack: list[type[RegistryError]] = [RegistryError]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub not in seen:
                seen.append(sub)
                stack.append(sub)
    return seen
