"""Who is calling: the Principal, the pluggable Authenticator, and the ``require`` dependency."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from core.deps import SessionDep
from core.errors import Forbidden, Unauthenticated
from core.principal import ActorType, Principal

__all__ = [
    "ActorType",
    "Authenticator",
    "GateRecorder",
    "NoAuthenticator",
    "Principal",
    "Requirement",
    "require",
    "requirement_of",
]


class Authenticator(Protocol):
    """Turns a request's credentials (bearer token, session cookie) into a Principal."""

    async def authenticate(self, request: Request, session: AsyncSession) -> Principal | None:
        """The caller, or None when the request carries no valid credentials."""
        ...


class NoAuthenticator:
    """The default until identity plugs in its own: nobody is authenticated."""

    async def authenticate(self, request: Request, session: AsyncSession) -> Principal | None:
        """Always None."""
        return None


class GateRecorder(Protocol):
    """Records a call that ``require`` refuses (the app plugs in the audit log's recorder)."""

    async def refused(
        self,
        request: Request,
        session: AsyncSession,
        principal: Principal,
        *,
        reason: str,
        required: frozenset[str],
    ) -> None:
        """Add the refusal's record to ``session`` (the request's unit of work)."""
        ...


async def _refusal(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    error: Forbidden,
    *,
    reason: str,
    required: frozenset[str],
) -> Forbidden:
    """``error``, recorded by the app's GateRecorder (if it has one) and marked so that the
    unit of work commits that record although the call is refused."""
    recorder: GateRecorder | None = getattr(request.app.state, "gate_recorder", None)
    if recorder is not None:
        await recorder.refused(request, session, principal, reason=reason, required=required)
        error.commit_unit_of_work = True
    return error


@dataclass(frozen=True)
class Requirement:
    """What a ``require`` dependency checks (the API description states it per operation)."""

    roles: frozenset[str]
    scopes: frozenset[str]


def requirement_of(dependency: object) -> Requirement | None:
    """The Requirement a ``require(...)`` dependency checks; None for any other callable."""
    found = getattr(dependency, "requirement", None)
    return found if isinstance(found, Requirement) else None


def require(
    *roles: str, scopes: Iterable[str] = ()
) -> Callable[[Request, AsyncSession], Awaitable[Principal]]:
    """A dependency that authenticates the caller and checks roles (any of) and scopes (all of).

    A known caller refused here is an access attempt like any other: the app's GateRecorder
    records it. Requests without valid credentials are answered 401 and not recorded (no actor
    to name, and the append-only log must not grow at an anonymous caller's will)."""
    wanted_roles = frozenset(roles)
    wanted_scopes = frozenset(scopes)

    async def dependency(request: Request, session: SessionDep) -> Principal:
        authenticator: Authenticator = request.app.state.authenticator
        principal = await authenticator.authenticate(request, session)
        if principal is None:
            raise Unauthenticated("Valid credentials are required for this resource.")
        if wanted_roles and not principal.has_any_role(wanted_roles):
            raise await _refusal(
                request,
                session,
                principal,
                Forbidden(
                    "This resource requires one of the roles: "
                    + ", ".join(sorted(wanted_roles))
                    + "."
                ),
                reason="role",
                required=wanted_roles,
            )
        missing = wanted_scopes - principal.scopes
        if missing:
            # RFC 6750 section 3.1: insufficient_scope names the scope that was needed.
            raise await _refusal(
                request,
                session,
                principal,
                Forbidden(
                    "The token lacks the scopes: " + ", ".join(sorted(missing)) + ".",
                    headers={
                        "WWW-Authenticate": 'Bearer realm="registry", error="insufficient_scope", '
                        f'scope="{" ".join(sorted(wanted_scopes))}"'
                    },
                ),
                reason="scope",
                required=wanted_scopes,
            )
        request.state.principal = principal
        return principal

    dependency.requirement = Requirement(wanted_roles, wanted_scopes)  # type: ignore[attr-defined]
    return dependency
