"""The authorization endpoint's rules (OIDC Core 3.1.2): validate, decide, issue the code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession

from audit import recording as audit
from core.clock import utcnow
from core.digests import sha256_hex
from core.i18n import LOCALES, N_
from core.inputs import ascii_int
from core.settings import Settings
from identity import repository as repo
from identity.accounts import ACR_VALUES, acr_rank, acr_value, principal_of
from identity.models import Account, AuthorizationCode, Client, Consent, Grant, LoginSession
from identity.oidc.claims import (
    KNOWN_SCOPES,
    parse_claims_request,
    parse_scope,
    released_claims,
    requested_acr_essential,
)
from identity.oidc.clients import allowed_scopes, redirect_uris, requires_par
from identity.oidc.tokens import CODE_TTL, client_principal

REQUEST_TTL = 900  # seconds a pending authorization request stays valid across the login pages
PROMPTS = ("none", "login", "consent", "select_account")
_B64URL_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


# Shown on the provider's pages for a client it does not know or has turned off.
UNKNOWN_CLIENT = N_("Dịch vụ không tồn tại hoặc đã ngừng hoạt động.")


class PageError(ValueError):
    """An error shown to the user on our page, never redirected (RFC 6749 4.1.2.1: an invalid
    client or redirect URI must not be redirected to). Its text is a catalog message."""


@dataclass
class RedirectError(Exception):
    """An error returned to the client's redirect URI (RFC 6749 4.1.2.1, RFC 9207 iss)."""

    redirect_uri: str
    error: str
    description: str
    state: str | None
    issuer: str

    def location(self) -> str:
        """The redirect URI with the error parameters."""
        params = {"error": self.error, "error_description": self.description}
        if self.state is not None:
            params["state"] = self.state
        params["iss"] = self.issuer
        return _append(self.redirect_uri, params)


def _append(uri: str, params: Mapping[str, str]) -> str:
    return uri + ("&" if "?" in uri else "?") + urlencode(params)


@dataclass
class AuthRequest:
    """A validated authorization request, carried signed through the login and consent pages."""

    client_id: str
    redirect_uri: str
    scope: list[str]
    state: str | None
    nonce: str | None
    code_challenge: str
    prompt: list[str] = field(default_factory=list)
    max_age: int | None = None
    login_hint: str | None = None
    acr_values: list[str] = field(default_factory=list)
    claims: dict[str, Any] | None = None
    ui_locales: list[str] = field(default_factory=list)
    issued_at: int = 0
    # The sid of the sign-in made for this request: it answers prompt=login, max_age and
    # acr_values (OIDC Core 3.1.2.1), so the flow continues instead of asking again.
    login_sid: str = ""
    # The sign-in page offers the passkey first: the acr asked for needs one.
    passkey: bool = False
    nonce_id: str = ""
    # The client's name when the request was validated, for the sign-in page: that page then
    # reads nothing from the database (a request sealed without it shows no name).
    client_name: str = ""
    # RFC 9449 10: the thumbprint of the DPoP key the code is bound to ("" when none).
    dpop_jkt: str = ""

    def locale(self) -> str | None:
        """The first supported locale the client asked for."""
        for tag in self.ui_locales:
            base = tag.split("-")[0].lower()
            if base in LOCALES:
                return base
        return None


def seal(request: AuthRequest, secret: bytes) -> str:
    """The request as an opaque, HMAC-protected string for the login and consent forms."""
    payload = base64.urlsafe_b64encode(
        json.dumps(asdict(request), separators=(",", ":")).encode()
    ).rstrip(b"=")
    mac = hmac.new(secret, payload, hashlib.sha256).digest()
    return payload.decode() + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


_MEMBERS = frozenset(f.name for f in fields(AuthRequest))


def signed_in_for(request: AuthRequest, sid: str) -> AuthRequest:
    """The request, answered by the sign-in session ``sid`` just made for it."""
    return replace(request, login_sid=sid, passkey=False)


def unseal(value: str, secret: bytes) -> AuthRequest:
    """Open a sealed request; PageError when forged, damaged or stale."""
    try:
        payload, mac = value.split(".", 1)
        expected = base64.urlsafe_b64encode(
            hmac.new(secret, payload.encode(), hashlib.sha256).digest()
        ).rstrip(b"=")
        if not hmac.compare_digest(expected, mac.encode()):
            raise ValueError
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        # Members a previous release sealed and this one dropped are ignored (a deploy
        # during a sign-in does not spoil it).
        request = AuthRequest(**{k: v for k, v in data.items() if k in _MEMBERS})
    except (ValueError, TypeError, UnicodeError):
        raise PageError(N_("Yêu cầu đăng nhập bị hỏng. Hãy bắt đầu lại từ dịch vụ.")) from None
    if time.time() - request.issued_at > REQUEST_TTL:
        raise PageError(N_("Yêu cầu đăng nhập đã hết hạn. Hãy bắt đầu lại từ dịch vụ."))
    return request


async def parse_request(
    session: AsyncSession,
    settings: Settings,
    params: Mapping[str, str],
    *,
    built: repo.BuiltClients,
    pushed: bool = False,
) -> tuple[AuthRequest, Client]:
    """Validate an authorization request (OIDC Core 3.1.2.1-2, RFC 7636 4.3, RFC 9700 2.1):
    the one rule set of /authorize and of a pushed request (RFC 9126 2.1), ``pushed`` when
    the parameters came by PAR."""
    client_id = params.get("client_id")
    client = await repo.detached_client(session, client_id, built=built) if client_id else None
    if client is None or not client.active or client.type != "rp":
        raise PageError(UNKNOWN_CLIENT)
    redirect_uri = params.get("redirect_uri")
    # Exact string match against a registered URI (RFC 9700 2.1).
    if not redirect_uri or redirect_uri not in redirect_uris(client):
        raise PageError(N_("Địa chỉ chuyển hướng chưa được đăng ký cho dịch vụ này."))
    state = params.get("state")

    def fail(error: str, description: str) -> RedirectError:
        return RedirectError(redirect_uri, error, description, state, settings.issuer)

    if "request" in params:
        raise fail("request_not_supported", "Request objects are not supported.")
    if "request_uri" in params:
        raise fail("invalid_request", "request_uri stands only for a pushed request.")
    if requires_par(client) and not pushed:
        # RFC 9126 6; FAPI 2.0 Security Profile 5.3.2.2.
        raise fail("invalid_request", "This client sends its requests by PAR only.")
    if params.get("response_type") != "code":
        raise fail("unsupported_response_type", "Only the authorization code flow is supported.")
    if params.get("response_mode") not in (None, "query"):
        raise fail("invalid_request", "Only response_mode=query is supported.")
    scope = parse_scope(params.get("scope"))
    if "openid" not in scope:
        raise fail("invalid_scope", "The openid scope is required.")
    # RFC 6749 3.3: grant the allowed part of the requested scope.
    scope = [s for s in scope if s in KNOWN_SCOPES and s in allowed_scopes(client)]
    challenge = params.get("code_challenge")
    if not challenge:
        raise fail("invalid_request", "PKCE is required: send code_challenge (S256).")
    if params.get("code_challenge_method") != "S256":
        raise fail("invalid_request", "code_challenge_method must be S256.")
    if not 43 <= len(challenge) <= 128:
        raise fail("invalid_request", "code_challenge must be 43-128 characters.")
    prompt = parse_scope(params.get("prompt"))
    if any(p not in PROMPTS for p in prompt) or ("none" in prompt and len(prompt) > 1):
        raise fail("invalid_request", "prompt must be none, or any of login, consent.")
    max_age: int | None = None
    if params.get("max_age") not in (None, ""):
        try:
            max_age = ascii_int(params["max_age"])
        except ValueError:
            raise fail("invalid_request", "max_age must be a non-negative integer.") from None
    try:
        claims = parse_claims_request(params.get("claims"))
    except ValueError as exc:
        raise fail("invalid_request", str(exc)) from None
    nonce = params.get("nonce")
    if nonce is not None and len(nonce) > 512:
        raise fail("invalid_request", "nonce is too long.")
    if state is not None and len(state) > 2048:
        raise fail("invalid_request", "state is too long.")
    login_hint = params.get("login_hint")
    dpop_jkt = params.get("dpop_jkt", "")
    if dpop_jkt and (len(dpop_jkt) != 43 or not _B64URL_CHARS.issuperset(dpop_jkt)):
        raise fail("invalid_request", "dpop_jkt must be a SHA-256 JWK thumbprint.")
    request = AuthRequest(
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        scope=scope,
        state=state,
        nonce=nonce,
        code_challenge=challenge,
        prompt=prompt,
        max_age=max_age,
        login_hint=login_hint[:64] if login_hint else None,
        acr_values=parse_scope(params.get("acr_values")),
        claims=claims,
        ui_locales=parse_scope(params.get("ui_locales")),
        issued_at=int(time.time()),
        nonce_id=secrets.token_urlsafe(8),
        client_name=client.name,
        dpop_jkt=dpop_jkt,
    )
    return request, client


@dataclass(frozen=True)
class Decision:
    """What the authorization endpoint does next."""

    kind: str  # "login" | "consent" | "code"
    reason: str = ""
    passkey: bool = False  # the sign-in page should offer the passkey first


# Above every rank: an essential acr this provider never issues.
UNREACHABLE = len(ACR_VALUES)


def _acr_wanted(request: AuthRequest) -> tuple[int, bool]:
    """(rank of the weakest acr the request accepts, -1 when it asks none; whether essential).
    acr_values are voluntary; claims can make them essential (OIDC Core 3.1.2.1, 5.5.1.1)."""
    essential = requested_acr_essential(request.claims)
    ranks = [acr_rank(a) for a in essential or request.acr_values if acr_rank(a) >= 0]
    if not ranks:
        return (UNREACHABLE if essential else -1), bool(essential)
    return min(ranks), bool(essential)


def _fresh(request: AuthRequest, login_session: LoginSession) -> bool:
    return bool(request.login_sid) and request.login_sid == login_session.sid


def _login_reason(
    request: AuthRequest,
    client: Client,
    signed_in: tuple[LoginSession, Account] | None,
    now: datetime,
) -> str:
    if signed_in is None:
        return "no_session"
    login_session, account = signed_in
    if account.kind != "citizen" and not client.first_party:
        return "not_citizen"
    if _fresh(request, login_session):
        # The sign-in made for this request answers it, even as another citizen than the
        # login_hint named (a hint: the page offered it, OIDC Core 3.1.2.1).
        return ""
    if "login" in request.prompt:
        return "prompt_login"
    if request.max_age is not None:
        age = (now - login_session.auth_time).total_seconds()
        if age > request.max_age:
            return "max_age"
    if request.login_hint and account.citizen_id and request.login_hint != account.citizen_id:
        return "login_hint"
    return ""


async def _passkey_reaches(session: AsyncSession, account: Account, needed: int) -> bool:
    """Whether a passkey sign-in of this account would reach ``needed`` where its password
    does not (the enrolment level is fixed; only the method can rise)."""
    if (
        not acr_rank(acr_value(account.level, "pwd"))
        < needed
        <= acr_rank(acr_value(account.level, "passkey"))
    ):
        return False
    return bool(await repo.passkeys_of(session, account.id))


async def decide(
    session: AsyncSession,
    settings: Settings,
    request: AuthRequest,
    client: Client,
    signed_in: tuple[LoginSession, Account] | None,
) -> Decision:
    """Sign-in needed, consent needed, or issue the code (OIDC Core 3.1.2.3-4)."""
    reason = _login_reason(request, client, signed_in, utcnow())
    if reason == "not_citizen" and signed_in is not None and _fresh(request, signed_in[0]):
        raise RedirectError(
            request.redirect_uri,
            "access_denied",
            "Staff accounts do not sign in to services.",
            request.state,
            settings.issuer,
        )
    needed, essential = _acr_wanted(request)
    if not reason and signed_in is not None and needed > acr_rank(signed_in[0].acr):
        login_session, account = signed_in
        # A new sign-in is asked for only when it can reach the acr, and once: after the
        # sign-in made for this request the flow goes on with the level reached.
        if not _fresh(request, login_session) and await _passkey_reaches(session, account, needed):
            reason = "acr"
        elif essential:
            # OpenID Connect Core Unmet Authentication Requirements 1.0, section 2.
            raise RedirectError(
                request.redirect_uri,
                "unmet_authentication_requirements",
                "The sign-in does not meet the essential acr requested.",
                request.state,
                settings.issuer,
            )
    if reason:
        if "none" in request.prompt:
            raise_login_required(request, reason, settings.issuer)
        if signed_in is None:  # who signs in is not known yet: go by the acr asked
            passkey = 0 <= needed < UNREACHABLE and ACR_VALUES[needed].endswith(":passkey")
        else:
            passkey = await _passkey_reaches(session, signed_in[1], needed)
        return Decision("login", reason, passkey=passkey)
    if signed_in is None:  # _login_reason said "no_session" already; kept for the type checker
        return Decision("login", "no_session")
    _, account = signed_in
    if client.first_party:
        return Decision("code")
    consent = await repo.consent_to_read(session, account.id, client.client_id)
    covered = (
        consent is not None
        and consent.revoked_at is None
        and set(request.scope) <= set(consent.scope.split())
        and not (request.claims or {}).get("userinfo")
        and not (request.claims or {}).get("id_token")
    )
    if covered and "consent" not in request.prompt:
        return Decision("code")
    if "none" in request.prompt:
        raise RedirectError(
            request.redirect_uri,
            "consent_required",
            "The citizen has not consented.",
            request.state,
            settings.issuer,
        )
    return Decision("consent")


def raise_login_required(request: AuthRequest, reason: str, issuer: str) -> None:
    """prompt=none and the user must sign in (OIDC Core 3.1.2.6)."""
    raise RedirectError(
        request.redirect_uri,
        "login_required",
        f"Sign-in is required ({reason}).",
        request.state,
        issuer,
    )


def consent_claims(request: AuthRequest) -> list[str]:
    """The claim names the consent page lists (what the service will receive)."""
    names = released_claims(request.scope, request.claims, "userinfo")
    for name in released_claims(request.scope, request.claims, "id_token"):
        if name not in names:
            names.append(name)
    return names


async def record_consent(
    session: AsyncSession, request: AuthRequest, client: Client, account: Account, *, granted: bool
) -> None:
    """Store the citizen's decision and its audit event."""
    now = utcnow()
    if granted:
        row = await repo.consent(session, account.id, client.client_id)
        scope = " ".join(request.scope)
        if row is None:
            await repo.add(
                session,
                Consent(
                    account_id=account.id, client_id=client.client_id, scope=scope, granted_at=now
                ),
            )
        else:
            merged = set(scope.split()) | (set(row.scope.split()) if not row.revoked_at else set())
            row.scope, row.granted_at, row.revoked_at = " ".join(sorted(merged)), now, None
            await session.flush()
    await audit.record(
        session,
        actor=principal_of(account),
        action="identity.consent",
        outcome="granted" if granted else "denied",
        subject=account.citizen_id,
        fields=consent_claims(request),
        detail={"client": client.client_id[:64], "scope": " ".join(request.scope)[:200]},
    )


async def issue_code(
    session: AsyncSession,
    settings: Settings,
    request: AuthRequest,
    client: Client,
    login_session: LoginSession,
    account: Account,
) -> str:
    """Create the grant and its single-use code; return the redirect with code, state and iss."""
    grant = Grant(
        id=str(uuid.uuid4()),
        client_id=client.client_id,
        account_id=account.id,
        session_sid=login_session.sid,
        scope=" ".join(request.scope),
        claims=json.dumps(request.claims) if request.claims else None,
        auth_time=login_session.auth_time,
        acr=login_session.acr,
        amr=login_session.amr,
        dpop_jkt=request.dpop_jkt or None,
    )
    await repo.insert(session, grant)
    code = secrets.token_urlsafe(32)
    await repo.insert(
        session,
        AuthorizationCode(
            code_hash=sha256_hex(code),
            grant_id=grant.id,
            client_id=client.client_id,
            redirect_uri=request.redirect_uri,
            code_challenge=request.code_challenge,
            nonce=request.nonce,
            expires_at=utcnow() + CODE_TTL,
        ),
    )
    await audit.record(
        session,
        actor=client_principal(client),
        action="oidc.authorize",
        outcome="granted",
        subject=account.citizen_id,
        detail={"scope": grant.scope[:200]},
    )
    params = {"code": code}
    if request.state is not None:
        params["state"] = request.state
    params["iss"] = settings.issuer  # RFC 9207 2
    return _append(request.redirect_uri, params)
