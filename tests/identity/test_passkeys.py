"""Passkeys of accounts (identity/passkeys.py and its HTTP surface), driven by the software
authenticator of tests/identity/authenticator.py: registration, discoverable sign-in, single-use
and expiring ceremonies, the signature counter, rename and removal, and the ceremonies' CSRF.
"""

from __future__ import annotations

import asyncio
import json
import math
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fido2.utils import websafe_encode
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from core.clock import utcnow
from core.db import Database
from core.errors import ValidationFailed
from core.settings import Settings
from identity import accounts, passkeys
from identity import repository as repo
from identity.models import Account, Passkey, WebAuthnChallenge
from identity.webauthn import PasskeyCounterError, PasskeyInvalid, PasskeyServer
from registry.app import create_app
from tests.auth import BearerTable, bearer
from tests.http import asgi_client
from tests.identity.authenticator import SoftAuthenticator
from tests.identity.factories import (
    CITIZEN_ID,
    OTHER_CITIZEN,
    add_passkey,
    browser_csrf,
    make_account,
    make_citizen,
    make_staff,
    passkey_sign_in,
)

CITIZEN_TOKEN = "tok-citizen"
OTHER_TOKEN = "tok-other-citizen"


@pytest.fixture
async def account_id(database: Database, settings: Settings) -> str:
    """A citizen with an electronic identity (no passkey yet)."""
    await make_citizen(database)
    return await make_account(database, settings)


@pytest.fixture
def server(settings: Settings) -> PasskeyServer:
    return PasskeyServer(settings)


async def passkey_rows(database: Database) -> list[Passkey]:
    async with database.unit_of_work() as session:
        found = await session.scalars(select(Passkey).order_by(Passkey.created_at, Passkey.id))
        return list(found.all())


async def events(database: Database, action: str) -> list[dict[str, Any]]:
    async with database.unit_of_work() as session:
        rows = await session.execute(
            text(
                "SELECT actor_type, actor_id, subject, outcome, detail FROM audit_event "
                "WHERE action = :a ORDER BY id"
            ),
            {"a": action},
        )
        return [dict(r._mapping) for r in rows]


async def complete_registration(
    database: Database,
    server: PasskeyServer,
    account_id: str,
    handle: str,
    credential: dict[str, Any],
    name: str = "Điện thoại",
) -> Passkey:
    """Finish a registration ceremony in its own unit of work (committed unless it raises)."""
    async with database.unit_of_work() as session:
        account = await repo.account_by_id(session, account_id)
        assert account is not None
        return await passkeys.complete_registration(
            session, server, account, handle=handle, credential=credential, name=name
        )


async def complete_login(
    database: Database, server: PasskeyServer, handle: str, credential: dict[str, Any]
) -> Account:
    """Finish a sign-in ceremony in its own unit of work (committed unless it raises)."""
    async with database.unit_of_work() as session:
        return await passkeys.complete_login(session, server, handle=handle, credential=credential)


async def sign_in(
    database: Database, server: PasskeyServer, authenticator: SoftAuthenticator, **get: Any
) -> Account:
    """A complete discoverable sign-in through identity.passkeys, committed."""
    async with database.unit_of_work() as session:
        handle, options = await passkeys.begin_login(
            session, server, purge=passkeys.ChallengePurge()
        )
    return await complete_login(database, server, handle, authenticator.get(options, **get))


# ------------------------------------------------------------------------------ registration


async def begin(
    database: Database, server: PasskeyServer, account_id: str
) -> tuple[str, dict[str, Any]]:
    """Begin a passkey registration for the account; the challenge's handle and the options."""
    async with database.unit_of_work() as session:
        account = await repo.account_by_id(session, account_id)
        assert account is not None
        return await passkeys.begin_registration(
            session, server, account, purge=passkeys.ChallengePurge(), auth_methods=("hwk",)
        )


async def register_named(
    database: Database, server: PasskeyServer, account_id: str, authenticator: SoftAuthenticator
) -> Passkey:
    """Register the authenticator's passkey under a name with extra spaces; the stored passkey."""
    handle, options = await begin(database, server, account_id)
    async with database.unit_of_work() as session:
        account = await repo.account_by_id(session, account_id)
        assert account is not None
        return await passkeys.complete_registration(
            session,
            server,
            account,
            handle=handle,
            credential=authenticator.create(options),
            name="  Điện   thoại  của tôi ",
        )


async def test_registration_options_name_the_citizen_under_a_random_user_handle(
    database: Database, server: PasskeyServer, account_id: str
) -> None:
    _, options = await begin(database, server, account_id)
    # The user handle is the account's random id, never the ID number (WebAuthn 3 14.6.1).
    assert options["user"]["id"] == websafe_encode(uuid.UUID(account_id).bytes)
    assert options["user"]["name"] == CITIZEN_ID
    assert options["excludeCredentials"] == []


async def test_registration_stores_a_named_passkey(
    database: Database, server: PasskeyServer, account_id: str
) -> None:
    authenticator = SoftAuthenticator()
    passkey = await register_named(database, server, account_id, authenticator)
    async with database.unit_of_work() as session:
        row = await session.get(Passkey, passkey.id)
        assert row is not None
        assert row.account_id == account_id
        assert row.name == "Điện thoại của tôi"
        assert row.user_handle == uuid.UUID(account_id).bytes
        assert row.credential_id == authenticator.credential_id
        assert row.sign_count == 0
        assert row.transports == "hybrid internal"
        assert row.last_used_at is None


async def test_registration_is_recorded_about_the_citizen(
    database: Database, server: PasskeyServer, account_id: str
) -> None:
    await register_named(database, server, account_id, SoftAuthenticator())
    assert await events(database, "identity.passkey.add") == [
        {
            "actor_type": "citizen",
            "actor_id": CITIZEN_ID,
            "subject": CITIZEN_ID,
            "outcome": "granted",
            "detail": None,
        }
    ]


async def test_a_second_registration_excludes_the_first_and_refuses_a_duplicate(
    database: Database, settings: Settings, server: PasskeyServer, account_id: str
) -> None:
    first = SoftAuthenticator()
    await add_passkey(database, settings, account_id, first)
    async with database.unit_of_work() as session:
        account = await repo.account_by_id(session, account_id)
        assert account is not None
        handle, options = await passkeys.begin_registration(
            session, server, account, purge=passkeys.ChallengePurge(), auth_methods=("hwk",)
        )
    assert options["excludeCredentials"] == [
        {"type": "public-key", "id": websafe_encode(first.credential_id)}
    ]
    # An authenticator that ignores excludeCredentials offers the same credential again.
    with pytest.raises(PasskeyInvalid, match="already registered"):
        await complete_registration(database, server, account_id, handle, first.create(options))


@pytest.mark.parametrize("name", ["", "   ", "x" * 65, None, 7])
async def test_a_passkey_needs_a_name(
    database: Database, server: PasskeyServer, account_id: str, name: Any
) -> None:
    async with database.unit_of_work() as session:
        account = await repo.account_by_id(session, account_id)
        assert account is not None
        handle, options = await passkeys.begin_registration(
            session, server, account, purge=passkeys.ChallengePurge(), auth_methods=("hwk",)
        )
        with pytest.raises(ValidationFailed):
            await passkeys.complete_registration(
                session,
                server,
                account,
                handle=handle,
                credential=SoftAuthenticator().create(options),
                name=name,
            )


async def test_a_registration_ceremony_belongs_to_the_account_that_began_it(
    database: Database, settings: Settings, server: PasskeyServer, account_id: str
) -> None:
    staff_id = await make_staff(database, settings)
    async with database.unit_of_work() as session:
        citizen = await repo.account_by_id(session, account_id)
        assert citizen is not None
        handle, options = await passkeys.begin_registration(
            session, server, citizen, purge=passkeys.ChallengePurge(), auth_methods=("hwk",)
        )
    stolen = SoftAuthenticator().create(options)
    with pytest.raises(PasskeyInvalid, match="another sign-in"):
        await complete_registration(database, server, staff_id, handle, stolen)
    assert await passkey_rows(database) == []


# ------------------------------------------------------------------------------ sign-in


async def test_discoverable_sign_in_returns_the_account_and_updates_the_passkey(
    database: Database, settings: Settings, server: PasskeyServer, account_id: str
) -> None:
    authenticator = SoftAuthenticator()
    passkey_id = await add_passkey(database, settings, account_id, authenticator)
    async with database.unit_of_work() as session:
        handle, options = await passkeys.begin_login(
            session, server, purge=passkeys.ChallengePurge()
        )
    assert "allowCredentials" not in options  # discoverable: nobody types anything
    before = utcnow()
    async with database.unit_of_work() as session:
        account = await passkeys.complete_login(
            session, server, handle=handle, credential=authenticator.get(options, step=3)
        )
        assert account.id == account_id
        assert account.citizen_id == CITIZEN_ID
    async with database.unit_of_work() as session:
        row = await session.get(Passkey, passkey_id)
        assert row is not None
        assert row.sign_count == 3
        assert row.last_used_at is not None
        earliest = before - timedelta(seconds=1)  # a clock bound on the stored instant
        assert earliest <= row.last_used_at <= utcnow()


async def test_a_sign_in_ceremony_is_single_use(
    database: Database, settings: Settings, server: PasskeyServer, account_id: str
) -> None:
    authenticator = SoftAuthenticator()
    await add_passkey(database, settings, account_id, authenticator)
    async with database.unit_of_work() as session:
        handle, options = await passkeys.begin_login(
            session, server, purge=passkeys.ChallengePurge()
        )
    async with database.unit_of_work() as session:
        await passkeys.complete_login(
            session, server, handle=handle, credential=authenticator.get(options)
        )
    # A fresh, validly signed assertion for the same challenge: the handle is spent.
    with pytest.raises(PasskeyInvalid, match="unknown or expired"):
        await complete_login(database, server, handle, authenticator.get(options))


async def test_a_registration_ceremony_is_single_use(
    database: Database, server: PasskeyServer, account_id: str
) -> None:
    async with database.unit_of_work() as session:
        account = await repo.account_by_id(session, account_id)
        assert account is not None
        handle, options = await passkeys.begin_registration(
            session, server, account, purge=passkeys.ChallengePurge(), auth_methods=("hwk",)
        )
        await passkeys.complete_registration(
            session,
            server,
            account,
            handle=handle,
            credential=SoftAuthenticator().create(options),
            name="one",
        )
    again = SoftAuthenticator().create(options)
    with pytest.raises(PasskeyInvalid, match="unknown or expired"):
        await complete_registration(database, server, account_id, handle, again, "two")
    assert [p.name for p in await passkey_rows(database)] == ["one"]


async def test_a_ceremony_cannot_change_purpose(
    database: Database, settings: Settings, server: PasskeyServer, account_id: str
) -> None:
    authenticator = SoftAuthenticator()
    await add_passkey(database, settings, account_id, authenticator)
    async with database.unit_of_work() as session:
        login_handle, login_options = await passkeys.begin_login(
            session, server, purge=passkeys.ChallengePurge()
        )
        account = await repo.account_by_id(session, account_id)
        assert account is not None
        register_handle, register_options = await passkeys.begin_registration(
            session, server, account, purge=passkeys.ChallengePurge(), auth_methods=("hwk",)
        )
    asserted = authenticator.get(register_options)
    with pytest.raises(PasskeyInvalid):
        await complete_login(database, server, register_handle, asserted)
    created = SoftAuthenticator().create(
        register_options | {"challenge": login_options["challenge"]}
    )
    with pytest.raises(PasskeyInvalid):
        await complete_registration(database, server, account_id, login_handle, created)


async def test_expired_ceremonies_are_dropped_by_a_begin_at_most_every_interval(
    database: Database, server: PasskeyServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    purge = passkeys.ChallengePurge()  # the app's

    async def begin_and_count() -> tuple[int, int]:
        async with database.unit_of_work() as session:
            await passkeys.begin_login(session, server, purge=purge)
        async with database.unit_of_work() as session:
            stamps = (await session.execute(select(WebAuthnChallenge.expires_at))).scalars().all()
        now = utcnow()
        return len(stamps), sum(1 for at in stamps if at <= now)

    # No timing: the interval is endless until the test makes the next purge due.
    monkeypatch.setattr(passkeys, "PURGE_INTERVAL", math.inf)
    assert await begin_and_count() == (1, 0)  # the app's first begin purged (nothing)
    async with database.unit_of_work() as session:
        await session.execute(
            text("UPDATE webauthn_challenge SET expires_at = :t"),
            {"t": utcnow() - timedelta(seconds=1)},
        )
    # Within the interval a begin does not purge: the expired one stays (a take refuses it).
    assert await begin_and_count() == (2, 1)
    monkeypatch.setattr(passkeys, "PURGE_INTERVAL", 0.0)
    assert await begin_and_count() == (2, 0)  # the next due purge dropped it


@pytest.mark.parametrize("purpose", ["authenticate", "register"])
async def test_an_expired_ceremony_is_refused(
    database: Database, settings: Settings, server: PasskeyServer, account_id: str, purpose: str
) -> None:
    authenticator = SoftAuthenticator()
    if purpose == "authenticate":
        await add_passkey(database, settings, account_id, authenticator)
    async with database.unit_of_work() as session:
        account = await repo.account_by_id(session, account_id)
        assert account is not None
        if purpose == "authenticate":
            handle, options = await passkeys.begin_login(
                session, server, purge=passkeys.ChallengePurge()
            )
        else:
            handle, options = await passkeys.begin_registration(
                session, server, account, purge=passkeys.ChallengePurge(), auth_methods=("hwk",)
            )
    async with database.unit_of_work() as session:
        await session.execute(
            text("UPDATE webauthn_challenge SET expires_at = :t"),
            {"t": utcnow() - timedelta(seconds=1)},
        )
    if purpose == "authenticate":
        with pytest.raises(PasskeyInvalid, match="expired"):
            await complete_login(database, server, handle, authenticator.get(options))
    else:
        created = authenticator.create(options)
        with pytest.raises(PasskeyInvalid, match="expired"):
            await complete_registration(database, server, account_id, handle, created)


async def test_a_counter_regression_is_refused_and_changes_nothing(
    database: Database, settings: Settings, server: PasskeyServer, account_id: str
) -> None:
    """A cloned authenticator replays a lower counter (WebAuthn 3 6.1.1)."""
    authenticator = SoftAuthenticator()
    passkey_id = await add_passkey(database, settings, account_id, authenticator)
    await sign_in(database, server, authenticator, step=5)
    async with database.unit_of_work() as session:
        row = await session.get(Passkey, passkey_id)
        assert row is not None
        seen = (row.sign_count, row.last_used_at)
    assert seen[0] == 5
    clone = SoftAuthenticator(
        key=authenticator.key,
        credential_id=authenticator.credential_id,
        counter=2,
        user_handle=authenticator.user_handle,
    )
    for step in (1, 3):  # 3 (lower) and 5 (equal): neither is an increase
        clone.counter = 2
        with pytest.raises(PasskeyCounterError):
            await sign_in(database, server, clone, step=step)
    async with database.unit_of_work() as session:
        row = await session.get(Passkey, passkey_id)
        assert row is not None
        assert (row.sign_count, row.last_used_at) == seen
    # The genuine authenticator, counting on, still signs in.
    assert (await sign_in(database, server, authenticator)).id == account_id


async def test_a_removed_passkey_cannot_sign_in(
    database: Database, settings: Settings, server: PasskeyServer, account_id: str
) -> None:
    authenticator = SoftAuthenticator()
    passkey_id = await add_passkey(database, settings, account_id, authenticator)
    async with database.unit_of_work() as session:
        account = await repo.account_by_id(session, account_id)
        assert account is not None
        await passkeys.remove(session, account, passkey_id, auth_methods=("hwk",))
    with pytest.raises(PasskeyInvalid, match="not registered"):
        await sign_in(database, server, authenticator)


async def test_a_locked_identity_cannot_sign_in_with_its_passkey(
    database: Database, settings: Settings, server: PasskeyServer, account_id: str
) -> None:
    authenticator = SoftAuthenticator()
    await add_passkey(database, settings, account_id, authenticator)
    async with database.unit_of_work() as session:
        account = await repo.account_by_id(session, account_id)
        assert account is not None
        await accounts.lock(session, account)
    with pytest.raises(accounts.AccountLocked):
        await sign_in(database, server, authenticator)


@pytest.mark.postgresql_only
async def test_two_concurrent_completions_of_one_ceremony_sign_in_once(
    database: Database, settings: Settings, server: PasskeyServer, account_id: str
) -> None:
    """The ceremony row is taken under a lock: the second request waits, then finds nothing."""
    authenticator = SoftAuthenticator()
    await add_passkey(database, settings, account_id, authenticator)
    async with database.unit_of_work() as session:
        handle, options = await passkeys.begin_login(
            session, server, purge=passkeys.ChallengePurge()
        )
    # Synced passkeys report a counter of 0, so only the single-use handle stops the replay.
    first, second = authenticator.get(options, step=0), authenticator.get(options, step=0)

    async def complete(credential: dict[str, Any], started: asyncio.Event) -> str:
        async with database.unit_of_work() as session:
            account = await passkeys.complete_login(
                session, server, handle=handle, credential=credential
            )
            started.set()
            await asyncio.sleep(0.3)  # hold the transaction open while the other one runs
            return account.id

    one_started, two_started = asyncio.Event(), asyncio.Event()
    task_one = asyncio.create_task(complete(first, one_started))
    await one_started.wait()
    await asyncio.sleep(0.05)
    task_two = asyncio.create_task(complete(second, two_started))
    results = await asyncio.gather(task_one, task_two, return_exceptions=True)
    assert results[0] == account_id
    assert isinstance(results[1], PasskeyInvalid), results[1]


# ------------------------------------------------------------------------------ staff


async def test_staff_keep_at_least_one_passkey(database: Database, settings: Settings) -> None:
    staff_id = await make_staff(database, settings)
    first = await add_passkey(database, settings, staff_id, SoftAuthenticator(), name="YubiKey")
    async with database.unit_of_work() as session:
        staff = await repo.account_by_id(session, staff_id)
        assert staff is not None
        with pytest.raises(ValidationFailed, match="at least one passkey"):
            await passkeys.remove(session, staff, first, auth_methods=("hwk",))
    second = await add_passkey(database, settings, staff_id, SoftAuthenticator(), name="Laptop")
    async with database.unit_of_work() as session:
        staff = await repo.account_by_id(session, staff_id)
        assert staff is not None
        await passkeys.remove(session, staff, first, auth_methods=("hwk",))
    async with database.unit_of_work() as session:
        staff = await repo.account_by_id(session, staff_id)
        assert staff is not None
        with pytest.raises(ValidationFailed):
            await passkeys.remove(session, staff, second, auth_methods=("hwk",))
    assert [p.id for p in await passkey_rows(database)] == [second]


# ------------------------------------------------------------------------------ the HTTP API


@pytest.fixture
async def api(
    settings: Settings, database: Database, account_id: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with a bearer table: two citizens, each acting for themself."""
    await make_citizen(database, id_number=OTHER_CITIZEN, card_number=OTHER_CITIZEN)
    await make_account(database, settings, citizen_id=OTHER_CITIZEN)
    authenticator = BearerTable(
        {
            # Signed in with a passkey: only such a sign-in changes passkeys once there is one.
            CITIZEN_TOKEN: accounts.citizen_principal(CITIZEN_ID, amr=("hwk",)),
            OTHER_TOKEN: accounts.citizen_principal(OTHER_CITIZEN, amr=("hwk",)),
        }
    )
    async with asgi_client(
        create_app(settings, database=database, authenticator=authenticator)
    ) as c:
        yield c


async def test_my_passkeys_are_listed_without_key_material(
    api: httpx.AsyncClient, database: Database, settings: Settings, account_id: str
) -> None:
    passkey_id = await add_passkey(database, settings, account_id, SoftAuthenticator())
    listed = await api.get("/api/v1/me/passkeys", headers=bearer(CITIZEN_TOKEN))
    assert listed.status_code == 200
    [shown] = listed.json()
    assert shown["id"] == passkey_id
    assert shown["name"] == "Điện thoại"
    assert shown["last_used_at"] is None
    assert set(shown) == {"id", "name", "created_at", "last_used_at"}  # no key material


async def rename_mine(api: httpx.AsyncClient, passkey_id: str) -> httpx.Response:
    return await api.patch(
        f"/api/v1/me/passkeys/{passkey_id}",
        json={"name": " Máy tính  bảng "},
        headers=bearer(CITIZEN_TOKEN),
    )


async def remove_mine(api: httpx.AsyncClient, passkey_id: str) -> httpx.Response:
    return await api.delete(f"/api/v1/me/passkeys/{passkey_id}", headers=bearer(CITIZEN_TOKEN))


async def test_my_passkey_is_renamed_under_its_tidied_name(
    api: httpx.AsyncClient, database: Database, settings: Settings, account_id: str
) -> None:
    passkey_id = await add_passkey(database, settings, account_id, SoftAuthenticator())
    renamed = await rename_mine(api, passkey_id)
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Máy tính bảng"


async def test_my_removed_passkey_is_no_longer_listed(
    api: httpx.AsyncClient, database: Database, settings: Settings, account_id: str
) -> None:
    passkey_id = await add_passkey(database, settings, account_id, SoftAuthenticator())
    removed = await remove_mine(api, passkey_id)
    assert removed.status_code == 204
    assert (await api.get("/api/v1/me/passkeys", headers=bearer(CITIZEN_TOKEN))).json() == []


async def test_renaming_and_removing_my_passkey_are_recorded_about_me(
    api: httpx.AsyncClient, database: Database, settings: Settings, account_id: str
) -> None:
    passkey_id = await add_passkey(database, settings, account_id, SoftAuthenticator())
    await rename_mine(api, passkey_id)
    await remove_mine(api, passkey_id)
    for action in ("identity.passkey.rename", "identity.passkey.remove"):
        [event] = await events(database, action)
        assert (event["actor_id"], event["subject"]) == (CITIZEN_ID, CITIZEN_ID)


async def test_nobody_else_can_see_rename_or_remove_my_passkey(
    api: httpx.AsyncClient, database: Database, settings: Settings, account_id: str
) -> None:
    passkey_id = await add_passkey(database, settings, account_id, SoftAuthenticator())
    other = bearer(OTHER_TOKEN)
    assert (await api.get("/api/v1/me/passkeys", headers=other)).json() == []
    path = f"/api/v1/me/passkeys/{passkey_id}"
    renamed = await api.patch(path, json={"name": "mine now"}, headers=other)
    assert renamed.status_code == 404
    assert renamed.headers["content-type"] == "application/problem+json"
    assert (await api.delete(path, headers=other)).status_code == 404
    assert (await api.delete(path)).status_code == 401
    assert [p.name for p in await passkey_rows(database)] == ["Điện thoại"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": ""}, 422),
        ({"name": "x" * 65}, 422),
        ({"name": "   "}, 422),
        ({}, 422),
        ({"name": "ok", "extra": 1}, 422),
    ],
)
async def test_a_rename_needs_a_valid_name(
    api: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    account_id: str,
    body: dict[str, Any],
    status: int,
) -> None:
    passkey_id = await add_passkey(database, settings, account_id, SoftAuthenticator())
    response = await api.patch(
        f"/api/v1/me/passkeys/{passkey_id}", json=body, headers=bearer(CITIZEN_TOKEN)
    )
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"


# A NUL ("%00") is refused before the route (tests/registry/test_outside_text.py).
@pytest.mark.parametrize("passkey_id", ["no-such-passkey", "x" * 300, "%E2%80%AE"])
async def test_an_unknown_passkey_id_is_not_found(api: httpx.AsyncClient, passkey_id: str) -> None:
    for method in ("PATCH", "DELETE"):
        response = await api.request(
            method,
            "/api/v1/me/passkeys/" + passkey_id,
            json={"name": "n"},
            headers=bearer(CITIZEN_TOKEN),
        )
        assert response.status_code == 404, response.text


# ------------------------------------------------------------------------------ the ceremonies


def flipped(token: str) -> str:
    """The token with its last character changed."""
    return token[:-1] + ("1" if token[-1] == "0" else "0")


async def begin_login(web: httpx.AsyncClient, csrf: str) -> dict[str, Any]:
    begun = await web.post("/webauthn/login/begin", json={}, headers={"x-csrf-token": csrf})
    assert begun.status_code == 200, begun.text
    body: dict[str, Any] = begun.json()
    return body


@pytest.mark.parametrize(
    "path", ["/webauthn/login/begin", "/webauthn/login/complete", "/webauthn/register/begin"]
)
async def test_the_ceremonies_need_the_csrf_header(web: httpx.AsyncClient, path: str) -> None:
    body: dict[str, Any] = {}
    if path.endswith("complete"):
        body = {"challenge_id": "x", "credential": {}}
    no_cookie = await web.post(path, json=body, headers={"x-csrf-token": "0" * 64})
    csrf = await browser_csrf(web)
    missing = await web.post(path, json=body)
    wrong = await web.post(path, json=body, headers={"x-csrf-token": flipped(csrf)})
    for response in (no_cookie, missing, wrong):
        # Registration needs a session first (401); the sign-in endpoints refuse at once (403).
        expected = 401 if path.startswith("/webauthn/register") else 403
        assert response.status_code == expected, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert "challenge_id" not in response.text
    assert "X-CSRF-Token" in missing.json()["detail"] or path.startswith("/webauthn/register")
    ok = await web.post("/webauthn/login/begin", json={}, headers={"x-csrf-token": csrf})
    assert ok.status_code == 200
    assert ok.headers["cache-control"] == "no-store"
    assert set(ok.json()) == {"challenge_id", "options"}


async def test_a_passkey_sign_in_over_http_starts_a_session(
    web: httpx.AsyncClient, database: Database, settings: Settings, account_id: str
) -> None:
    authenticator = SoftAuthenticator()
    await add_passkey(database, settings, account_id, authenticator)
    csrf = await browser_csrf(web)
    response = await passkey_sign_in(web, csrf, authenticator)
    assert response.status_code == 200, response.text
    assert response.json() == {"redirect": "/account"}
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("registry_session=")
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    async with database.unit_of_work() as session:
        row = (await session.execute(text("SELECT amr, acr FROM login_session"))).one()
    assert tuple(row) == ("hwk user", "urn:vn:registry:loa:1:passkey")
    [event] = await events(database, "identity.login")
    assert event["outcome"] == "granted"
    assert json.loads(event["detail"]) == {"method": "passkey"}


async def test_a_replayed_http_sign_in_is_refused_and_recorded(
    web: httpx.AsyncClient, database: Database, settings: Settings, account_id: str
) -> None:
    authenticator = SoftAuthenticator()
    await add_passkey(database, settings, account_id, authenticator)
    csrf = await browser_csrf(web)
    begun = (
        await web.post("/webauthn/login/begin", json={}, headers={"x-csrf-token": csrf})
    ).json()
    body = {
        "challenge_id": begun["challenge_id"],
        "credential": authenticator.get(begun["options"]),
    }
    first = await web.post("/webauthn/login/complete", json=body, headers={"x-csrf-token": csrf})
    assert first.status_code == 200
    web.cookies.delete("registry_session")
    replay = await web.post("/webauthn/login/complete", json=body, headers={"x-csrf-token": csrf})
    assert replay.status_code == 400
    assert replay.json()["code"] == "passkey-invalid"
    assert "set-cookie" not in replay.headers
    outcomes = [e["outcome"] for e in await events(database, "identity.login")]
    assert outcomes == ["granted", "denied"]


# Control characters and surrogates are refused before the route, with a 422 naming where
# (tests/registry/test_outside_text.py); any other text reaches the ceremony.
TEXT = st.characters(exclude_categories=("Cc", "Cs"))


@hypothesis_settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    credential=st.dictionaries(
        st.sampled_from(["id", "rawId", "type", "response", "clientExtensionResults"]),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(TEXT, max_size=30),
            lambda inner: (
                st.lists(inner, max_size=3) | st.dictionaries(st.text(TEXT, max_size=12), inner)
            ),
            max_leaves=8,
        ),
    )
)
async def test_any_credential_at_login_complete_is_a_clean_400(
    web: httpx.AsyncClient, credential: dict[str, Any]
) -> None:
    csrf = await browser_csrf(web)
    begun = (
        await web.post("/webauthn/login/begin", json={}, headers={"x-csrf-token": csrf})
    ).json()
    response = await web.post(
        "/webauthn/login/complete",
        json={"challenge_id": begun["challenge_id"], "credential": credential},
        headers={"x-csrf-token": csrf},
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"].startswith("passkey-")
    assert (
        "set-cookie" not in response.headers
        or "registry_session" not in response.headers["set-cookie"]
    )
