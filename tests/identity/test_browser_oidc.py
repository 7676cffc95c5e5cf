"""The OpenID Connect provider end to end in real Chromium: a relying party, a password, a passkey.

The real app is served by uvicorn on http://localhost:PORT together with a tiny test-only
relying party mounted on the same server (``/rp/start`` and ``/rp/callback``). Its back channel
is Authlib: the code flow with PKCE S256, nonce and state, the token exchange with the client
secret, ID token validation against our JWKS, then userinfo. Chromium plays the citizen:

1. password sign-in and consent; the relying party sees amr ["pwd"];
2. a passkey added on the account page (Chromium's virtual authenticator, discoverable);
3. sign-out from the account page;
4. passkey sign-in without typing the ID number; consent remembered; amr ["hwk", "user"];
5. a locked identity: the password is right, the page says it is locked, no code is issued.

Each step saves a screenshot under test-artifacts/screenshots/ (oidc-NN-*.png), which the README
shows as documentation of the sign-in pages.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import authlib.deprecate  # noqa: F401  # its import-time "always" filter would beat pytestmark
import pytest
from authlib.common.security import generate_token
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from playwright.async_api import Page, expect

from core.db import Database
from core.settings import Settings
from registry.app import create_app
from tests.browser import LiveServer, VirtualAuthenticator, shot
from tests.identity.factories import CITIZEN_ID, PASSWORD, make_account, make_citizen, make_rp

if TYPE_CHECKING:
    from authlib.integrations.httpx_client import AsyncOAuth2Client

pytestmark = [
    pytest.mark.postgresql_only,  # one backend is enough for the browser; the flow is covered
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # authlib.jose
]

FULL_NAME = "Nguyễn Thị Minh Anh"
RP_NAME = "Cổng dịch vụ công (thử nghiệm)"
SCOPE = "openid profile"
PASSWORD_ACR = "urn:vn:registry:loa:1:pwd"
PASSKEY_ACR = "urn:vn:registry:loa:1:passkey"


# ---------------------------------------------------------------------------- relying party


@dataclass
class SignIn:
    """What the relying party learnt from one completed code flow."""

    id_token: dict[str, Any]
    userinfo: dict[str, Any]


@dataclass
class RelyingParty:
    """A test-only relying party served next to the provider (not product code)."""

    issuer: str
    client_id: str
    secret: str
    pending: dict[str, tuple[str, str]] = field(default_factory=dict)  # state: verifier, nonce
    callbacks: list[dict[str, str]] = field(default_factory=list)  # every query that came back
    sign_ins: list[SignIn] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def redirect_uri(self) -> str:
        """The registered redirect URI (http on localhost, allowed outside production)."""
        return self.issuer + "/rp/callback"

    def oauth(self) -> AsyncOAuth2Client:
        """Authlib's OAuth 2 client (client_secret_basic, PKCE S256)."""
        # Imported when used, under the module's filter of Authlib's deprecation warnings.
        from authlib.integrations.httpx_client import AsyncOAuth2Client

        return AsyncOAuth2Client(
            client_id=self.client_id,
            client_secret=self.secret,
            scope=SCOPE,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            timeout=10,
        )

    def router(self) -> APIRouter:
        """/rp/start and /rp/callback."""
        router = APIRouter(prefix="/rp", include_in_schema=False)
        router.add_api_route("/start", self.start, methods=["GET"])
        router.add_api_route("/callback", self.callback, methods=["GET"])
        return router

    async def start(self, request: Request) -> Response:
        """Build the authorization request (state, nonce, PKCE S256) and send the browser;
        ``prompt`` and ``acr_values`` in the query are passed on."""
        verifier, nonce = generate_token(64), generate_token(24)
        extra = {k: v for k, v in request.query_params.items() if k in ("prompt", "acr_values")}
        async with self.oauth() as client:
            url, state = client.create_authorization_url(
                self.issuer + "/authorize", code_verifier=verifier, nonce=nonce, **extra
            )
        self.pending[state] = (verifier, nonce)
        return RedirectResponse(url, status_code=303)

    async def callback(self, request: Request) -> Response:
        """Check state and iss, redeem the code, validate the ID token, call userinfo."""
        params = dict(request.query_params)
        self.callbacks.append(params)
        try:
            signed_in = await self._finish(params)
        except Exception as exc:  # shown on the page and reported to the test
            self.errors.append(repr(exc))
            body = f'<p id="error">{html.escape(repr(exc))}</p>'
            return HTMLResponse(_rp_page("Lỗi", body), status_code=500)
        self.sign_ins.append(signed_in)
        claims = signed_in.id_token
        body = (
            f'<p>Xin chào <strong id="name">{html.escape(signed_in.userinfo["name"])}</strong></p>'
            "<dl>"
            f'<dt>amr</dt><dd id="amr">{html.escape(json.dumps(claims["amr"]))}</dd>'
            f'<dt>acr</dt><dd id="acr">{html.escape(claims["acr"])}</dd>'
            f'<dt>sub</dt><dd id="sub">{html.escape(claims["sub"])}</dd>'
            "</dl>"
        )
        return HTMLResponse(_rp_page("Đã đăng nhập", body))

    async def _finish(self, params: dict[str, str]) -> SignIn:
        from authlib.jose import JsonWebKey, jwt
        from authlib.oidc.core import CodeIDToken

        if "error" in params:
            raise RuntimeError(f"authorization failed: {params['error']}")
        if params.get("iss") != self.issuer:  # RFC 9207
            raise RuntimeError(f"unexpected iss {params.get('iss')!r}")
        pending = self.pending.pop(params.get("state", ""), None)
        if pending is None:
            raise RuntimeError("unknown or reused state")
        verifier, nonce = pending
        async with self.oauth() as client:
            token = await client.fetch_token(
                self.issuer + "/token",
                grant_type="authorization_code",
                code=params["code"],
                code_verifier=verifier,
            )
            meta = self.issuer + "/.well-known/openid-configuration"
            discovery = (await client.request("GET", meta, withhold_token=True)).json()
            jwks = (await client.request("GET", discovery["jwks_uri"], withhold_token=True)).json()
            claims = jwt.decode(
                token["id_token"],
                JsonWebKey.import_key_set(jwks),
                claims_cls=CodeIDToken,
                claims_options={"iss": {"essential": True, "value": discovery["issuer"]}},
                claims_params={
                    "nonce": nonce,
                    "client_id": self.client_id,
                    "access_token": token["access_token"],
                },
            )
            claims.validate()
            reply = await client.get(discovery["userinfo_endpoint"])
            reply.raise_for_status()
            userinfo: dict[str, Any] = reply.json()
        if userinfo.get("sub") != claims["sub"]:
            raise RuntimeError("userinfo is about someone else")
        return SignIn(id_token=dict(claims), userinfo=userinfo)


def _rp_page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="vi"><head><meta charset="utf-8">'
        f"<title>{title} · {RP_NAME}</title>"
        '<style>body{font-family:"DejaVu Sans",sans-serif;margin:2rem}'
        "dt{font-weight:bold}dd{font-family:monospace;margin:0 0 .5rem 1rem}</style>"
        f"</head><body><h1>{RP_NAME}</h1><h2>{title}</h2>{body}</body></html>"
    )


# ---------------------------------------------------------------------------- fixtures


@dataclass
class Portal:
    """The served app, its relying party, and a Database of the test's own for seeding."""

    url: str
    settings: Settings
    database: Database
    rp: RelyingParty


@pytest.fixture
async def portal(database_url: str, live_server: LiveServer) -> AsyncIterator[Portal]:
    """A citizen with an electronic identity, a relying party, and the app serving both.

    ``database_url`` comes first so the server stops before its database is dropped.
    """
    settings = Settings(environment="test", database_url=database_url, public_url=live_server.url)
    seeding = Database(settings)
    try:
        await make_citizen(seeding)
        await make_account(seeding, settings)
        client_id, secret = await make_rp(
            seeding,
            settings,
            name=RP_NAME,
            redirect_uris=[live_server.url + "/rp/callback"],
            post_logout_redirect_uris=[],
            scopes=["openid", "profile"],
        )
        rp = RelyingParty(issuer=settings.issuer, client_id=client_id, secret=secret)
        app = create_app(settings)  # its own Database: the server runs on its own event loop
        app.include_router(rp.router())
        live_server.start(app)
        yield Portal(url=live_server.url, settings=settings, database=seeding, rp=rp)
    finally:
        await seeding.dispose()


async def password_sign_in(page: Page, portal: Portal, screenshot: str | None = None) -> None:
    """On our sign-in page (in Vietnamese): type the ID number and the password, submit."""
    await expect(page).to_have_url(re.compile(re.escape(portal.url) + r"/login(\?|$)"))
    await expect(page.locator("html")).to_have_attribute("lang", "vi")
    await expect(page.locator("h1")).to_have_text("Đăng nhập")
    await page.fill("#login", CITIZEN_ID)
    await page.fill("#password", PASSWORD)
    if screenshot:
        await shot(page, screenshot)
    await page.click("#submit")


async def back_at_the_rp(page: Page, portal: Portal) -> None:
    """The browser is back at the relying party's callback, signed in."""
    await expect(page).to_have_url(re.compile(re.escape(portal.rp.redirect_uri) + r"\?"))
    assert not portal.rp.errors, portal.rp.errors
    await expect(page.locator("#name")).to_have_text(FULL_NAME)


# ---------------------------------------------------------------------------- tests


async def test_password_then_passkey_sign_in_to_a_relying_party(
    portal: Portal, page: Page, authenticator: VirtualAuthenticator
) -> None:
    rp = portal.rp

    # 1. The relying party sends the browser to us; password sign-in, consent, back with a code.
    await page.goto(portal.url + "/rp/start")
    await expect(page.locator(".muted strong")).to_have_text(RP_NAME)
    await password_sign_in(page, portal, "oidc-01-login")
    allow = page.locator("#allow")
    await expect(allow).to_have_text("Đồng ý")
    await expect(page.locator("ul.claims")).to_contain_text("Họ và tên")
    await shot(page, "oidc-02-consent")
    await allow.click()
    await back_at_the_rp(page, portal)
    await expect(page.locator("#amr")).to_have_text('["pwd"]')
    await expect(page.locator("#acr")).to_have_text(PASSWORD_ACR)
    await shot(page, "oidc-03-rp-signed-in-with-password")
    (first,) = rp.sign_ins
    assert first.id_token["amr"] == ["pwd"]
    assert first.id_token["acr"] == PASSWORD_ACR
    assert first.userinfo["name"] == FULL_NAME
    assert CITIZEN_ID not in json.dumps([first.id_token, first.userinfo])  # pairwise sub only
    assert not rp.pending  # the state was used once

    # 2. The account page: add a passkey (a discoverable credential on the virtual authenticator).
    await page.goto(portal.url + "/account")
    await expect(page.locator("#who")).to_have_text(CITIZEN_ID)
    await expect(page.locator("#no-passkeys")).to_be_visible()
    await page.fill("#passkey-name", "Điện thoại của Minh Anh")
    await shot(page, "oidc-04-account")
    await page.click("#passkey-register")
    passkeys = page.locator("table#passkeys")
    await expect(passkeys).to_contain_text("Điện thoại của Minh Anh")  # after the reload
    await expect(page.locator("#passkey-status")).to_be_hidden()
    await shot(page, "oidc-05-account-passkey-added")
    (held,) = await authenticator.credentials()
    assert held["isResidentCredential"] is True
    assert held["rpId"] == "localhost"

    # 3. Sign out from the account page (a form POST with its CSRF token).
    await page.click("#logout")
    await expect(page.locator("main")).to_contain_text("Bạn đã đăng xuất.")
    await shot(page, "oidc-06-signed-out")
    await page.goto(portal.url + "/account")
    await expect(page).to_have_url(portal.url + "/login")  # the session is gone

    # 4. The relying party again: passkey sign-in, no ID number typed, consent remembered.
    await page.goto(portal.url + "/rp/start")
    await expect(page.locator("#passkey-login")).to_be_visible()
    await expect(page.locator("#login")).to_have_value("")
    await shot(page, "oidc-07-login-with-passkey")
    await page.click("#passkey-login")
    await back_at_the_rp(page, portal)
    await expect(page.locator("#amr")).to_have_text('["hwk", "user"]')
    await expect(page.locator("#acr")).to_have_text(PASSKEY_ACR)
    await shot(page, "oidc-08-rp-signed-in-with-passkey")
    assert len(rp.sign_ins) == 2
    assert len(rp.callbacks) == 2
    second = rp.sign_ins[1]
    assert second.id_token["amr"] == ["hwk", "user"]
    assert second.id_token["acr"] == PASSKEY_ACR
    assert second.id_token["sub"] == first.id_token["sub"]
    (held_after,) = await authenticator.credentials()
    assert held_after["signCount"] > held["signCount"]


async def test_a_service_asking_for_a_new_sign_in_or_a_passkey_gets_it_once(
    portal: Portal, page: Page, authenticator: VirtualAuthenticator
) -> None:
    # Signed in with the password (consent given), and a passkey added on the account page.
    await page.goto(portal.url + "/rp/start")
    await password_sign_in(page, portal)
    await page.click("#allow")
    await back_at_the_rp(page, portal)
    await page.goto(portal.url + "/account")
    await page.fill("#passkey-name", "Điện thoại của Minh Anh")
    await page.click("#passkey-register")
    await expect(page.locator("table#passkeys")).to_contain_text("Điện thoại của Minh Anh")

    # prompt=login: the password once more, then back at the service (no second sign-in page).
    await page.goto(portal.url + "/rp/start?prompt=login")
    await password_sign_in(page, portal)
    await back_at_the_rp(page, portal)
    await expect(page.locator("#acr")).to_have_text(PASSWORD_ACR)

    # acr_values a password does not reach: the sign-in page offers the passkey first.
    await page.goto(portal.url + "/rp/start?" + urlencode({"acr_values": PASSKEY_ACR}))
    await expect(page.locator("#passkey-asked")).to_be_visible()
    await shot(page, "oidc-10-login-passkey-asked")
    await page.click("#passkey-login")
    await back_at_the_rp(page, portal)
    await expect(page.locator("#acr")).to_have_text(PASSKEY_ACR)
    assert [s.id_token["acr"] for s in portal.rp.sign_ins] == [
        PASSWORD_ACR,
        PASSWORD_ACR,
        PASSKEY_ACR,
    ]


async def test_a_locked_identity_cannot_sign_in_to_a_relying_party(
    portal: Portal, page: Page
) -> None:
    # The citizen signs in to the portal itself and locks their identity (session + CSRF header).
    await page.goto(portal.url + "/login")
    await password_sign_in(page, portal)
    await expect(page).to_have_url(portal.url + "/account")
    locked = await page.evaluate(
        """async () => {
          const csrf = document.querySelector('meta[name="csrf-token"]').content;
          const r = await fetch("/api/v1/me/lock", {method: "POST", credentials: "same-origin",
                                                   headers: {"X-CSRF-Token": csrf}});
          return {status: r.status, body: await r.json()};
        }"""
    )
    assert locked == {
        "status": 200,
        "body": {"id_number": CITIZEN_ID, "level": 1, "status": "locked"},
    }

    # Locking ended the session: the relying party's request needs a sign-in, which is refused.
    await page.goto(portal.url + "/rp/start")
    async with page.expect_response(
        lambda r: r.url == portal.url + "/login" and r.request.method == "POST"
    ) as answer:
        await password_sign_in(page, portal)
    assert (await answer.value).status == 403
    alert = page.locator("p.error[role=alert]")
    await expect(alert).to_have_text("Danh tính điện tử này đang bị khóa.")
    await expect(page.locator("#password")).to_have_value("")
    await shot(page, "oidc-09-locked-identity-refused")
    assert portal.rp.callbacks == []
    assert portal.rp.sign_ins == []
    assert len(portal.rp.pending) == 1  # the request is still waiting: no code was issued
