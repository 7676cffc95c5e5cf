"""Helpers shared by the identity's HTTP modules: form parsing and client authentication
of the OAuth endpoints, their error bodies, the sealed authorization request, the error
page, and where a sign-in continues."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from urllib.parse import urlencode

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import RegistryError
from core.headers import NO_STORE
from identity import signin
from identity.authn import session_cookie_name
from identity.models import Account, Client
from identity.oidc import authorize as authz
from identity.oidc.clients import authenticate_client
from identity.oidc.errors import OAuthError
from identity.services import IdentityServices
from identity.web import gettext, pick_locale, render, set_cookie


def client_ip(request: Request) -> str | None:
    """The caller's address, when the server knows it."""
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


def oauth_response(exc: OAuthError) -> JSONResponse:
    """An OAuth error's JSON body (RFC 6749 5.2), never cached."""
    return JSONResponse(exc.body(), status_code=exc.status, headers={**NO_STORE, **exc.headers})


def page_error(request: Request, services: IdentityServices, message: str) -> Response:
    """The error page, for a request that cannot be used; ``message`` is a catalog message."""
    locale = pick_locale(request)
    return render(
        request,
        services.settings,
        "error.html",
        locale=locale,
        status_code=400,
        context={"message": gettext(locale, message)},
    )


def unseal(services: IdentityServices, value: str | None) -> authz.AuthRequest | None:
    """The authorization request sealed into a page's form or link, if any."""
    if not value:
        return None
    return authz.unseal(value, services.settings.derived_secret("authorize"))


def set_session_cookie(
    response: Response, services: IdentityServices, token: str, account: Account
) -> None:
    """The provider's sign-in cookie of a session just started, living as long as it may."""
    _, absolute = signin.session_limits(services.settings, account)
    set_cookie(
        response,
        services.settings,
        session_cookie_name(services.settings),
        token,
        max_age=int(absolute.total_seconds()),
    )


def after_login(
    services: IdentityServices,
    auth_request: authz.AuthRequest | None,
    sid: str,
    account: Account | None = None,
) -> str:
    """Back to the authorization request, now answered by this sign-in; else the staff
    member's work (``services.staff_home``) or the citizen's account."""
    if auth_request is None:
        return (
            services.staff_home if account is not None and account.kind == "staff" else "/account"
        )
    bound = authz.signed_in_for(auth_request, sid)
    sealed = authz.seal(bound, services.settings.derived_secret("authorize"))
    return "/authorize/resume?" + urlencode({"req": sealed})


async def client_form(
    request: Request, session: AsyncSession, services: IdentityServices, endpoint: str
) -> tuple[dict[str, str], Client]:
    """The form of a request to a client-authenticated endpoint, and its client (RFC 6749 2.3;
    a private_key_jwt assertion must name this endpoint as its audience)."""
    form = await _form(request)
    client = await authenticate_client(
        session,
        services.settings,
        authorization=request.headers.get("authorization"),
        form=form,
        token_endpoint=services.settings.issuer + endpoint,
        built=services.tokens.clients,
    )
    return form, client


@asynccontextmanager
async def assertion_stays_spent(session: AsyncSession, client: Client) -> AsyncIterator[None]:
    """The block's writes under a savepoint when ``client`` authenticated with an assertion:
    a failing block undoes its own writes only, and the unit of work still commits the spent
    jti (RFC 7523 3: accepted once, whatever becomes of the request)."""
    if client.auth_method != "private_key_jwt":
        yield
        return
    savepoint = await session.begin_nested()
    try:
        yield
    except (OAuthError, RegistryError) as exc:
        await (savepoint.commit() if exc.commit_unit_of_work else savepoint.rollback())
        exc.commit_unit_of_work = True
        raise
    await savepoint.commit()


# What a client-authenticated endpoint does once its client is known: (client, form) -> answer.
ClientWork = Callable[[Client, dict[str, str]], Awaitable[Response]]


async def answer_client(
    request: Request,
    session: AsyncSession,
    services: IdentityServices,
    endpoint: str,
    work: ClientWork,
) -> Response:
    """The answer of a client-authenticated endpoint (/token, /revoke, /introspect): the client
    authenticated, ``work`` done with a spent assertion staying spent, and an OAuthError
    answered as RFC 6749 5.2 says, its writes undone unless it keeps them."""
    try:
        form, client = await client_form(request, session, services, endpoint)
        async with assertion_stays_spent(session, client):
            return await work(client, form)
    except OAuthError as exc:
        if not exc.commit_unit_of_work:
            await session.rollback()
        return oauth_response(exc)
