"""HTTP surface of the electronic identity, assembled: the OIDC provider's router (its endpoints,
pages and passkey ceremonies; RFC 6749 error bodies) and the account API's (problem+json).

Each module holds one endpoint family or spec; routes are tried in the order included here."""

from __future__ import annotations

from fastapi import APIRouter

from identity import account_api
from identity.oidc.http import (
    authorize,
    discovery,
    introspection,
    logout,
    par,
    revocation,
    token,
    userinfo,
)
from identity.pages import account, consent, passkeys, recovery, signin, staff, static

oidc_router = APIRouter(tags=["openid-connect"])
for _family in (
    discovery,
    authorize,
    signin,
    consent,
    token,
    par,
    revocation,
    introspection,
    userinfo,
    logout,
    static,
    account,
    recovery,
    passkeys,
    staff,
):
    oidc_router.include_router(_family.router)

account_router = APIRouter(prefix="/api/v1", tags=["electronic identity"])
account_router.include_router(account_api.router)

__all__ = ["account_router", "oidc_router"]
