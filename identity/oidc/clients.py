"""OAuth clients: registration by the CLI, and client authentication at the token endpoint."""

from __future__ import annotations

import base64
import hmac
import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote_plus, urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.digests import sha256_hex
from core.errors import Conflict, FieldError, ValidationFailed
from core.settings import Settings
from identity import jose
from identity import repository as repo
from identity.models import CLIENT_AUTH_METHODS, CLIENT_PROFILES, CLIENT_TYPES, KEY_ALGS, Client
from identity.oidc.claims import CLIENT_TYPE_SCOPES, KNOWN_SCOPES, STAFF_SCOPE
from identity.oidc.errors import invalid_client

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLIENT_ID_BYTES = 16
SECRET_BYTES = 32  # 256-bit secrets (docs/architecture.md, invariant 5)
_MAX_ASSERTION_LIFETIME = timedelta(minutes=5)


@dataclass(frozen=True)
class NewClient:
    """A registered client and its secret, shown once."""

    client: Client
    secret: str | None


def _check_redirect_uri(uri: str, *, production: bool) -> None:
    # RFC 9700 2.1 / RFC 6749 3.1.2: absolute, no fragment; https except loopback in development.
    parts = urlsplit(uri)
    # An empty fragment ("cb#") is still a fragment: the code would land after the "#".
    if not parts.scheme or not parts.netloc or "#" in uri:
        raise ValidationFailed(
            "A redirect URI must be absolute and carry no fragment.",
            errors=[FieldError(f"invalid redirect URI {uri!r}", parameter="redirect_uri")],
        )
    loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback and not production):
        raise ValidationFailed(
            "Redirect URIs must use https (http only for localhost in development).",
            errors=[FieldError(f"insecure redirect URI {uri!r}", parameter="redirect_uri")],
        )


async def create_client(
    session: AsyncSession,
    settings: Settings,
    *,
    name: str,
    type: str,
    redirect_uris: Sequence[str] = (),
    post_logout_redirect_uris: Sequence[str] = (),
    scopes: Sequence[str] | None = None,
    auth_method: str = "client_secret_basic",
    jwks: Mapping[str, Any] | None = None,
    sector_identifier: str | None = None,
    id_token_alg: str | None = None,
    first_party: bool = False,
    client_id: str | None = None,
    profile: str = "standard",
    require_par: bool = False,
    dpop_bound: bool = False,
) -> NewClient:
    """Register a client; a secret (256 bits) is generated unless it authenticates by key.
    Without ``scopes`` a relying party gets openid and an agency none. A ``fapi2`` client
    (FAPI 2.0 Security Profile) pushes its requests, binds its tokens with DPoP and
    authenticates with private_key_jwt; its ID tokens are ES256."""
    problems: list[FieldError] = []
    if profile not in CLIENT_PROFILES:
        problems.append(FieldError("profile must be standard or fapi2", parameter="profile"))
    if id_token_alg is None:
        id_token_alg = "ES256" if profile == "fapi2" else "RS256"
    if profile == "fapi2":
        problems.extend(_fapi2_problems(auth_method, id_token_alg, jwks))
        require_par, dpop_bound = True, True
    if type not in CLIENT_TYPES:
        problems.append(FieldError("type must be rp or agency", parameter="type"))
    if scopes is None:
        scopes = ["openid"] if type == "rp" else []
    if auth_method not in CLIENT_AUTH_METHODS:
        problems.append(FieldError("unknown client authentication method", parameter="auth"))
    if id_token_alg not in KEY_ALGS:
        problems.append(FieldError("id token algorithm must be RS256 or ES256", parameter="alg"))
    unknown = [s for s in scopes if s not in KNOWN_SCOPES]
    unusable = [s for s in scopes if s not in unknown and s not in CLIENT_TYPE_SCOPES.get(type, ())]
    if unknown:
        problems.append(FieldError("unknown scopes: " + " ".join(unknown), parameter="scope"))
    elif unusable and type in CLIENT_TYPES:
        problems.append(
            FieldError(
                f"scopes a {type} client cannot use: " + " ".join(unusable), parameter="scope"
            )
        )
    if STAFF_SCOPE in scopes and not first_party:
        problems.append(
            FieldError("the staff scope is for first-party clients only", parameter="scope")
        )
    if type == "rp" and not redirect_uris:
        problems.append(
            FieldError("a relying party needs a redirect URI", parameter="redirect_uri")
        )
    if auth_method == "private_key_jwt" and not (jwks and jwks.get("keys")):
        problems.append(FieldError("private_key_jwt needs the client's JWK Set", parameter="jwks"))
    if not name.strip() or len(name) > 200:
        problems.append(FieldError("a name of 1-200 characters is required", parameter="name"))
    if problems:
        raise ValidationFailed("The client registration is invalid.", errors=problems)
    for uri in (*redirect_uris, *post_logout_redirect_uris):
        _check_redirect_uri(uri, production=settings.environment == "production")
    client_id = client_id or secrets.token_urlsafe(CLIENT_ID_BYTES)
    if await repo.client(session, client_id) is not None:
        raise Conflict("A client with this id exists.")
    secret = None if auth_method == "private_key_jwt" else secrets.token_urlsafe(SECRET_BYTES)
    # OIDC Core 8.1: without a sector identifier the sector is the redirect URIs' host.
    sector = (
        sector_identifier
        or (urlsplit(redirect_uris[0]).hostname if redirect_uris else None)
        or client_id
    )
    scope_list = list(dict.fromkeys(["openid", *scopes])) if type == "rp" else list(scopes)
    client = Client(
        client_id=client_id,
        name=name.strip(),
        type=type,
        secret_hash=sha256_hex(secret) if secret else None,
        auth_method=auth_method,
        jwks=json.dumps(dict(jwks)) if jwks else None,
        redirect_uris=json.dumps(list(redirect_uris)),
        post_logout_redirect_uris=json.dumps(list(post_logout_redirect_uris)),
        scopes=" ".join(scope_list),
        sector_identifier=sector,
        id_token_alg=id_token_alg,
        active=True,
        first_party=first_party,
        profile=profile,
        require_par=require_par,
        dpop_bound=dpop_bound,
    )
    await repo.add(session, client)
    return NewClient(client=client, secret=secret)


def _fapi2_problems(
    auth_method: str, id_token_alg: str, jwks: Mapping[str, Any] | None
) -> list[FieldError]:
    # FAPI 2.0 Security Profile 5.3.2.1 (private_key_jwt or mTLS; we offer the first) and
    # 5.4 (PS256, ES256: no RS256).
    problems = []
    if auth_method != "private_key_jwt":
        problems.append(FieldError("a fapi2 client uses private_key_jwt", parameter="auth"))
    if id_token_alg not in jose.FAPI_ALGS:
        problems.append(FieldError("a fapi2 client's ID tokens are ES256", parameter="alg"))
    try:
        entries = jose.public_keys_from_jwks(dict(jwks or {}))
    except jose.JoseError:
        entries = []
    if jwks and not any(e.allows(a) for e in entries for a in jose.FAPI_ALGS):
        problems.append(FieldError("a fapi2 client needs a PS256 or ES256 key", parameter="jwks"))
    return problems


def requires_par(client: Client) -> bool:
    """Whether the client sends its authorization requests only by PAR (RFC 9126 6)."""
    return client.require_par or client.profile == "fapi2"


def redirect_uris(client: Client) -> list[str]:
    """The client's registered redirect URIs."""
    return list(json.loads(client.redirect_uris))


def post_logout_uris(client: Client) -> list[str]:
    """The client's registered post-logout redirect URIs."""
    return list(json.loads(client.post_logout_redirect_uris))


def allowed_scopes(client: Client) -> set[str]:
    """The scopes this client may be granted: those registered that its type can use (a row
    stored before registration refused the others may still name them)."""
    allowed = set(client.scopes.split()).intersection(CLIENT_TYPE_SCOPES.get(client.type, ()))
    return allowed if client.first_party else allowed - {STAFF_SCOPE}


# ------------------------------------------------------------------------------ for other packages


@dataclass(frozen=True, slots=True)
class ClientSummary:
    """A client as other packages show it: its id, name, kind (agency or rp) and state."""

    client_id: str
    name: str
    type: str
    active: bool


def _summary(client: Client) -> ClientSummary:
    return ClientSummary(client.client_id, client.name, client.type, client.active)


async def find_client(session: AsyncSession, client_id: str) -> Client | None:
    """The registered client with this id (the handle identity's flows take), or None."""
    return await repo.client(session, client_id)


async def list_clients(session: AsyncSession) -> list[ClientSummary]:
    """Every client, by name."""
    return [_summary(c) for c in await repo.clients(session)]


async def client_summaries(
    session: AsyncSession, client_ids: Iterable[str]
) -> dict[str, ClientSummary]:
    """The clients among ``client_ids`` that exist, by client id."""
    found: dict[str, ClientSummary] = {}
    for client_id in dict.fromkeys(client_ids):
        client = await repo.client(session, client_id)
        if client is not None:
            found[client_id] = _summary(client)
    return found


async def sync_redirect_uris(
    session: AsyncSession,
    client_id: str,
    *,
    redirect_uris: Sequence[str],
    post_logout_redirect_uris: Sequence[str],
) -> bool:
    """Give a registered client these redirect URIs when its own differ (the public URL
    changed); False when no client has this id."""
    client = await repo.client(session, client_id)
    if client is None:
        return False
    wanted = json.dumps(list(redirect_uris))
    if client.redirect_uris != wanted:
        client.redirect_uris = wanted
        client.post_logout_redirect_uris = json.dumps(list(post_logout_redirect_uris))
        await session.flush()
    return True


def _basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    if not authorization or not authorization[:6].lower() == "basic ":
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
        raw_id, raw_secret = decoded.split(":", 1)
    except (ValueError, UnicodeDecodeError):
        raise invalid_client("Malformed HTTP Basic credentials.", basic=True) from None
    # RFC 6749 2.3.1: id and secret are form-urlencoded before Basic encoding.
    return unquote_plus(raw_id), unquote_plus(raw_secret)


async def authenticate_client(
    session: AsyncSession,
    settings: Settings,
    *,
    authorization: str | None,
    form: Mapping[str, str],
    token_endpoint: str,
    built: repo.BuiltClients,
) -> Client:
    """RFC 6749 2.3 / OIDC Core 9: authenticate the client by the one method it registered."""
    basic = _basic_credentials(authorization)
    assertion_type = form.get("client_assertion_type")
    methods_used = [
        m
        for m, used in (
            ("client_secret_basic", basic is not None),
            ("client_secret_post", "client_secret" in form),
            ("private_key_jwt", assertion_type is not None or "client_assertion" in form),
        )
        if used
    ]
    if len(methods_used) != 1:
        # RFC 6749 2.3: a client must not use more than one authentication method per request.
        raise invalid_client(
            "Authenticate the client with exactly one method.", basic=basic is not None
        )
    method = methods_used[0]
    if basic is not None:
        client_id, secret = basic
    elif method == "client_secret_post":
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
    else:
        return await _authenticate_assertion(session, settings, form, token_endpoint)
    if form.get("client_id") not in (None, client_id):
        raise invalid_client("client_id does not match the credentials.", basic=basic is not None)
    client = await repo.detached_client(session, client_id, built=built) if client_id else None
    # Compare against something even for unknown clients (timing says nothing about ids).
    stored = client.secret_hash if client is not None and client.secret_hash else "0" * 64
    ok = hmac.compare_digest(sha256_hex(secret), stored)
    if client is None or not ok or not client.active:
        raise invalid_client("Client authentication failed.", basic=basic is not None)
    if client.auth_method != method:
        raise invalid_client(
            f"This client is registered for {client.auth_method}.", basic=basic is not None
        )
    return client


async def _authenticate_assertion(
    session: AsyncSession, settings: Settings, form: Mapping[str, str], token_endpoint: str
) -> Client:
    # RFC 7523 2.2 and 3; OIDC Core 9 (private_key_jwt).
    if form.get("client_assertion_type") != ASSERTION_TYPE or not form.get("client_assertion"):
        raise invalid_client("client_assertion_type must be " + ASSERTION_TYPE + ".")
    assertion = form["client_assertion"]
    try:
        claims = jose.unverified_claims(assertion)
    except jose.JoseError:
        raise invalid_client("The client assertion is not a JWT.") from None
    client_id = claims.get("iss")
    if not isinstance(client_id, str) or claims.get("sub") != client_id:
        raise invalid_client("The client assertion's iss and sub must be the client id.")
    if form.get("client_id") not in (None, client_id):
        raise invalid_client("client_id does not match the client assertion.")
    client = await repo.client(session, client_id)
    if client is None or not client.active or client.auth_method != "private_key_jwt":
        raise invalid_client("Client authentication failed.")
    fapi2 = client.profile == "fapi2"
    try:
        verified = jose.decode_with_jwks(
            assertion,
            json.loads(client.jwks or "{}"),
            algorithms=jose.FAPI_ALGS if fapi2 else jose.CLIENT_ASSERTION_ALGS,
            # RFC 7523 3: the issuer or the token endpoint URL (OIDC Core 9's SHOULD) names us
            # at every endpoint that authenticates clients, revocation and introspection too.
            # FAPI 2.0 5.3.2.1: for its clients the issuer alone, as a string.
            audience=(
                settings.issuer
                if fapi2
                else (token_endpoint, settings.issuer + "/token", settings.issuer)
            ),
            issuer=client_id,
        )
    except jose.JoseError as exc:
        raise invalid_client(f"The client assertion is invalid: {exc}.") from None
    if fapi2 and verified.get("aud") != settings.issuer:
        raise invalid_client("The client assertion's aud must be the issuer, as a string.")
    jti, exp = verified.get("jti"), verified.get("exp")
    if not isinstance(jti, str) or not jti or len(jti) > 36 or not isinstance(exp, int | float):
        raise invalid_client("The client assertion needs a jti (at most 36 characters) and exp.")
    expires = datetime.fromtimestamp(float(exp), UTC)
    if expires > utcnow().replace(microsecond=0) + _MAX_ASSERTION_LIFETIME:
        raise invalid_client("The client assertion lives too long (at most 5 minutes).")
    # RFC 7523 3: a jti is accepted once (replay protection until it expires).
    spent = sha256_hex(f"{client_id}\x00{jti}")[:36]
    if not await repo.remember_jti(session, spent, expires):
        raise invalid_client("The client assertion was already used.")
    return client
