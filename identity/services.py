"""The identity services the HTTP routes need, built once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from core.settings import Settings
from identity import keys
from identity.accounts import IdentityContext
from identity.authn import IdentityAuthenticator
from identity.oidc import tokens
from identity.passkeys import PasskeyServer


@dataclass(frozen=True)
class IdentityServices:
    """Everything the identity routes need, built once by the composition root."""

    ctx: IdentityContext
    tokens: tokens.TokenContext
    passkeys: PasskeyServer
    authenticator: IdentityAuthenticator

    @property
    def settings(self) -> Settings:
        """The app's settings."""
        return self.ctx.settings


async def get_services(request: Request) -> IdentityServices:
    """The identity services attached to the app."""
    services: IdentityServices = request.app.state.identity
    return services


ServicesDep = Annotated[IdentityServices, Depends(get_services)]


def build_services(settings: Settings, directory: Any) -> IdentityServices:
    """Build the identity services of an app; a bad key-encryption key fails here, at start."""
    keys.kek_from_settings(settings)
    from identity.passwords import PasswordHasher

    ctx = IdentityContext(
        settings=settings, hasher=PasswordHasher.from_settings(settings), directory=directory
    )
    return IdentityServices(
        ctx=ctx,
        tokens=tokens.TokenContext(settings=settings, directory=directory),
        passkeys=PasskeyServer(settings),
        authenticator=IdentityAuthenticator(settings, directory),
    )
