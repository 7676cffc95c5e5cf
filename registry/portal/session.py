"""The portal as the registry's own OpenID Connect client: sign-in via /authorize, the callback,
portal sessions (HttpOnly cookie, idle and absolute timeouts), and who is signed in."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.auth import Principal
from core.clock import utcnow
from core.digests import sha256_hex
from core.settings import Settings
from identity import accounts
from identity.accounts import Account, principal_of
from identity.oidc.clients import create_client, sync_redirect_uris
from identity.signin import session_limits
from registry.portal.models import PortalSession

PORTAL_CLIENT_ID = "registry-portal"
PORTAL_SCOPES = ("openid", "profile", "birthdate", "gender", "address", "national_id")
SESSION_COOKIE = "registry_portal"
FLOW_COOKIE = "registry_portal_flow"
FLOW_TTL = 600
# Where a sign-in may come back to: the portal, the console, the workspace, the staff home and
# the administrators' pages.
STAFF_AND_PORTAL = ("/portal", "/console", "/workspace", "/staff", "/admin/")
TOUCH_SECONDS = 60


def callback_uri(settings: Settings) -> str:
    """Where /authorize sends the portal's code."""
    return settings.issuer + "/portal/callback"


async def ensure_portal_client(session: AsyncSession, settings: Settings) -> None:
    """Register the portal as a first-party client (no consent page) if it is not yet."""
    registered = await sync_redirect_uris(  # the public URL may have changed
        session,
        PORTAL_CLIENT_ID,
        redirect_uris=[callback_uri(settings)],
        post_logout_redirect_uris=[settings.issuer + "/portal"],
    )
    if registered:
        return
    await create_client(
        session,
        settings,
        name="Cổng thông tin công dân",
        type="rp",
        redirect_uris=[callback_uri(settings)],
        post_logout_redirect_uris=[settings.issuer + "/portal"],
        scopes=list(PORTAL_SCOPES),
        first_party=True,
        client_id=PORTAL_CLIENT_ID,
        sector_identifier="registry-portal",
    )


# ------------------------------------------------------------------------------ the code flow


def _sign(settings: Settings, payload: dict[str, Any]) -> str:
    body = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    mac = hmac.new(settings.derived_secret("portal-flow"), body.encode(), hashlib.sha256)
    return body + "." + mac.hexdigest()


def _open(settings: Settings, value: str | None) -> dict[str, Any] | None:
    if not value or "." not in value or len(value) > 4000:
        return None
    body, mac = value.rsplit(".", 1)
    expected = hmac.new(settings.derived_secret("portal-flow"), body.encode(), hashlib.sha256)
    if not hmac.compare_digest(expected.hexdigest(), mac):
        return None
    try:
        data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except ValueError:
        return None
    if time.time() - float(data.get("t", 0)) > FLOW_TTL:
        return None
    return data


def start_flow(settings: Settings, *, next_path: str, locale: str | None) -> tuple[str, str]:
    """(the /authorize URL, the signed flow cookie) of a new sign-in (PKCE S256, state, nonce)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    params = {
        "response_type": "code",
        "client_id": PORTAL_CLIENT_ID,
        "redirect_uri": callback_uri(settings),
        "scope": " ".join(PORTAL_SCOPES),
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    }
    if locale:
        params["ui_locales"] = locale
    safe_next = next_path if next_path.startswith(STAFF_AND_PORTAL) else "/portal"
    cookie = _sign(
        settings, {"s": state, "v": verifier, "n": nonce, "next": safe_next, "t": time.time()}
    )
    return "/authorize?" + urlencode(params), cookie


def check_callback(
    settings: Settings, cookie: str | None, *, state: str | None, iss: str | None
) -> dict[str, Any] | None:
    """The flow this callback belongs to, when state and iss (RFC 9207) are right."""
    flow = _open(settings, cookie)
    if flow is None or not state or not hmac.compare_digest(str(flow["s"]), state):
        return None
    if iss != settings.issuer:
        return None
    return flow


# ------------------------------------------------------------------------------ sessions


async def start_session(
    session: AsyncSession,
    settings: Settings,
    *,
    account: Account,
    grant_id: str,
    amr: str,
    kind: str,
) -> str:
    """A portal session; returns the cookie value."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    _, absolute = session_limits(settings, account)
    session.add(
        PortalSession(
            id=sha256_hex(token),
            account_id=account.id,
            grant_id=grant_id,
            kind=kind,
            amr=amr,
            last_seen_at=now,
            expires_at=now + absolute,
        )
    )
    await session.flush()
    return token


@dataclass(frozen=True)
class PortalUser:
    """Who is signed in to the portal."""

    account: Account
    principal: Principal
    row: PortalSession

    @property
    def citizen_id(self) -> str | None:
        """The citizen's ID number (None for staff)."""
        return self.account.citizen_id


async def current_user(
    request: Request, session: AsyncSession, settings: Settings
) -> PortalUser | None:
    """The portal user of this browser, or None (no cookie, ended, idle, expired, locked)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 100:
        return None
    stmt = select(PortalSession).where(
        PortalSession.id == sha256_hex(token), PortalSession.ended_at.is_(None)
    )
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        return None
    account = await accounts.find_account(session, row.account_id)
    grant = await accounts.grant_state(session, row.grant_id)
    now = utcnow()
    if account is None or account.status != "active" or grant is None or grant.revoked:
        row.ended_at = now
        await session.flush()
        return None
    idle, _ = session_limits(settings, account)
    if now >= row.expires_at or (now - row.last_seen_at) >= idle:
        row.ended_at = now
        await session.flush()
        return None
    if (now - row.last_seen_at).total_seconds() >= TOUCH_SECONDS:
        row.last_seen_at = now
        await session.flush()
    principal = principal_of(account, amr=tuple(row.amr.split()))
    if account.kind == "staff" and "hwk" not in row.amr.split():
        principal = Principal(
            actor_type=principal.actor_type,
            actor_id=principal.actor_id,
            roles=frozenset({"staff_enrolment"}),
            auth_methods=principal.auth_methods,
        )
    return PortalUser(account=account, principal=principal, row=row)


async def end_session(request: Request, session: AsyncSession) -> str | None:
    """Sign out of the portal; the sid of the provider's sign-in session it came from."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 100:
        return None
    row = await session.get(PortalSession, sha256_hex(token))
    if row is None:
        return None
    if row.ended_at is None:
        row.ended_at = utcnow()
        await session.flush()
    grant = await accounts.grant_state(session, row.grant_id)
    return grant.session_sid if grant is not None else None
