"""The relying party's back channel: Authlib's OAuth 2 client running the code flow in-process."""

from __future__ import annotations

from typing import Any

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client
from fastapi import FastAPI

from tests.identity.factories import RP_REDIRECT, sign_in


def rp_client(app: FastAPI, world: dict[str, str], **kwargs: Any) -> AsyncOAuth2Client:
    """Authlib's OAuth 2 client as the relying party's back channel."""
    return AsyncOAuth2Client(
        client_id=world["client_id"],
        client_secret=world["secret"],
        scope="openid profile birthdate gender address",
        redirect_uri=RP_REDIRECT,
        code_challenge_method="S256",
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        **kwargs,
    )


async def code_flow(
    app: FastAPI, web: httpx.AsyncClient, world: dict[str, str], **extra: str
) -> tuple[AsyncOAuth2Client, dict[str, Any], str]:
    """Run the whole code flow; (rp client, token response, nonce)."""
    from authlib.common.security import generate_token

    rp = rp_client(app, world)
    verifier = generate_token(64)
    nonce = generate_token(20)
    url, state = rp.create_authorization_url(
        "/authorize", code_verifier=verifier, nonce=nonce, **extra
    )
    final = await sign_in(web, url.replace("http://testserver", ""))
    assert final.status_code == 303, final.text
    callback = final.headers["location"]
    assert callback.startswith(RP_REDIRECT)
    token = await rp.fetch_token("/token", authorization_response=callback, code_verifier=verifier)
    return rp, dict(token), nonce
