"""Pushed authorization requests (RFC 9126): a client pushes its request over the back
channel, authenticated like a token request, and sends the browser with a single-use
``request_uri`` that stands for it."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.digests import sha256_hex
from core.i18n import N_
from core.settings import Settings
from identity import repository as repo
from identity.models import Client, PushedRequest
from identity.oidc import authorize as authz
from identity.oidc.errors import OAuthError
from identity.passkeys import ChallengePurge

REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"  # RFC 9126 2.2
PUSHED_TTL = 60  # seconds; FAPI 2.0 Security Profile 5.3.2.2: under 600
# The client's credentials travel with the push; they are no part of the request.
_CREDENTIALS = frozenset({"client_secret", "client_assertion", "client_assertion_type"})
_MAX_PARAMS_LENGTH = 16_384

# Shown on our page for a request_uri that is unknown, used or expired (never redirected:
# without the request, the redirect URI is not known).
STALE_REQUEST = N_(
    "Yêu cầu ủy quyền đã hết hạn, đã được dùng hoặc không hợp lệ. Hãy bắt đầu lại từ dịch vụ."
)


async def push(
    session: AsyncSession,
    settings: Settings,
    client: Client,
    form: Mapping[str, str],
    *,
    built: repo.BuiltClients,
    jkt: str | None,
    housekeeping: ChallengePurge,
) -> dict[str, Any]:
    """RFC 9126 2.1-2.2: validate the pushed request in full (the rules of /authorize) and
    store it; its request_uri and lifetime. ``jkt``: the key of the push's DPoP proof, to
    which the code will be bound (RFC 9449 10.1). A request that /authorize would refuse is
    refused here, as OAuthError (authz.PageError for a client or redirect URI not valid)."""
    if "request_uri" in form:
        raise OAuthError("invalid_request", "A pushed request carries no request_uri.")
    params = {k: v for k, v in form.items() if k not in _CREDENTIALS}
    params["client_id"] = client.client_id
    if jkt is not None:
        if params.get("dpop_jkt", jkt) != jkt:
            raise OAuthError("invalid_dpop_proof", "dpop_jkt is not the proof's key.")
        params["dpop_jkt"] = jkt
    try:
        await authz.parse_request(session, settings, params, built=built, pushed=True)
    except authz.RedirectError as exc:
        raise OAuthError(exc.error, exc.description) from None
    text = json.dumps(params, separators=(",", ":"), ensure_ascii=False)
    if len(text) > _MAX_PARAMS_LENGTH:
        raise OAuthError("invalid_request", "The pushed request is too large.")
    if housekeeping.due(session):
        await repo.purge_pushed_and_proofs(session, utcnow())
    handle = secrets.token_urlsafe(32)
    await repo.insert(
        session,
        PushedRequest(
            request_hash=sha256_hex(handle),
            client_id=client.client_id,
            params=text,
            expires_at=utcnow() + timedelta(seconds=PUSHED_TTL),
        ),
    )
    return {"request_uri": REQUEST_URI_PREFIX + handle, "expires_in": PUSHED_TTL}


async def pushed_params(session: AsyncSession, params: Mapping[str, str]) -> dict[str, str]:
    """The parameters the request_uri of an authorization request stands for, used up by
    this call (RFC 9126 4); the others sent with it are ignored. authz.PageError when it is
    unknown, used, expired or another client's."""
    uri = params.get("request_uri", "")
    if not uri.startswith(REQUEST_URI_PREFIX) or len(uri) > 200:
        raise authz.PageError(STALE_REQUEST)
    now = utcnow()
    row = await repo.take_pushed(session, sha256_hex(uri[len(REQUEST_URI_PREFIX) :]), now)
    if row is None or row.client_id != params.get("client_id") or row.expires_at <= now:
        raise authz.PageError(STALE_REQUEST)
    stored = json.loads(row.params)
    return {str(k): str(v) for k, v in stored.items()}
