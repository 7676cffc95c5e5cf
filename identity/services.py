"""The identity services the HTTP routes need, built once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from core.settings import Settings
from identity import keys
from identity import repository as repo
from identity.accounts import IdentityContext
from identity.authn import IdentityAuthenticator
from identity.oidc import tokens
from identity.oidc.token_memory import TokenMemory
from identity.passkeys import ChallengePurge
from identity.webauthn import PasskeyServer


@dataclass(frozen=True)
class IdentityServices:
    """Everything the identity routes need, built once by the composition root. What it
    remembers between requests lives here and nowhere else, each with its bound and lifetime
    in its class: ``tokens.memory`` (TokenMemory), ``tokens.signing`` (SigningKeyCache),
    ``tokens.clients`` (BuiltClients) and ``challenge_purge`` (ChallengePurge). Two apps built
    in one process share none of it."""

    ctx: IdentityContext
    tokens: tokens.TokenContext
    passkeys: PasskeyServer
    authenticator: IdentityAuthenticator
    challenge_purge: ChallengePurge
    # Where a staff member goes after a sign-in that no service asked for (the composition
    # root names its staff page; identity knows none of the registry's pages).
    staff_home: str = "/account"

    @property
    def settings(self) -> Settings:
        """The app's settings."""
        return self.ctx.settings


async def get_services(request: Request) -> IdentityServices:
    """The identity services attached to the app."""
    services: IdentityServices = request.app.state.identity
    return services


ServicesDep = Annotated[IdentityServices, Depends(get_services)]


def build_services(
    settings: Settings, directory: Any, *, staff_home: str = "/account"
) -> IdentityServices:
    """Build the identity services of an app; a bad key-encryption key fails here, at start."""
    keys.kek_from_settings(settings)
    from identity.passwords import PasswordHasher

    ctx = IdentityContext(
        settings=settings, hasher=PasswordHasher.from_settings(settings), directory=directory
    )
    token_context = tokens.TokenContext(
        settings=settings,
        directory=directory,
        memory=TokenMemory(),
        signing=keys.SigningKeyCache(),
        clients=repo.BuiltClients(),
    )
    return IdentityServices(
        ctx=ctx,
        tokens=token_context,
        passkeys=PasskeyServer(settings),
        authenticator=IdentityAuthenticator(token_context),
        challenge_purge=ChallengePurge(),
        staff_home=staff_home,
    )
