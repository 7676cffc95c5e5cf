"""The OpenID Connect provider driven by a standard client library (Authlib), not our code.

Authlib's OAuth2 client runs the code flow with PKCE S256 against the app in-process; its OIDC
claims classes validate the ID token (iss, aud, exp, nonce, at_hash, auth_time); then userinfo,
refresh rotation, revocation and introspection. A second httpx client plays the browser.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from authlib.oidc.core import CodeIDToken
from fastapi import FastAPI
from sqlalchemy import event, select, text

from core.db import Database
from core.settings import Settings
from identity.models import LoginSession
from tests.identity.authenticator import SoftAuthenticator
from tests.identity.factories import (
    CITIZEN_ID,
    OTHER_CITIZEN,
    RP_LOGOUT,
    RP_REDIRECT,
    STAFF_PASSWORD,
    STAFF_USERNAME,
    add_passkey,
    form_field,
    make_staff,
    passkey_sign_in,
    query_of,
    sign_in,
)
from tests.identity.relying_party import code_flow, rp_client

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


async def validate_id_token(
    web: httpx.AsyncClient,
    settings: Settings,
    world: dict[str, str],
    token: dict[str, Any],
    nonce: str,
) -> dict[str, Any]:
    """Authlib validates the ID token against our JWKS."""
    from authlib.jose import JsonWebKey, jwt

    discovery = (await web.get("/.well-known/openid-configuration")).json()
    jwks = (await web.get("/jwks")).json()
    claims = jwt.decode(
        token["id_token"],
        JsonWebKey.import_key_set(jwks),
        claims_cls=CodeIDToken,
        claims_options={"iss": {"essential": True, "value": discovery["issuer"]}},
        claims_params={
            "nonce": nonce,
            "client_id": world["client_id"],
            "access_token": token["access_token"],
        },
    )
    claims.validate()
    return dict(claims)


async def test_authlib_completes_the_code_flow_and_validates_the_id_token(
    app: FastAPI, web: httpx.AsyncClient, world: dict[str, str], settings: Settings
) -> None:
    rp, token, nonce = await code_flow(app, web, world)
    assert token["token_type"] == "Bearer"
    assert token["refresh_token"]
    claims = await validate_id_token(web, settings, world, token, nonce)
    assert claims["iss"] == settings.issuer
    assert claims["acr"] == "urn:vn:registry:loa:1:pwd"
    assert claims["amr"] == ["pwd"]
    assert CITIZEN_ID not in json.dumps(claims)  # pairwise sub, not the ID number
    userinfo = (await rp.get("/userinfo")).json()
    assert userinfo["sub"] == claims["sub"]
    assert userinfo["name"] == "Nguyễn Thị Minh Anh"
    assert userinfo["birthdate"] == "2003-05-14"
    assert userinfo["gender"] == "female"
    assert userinfo["address"]["formatted"].startswith("12 Hàng Bạc")
    assert "national_id" not in userinfo


async def test_the_authorization_response_carries_iss_and_state(
    app: FastAPI, web: httpx.AsyncClient, world: dict[str, str], settings: Settings
) -> None:
    from authlib.common.security import generate_token

    rp = rp_client(app, world)
    url, state = rp.create_authorization_url("/authorize", code_verifier=generate_token(64))
    final = await sign_in(web, url.replace("http://testserver", ""))
    params = query_of(final.headers["location"])
    assert params["state"] == state
    assert params["iss"] == settings.issuer
    assert params["code"]


async def test_refresh_rotates_and_reuse_revokes_the_family(
    app: FastAPI, web: httpx.AsyncClient, world: dict[str, str]
) -> None:
    rp, token, _ = await code_flow(app, web, world)
    first_refresh = token["refresh_token"]
    rotated = await rp.refresh_token("/token", refresh_token=first_refresh)
    assert rotated["refresh_token"] != first_refresh
    # Replaying the old refresh token revokes the whole family, including the new one.
    replay = await rp.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": first_refresh},
        auth=(world["client_id"], world["secret"]),
    )
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    again = await rp.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": rotated["refresh_token"]},
        auth=(world["client_id"], world["secret"]),
    )
    assert again.json()["error"] == "invalid_grant"
    # And access tokens of the family stop working.
    userinfo = await rp.get(
        "/userinfo", headers={"Authorization": "Bearer " + rotated["access_token"]}
    )
    assert userinfo.status_code == 401


async def test_a_reused_code_is_refused_and_revokes_what_it_issued(
    app: FastAPI, web: httpx.AsyncClient, world: dict[str, str]
) -> None:
    from authlib.common.security import generate_token

    rp = rp_client(app, world)
    verifier = generate_token(64)
    url, _ = rp.create_authorization_url("/authorize", code_verifier=verifier)
    callback = (await sign_in(web, url.replace("http://testserver", ""))).headers["location"]
    code = query_of(callback)["code"]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": RP_REDIRECT,
        "code_verifier": verifier,
    }
    auth = (world["client_id"], world["secret"])
    first = await web.post("/token", data=form, auth=auth)
    assert first.status_code == 200
    second = await web.post("/token", data=form, auth=auth)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    assert second.headers["cache-control"] == "no-store"
    access = first.json()["access_token"]
    assert (
        await web.get("/userinfo", headers={"Authorization": "Bearer " + access})
    ).status_code == 401
    refresh = await web.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": first.json()["refresh_token"]},
        auth=auth,
    )
    assert refresh.json()["error"] == "invalid_grant"


async def _code(app: FastAPI, web: httpx.AsyncClient, world: dict[str, str], verifier: str) -> str:
    rp = rp_client(app, world)
    url, _ = rp.create_authorization_url("/authorize", code_verifier=verifier)
    callback = (await sign_in(web, url.replace("http://testserver", ""))).headers["location"]
    return query_of(callback)["code"]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"code_verifier": "x" * 43}, "invalid_grant"),
        ({"code_verifier": None}, "invalid_request"),
        ({"redirect_uri": RP_REDIRECT + "/other"}, "invalid_grant"),
        ({"code": "not-a-code"}, "invalid_grant"),
    ],
)
async def test_the_token_endpoint_refuses_a_wrong_verifier_redirect_or_code(
    app: FastAPI, web: httpx.AsyncClient, world: dict[str, str], change: dict[str, Any], error: str
) -> None:
    verifier = "v" * 20 + "-" * 23 + "0123456789"
    code = await _code(app, web, world, verifier)
    form: dict[str, Any] = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": RP_REDIRECT,
        "code_verifier": verifier,
    }
    form.update(change)
    form = {k: v for k, v in form.items() if v is not None}
    response = await web.post("/token", data=form, auth=(world["client_id"], world["secret"]))
    assert response.status_code == 400
    assert response.json()["error"] == error


async def test_an_expired_code_is_refused(
    app: FastAPI, web: httpx.AsyncClient, world: dict[str, str], database: Database
) -> None:
    verifier = "e" * 50
    code = await _code(app, web, world, verifier)
    async with database.unit_of_work() as session:
        await session.execute(
            text("UPDATE authorization_code SET expires_at = :t"),
            {"t": datetime(2000, 1, 1, tzinfo=UTC)},
        )
    response = await web.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": RP_REDIRECT,
            "code_verifier": verifier,
        },
        auth=(world["client_id"], world["secret"]),
    )
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "The authorization code has expired.",
    }


async def test_a_wrong_redirect_uri_is_never_redirected_to(
    web: httpx.AsyncClient, world: dict[str, str]
) -> None:
    for uri in (RP_REDIRECT + "/x", "https://evil.example/callback", RP_REDIRECT.upper()):
        response = await web.get(
            "/authorize",
            params={
                "response_type": "code",
                "client_id": world["client_id"],
                "redirect_uri": uri,
                "scope": "openid",
                "code_challenge": "a" * 43,
                "code_challenge_method": "S256",
            },
        )
        assert response.status_code == 400
        assert "location" not in response.headers
        assert "Địa chỉ chuyển hướng chưa được đăng ký" in response.text  # Vietnamese first


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "profile"}, "invalid_scope"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"request": "eyJ"}, "request_not_supported"),
        ({"claims": "{not json"}, "invalid_request"),
        ({"max_age": "\u0665"}, "invalid_request"),  # an Arabic-Indic 5: numbers are ASCII
        ({"max_age": "+5"}, "invalid_request"),
        ({"prompt": "none"}, "login_required"),
    ],
)
async def test_bad_authorization_requests_return_errors_to_the_client(
    web: httpx.AsyncClient,
    world: dict[str, str],
    settings: Settings,
    change: dict[str, Any],
    error: str,
) -> None:
    params: dict[str, Any] = {
        "response_type": "code",
        "client_id": world["client_id"],
        "redirect_uri": RP_REDIRECT,
        "scope": "openid",
        "state": "s-1",
        "code_challenge": "a" * 43,
        "code_challenge_method": "S256",
    }
    params.update(change)
    params = {k: v for k, v in params.items() if v is not None}
    response = await web.get("/authorize", params=params)
    assert response.status_code == 303
    got = query_of(response.headers["location"])
    assert got["error"] == error
    assert got["state"] == "s-1"
    assert got["iss"] == settings.issuer


async def test_prompt_none_with_a_session_but_no_consent_is_consent_required(
    app: FastAPI, web: httpx.AsyncClient, world: dict[str, str]
) -> None:
    await code_flow(app, web, world, scope="openid profile")
    rp = rp_client(app, world)
    url, _ = rp.create_authorization_url(
        "/authorize", code_verifier="c" * 50, scope="openid gender", prompt="none"
    )
    response = await web.get(url.replace("http://testserver", ""))
    assert query_of(response.headers["location"])["error"] == "consent_required"
    # Consented scopes with a live session: prompt=none issues a code without any page.
    url, _ = rp.create_authorization_url(
        "/authorize", code_verifier="c" * 50, scope="openid profile", prompt="none"
    )
    response = await web.get(url.replace("http://testserver", ""))
    assert "code" in query_of(response.headers["location"])


async def test_max_age_zero_and_prompt_login_ask_for_a_new_sign_in(
    app: FastAPI, web: httpx.AsyncClient, world: dict[str, str]
) -> None:
    await code_flow(app, web, world)
    rp = rp_client(app, world)
    for extra in ({"max_age": "0"}, {"prompt": "login"}):
        time.sleep(1.01) if "max_age" in extra else None
        url, _ = rp.create_authorization_url("/authorize", code_verifier="m" * 50, **extra)
        response = await web.get(url.replace("http://testserver", ""))
        assert response.headers["location"].startswith("/login?")


PASSKEY_ACR = "urn:vn:registry:loa:1:passkey"


async def age_the_sign_ins(database: Database) -> datetime:
    """Move every sign-in an hour into the past, as time passing would; that instant."""
    then = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    async with database.unit_of_work() as session:
        await session.execute(text("UPDATE login_session SET auth_time = :t"), {"t": then})
    return then


async def newest_sign_in(database: Database) -> LoginSession:
    """The latest sign-in session."""
    async with database.unit_of_work() as session:
        stmt = select(LoginSession).order_by(LoginSession.auth_time.desc()).limit(1)
        return (await session.execute(stmt)).scalar_one()


async def account_id_of(database: Database) -> str:
    """The id of the only account."""
    async with database.unit_of_work() as session:
        return str((await session.execute(text("SELECT id FROM account"))).scalar_one())


@pytest.mark.parametrize("extra", [{"prompt": "login"}, {"max_age": "0"}, {"max_age": "600"}])
async def test_a_forced_sign_in_continues_and_the_id_token_carries_its_auth_time(
    app: FastAPI,
    web: httpx.AsyncClient,
    world: dict[str, str],
    database: Database,
    settings: Settings,
    extra: dict[str, str],
) -> None:
    await code_flow(app, web, world)
    before = await age_the_sign_ins(database)
    _, token, nonce = await code_flow(app, web, world, **extra)
    claims = await validate_id_token(web, settings, world, token, nonce)
    fresh = await newest_sign_in(database)
    assert fresh.auth_time > before
    assert claims["auth_time"] == int(fresh.auth_time.timestamp())


async def test_acr_values_a_password_cannot_meet_steer_a_citizen_with_a_passkey_to_it(
    app: FastAPI,
    web: httpx.AsyncClient,
    world: dict[str, str],
    database: Database,
    settings: Settings,
) -> None:
    from authlib.common.security import generate_token

    authenticator = SoftAuthenticator()
    await add_passkey(database, settings, await account_id_of(database), authenticator)
    await code_flow(app, web, world)  # signed in with the password
    rp = rp_client(app, world)
    verifier, nonce = generate_token(64), generate_token(20)
    url, _ = rp.create_authorization_url(
        "/authorize", code_verifier=verifier, nonce=nonce, acr_values=PASSKEY_ACR
    )
    asked = await web.get(url.replace("http://testserver", ""))
    assert asked.headers["location"].startswith("/login?")
    page = await web.get(asked.headers["location"])
    assert 'id="passkey-asked"' in page.text
    signed_in = await passkey_sign_in(
        web, form_field(page.text, "csrf"), authenticator, req=form_field(page.text, "req")
    )
    assert signed_in.status_code == 200, signed_in.text
    final = await sign_in(web, signed_in.json()["redirect"])
    token = await rp.fetch_token(
        "/token", authorization_response=final.headers["location"], code_verifier=verifier
    )
    claims = await validate_id_token(web, settings, world, dict(token), nonce)
    assert claims["acr"] == PASSKEY_ACR
    assert claims["amr"] == ["hwk", "user"]


async def test_the_sign_in_page_does_not_steer_to_a_passkey_when_no_acr_asks_for_one(
    app: FastAPI, web: httpx.AsyncClient, world: dict[str, str]
) -> None:
    rp = rp_client(app, world)
    url, _ = rp.create_authorization_url("/authorize", code_verifier="p" * 50)
    asked = await web.get(url.replace("http://testserver", ""))
    page = await web.get(asked.headers["location"])
    assert 'id="passkey-asked"' not in page.text


async def test_acr_values_beyond_reach_continue_after_the_sign_in_at_the_level_reached(
    app: FastAPI, web: httpx.AsyncClient, world: dict[str, str], settings: Settings
) -> None:
    _, token, nonce = await code_flow(app, web, world, acr_values=PASSKEY_ACR)
    claims = await validate_id_token(web, settings, world, token, nonce)
    assert claims["acr"] == "urn:vn:registry:loa:1:pwd"


async def test_acr_values_beyond_reach_ask_a_signed_in_citizen_for_no_new_sign_in(
    app: FastAPI, web: httpx.AsyncClient, world: dict[str, str]
) -> None:
    await code_flow(app, web, world)
    rp = rp_client(app, world)
    url, _ = rp.create_authorization_url(
        "/authorize", code_verifier="q" * 50, acr_values=PASSKEY_ACR
    )
    response = await web.get(url.replace("http://testserver", ""))
    assert "code" in query_of(response.headers["location"])


async def test_an_essential_acr_the_sign_in_does_not_meet_is_unmet_authentication_requirements(
    app: FastAPI, web: httpx.AsyncClient, world: dict[str, str], settings: Settings
) -> None:
    rp = rp_client(app, world)
    wanted = {"id_token": {"acr": {"essential": True, "values": [PASSKEY_ACR]}}}
    url, state = rp.create_authorization_url(
        "/authorize", code_verifier="e" * 50, claims=json.dumps(wanted)
    )
    final = await sign_in(web, url.replace("http://testserver", ""))
    assert final.status_code == 303
    got = query_of(final.headers["location"])
    assert got["error"] == "unmet_authentication_requirements"
    assert got["state"] == state
    assert got["iss"] == settings.issuer


async def test_a_login_hint_naming_someone_else_continues_as_who_signed_in(
    app: FastAPI, web: httpx.AsyncClient, world: dict[str, str], settings: Settings
) -> None:
    rp, token, nonce = await code_flow(app, web, world, login_hint=OTHER_CITIZEN)
    await validate_id_token(web, settings, world, token, nonce)
    assert (await rp.get("/userinfo")).json()["name"] == "Nguyễn Thị Minh Anh"


async def test_a_staff_sign_in_for_a_service_is_access_denied_not_asked_again(
    app: FastAPI,
    web: httpx.AsyncClient,
    world: dict[str, str],
    database: Database,
    settings: Settings,
) -> None:
    await make_staff(database, settings)
    rp = rp_client(app, world)
    url, state = rp.create_authorization_url("/authorize", code_verifier="s" * 50)
    final = await sign_in(
        web, url.replace("http://testserver", ""), login=STAFF_USERNAME, password=STAFF_PASSWORD
    )
    got = query_of(final.headers["location"])
    assert got["error"] == "access_denied"
    assert got["state"] == state


async def test_the_login_page_speaks_vietnamese_by_default_and_english_on_request(
    app: FastAPI, web: httpx.AsyncClient, world: dict[str, str]
) -> None:
    rp = rp_client(app, world)
    url, _ = rp.create_authorization_url("/authorize", code_verifier="l" * 50)
    page = await web.get((await web.get(url.replace("http://testserver", ""))).headers["location"])
    assert "Đăng nhập" in page.text
    assert 'lang="vi"' in page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    url, _ = rp.create_authorization_url(
        "/authorize", code_verifier="l" * 50, ui_locales="en-GB vi"
    )
    page = await web.get((await web.get(url.replace("http://testserver", ""))).headers["location"])
    assert "Sign in" in page.text
    assert 'lang="en"' in page.text


async def test_the_login_page_names_the_service_from_the_signed_request_alone(
    app: FastAPI, web: httpx.AsyncClient, world: dict[str, str], database: Database
) -> None:
    rp = rp_client(app, world)
    url, _ = rp.create_authorization_url("/authorize", code_verifier="l" * 50)
    login = (await web.get(url.replace("http://testserver", ""))).headers["location"]
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", seen)
    try:
        page = await web.get(login)
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", seen)
    assert page.status_code == 200
    assert "<strong>Cổng dịch vụ công</strong>" in page.text
    assert statements == []  # no transaction for the page: the name came signed


@pytest.mark.postgresql_only  # the driver-level read is PostgreSQL's
async def test_authorize_sends_a_new_browser_to_sign_in_without_a_transaction(
    app: FastAPI, web: httpx.AsyncClient, world: dict[str, str], database: Database
) -> None:
    rp = rp_client(app, world)
    url, _ = rp.create_authorization_url("/authorize", code_verifier="l" * 50)
    sent: list[str] = []
    opened: list[Any] = []

    def log_queries(dbapi_connection: Any, _record: Any) -> None:
        # asyncpg's query logger sees the simple queries (BEGIN, COMMIT, ROLLBACK) on the
        # connections opened from here on.
        opened.append(dbapi_connection)
        dbapi_connection.driver_connection.add_query_logger(lambda q: sent.append(q.query))

    event.listen(database.engine.sync_engine, "connect", log_queries)
    await database.engine.dispose()  # so the request's connection is a new, logged one
    try:
        response = await web.get(url.replace("http://testserver", ""))
    finally:
        event.remove(database.engine.sync_engine, "connect", log_queries)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?")
    assert opened  # the client was read on a new connection, whose queries were logged
    # Its one statement ran alone: no BEGIN and no COMMIT (nothing was written).
    assert sent == []


async def test_the_token_request_reads_the_code_its_grant_and_account_in_one_statement(
    app: FastAPI, web: httpx.AsyncClient, world: dict[str, str], database: Database
) -> None:
    from authlib.common.security import generate_token

    rp = rp_client(app, world)
    verifier = generate_token(64)
    url, _ = rp.create_authorization_url("/authorize", code_verifier=verifier)
    callback = (await sign_in(web, url.replace("http://testserver", ""))).headers["location"]
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(" ".join(statement.split()))

    event.listen(database.engine.sync_engine, "before_cursor_execute", seen)
    try:
        token = await rp.fetch_token(
            "/token", authorization_response=callback, code_verifier=verifier
        )
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", seen)
    assert "id_token" in token
    selects = [s for s in statements if s.startswith("SELECT")]
    code_reads = [s for s in selects if "FROM authorization_code" in s]
    assert len(code_reads) == 1
    assert "JOIN oauth_grant" in code_reads[0] and "JOIN account" in code_reads[0]
    # Neither the grant nor the account is read again on its own.
    assert not [s for s in selects if "FROM oauth_grant" in s or "FROM account" in s]


async def test_a_login_without_the_csrf_token_is_refused(
    app: FastAPI, web: httpx.AsyncClient, world: dict[str, str]
) -> None:
    rp = rp_client(app, world)
    url, _ = rp.create_authorization_url("/authorize", code_verifier="l" * 50)
    login = (await web.get(url.replace("http://testserver", ""))).headers["location"]
    page = await web.get(login)
    from tests.identity.factories import PASSWORD, form_field

    response = await web.post(
        "/login",
        data={
            "req": form_field(page.text, "req"),
            "login": CITIZEN_ID,
            "password": PASSWORD,
            "csrf": "0" * 64,
        },
    )
    assert response.status_code == 400
    assert "registry_session" not in response.headers.get("set-cookie", "")


async def test_the_claims_parameter_releases_only_claims_a_granted_scope_covers(
    app: FastAPI, web: httpx.AsyncClient, world: dict[str, str], settings: Settings
) -> None:
    claims = json.dumps(
        {
            "id_token": {"birthdate": None, "national_id": {"essential": True}},
            "userinfo": {"gender": None},
        }
    )
    rp, token, nonce = await code_flow(
        app, web, world, scope="openid birthdate gender", claims=claims
    )
    id_claims = await validate_id_token(web, settings, world, token, nonce)
    assert id_claims["birthdate"] == "2003-05-14"
    assert "national_id" not in id_claims  # the client is not allowed that scope
    userinfo = (await rp.get("/userinfo")).json()
    assert set(userinfo) == {"sub", "birthdate", "gender"}


async def test_discovery_and_jwks(web: httpx.AsyncClient, settings: Settings) -> None:
    meta = (await web.get("/.well-known/openid-configuration")).json()
    assert meta["issuer"] == settings.issuer
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert set(meta["id_token_signing_alg_values_supported"]) == {"RS256", "ES256"}
    jwks = (await web.get("/jwks")).json()
    assert {k["alg"] for k in jwks["keys"]} >= {"RS256", "ES256"}
    assert all("d" not in k for k in jwks["keys"])  # never a private part


async def test_discovery_advertises_the_scopes_a_relying_party_can_ask_for(
    web: httpx.AsyncClient,
) -> None:
    meta = (await web.get("/.well-known/openid-configuration")).json()
    assert meta["scopes_supported"] == [
        "openid",
        "profile",
        "birthdate",
        "gender",
        "address",
        "national_id",
        "offline_access",
        "staff",  # for first-party clients only: officials' integrations
    ]


async def test_an_access_token_is_active_until_it_is_revoked(
    app: FastAPI, web: httpx.AsyncClient, world: dict[str, str]
) -> None:
    rp, token, _ = await code_flow(app, web, world)
    auth = (world["client_id"], world["secret"])
    active = (
        await web.post("/introspect", data={"token": token["access_token"]}, auth=auth)
    ).json()
    assert active["active"] is True
    assert active["client_id"] == world["client_id"]
    assert (
        await web.post("/revoke", data={"token": token["access_token"]}, auth=auth)
    ).status_code == 200
    gone = (await web.post("/introspect", data={"token": token["access_token"]}, auth=auth)).json()
    assert gone == {"active": False}


async def test_a_revoked_refresh_token_refreshes_nothing(
    app: FastAPI, web: httpx.AsyncClient, world: dict[str, str]
) -> None:
    _, token, _ = await code_flow(app, web, world)
    auth = (world["client_id"], world["secret"])
    assert (
        await web.post(
            "/revoke",
            data={"token": token["refresh_token"], "token_type_hint": "refresh_token"},
            auth=auth,
        )
    ).status_code == 200
    refreshed = await web.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=auth,
    )
    assert refreshed.json()["error"] == "invalid_grant"


async def test_introspection_with_a_wrong_client_secret_is_401_invalid_client(
    web: httpx.AsyncClient, world: dict[str, str]
) -> None:
    wrong = await web.post("/introspect", data={"token": "x"}, auth=(world["client_id"], "nope"))
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    assert wrong.headers["www-authenticate"].startswith("Basic")


async def test_rp_initiated_logout_ends_the_session(
    app: FastAPI, web: httpx.AsyncClient, world: dict[str, str]
) -> None:
    from tests.identity.factories import form_field

    _, token, _ = await code_flow(app, web, world)
    page = await web.get(
        "/logout",
        params={
            "id_token_hint": token["id_token"],
            "post_logout_redirect_uri": RP_LOGOUT,
            "state": "z",
        },
    )
    assert page.status_code == 200
    done = await web.post(
        "/logout",
        data={
            "csrf": form_field(page.text, "csrf"),
            "id_token_hint": token["id_token"],
            "post_logout_redirect_uri": RP_LOGOUT,
            "state": "z",
        },
    )
    assert done.status_code == 303
    assert done.headers["location"] == RP_LOGOUT + "?state=z"
    rp = rp_client(app, world)
    url, _ = rp.create_authorization_url("/authorize", code_verifier="o" * 50, prompt="none")
    again = await web.get(url.replace("http://testserver", ""))
    assert query_of(again.headers["location"])["error"] == "login_required"


async def test_a_logout_to_an_unregistered_uri_is_a_400(
    app: FastAPI, web: httpx.AsyncClient, world: dict[str, str]
) -> None:
    await code_flow(app, web, world)
    bad = await web.get("/logout", params={"post_logout_redirect_uri": "https://evil.example/"})
    assert bad.status_code == 400


async def test_a_sign_out_revokes_the_refresh_tokens_of_its_session_without_offline_access(
    app: FastAPI, web: httpx.AsyncClient, world: dict[str, str]
) -> None:
    rp, token, _ = await code_flow(app, web, world)
    page = await web.get("/logout", params={"client_id": world["client_id"]})
    done = await web.post("/logout", data={"csrf": form_field(page.text, "csrf")})
    assert done.status_code == 200
    refused = await rp.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=(world["client_id"], world["secret"]),
    )
    assert refused.json()["error"] == "invalid_grant"
