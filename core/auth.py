"""Who is calling: the Principal, the pluggable Authenticator, and the ``require`` dependency."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from core.deps import SessionDep
from core.errors import Forbidden, Unauthenticated

ActorType = Literal["agency", "citizen", "official", "auditor", "administrator", "system"]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: what kind of actor, which one, and what it may do."""

    actor_type: ActorType
    actor_id: str
    roles: frozenset[str] = field(default_factory=frozenset)
    scopes: frozenset[str] = field(default_factory=frozenset)
    # The official acting inside an agency, when the agency tells us (for the audit trail).
    on_behalf_of: str | None = None
    # How the caller authenticated (RFC 8176 amr values, e.g. "pwd", "hwk").
    auth_methods: tuple[str, ...] = ()

    def has_any_role(self, roles: Iterable[str]) -> bool:
        """True when the principal holds at least one of ``roles``."""
        return not self.roles.isdisjoint(roles)


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


def require(
    *roles: str, scopes: Iterable[str] = ()
) -> Callable[[Request, AsyncSession], Awaitable[Principal]]:
    """A dependency that authenticates the caller and checks roles (any of) and scopes (all of)."""
    wanted_roles = frozenset(roles)
    wanted_scopes = frozenset(scopes)

    async def dependency(request: Request, session: SessionDep) -> Principal:
        authenticator: Authenticator = request.app.state.authenticator
        principal = await authenticator.authenticate(request, session)
        if principal is None:
            raise Unauthenticated("Valid credentials are required for this resource.")
        if wanted_roles and not principal.has_any_role(wanted_roles):
            raise Forbidden(
                "This resource requires one of the roles: " + ", ".join(sorted(wanted_roles)) + "."
            )
        missing = wanted_scopes - principal.scopes
        if missing:
            # RFC 6750 section 3.1: insufficient_scope names the scope that was needed.
            raise Forbidden(
                "The token lacks the scopes: " + ", ".join(sorted(missing)) + ".",
                headers={
                    "WWW-Authenticate": 'Bearer realm="registry", error="insufficient_scope", '
                    f'scope="{" ".join(sorted(wanted_scopes))}"'
                },
            )
        request.state.principal = principal
        return principal

    return dependency
