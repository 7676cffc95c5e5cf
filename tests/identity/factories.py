"""Plain factory functions for identity tests: citizens, accounts, clients, a browser-like login."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from fastapi import Depends, FastAPI

from core.auth import Principal, require
from core.db import Database
from core.settings import Settings
from identity import accounts
from identity.accounts import IdentityContext
from identity.oidc.clients import create_client
from identity.passwords import PasswordHasher
from registry import repository as registry_repo
from registry.directory import RegistryDirectory
from registry.record import parse_record
from tests.identity.authenticator import SoftAuthenticator

CITIZEN_ID = "001303004512"
OTHER_CITIZEN = "001303004513"  # a second citizen, for tests that need two
PASSWORD = "mùa thu Hà Nội 2003"  # not in the common list, 8-128 characters
RP_REDIRECT = "https://rp.example.vn/callback"
RP_LOGOUT = "https://rp.example.vn/bye"


def fast_hasher() -> PasswordHasher:
    """OWASP's minimum parameters (the default settings), so tests stay quick."""
    return PasswordHasher(time_cost=5, memory_kib=7_168, parallelism=1)


def context(settings: Settings) -> IdentityContext:
    """The identity context the app builds, for calling services directly."""
    return IdentityContext(settings=settings, hasher=fast_hasher(), directory=RegistryDirectory())


async def make_citizen(database: Database, **overrides: Any) -> str:
    """Insert a citizen record (as an import would) and return its ID number."""
    raw: dict[str, Any] = {
        "id_number": CITIZEN_ID,
        "full_name": "Nguyễn Thị Minh Anh",
        "birth_date": "2003-05-14",
        "gender": "female",
        "birth_province": "001",
        "ethnicity": "01",
        "permanent_address": "12 Hàng Bạc, Hoàn Kiếm, Hà Nội",
        "card_number": CITIZEN_ID,
        "card_issue_date": "2021-06-01",
        "card_issue_place": "Cục Cảnh sát QLHC về TTXH",
        "card_expiry_date": "2028-05-14",
    }
    raw.update(overrides)
    values = parse_record(raw)
    values["version"] = 1
    async with database.unit_of_work() as session:
        assert await registry_repo.insert_citizen_if_free(session, values)
    return str(values["id_number"])


async def make_account(
    database: Database, settings: Settings, citizen_id: str = CITIZEN_ID, password: str = PASSWORD
) -> str:
    """Enrol the citizen at level 1 (declared data matching the record); the account id."""
    async with database.unit_of_work() as session:
        facts = await RegistryDirectory().facts(session, citizen_id)
        assert facts is not None
        assert facts.card_issue_date is not None
        account = await accounts.enrol(
            session,
            context(settings),
            citizen_id=citizen_id,
            full_name=facts.full_name,
            birth_date=facts.birth_date,
            card_issue_date=facts.card_issue_date,
            password=password,
        )
        return account.id


async def make_rp(database: Database, settings: Settings, **overrides: Any) -> tuple[str, str]:
    """Register a relying party; (client_id, client_secret)."""
    kwargs: dict[str, Any] = {
        "name": "Cổng dịch vụ công",
        "type": "rp",
        "redirect_uris": [RP_REDIRECT],
        "post_logout_redirect_uris": [RP_LOGOUT],
        "scopes": ["openid", "profile", "birthdate", "gender", "address", "offline_access"],
    }
    kwargs.update(overrides)
    async with database.unit_of_work() as session:
        new = await create_client(session, settings, **kwargs)
        return new.client.client_id, new.secret or ""


async def make_agency(database: Database, settings: Settings, **overrides: Any) -> tuple[str, str]:
    """Register an agency client (client_credentials); (client_id, client_secret)."""
    kwargs: dict[str, Any] = {"name": "Tổng cục Thuế", "type": "agency", "scopes": ["verify"]}
    kwargs.update(overrides)
    async with database.unit_of_work() as session:
        new = await create_client(session, settings, **kwargs)
        return new.client.client_id, new.secret or ""


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge) per RFC 7636 4.1-4.2."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def query_of(location: str) -> dict[str, str]:
    """The query parameters of a redirect."""
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def form_field(html: str, name: str) -> str:
    """The value of a hidden input in a page."""
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no field {name} in page"
    return match.group(1).replace("&amp;", "&")


async def sign_in(
    web: httpx.AsyncClient,
    location: str,
    *,
    login: str = CITIZEN_ID,
    password: str = PASSWORD,
    consent: bool | None = True,
) -> httpx.Response:
    """Follow an /authorize redirect chain like a browser: sign in, consent; the last response
    (a redirect to the relying party, or a page). A flow that keeps asking for the sign-in
    fails instead of looping."""
    response = await web.get(location)
    sign_ins = 0
    while response.status_code in (302, 303) and not response.headers["location"].startswith(
        "https://"
    ):
        target = response.headers["location"]
        if target.startswith("/login"):
            sign_ins += 1
            assert sign_ins == 1, "the provider asked for the sign-in again after a good one"
            page = await web.get(target)
            response = await web.post(
                "/login",
                data={
                    "csrf": form_field(page.text, "csrf"),
                    "req": form_field(page.text, "req"),
                    "login": login,
                    "password": password,
                },
            )
            continue
        response = await web.get(target)
    if response.status_code == 200 and 'action="/consent"' in response.text and consent is not None:
        response = await web.post(
            "/consent",
            data={
                "csrf": form_field(response.text, "csrf"),
                "req": form_field(response.text, "req"),
                "decision": "allow" if consent else "deny",
            },
        )
    return response


# ------------------------------------------------------------------------------ added helpers
# (staff, browser sessions, passkeys through the software authenticator, code flow, probe app)

STAFF_USERNAME = "clerk.hanoi"
STAFF_PASSWORD = "a long staff password"


async def make_staff(
    database: Database,
    settings: Settings,
    *,
    username: str = STAFF_USERNAME,
    roles: tuple[str, ...] = ("official",),
    password: str = STAFF_PASSWORD,
    display_name: str = "Trần Văn Bình",
    office: str | None = None,
) -> str:
    """A staff account (no passkey yet); its account id."""
    async with database.unit_of_work() as session:
        account = await accounts.create_staff(
            session,
            context(settings),
            username=username,
            display_name=display_name,
            roles=roles,
            password=password,
            office=office,
        )
        return account.id


async def browser_csrf(web: httpx.AsyncClient) -> str:
    """Open the sign-in page (it sets the CSRF cookie); the token that goes with the cookie."""
    page = await web.get("/login")
    assert page.status_code == 200, page.text
    return form_field(page.text, "csrf")


async def password_session(web: httpx.AsyncClient, login: str, password: str) -> str:
    """Sign the browser in with a password (no authorization request); its CSRF token."""
    csrf = await browser_csrf(web)
    response = await web.post(
        "/login", data={"csrf": csrf, "req": "", "login": login, "password": password}
    )
    assert response.status_code == 303, response.text
    # Citizens go to their account; staff on to register their first passkey.
    assert response.headers["location"] in ("/account", "/staff/passkey")
    return csrf


async def add_passkey(
    database: Database,
    settings: Settings,
    account_id: str,
    authenticator: SoftAuthenticator,
    *,
    name: str = "Điện thoại",
) -> str:
    """Register ``authenticator`` for the account through identity.passkeys; the passkey id."""
    from identity import passkeys
    from identity import repository as identity_repo
    from identity.webauthn import PasskeyServer

    server = PasskeyServer(settings)
    async with database.unit_of_work() as session:
        account = await identity_repo.account_by_id(session, account_id)
        assert account is not None
        handle, options = await passkeys.begin_registration(
            session, server, account, purge=passkeys.ChallengePurge(), auth_methods=("hwk",)
        )
        passkey = await passkeys.complete_registration(
            session,
            server,
            account,
            handle=handle,
            credential=authenticator.create(options),
            name=name,
        )
        return passkey.id


async def passkey_sign_in(
    web: httpx.AsyncClient, csrf: str, authenticator: SoftAuthenticator, *, req: str | None = None
) -> httpx.Response:
    """The browser's discoverable passkey sign-in over HTTP (for the sealed authorization
    request ``req`` when given); the /webauthn/login/complete reply."""
    begun = await web.post("/webauthn/login/begin", json={}, headers={"x-csrf-token": csrf})
    assert begun.status_code == 200, begun.text
    return await web.post(
        "/webauthn/login/complete",
        json={
            "challenge_id": begun.json()["challenge_id"],
            "credential": authenticator.get(begun.json()["options"]),
            "req": req,
        },
        headers={"x-csrf-token": csrf},
    )


async def authorization_code(
    web: httpx.AsyncClient,
    client_id: str,
    *,
    scope: str = "openid profile",
    login: str = CITIZEN_ID,
    password: str = PASSWORD,
) -> tuple[str, str]:
    """Run the browser part of the code flow (sign-in, consent); (code, PKCE verifier)."""
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": RP_REDIRECT,
        "scope": scope,
        "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    final = await sign_in(web, "/authorize?" + urlencode(params), login=login, password=password)
    assert final.status_code == 303, final.text
    assert final.headers["location"].startswith(RP_REDIRECT), final.headers["location"]
    return query_of(final.headers["location"])["code"], verifier


async def code_flow_tokens(
    web: httpx.AsyncClient, client_id: str, secret: str, *, scope: str = "openid profile"
) -> dict[str, Any]:
    """The whole code flow, redeemed at /token with client_secret_basic; the token response."""
    code, verifier = await authorization_code(web, client_id, scope=scope)
    response = await web.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": RP_REDIRECT,
            "code_verifier": verifier,
        },
        auth=(client_id, secret),
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def probe_app(settings: Settings, database: Database) -> FastAPI:
    """The real app plus test-only routes that show the Principal ``require`` resolved."""
    from registry.app import create_app

    app = create_app(settings, database=database)

    def view(principal: Principal) -> dict[str, Any]:
        return {
            "actor_type": principal.actor_type,
            "actor_id": principal.actor_id,
            "roles": sorted(principal.roles),
            "scopes": sorted(principal.scopes),
            "auth_methods": list(principal.auth_methods),
        }

    @app.get("/test/whoami")
    async def whoami(principal: Annotated[Principal, Depends(require())]) -> dict[str, Any]:
        return view(principal)

    @app.post("/test/whoami")
    async def whoami_post(principal: Annotated[Principal, Depends(require())]) -> dict[str, Any]:
        return view(principal)

    @app.get("/test/agency")
    async def agency(principal: Annotated[Principal, Depends(require("agency"))]) -> dict[str, Any]:
        return view(principal)

    return app
