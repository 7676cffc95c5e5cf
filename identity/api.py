"""HTTP surface of the electronic identity: the OIDC provider (its own router, RFC 6749 error
bodies), its pages, passkey ceremonies, and the account API (problem+json)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from audit import recording as audit
from core.auth import Principal, require
from core.clock import utcnow
from core.deps import SessionDep
from core.errors import Forbidden, RegistryError, Unauthenticated
from core.headers import NO_STORE
from core.inputs import checks_own_text
from core.openapi import problems
from core.settings import Settings
from core.text import ID_NUMBER_PATTERN
from identity import accounts, credentials, keys
from identity import repository as repo
from identity.accounts import IdentityContext
from identity.authn import IdentityAuthenticator, session_cookie_name
from identity.models import Account, Client
from identity.oidc import authorize as authz
from identity.oidc import tokens
from identity.oidc.claims import RP_SCOPES, parse_scope, released_claims
from identity.oidc.clients import authenticate_client, post_logout_uris
from identity.oidc.errors import OAuthError
from identity.oidc.openapi import (
    CLIENT_AUTH,
    REDIRECT,
    SIGNED_IN,
    AuthorizationRequest,
    Introspection,
    LogoutRequest,
    TokenHint,
    TokenRequest,
    TokenResponse,
    bare,
    form_body,
    oauth_errors,
    page,
    query_parameters,
)  # fmt: skip
from identity.passkeys import PasskeyServer
from identity.schemas import (
    AccountView,
    ActivationCode,
    CeremonyOptions,
    ConsentView,
    PasskeyView,
    SignedIn,
    UserInfo,
)
from identity.web import (
    LANG_COOKIE,
    PAGE_HEADERS,
    TEXT,
    csrf_ok,
    pick_locale,
    render,
    set_cookie,
)

STATIC = Path(__file__).resolve().parent / "static"


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

oidc_router = APIRouter(tags=["openid-connect"])
account_router = APIRouter(prefix="/api/v1", tags=["electronic identity"])


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def _form(request: Request) -> dict[str, str]:
    # RFC 6749 3.2: parameters sent without a value are treated as omitted; repeats are errors.
    form = await request.form()
    out: dict[str, str] = {}
    for key in set(form.keys()):
        values = form.getlist(key)
        if len(values) > 1:
            raise OAuthError("invalid_request", f"The parameter {key} is repeated.")
        value = values[0]
        if isinstance(value, str) and value != "":
            out[key] = value
    return out


def _oauth_response(exc: OAuthError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers={**NO_STORE, **exc.headers})


# ------------------------------------------------------------------------------ discovery


@oidc_router.get("/.well-known/openid-configuration", summary="OpenID Provider metadata")
async def discovery(services: ServicesDep) -> JSONResponse:
    """OIDC Discovery 1.0 section 3."""
    issuer = services.settings.issuer
    return JSONResponse(
        {
            "issuer": issuer,
            "authorization_endpoint": issuer + "/authorize",
            "token_endpoint": issuer + "/token",
            "userinfo_endpoint": issuer + "/userinfo",
            "jwks_uri": issuer + "/jwks",
            "revocation_endpoint": issuer + "/revoke",
            "introspection_endpoint": issuer + "/introspect",
            "end_session_endpoint": issuer + "/logout",
            # Only what the authorization endpoint grants; agency scopes are client_credentials'.
            "scopes_supported": list(RP_SCOPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic", "client_secret_post", "private_key_jwt",
            ],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256", "ES256"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": [
                "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "at_hash",
                "sid", "name", "family_name", "given_name", "middle_name", "birthdate", "gender",
                "address", "national_id",
            ],
            "claims_parameter_supported": True,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
            "acr_values_supported": list(accounts.ACR_VALUES),
            "ui_locales_supported": ["vi", "en"],
            "prompt_values_supported": ["none", "login", "consent"],
            "authorization_response_iss_parameter_supported": True,
            "revocation_endpoint_auth_methods_supported": [
                "client_secret_basic", "client_secret_post", "private_key_jwt",
            ],
            "introspection_endpoint_auth_methods_supported": [
                "client_secret_basic", "client_secret_post", "private_key_jwt",
            ],
        },
        headers={"Cache-Control": "public, max-age=300"},
    )  # fmt: skip


@oidc_router.get(
    "/jwks", summary="The provider's public signing keys (JWK Set)", responses=problems(503)
)
async def jwks(session: SessionDep) -> JSONResponse:
    """OIDC Core 10.1.1: active keys and retired keys still verifying live tokens."""
    return JSONResponse(
        await keys.jwks(session, utcnow()), headers={"Cache-Control": "public, max-age=60"}
    )


# ------------------------------------------------------------------------------ pages


def _page_error(request: Request, services: IdentityServices, message: str) -> Response:
    return render(
        request, services.settings, "error.html", locale=pick_locale(request), status_code=400,
        context={"message": message},
    )  # fmt: skip


async def _continue(
    request: Request,
    session: AsyncSession,
    services: IdentityServices,
    auth_request: authz.AuthRequest,
    client: Any,
) -> Response:
    """Sign-in, consent, or the code, for a validated request (OIDC Core 3.1.2.3-5)."""
    settings = services.settings
    signed_in = await services.authenticator.signed_in(request, session)
    try:
        decision = await authz.decide(session, settings, auth_request, client, signed_in)
    except authz.RedirectError as exc:
        return RedirectResponse(exc.location(), status_code=303, headers=NO_STORE)
    if decision.kind == "login":
        asked = replace(auth_request, passkey=decision.passkey)
        sealed = authz.seal(asked, settings.derived_secret("authorize"))
        return RedirectResponse(
            "/login?" + urlencode({"req": sealed}), status_code=303, headers=NO_STORE
        )
    sealed = authz.seal(auth_request, settings.derived_secret("authorize"))
    locale = auth_request.locale() or pick_locale(request)
    if signed_in is None:  # decide() asks for a sign-in first; never reached
        return RedirectResponse("/login?" + urlencode({"req": sealed}), status_code=303)
    login_session, account = signed_in
    if decision.kind == "consent":
        return render(
            request, settings, "consent.html", locale=locale,
            context={"req": sealed, "client_name": client.name,
                     "claims": authz.consent_claims(auth_request)},
        )  # fmt: skip
    location = await authz.issue_code(
        session, settings, auth_request, client, login_session, account
    )
    return RedirectResponse(location, status_code=303, headers=NO_STORE)


async def _authorize(
    request: Request, session: AsyncSession, services: IdentityServices, params: Mapping[str, str]
) -> Response:
    try:
        auth_request, client = await authz.parse_request(session, services.settings, params)
    except authz.PageError as exc:
        return _page_error(request, services, str(exc))
    except authz.RedirectError as exc:
        return RedirectResponse(exc.location(), status_code=303, headers=NO_STORE)
    return await _continue(request, session, services, auth_request, client)


_AUTHORIZE: dict[int | str, dict[str, Any]] = {
    200: page("The consent page."),
    303: REDIRECT,
    400: page("The request cannot be used."),
    **problems(503),
}


@oidc_router.get(
    "/authorize", summary="Authorization endpoint (code flow, PKCE S256)", responses=_AUTHORIZE,
    openapi_extra=query_parameters(AuthorizationRequest),
)  # fmt: skip
async def authorize_get(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """OIDC Core 3.1.2.1: the request in the query string."""
    params = {k: v for k, v in request.query_params.items() if v != ""}
    return await _authorize(request, session, services, params)


@oidc_router.post(
    "/authorize", summary="Authorization endpoint (form post)", responses=_AUTHORIZE,
    openapi_extra=form_body(AuthorizationRequest),
)  # fmt: skip
async def authorize_post(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """OIDC Core 3.1.2.1: the request as a form."""
    form = await request.form()
    params = {k: v for k, v in form.items() if isinstance(v, str) and v != ""}
    return await _authorize(request, session, services, params)


def _unseal(services: IdentityServices, value: str | None) -> authz.AuthRequest | None:
    if not value:
        return None
    return authz.unseal(value, services.settings.derived_secret("authorize"))


@oidc_router.get("/authorize/resume", include_in_schema=False)
async def authorize_resume(
    request: Request, session: SessionDep, services: ServicesDep, req: str = ""
) -> Response:
    """Back from the sign-in page."""
    try:
        auth_request = _unseal(services, req)
        if auth_request is None:
            raise authz.PageError("Missing sign-in request.")
        client = await repo.detached_client(session, auth_request.client_id)
        if client is None or not client.active:
            raise authz.PageError("Unknown or inactive client.")
    except authz.PageError as exc:
        return _page_error(request, services, str(exc))
    return await _continue(request, session, services, auth_request, client)


@oidc_router.get("/login", include_in_schema=False)
async def login_page(request: Request, services: ServicesDep, req: str = "") -> Response:
    """The sign-in page (password, or passkey with JavaScript). It reads nothing from the
    database: the client's name comes with the signed request (a transaction to read that name
    was much of this page's CPU: docs/performance.md, "Client reads without a transaction")."""
    try:
        auth_request = _unseal(services, req)
    except authz.PageError as exc:
        return _page_error(request, services, str(exc))
    locale = (auth_request.locale() if auth_request else None) or pick_locale(request)
    response = render(
        request, services.settings, "login.html", locale=locale,
        context={
            **_login_context(auth_request, req),
            "login_hint": (auth_request.login_hint or "") if auth_request else "",
            "lang_query": urlencode({"req": req}) + "&" if req else "",
        },
    )  # fmt: skip
    if request.query_params.get("lang") in ("vi", "en"):
        set_cookie(response, services.settings, LANG_COOKIE, locale, max_age=31_536_000)
    return response


def _login_context(auth_request: authz.AuthRequest | None, req: str) -> dict[str, Any]:
    """What the sign-in page shows of the request it serves."""
    return {
        "req": req, "client_name": auth_request.client_name if auth_request else None,
        "passkey_asked": auth_request.passkey if auth_request else False,
    }  # fmt: skip


def _signed_in_response(
    services: IdentityServices, token: str, location: str, account: Account
) -> Response:
    response = RedirectResponse(location, status_code=303, headers=NO_STORE)
    _, absolute = accounts.session_limits(services.settings, account)
    set_cookie(
        response, services.settings, session_cookie_name(services.settings), token,
        max_age=int(absolute.total_seconds()),
    )  # fmt: skip
    return response


def _after_login(
    services: IdentityServices, auth_request: authz.AuthRequest | None, sid: str
) -> str:
    """Back to the authorization request, now answered by this sign-in; else the account."""
    if auth_request is None:
        return "/account"
    bound = authz.signed_in_for(auth_request, sid)
    sealed = authz.seal(bound, services.settings.derived_secret("authorize"))
    return "/authorize/resume?" + urlencode({"req": sealed})


@oidc_router.post("/login", include_in_schema=False)
async def login_submit(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """Check the password; start the session; continue the authorization request."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    settings = services.settings
    req = fields.get("req") or ""
    try:
        auth_request = _unseal(services, req)
    except authz.PageError as exc:
        return _page_error(request, services, str(exc))
    locale = (auth_request.locale() if auth_request else None) or pick_locale(request)
    if not csrf_ok(request, settings, fields.get("csrf")):
        return _page_error(request, services, "The form expired. Reload the page and try again.")
    login, password = fields.get("login", "")[:64], fields.get("password", "")[:1024]

    def again(message: str, status: int) -> Response:
        return render(
            request, settings, "login.html", locale=locale, status_code=status,
            context={**_login_context(auth_request, req), "error": message,
                     "login_hint": login},
        )  # fmt: skip

    try:
        account = await accounts.password_login(
            session, services.ctx, login=login, password=password, client_ip=_client_ip(request)
        )
    except accounts.AccountLocked:
        return again(_text(locale, "locked"), 403)
    except RegistryError as exc:
        if exc.status == 429:
            response = again(_text(locale, "throttled"), 429)
            response.headers.update(exc.headers)
            return response
        if exc.status == 401:
            return again(_text(locale, "wrong"), 401)
        return again(exc.detail, exc.status)
    token, row = await accounts.start_session(session, settings, account, amr=("pwd",))
    await accounts.record_login(session, account, method="pwd")
    return _signed_in_response(
        services, token, _after_login(services, auth_request, row.sid), account
    )


def _text(locale: str, key: str) -> str:
    return TEXT[locale][key]


@oidc_router.post("/consent", include_in_schema=False)
async def consent_submit(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """Record the citizen's decision; issue the code or return access_denied."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    settings = services.settings
    try:
        auth_request = _unseal(services, fields.get("req"))
        if auth_request is None:
            raise authz.PageError("Missing sign-in request.")
    except authz.PageError as exc:
        return _page_error(request, services, str(exc))
    if not csrf_ok(request, settings, fields.get("csrf")):
        return _page_error(request, services, "The form expired. Reload the page and try again.")
    signed_in = await services.authenticator.signed_in(request, session)
    client = await repo.client(session, auth_request.client_id)
    if client is None or not client.active:
        return _page_error(request, services, "Unknown or inactive client.")
    if signed_in is None:
        return RedirectResponse(
            "/login?" + urlencode({"req": fields.get("req", "")}), status_code=303
        )
    login_session, account = signed_in
    granted = fields.get("decision") == "allow"
    await authz.record_consent(session, auth_request, client, account, granted=granted)
    if not granted:
        error = authz.RedirectError(
            auth_request.redirect_uri, "access_denied", "The citizen did not consent.",
            auth_request.state, settings.issuer,
        )  # fmt: skip
        return RedirectResponse(error.location(), status_code=303, headers=NO_STORE)
    location = await authz.issue_code(
        session, settings, auth_request, client, login_session, account
    )
    return RedirectResponse(location, status_code=303, headers=NO_STORE)


# ------------------------------------------------------------------------------ token endpoint


async def _client_form(
    request: Request, session: AsyncSession, services: IdentityServices, endpoint: str
) -> tuple[dict[str, str], Client]:
    """The form of a request to a client-authenticated endpoint, and its client (RFC 6749 2.3;
    a private_key_jwt assertion must name this endpoint as its audience)."""
    form = await _form(request)
    client = await authenticate_client(
        session, services.settings, authorization=request.headers.get("authorization"),
        form=form, token_endpoint=services.settings.issuer + endpoint,
    )  # fmt: skip
    return form, client


@asynccontextmanager
async def _assertion_stays_spent(session: AsyncSession, client: Client) -> AsyncIterator[None]:
    """The block's writes under a savepoint when ``client`` authenticated with an assertion:
    a failing block undoes its own writes only, and the unit of work still commits the spent
    jti (RFC 7523 3: accepted once, whatever becomes of the request)."""
    if client.auth_method != "private_key_jwt":
        yield
        return
    savepoint = await session.begin_nested()
    try:
        yield
    except OAuthError as exc:
        await (savepoint.commit() if exc.commit else savepoint.rollback())
        exc.commit = True
        raise
    except RegistryError as exc:
        await (savepoint.commit() if exc.commit_unit_of_work else savepoint.rollback())
        exc.commit_unit_of_work = True
        raise
    await savepoint.commit()


@oidc_router.post(
    "/token", summary="Token endpoint", response_model=TokenResponse,
    responses=oauth_errors(400, 401), openapi_extra={**form_body(TokenRequest),
                                                     "security": CLIENT_AUTH},
)  # fmt: skip
@checks_own_text
async def token_endpoint(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """RFC 6749 3.2: authorization_code, refresh_token, client_credentials."""
    try:
        form, client = await _client_form(request, session, services, "/token")
        async with _assertion_stays_spent(session, client):
            body = await _grant(session, services, client, form)
    except OAuthError as exc:
        if not exc.commit:
            await session.rollback()
        return _oauth_response(exc)
    return JSONResponse(body, headers=NO_STORE)


async def _grant(
    session: AsyncSession, services: IdentityServices, client: Client, form: Mapping[str, str]
) -> dict[str, Any]:
    grant_type = form.get("grant_type")
    if grant_type == "authorization_code":
        return await tokens.authorization_code_grant(session, services.tokens, client, form)
    if grant_type == "refresh_token":
        return await tokens.refresh_token_grant(session, services.tokens, client, form)
    if grant_type == "client_credentials":
        return await tokens.client_credentials_grant(session, services.tokens, client, form)
    if not grant_type:
        raise OAuthError("invalid_request", "grant_type is required.")
    raise OAuthError("unsupported_grant_type", f"Unsupported grant_type {grant_type[:40]}.")


@oidc_router.post(
    "/revoke", summary="Token revocation (RFC 7009)",
    responses={200: {"description": "Revoked, or not known.", "content": None},
               **oauth_errors(400, 401)},
    openapi_extra={**form_body(TokenHint), "security": CLIENT_AUTH},
)  # fmt: skip
@checks_own_text
async def revoke_endpoint(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """RFC 7009 2: always 200 for a valid client, whether or not the token was known."""
    try:
        form, client = await _client_form(request, session, services, "/revoke")
        async with _assertion_stays_spent(session, client):
            await tokens.revoke(session, services.tokens, client, form)
    except OAuthError as exc:
        if not exc.commit:
            await session.rollback()
        return _oauth_response(exc)
    return Response(status_code=200, headers=NO_STORE)


@oidc_router.post(
    "/introspect", summary="Token introspection (RFC 7662)", response_model=Introspection,
    responses=oauth_errors(400, 401),
    openapi_extra={**form_body(TokenHint), "security": CLIENT_AUTH},
)  # fmt: skip
@checks_own_text
async def introspect_endpoint(
    request: Request, session: SessionDep, services: ServicesDep
) -> Response:
    """RFC 7662 2: whether a token is active, answered to the client it was issued to."""
    try:
        form, client = await _client_form(request, session, services, "/introspect")
        async with _assertion_stays_spent(session, client):
            body = await tokens.introspect(session, services.tokens, client, form)
    except OAuthError as exc:
        if not exc.commit:
            await session.rollback()
        return _oauth_response(exc)
    return JSONResponse(body, headers=NO_STORE)


# ------------------------------------------------------------------------------ userinfo


async def _userinfo(
    request: Request, session: AsyncSession, services: IdentityServices
) -> Response:
    # OIDC Core 5.3; errors per RFC 6750 3.1 in WWW-Authenticate.
    authorization = request.headers.get("authorization") or ""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return Response(
            status_code=401, headers={"WWW-Authenticate": 'Bearer realm="registry"', **NO_STORE}
        )
    try:
        found = await tokens.validate_access_token(session, services.tokens, token.strip())
    except tokens.InvalidToken as exc:
        description = str(exc).replace('"', "'")
        return Response(
            status_code=401,
            headers={
                "WWW-Authenticate": 'Bearer realm="registry", error="invalid_token", '
                f'error_description="{description}"',
                **NO_STORE,
            },
        )
    if found.grant is None or found.account is None or "openid" not in found.scopes:
        if found.client is not None:  # a refusal at the scope gate is an access attempt too
            await audit.record(
                session, actor=tokens.client_principal(found.client, found.scopes),
                action="oidc.userinfo", outcome="denied",
                subject=found.account.citizen_id if found.account else None,
                detail={"reason": "missing_scope", "required": "openid"},
            )  # fmt: skip
        return Response(
            status_code=403,
            headers={
                "WWW-Authenticate": 'Bearer realm="registry", error="insufficient_scope", '
                'scope="openid"',
                **NO_STORE,
            },
        )
    grant, account = found.grant, found.account
    client = await repo.client(session, grant.client_id)
    if client is None or account.citizen_id is None:
        return Response(
            status_code=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        )
    claims_request = json.loads(grant.claims) if grant.claims else None
    names = released_claims(parse_scope(grant.scope), claims_request, "userinfo")
    values = (
        await services.ctx.directory.claims(session, account.citizen_id, names) if names else {}
    )
    body: dict[str, Any] = {
        "sub": tokens.subject_for(services.settings, client, account.citizen_id)
    }
    body.update({k: v for k, v in values.items() if k in names})
    released = [n for n in names if n in body]
    await audit.record(
        session, actor=tokens.client_principal(client), action="oidc.userinfo",
        outcome="granted", subject=account.citizen_id, fields=released,
    )  # fmt: skip
    return JSONResponse(body, headers=NO_STORE)


_USERINFO: dict[int | str, dict[str, Any]] = {
    200: {"model": UserInfo},
    401: bare("No access token, or not a valid one."),
    403: bare("The token was not issued for a citizen with the openid scope."),
    **problems(503),
}
_USERINFO_EXTRA: dict[str, Any] = {"security": [{"bearer": []}]}


@oidc_router.get(
    "/userinfo", summary="UserInfo endpoint", responses=_USERINFO, openapi_extra=_USERINFO_EXTRA
)
async def userinfo_get(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """OIDC Core 5.3.1."""
    return await _userinfo(request, session, services)


@oidc_router.post(
    "/userinfo", summary="UserInfo endpoint (POST)", responses=_USERINFO,
    openapi_extra=_USERINFO_EXTRA,
)  # fmt: skip
async def userinfo_post(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """OIDC Core 5.3.1."""
    return await _userinfo(request, session, services)


# ------------------------------------------------------------------------------ logout


async def _logout_target(
    session: AsyncSession, services: IdentityServices, params: Mapping[str, str]
) -> tuple[str | None, str | None]:
    """(validated post-logout redirect, sid named by id_token_hint) per RP-Initiated Logout 2-3."""
    from identity import jose

    target = params.get("post_logout_redirect_uri")
    client_id = params.get("client_id")
    sid = None
    hint = params.get("id_token_hint")
    if hint:
        try:
            keyset = await keys.verification_keys(session, utcnow())
            # An expired ID token is still a valid hint (RP-Initiated Logout 1.0 section 2).
            # Any audience is acceptable: our signature makes it one of our clients.
            aud_claim = jose.unverified_claims(hint).get("aud")
            audience = aud_claim if isinstance(aud_claim, str | list) else None
            claims = jose.decode(
                hint, keys=keyset, algorithms=jose.ID_TOKEN_ALGS, audience=audience,
                issuer=services.settings.issuer, leeway=10**9, require=("aud",),
            )  # fmt: skip
        except jose.JoseError:
            raise authz.PageError("The id_token_hint is not a valid ID token of ours.") from None
        aud = claims.get("aud")
        hinted = (
            aud if isinstance(aud, str) else (aud[0] if isinstance(aud, list) and aud else None)
        )
        if client_id and hinted and client_id != hinted:
            raise authz.PageError("client_id and id_token_hint name different clients.")
        client_id = client_id or hinted
        sid = claims.get("sid") if isinstance(claims.get("sid"), str) else None
    if target:
        client = await repo.client(session, client_id) if client_id else None
        if client is None or target not in post_logout_uris(client):
            raise authz.PageError("The post-logout redirect URI is not registered.")
        state = params.get("state")
        if state:
            target += ("&" if "?" in target else "?") + urlencode({"state": state})
    return target, sid


@oidc_router.get(
    "/logout", summary="RP-initiated logout",
    responses={200: page("Asks the citizen to confirm."), 400: page("A hint or URI is wrong."),
               **problems(503)},
    openapi_extra=query_parameters(LogoutRequest),
)  # fmt: skip
async def logout_get(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """OpenID Connect RP-Initiated Logout 1.0: ask the citizen to confirm."""
    params = {k: v for k, v in request.query_params.items() if v != ""}
    try:
        await _logout_target(session, services, params)
    except authz.PageError as exc:
        return _page_error(request, services, str(exc))
    carry = {
        k: params[k]
        for k in ("id_token_hint", "post_logout_redirect_uri", "state", "client_id")
        if k in params
    }
    return render(
        request, services.settings, "logout.html", locale=pick_locale(request),
        context={"carry": carry, "done": False},
    )  # fmt: skip


@oidc_router.post(
    "/logout", summary="RP-initiated logout (confirmed)",
    responses={200: page("Signed out."), 303: REDIRECT,
               400: page("The form expired, or a hint or URI is wrong."), **problems(503)},
    openapi_extra=form_body(LogoutRequest),
)  # fmt: skip
async def logout_post(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """End the sign-in session; return to the relying party when it asked to."""
    form = await request.form()
    params = {k: v for k, v in form.items() if isinstance(v, str) and v != ""}
    if not csrf_ok(request, services.settings, params.get("csrf")):
        return _page_error(request, services, "The form expired. Reload the page and try again.")
    try:
        target, _ = await _logout_target(session, services, params)
    except authz.PageError as exc:
        return _page_error(request, services, str(exc))
    cookie = session_cookie_name(services.settings)
    await accounts.sign_out(session, token=request.cookies.get(cookie))
    if target:
        response: Response = RedirectResponse(target, status_code=303, headers=NO_STORE)
    else:
        response = render(
            request, services.settings, "logout.html", locale=pick_locale(request),
            context={"carry": {}, "done": True},
        )  # fmt: skip
    response.delete_cookie(cookie, path="/", secure=services.settings.cookie_secure, httponly=True)
    return response


# ------------------------------------------------------------------------------ static


@oidc_router.get("/static/{name}", include_in_schema=False)
async def static_file(name: str) -> Response:
    """The pages' stylesheet and the passkey script (same origin, so CSP stays 'self')."""
    media = {"identity.js": "text/javascript", "identity.css": "text/css"}.get(name)
    if media is None:
        return PlainTextResponse("not found", status_code=404)
    return Response(
        (STATIC / name).read_bytes(), media_type=media,
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )  # fmt: skip


@oidc_router.get("/account", include_in_schema=False)
async def account_page(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """The signed-in account: passkeys (add with WebAuthn) and sign-out."""
    signed_in = await services.authenticator.signed_in(request, session)
    if signed_in is None:
        return RedirectResponse("/login", status_code=303, headers=NO_STORE)
    _, account = signed_in
    passkeys = [credentials.describe(p) for p in await repo.passkeys_of(session, account.id)]
    return render(
        request, services.settings, "account.html", locale=pick_locale(request),
        context={"who": account.citizen_id or account.username, "level": account.level,
                 "passkeys": passkeys},
    )  # fmt: skip


# ------------------------------------------------------------------------------ passkeys


class CeremonyStart(BaseModel):
    """The start of a passkey ceremony (no input)."""

    model_config = ConfigDict(extra="ignore")


class LoginFinish(BaseModel):
    """The browser's assertion."""

    model_config = ConfigDict(extra="forbid")
    challenge_id: str = Field(max_length=100)
    credential: dict[str, Any]
    req: str | None = Field(None, max_length=8000)


class RegisterFinish(BaseModel):
    """The browser's new credential and the name the owner gives it."""

    model_config = ConfigDict(extra="forbid")
    challenge_id: str = Field(max_length=100)
    credential: dict[str, Any]
    name: str = Field(max_length=64)


def _check_csrf_header(request: Request, services: IdentityServices) -> None:
    if not csrf_ok(request, services.settings, request.headers.get("x-csrf-token")):
        raise Forbidden("The X-CSRF-Token header is missing or does not match this browser.")


@oidc_router.post(
    "/webauthn/login/begin", summary="Start a passkey sign-in", response_model=CeremonyOptions,
    responses=problems(403),
)  # fmt: skip
async def passkey_login_begin(
    request: Request, session: SessionDep, services: ServicesDep, _: CeremonyStart
) -> JSONResponse:
    """Options for a discoverable credential request (WebAuthn Level 3, 5.5)."""
    _check_csrf_header(request, services)
    handle, options = await credentials.begin_login(session, services.passkeys)
    return JSONResponse({"challenge_id": handle, "options": options}, headers=NO_STORE)


@oidc_router.post(
    "/webauthn/login/complete", summary="Finish a passkey sign-in", response_model=SignedIn,
    responses=problems(401, 403),
)  # fmt: skip
async def passkey_login_complete(
    request: Request, session: SessionDep, services: ServicesDep, body: LoginFinish
) -> JSONResponse:
    """Verify the assertion, start the session, and say where to go next."""
    _check_csrf_header(request, services)
    try:
        auth_request = _unseal(services, body.req)
    except authz.PageError as exc:
        raise Forbidden(str(exc)) from None
    try:
        account = await credentials.complete_login(
            session, services.passkeys, handle=body.challenge_id, credential=body.credential
        )
    except RegistryError as exc:
        await audit.record(
            session, actor=Principal(actor_type="system", actor_id="anonymous"),
            action="identity.login", outcome="denied", detail={"method": "passkey",
            "reason": exc.code[:60]},
        )  # fmt: skip
        exc.commit_unit_of_work = True
        raise
    token, row = await accounts.start_session(
        session, services.settings, account, amr=("hwk", "user")
    )
    await accounts.record_login(session, account, method="passkey")
    location = _after_login(services, auth_request, row.sid)
    response = JSONResponse({"redirect": location}, headers=NO_STORE)
    _, absolute = accounts.session_limits(services.settings, account)
    set_cookie(
        response, services.settings, session_cookie_name(services.settings), token,
        max_age=int(absolute.total_seconds()),
    )  # fmt: skip
    return response


async def _session_account(
    request: Request, session: AsyncSession, services: IdentityServices
) -> Account:
    signed_in = await services.authenticator.signed_in(request, session)
    if signed_in is None:
        raise Unauthenticated("Sign in first.")
    _check_csrf_header(request, services)
    return signed_in[1]


_SIGNED_IN: dict[str, Any] = {"responses": problems(401, 403), "openapi_extra": {
    "security": SIGNED_IN}}  # fmt: skip


@oidc_router.post(
    "/webauthn/register/begin", summary="Start registering a passkey",
    response_model=CeremonyOptions, **_SIGNED_IN,
)  # fmt: skip
async def passkey_register_begin(
    request: Request, session: SessionDep, services: ServicesDep, _: CeremonyStart
) -> JSONResponse:
    """Options for navigator.credentials.create (resident key, user verification)."""
    account = await _session_account(request, session, services)
    handle, options = await credentials.begin_registration(session, services.passkeys, account)
    return JSONResponse({"challenge_id": handle, "options": options}, headers=NO_STORE)


@oidc_router.post(
    "/webauthn/register/complete", summary="Finish registering a passkey", status_code=201,
    response_model=PasskeyView, **_SIGNED_IN,
)  # fmt: skip
async def passkey_register_complete(
    request: Request, session: SessionDep, services: ServicesDep, body: RegisterFinish
) -> JSONResponse:
    """Verify and store the new passkey."""
    account = await _session_account(request, session, services)
    passkey = await credentials.complete_registration(
        session, services.passkeys, account, handle=body.challenge_id,
        credential=body.credential, name=body.name,
    )  # fmt: skip
    return JSONResponse(credentials.describe(passkey), status_code=201, headers=NO_STORE)


# ------------------------------------------------------------------------------ account API


class Enrolment(BaseModel):
    """Level 1 enrolment: what the citizen declares, matched against the registry."""

    model_config = ConfigDict(extra="forbid")
    id_number: str = Field(pattern=ID_NUMBER_PATTERN)
    full_name: str = Field(min_length=1, max_length=100)
    birth_date: date
    card_issue_date: date
    password: str = Field(max_length=1024)


class Activation(BaseModel):
    """Level 2: the in-person activation code and a new password."""

    model_config = ConfigDict(extra="forbid")
    id_number: str = Field(pattern=ID_NUMBER_PATTERN)
    code: str = Field(min_length=1, max_length=40)
    password: str = Field(max_length=1024)


class Unlock(BaseModel):
    """The citizen proves who they are to unlock what they locked."""

    model_config = ConfigDict(extra="forbid")
    id_number: str = Field(pattern=ID_NUMBER_PATTERN)
    password: str = Field(max_length=1024)


class PasskeyRename(BaseModel):
    """A passkey's new name."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)


def _account_view(account: Account) -> dict[str, Any]:
    return {"id_number": account.citizen_id, "level": account.level, "status": account.status}


@account_router.post(
    "/identity/enrol", status_code=201, summary="Enrol (level 1)", response_model=AccountView,
    responses=problems(403, 409),
)  # fmt: skip
async def enrol(body: Enrolment, session: SessionDep, services: ServicesDep) -> dict[str, Any]:
    """Create an electronic identity from declared data that matches the registry."""
    account = await accounts.enrol(
        session, services.ctx, citizen_id=body.id_number, full_name=body.full_name,
        birth_date=body.birth_date, card_issue_date=body.card_issue_date, password=body.password,
    )  # fmt: skip
    return _account_view(account)


@account_router.post(
    "/identity/activate", summary="Activate with an in-person code (level 2)",
    response_model=AccountView, responses=problems(403, 409),
)  # fmt: skip
async def activate(body: Activation, session: SessionDep, services: ServicesDep) -> dict[str, Any]:
    """Redeem an activation code issued by an official."""
    account = await accounts.activate(
        session, services.ctx, citizen_id=body.id_number, code=body.code, password=body.password
    )
    return _account_view(account)


@account_router.post(
    "/identity/unlock", summary="Unlock my electronic identity", response_model=AccountView,
    responses=problems(401, 403, 429),
)  # fmt: skip
async def unlock(
    request: Request, body: Unlock, session: SessionDep, services: ServicesDep
) -> dict[str, Any]:
    """Unlock an identity the citizen locked themself (password required)."""
    account = await accounts.unlock(
        session, services.ctx, login=body.id_number, password=body.password,
        client_ip=_client_ip(request),
    )  # fmt: skip
    return _account_view(account)


CitizenDep = Annotated[Principal, Depends(require("citizen"))]
OfficialDep = Annotated[Principal, Depends(require("official"))]


async def _my_account(session: AsyncSession, principal: Principal) -> Account:
    account = await repo.account_by_citizen(session, principal.actor_id)
    if account is None:
        raise Unauthenticated("No electronic identity for this caller.")
    return account


@account_router.post("/me/lock", summary="Lock my electronic identity", response_model=AccountView)
async def lock(citizen: CitizenDep, session: SessionDep) -> dict[str, Any]:
    """No sign-in and no release to any service until unlocked; sessions end, grants revoked."""
    account = await _my_account(session, citizen)
    await accounts.lock(session, account)
    return _account_view(account)


@account_router.get("/me/passkeys", summary="My passkeys", response_model=list[PasskeyView])
async def my_passkeys(citizen: CitizenDep, session: SessionDep) -> list[dict[str, Any]]:
    """Name, creation and last use of each passkey."""
    account = await _my_account(session, citizen)
    return [credentials.describe(p) for p in await repo.passkeys_of(session, account.id)]


@account_router.patch(
    "/me/passkeys/{passkey_id}", summary="Rename a passkey", response_model=PasskeyView
)
async def rename_passkey(
    passkey_id: str, body: PasskeyRename, citizen: CitizenDep, session: SessionDep
) -> dict[str, Any]:
    """Give one of my passkeys a new name."""
    account = await _my_account(session, citizen)
    return credentials.describe(await credentials.rename(session, account, passkey_id, body.name))


@account_router.delete("/me/passkeys/{passkey_id}", status_code=204, summary="Remove a passkey")
async def remove_passkey(passkey_id: str, citizen: CitizenDep, session: SessionDep) -> Response:
    """Remove one of my passkeys."""
    account = await _my_account(session, citizen)
    await credentials.remove(session, account, passkey_id)
    return Response(status_code=204)


@account_router.get(
    "/me/consents", summary="Services I consented to", response_model=list[ConsentView]
)
async def my_consents(citizen: CitizenDep, session: SessionDep) -> list[dict[str, Any]]:
    """Each service, the scopes it may receive, and when consent was given."""
    account = await _my_account(session, citizen)
    return [
        {"client_id": c.client_id, "client_name": k.name, "scope": c.scope,
         "granted_at": c.granted_at.isoformat(),
         "revoked_at": c.revoked_at.isoformat() if c.revoked_at else None}
        for c, k in await repo.consents_of(session, account.id)
    ]  # fmt: skip


@account_router.delete("/me/consents/{client_id}", status_code=204, summary="Revoke a consent")
async def revoke_consent(client_id: str, citizen: CitizenDep, session: SessionDep) -> Response:
    """The service gets nothing more: consent withdrawn and its grants revoked."""
    account = await _my_account(session, citizen)
    await accounts.revoke_consent(session, account, client_id)
    return Response(status_code=204)


@account_router.post(
    "/officials/citizens/{id_number}/activation-code",
    status_code=201,
    summary="Issue an in-person activation code",
    tags=["officials"],
    response_model=ActivationCode,
    responses=problems(409),
)
async def activation_code(
    id_number: Annotated[
        str, PathParam(pattern=ID_NUMBER_PATTERN, description="The 12-digit ID number.")
    ],
    official: OfficialDep,
    session: SessionDep,
    services: ServicesDep,
) -> dict[str, Any]:
    """After checking the citizen in person: a single-use, short-lived code (level 2)."""
    code, expires = await accounts.issue_activation_code(
        session, services.ctx, official=official, citizen_id=id_number
    )
    return {"code": code, "expires_at": expires.isoformat()}


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


__all__ = ["PAGE_HEADERS", "account_router", "build_services", "oidc_router"]
