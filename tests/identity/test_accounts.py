"""Accounts: enrolment levels, activation codes, sign-in throttling, locks, death, staff."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine
from dataclasses import replace
from datetime import date
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import text

from core.auth import Principal
from core.clock import utcnow
from core.db import Database
from core.errors import RegistryError
from core.settings import Settings
from identity import accounts, signin
from identity import repository as repo
from identity.accounts import IdentityContext
from identity.passwords import PasswordCheck, PasswordHasher
from registry.app import create_app
from tests.auth import BearerTable, bearer
from tests.faults import fail_audit_inserts
from tests.http import asgi_client
from tests.identity.factories import (
    CITIZEN_ID,
    OTHER_CITIZEN,
    PASSWORD,
    context,
    make_account,
    make_citizen,
    make_rp,
    sign_in,
)

OFFICIAL = Principal("official", "clerk-9", roles=frozenset({"official"}))
CITIZEN_TOKEN = "tok-citizen"


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


async def account_row(database: Database, citizen_id: str = CITIZEN_ID) -> dict[str, Any]:
    async with database.unit_of_work() as session:
        account = await repo.account_by_citizen(session, citizen_id)
        assert account is not None
        return repo.as_dict(account)


@pytest.fixture
async def api(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as c:
        yield c


def enrolment(**overrides: Any) -> dict[str, Any]:
    body = {
        "id_number": CITIZEN_ID,
        "full_name": "nguyễn thị  minh anh",
        "birth_date": "2003-05-14",
        "card_issue_date": "2021-06-01",
        "password": PASSWORD,
    }
    body.update(overrides)
    return body


async def test_level_1_enrolment_matches_declared_data_against_the_registry(
    api: httpx.AsyncClient, database: Database
) -> None:
    await make_citizen(database)
    response = await api.post("/api/v1/identity/enrol", json=enrolment())
    assert response.status_code == 201, response.text
    assert response.json() == {"id_number": CITIZEN_ID, "level": 1, "status": "active"}
    again = await api.post("/api/v1/identity/enrol", json=enrolment())
    assert again.status_code == 409
    assert [e["outcome"] for e in await events(database, "identity.enrol")] == ["granted"]


@pytest.mark.parametrize(
    "change",
    [
        {"full_name": "Nguyen Thi Minh Anh"},  # diacritics matter at enrolment
        {"birth_date": "2003-05-15"},
        {"card_issue_date": "2021-06-02"},
        {"id_number": "001303004513"},
    ],
)
async def test_a_mismatch_gets_one_answer_and_is_recorded(
    api: httpx.AsyncClient, database: Database, change: dict[str, Any]
) -> None:
    await make_citizen(database)
    response = await api.post("/api/v1/identity/enrol", json=enrolment(**change))
    assert response.status_code == 403
    assert response.json()["detail"] == "The details given do not match the registry's record."
    assert [e["outcome"] for e in await events(database, "identity.enrol")] == ["denied"]


async def test_enrolment_refuses_weak_passwords_with_a_pointer(
    api: httpx.AsyncClient, database: Database
) -> None:
    await make_citizen(database)
    for weak in ("short", "12345678", "QwertyUIOP", CITIZEN_ID, "x" * 129):
        response = await api.post("/api/v1/identity/enrol", json=enrolment(password=weak))
        assert response.status_code == 422, weak
        assert response.json()["errors"][0]["pointer"] == "#/password"
        assert weak not in response.text


async def test_a_partial_birth_date_matches_on_its_known_parts(
    api: httpx.AsyncClient, database: Database
) -> None:
    await make_citizen(database, birth_date="2003")
    response = await api.post("/api/v1/identity/enrol", json=enrolment(birth_date="2003-11-30"))
    assert response.status_code == 201


async def test_an_activation_code_raises_the_account_to_level_2_once(
    settings: Settings, database: Database
) -> None:
    app = create_app(settings, database=database, authenticator=BearerTable({"tok-o": OFFICIAL}))
    await make_citizen(database)
    await make_account(database, settings)
    async with asgi_client(app) as api:
        issued = await api.post(
            f"/api/v1/officials/citizens/{CITIZEN_ID}/activation-code", headers=bearer("tok-o")
        )
        assert issued.status_code == 201, issued.text
        code = issued.json()["code"]
        new_password = "một mật khẩu mới rất dài"
        body = {"id_number": CITIZEN_ID, "code": code.lower(), "password": new_password}
        done = await api.post("/api/v1/identity/activate", json=body)
        assert done.status_code == 200, done.text
        assert done.json()["level"] == 2
        reused = await api.post("/api/v1/identity/activate", json=body)
        assert reused.status_code == 403
        unknown = await api.post(
            "/api/v1/officials/citizens/001303999999/activation-code", headers=bearer("tok-o")
        )
        assert unknown.status_code == 404
    assert [e["outcome"] for e in await events(database, "identity.activate")] == [
        "granted",
        "denied",
    ]


async def test_an_expired_activation_code_is_refused(
    settings: Settings, database: Database
) -> None:
    await make_citizen(database)
    async with database.unit_of_work() as session:
        code, _ = await accounts.issue_activation_code(
            session, context(settings), official=OFFICIAL, citizen_id=CITIZEN_ID
        )
        await session.execute(text("UPDATE activation_code SET expires_at = '2000-01-01'"))
    with pytest.raises(Exception, match="not valid"):
        async with database.unit_of_work() as session:
            await accounts.activate(
                session,
                context(settings),
                citizen_id=CITIZEN_ID,
                code=code,
                password="một mật khẩu mới rất dài",
            )


async def failed_sign_in(database: Database, settings: Settings) -> RegistryError:
    """One sign-in with a wrong password (committed); the error it raised."""
    async with database.sessions() as session:
        with pytest.raises(RegistryError) as caught:
            await signin.password_login(
                session,
                context(settings),
                login=CITIZEN_ID,
                password="wrong password!",
                client_ip=None,
            )
        await session.commit()
    return caught.value


async def at_the_failure_limit(database: Database, settings: Settings) -> None:
    """A citizen with an electronic identity who has failed to sign in 100 times."""
    await make_citizen(database)
    await make_account(database, settings)
    async with database.unit_of_work() as session:
        await session.execute(text("UPDATE account SET failed_logins = 99"))
    await failed_sign_in(database, settings)


async def test_failed_sign_ins_back_off_past_the_threshold(
    settings: Settings, database: Database
) -> None:
    await make_citizen(database)
    await make_account(database, settings)
    for attempt in range(1, 8):
        error = await failed_sign_in(database, settings)
        row = await account_row(database)
        if attempt <= 5:
            assert error.status == 401
        # Past the backoff threshold every further attempt must wait first.
        if attempt >= signin.BACKOFF_AFTER:
            assert row["throttled_until"] is not None
        async with database.unit_of_work() as session:
            await session.execute(text("UPDATE account SET throttled_until = NULL"))


async def test_failed_sign_ins_at_the_limit_lock_the_account(
    settings: Settings, database: Database
) -> None:
    # The limit is 100, per NIST SP 800-63B.
    await at_the_failure_limit(database, settings)
    row = await account_row(database)
    assert row["status"] == "locked"
    assert row["lock_reason"] == "failures"


async def test_the_right_password_does_not_open_an_account_locked_by_failures(
    settings: Settings, database: Database
) -> None:
    await at_the_failure_limit(database, settings)
    # Even once the backoff has passed.
    async with database.unit_of_work() as session:
        await session.execute(text("UPDATE account SET throttled_until = NULL"))
    async with database.sessions() as session:
        with pytest.raises(accounts.AccountLocked):
            await signin.password_login(
                session, context(settings), login=CITIZEN_ID, password=PASSWORD, client_ip=None
            )


async def test_failures_per_address_are_limited(settings: Settings, database: Database) -> None:
    settings = settings.model_copy(update={"login_ip_failures_per_minute": 3})
    ctx = context(settings)
    statuses = []
    for _ in range(5):
        async with database.sessions() as session:
            try:
                await signin.password_login(
                    session,
                    ctx,
                    login="001303000001",
                    password="whatever it is",
                    client_ip="203.0.113.7",
                )
            except Exception as exc:  # noqa: BLE001
                statuses.append(exc.status)  # type: ignore[attr-defined]
                headers = getattr(exc, "headers", {})
            await session.commit()
    assert statuses == [401, 401, 401, 429, 429]
    assert int(headers["Retry-After"]) >= 1


async def wrong_sign_in(
    database: Database, ctx: IdentityContext, address: str, login: str = "001303000001"
) -> int:
    """A sign-in with a wrong password from ``address``, committed: its status."""
    async with database.sessions() as session:
        try:
            await signin.password_login(
                session, ctx, login=login, password="whatever it is", client_ip=address
            )
        except RegistryError as exc:
            await session.commit()
            return exc.status
        return 200


class HeldHasher(PasswordHasher):
    """The real argon2id check, held at its start until the test lets it go: a sign-in is
    then inside its password check, with its transaction open, for as long as the test says."""

    def __init__(self, held: int = 1) -> None:
        super().__init__(time_cost=5, memory_kib=7_168, parallelism=1)
        self.held = held
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self._inside = 0

    async def verify_async(self, stored_hash: str | None, password: str) -> PasswordCheck:
        self._inside += 1
        if self._inside >= self.held:
            self.entered.set()
        await self.release.wait()
        return await super().verify_async(stored_hash, password)


@pytest.mark.postgresql_only
async def test_sign_ins_from_one_address_do_not_wait_for_each_other(
    settings: Settings, database: Database
) -> None:
    # A carrier's NAT address is shared by many citizens and soon has a failure on record.
    # The address's failure row must not be locked across a sign-in's password check, or
    # every sign-in from the address queues behind the one before.
    await make_citizen(database)
    await make_citizen(database, id_number=OTHER_CITIZEN, card_number=OTHER_CITIZEN)
    await make_account(database, settings)
    await make_account(database, settings, citizen_id=OTHER_CITIZEN)
    address = "203.0.113.9"
    async with database.sessions() as session:
        with pytest.raises(RegistryError):
            await signin.password_login(
                session,
                context(settings),
                login=CITIZEN_ID,
                password="wrong password!",
                client_ip=address,
            )
        await session.commit()
    held = HeldHasher()
    slow_ctx = replace(context(settings), hasher=held)

    async def first() -> str:
        async with database.sessions() as session:
            account = await signin.password_login(
                session, slow_ctx, login=CITIZEN_ID, password=PASSWORD, client_ip=address
            )
            await session.commit()
            return account.citizen_id or ""

    async def second(session: Any) -> str:
        account = await signin.password_login(
            session, context(settings), login=OTHER_CITIZEN, password=PASSWORD, client_ip=address
        )
        await session.commit()
        return account.citizen_id or ""

    task = asyncio.create_task(first())
    try:
        await held.entered.wait()  # the first sign-in is inside its password check
        async with database.sessions() as session:
            pid = await session.scalar(text("SELECT pg_backend_pid()"))
            other = asyncio.create_task(second(session))
            # Until the second sign-in is done, PostgreSQL must never see it wait for a lock
            # (the first one's): the old code queued it there for as long as the first was held.
            while not other.done():
                async with database.unit_of_work() as probe:
                    waiting = await probe.scalar(
                        text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :p"),
                        {"p": pid},
                    )
                if waiting == "Lock":
                    held.release.set()  # let both finish before failing
                    await other
                    pytest.fail("the second sign-in waited for the first one's lock")
            assert await other == OTHER_CITIZEN
        assert not task.done()  # the second finished while the first was still checking
    finally:
        held.release.set()
    assert await task == CITIZEN_ID


@pytest.mark.postgresql_only
async def test_concurrent_failures_from_a_new_address_all_count(
    settings: Settings, database: Database
) -> None:
    # Every attempt reads "no failures yet" before any of them records one: the first
    # failures of an address must not collide (no 500), and each must count.
    attempts = 4
    held = HeldHasher(held=attempts)
    ctx = replace(context(settings), hasher=held)
    address = "198.51.100.23"

    tasks = [
        asyncio.create_task(wrong_sign_in(database, ctx, address, f"00130300000{n}"))
        for n in range(1, attempts + 1)
    ]
    await held.entered.wait()  # all of them are past the address check
    held.release.set()
    assert await asyncio.gather(*tasks) == [401] * attempts
    async with database.unit_of_work() as session:
        failures = await session.scalar(
            text("SELECT failures FROM login_throttle WHERE key = :k"), {"k": "ip:" + address}
        )
    assert failures == attempts


async def test_an_address_window_starts_again_after_a_minute(
    settings: Settings, database: Database
) -> None:
    settings = settings.model_copy(update={"login_ip_failures_per_minute": 2})
    ctx = context(settings)
    address = "192.0.2.44"

    def status() -> Coroutine[Any, Any, int]:
        return wrong_sign_in(database, ctx, address)

    assert [await status(), await status(), await status()] == [401, 401, 429]
    async with database.unit_of_work() as session:
        await session.execute(
            text("UPDATE login_throttle SET window_start = :t WHERE key = :k"),
            {"t": utcnow() - signin.ADDRESS_WINDOW, "k": "ip:" + address},
        )
    # The old window is over: this failure opens a new one, counted from one.
    assert await status() == 401
    async with database.unit_of_work() as session:
        row = (
            await session.execute(
                text("SELECT failures, window_start FROM login_throttle WHERE key = :k"),
                {"k": "ip:" + address},
            )
        ).one()
    assert row.failures == 1
    assert await status() == 401
    assert await status() == 429


async def test_a_login_in_other_digits_is_no_citizen_id_number(
    settings: Settings, database: Database
) -> None:
    await make_citizen(database)
    await make_account(database, settings)
    arabic_indic = "".join(chr(0x0660 + int(d)) for d in CITIZEN_ID)
    async with database.sessions() as session:
        with pytest.raises(RegistryError) as caught:
            await signin.password_login(
                session, context(settings), login=arabic_indic, password=PASSWORD, client_ip=None
            )
        await session.commit()
    assert caught.value.status == 401
    (event,) = await events(database, "identity.login")
    assert (event["actor_type"], event["subject"]) == ("system", None)


async def test_unknown_accounts_cost_the_same_argon2_work(settings: Settings) -> None:
    hasher = context(settings).hasher
    check = hasher.verify(None, "anything at all")
    assert check.ok is False


async def locked_by_the_citizen(
    settings: Settings, database: Database
) -> tuple[str, httpx.Response]:
    """A citizen with an electronic identity and a relying party, who then locked the identity
    through the API; the relying party's client_id and the answer to the lock."""
    await make_citizen(database)
    await make_account(database, settings)
    client_id, _ = await make_rp(database, settings)
    citizen = accounts.citizen_principal(CITIZEN_ID)
    app = create_app(
        settings, database=database, authenticator=BearerTable({CITIZEN_TOKEN: citizen})
    )
    async with asgi_client(app) as api:
        locked = await api.post("/api/v1/me/lock", headers=bearer(CITIZEN_TOKEN))
    return client_id, locked


async def test_a_citizen_locks_their_identity_and_the_lock_is_recorded(
    settings: Settings, database: Database
) -> None:
    _, locked = await locked_by_the_citizen(settings, database)
    assert locked.status_code == 200
    assert locked.json()["status"] == "locked"
    assert len(await events(database, "identity.lock")) == 1


async def test_a_locked_identity_is_refused_sign_in(settings: Settings, database: Database) -> None:
    client_id, _ = await locked_by_the_citizen(settings, database)
    app = create_app(settings, database=database)
    async with asgi_client(app) as web:
        final = await sign_in(
            web,
            "/authorize?"
            + httpx.QueryParams(
                {
                    "response_type": "code",
                    "client_id": client_id,
                    "redirect_uri": "https://rp.example.vn/callback",
                    "scope": "openid",
                    "code_challenge": "a" * 43,
                    "code_challenge_method": "S256",
                }
            ).__str__(),
        )
        assert final.status_code == 403
        assert "bị khóa" in final.text  # "locked", in Vietnamese


async def test_releasing_a_lock_needs_the_password(settings: Settings, database: Database) -> None:
    await locked_by_the_citizen(settings, database)
    app = create_app(settings, database=database)
    async with asgi_client(app) as web:
        wrong = await web.post(
            "/api/v1/identity/unlock",
            json={"id_number": CITIZEN_ID, "password": "not the password"},
        )
        assert wrong.status_code == 401


async def test_the_password_releases_a_lock_and_the_release_is_recorded(
    settings: Settings, database: Database
) -> None:
    await locked_by_the_citizen(settings, database)
    app = create_app(settings, database=database)
    async with asgi_client(app) as web:
        unlocked = await web.post(
            "/api/v1/identity/unlock", json={"id_number": CITIZEN_ID, "password": PASSWORD}
        )
        assert unlocked.status_code == 200
        assert unlocked.json()["status"] == "active"
    assert len(await events(database, "identity.unlock")) == 1


async def test_a_recorded_death_closes_the_identity(settings: Settings, database: Database) -> None:
    from registry import service as registry_service
    from registry.schemas import DeathReport

    await make_citizen(database)
    await make_account(database, settings)
    async with database.unit_of_work() as session:
        await registry_service.record_death(
            session,
            official=OFFICIAL,
            id_number=CITIZEN_ID,
            report=DeathReport(death_date=date(2026, 1, 2), legal_basis="Death certificate 1/2026"),
        )
    row = await account_row(database)
    assert row["status"] == "closed"
    assert row["lock_reason"] == "death"
    async with database.sessions() as session:
        with pytest.raises(accounts.AccountClosed):
            await signin.password_login(
                session, context(settings), login=CITIZEN_ID, password=PASSWORD, client_ip=None
            )


async def test_a_failing_audit_insert_means_no_enrolment(
    api: httpx.AsyncClient, database: Database, database_url: str
) -> None:
    await make_citizen(database)
    await fail_audit_inserts(database_url)
    response = await api.post("/api/v1/identity/enrol", json=enrolment())
    assert response.status_code == 503
    async with database.unit_of_work() as session:
        assert await repo.account_by_citizen(session, CITIZEN_ID) is None


async def test_staff_accounts_need_known_roles_and_sign_in_with_a_passkey_once_they_have_one(
    settings: Settings, database: Database
) -> None:
    ctx = context(settings)
    async with database.unit_of_work() as session:
        with pytest.raises(Exception, match="roles"):
            await accounts.create_staff(
                session,
                ctx,
                username="clerk",
                display_name="C",
                roles=("king",),
                password="a long staff password",
            )
    async with database.unit_of_work() as session:
        staff = await accounts.create_staff(
            session,
            ctx,
            username="clerk.hanoi",
            display_name="Trần Văn Bình",
            roles=("official",),
            password="a long staff password",
        )
        assert staff.passkey_required
    async with database.sessions() as session:
        account = await signin.password_login(
            session, ctx, login="clerk.hanoi", password="a long staff password", client_ip=None
        )
        assert account.kind == "staff"


async def test_behind_a_trusted_proxy_each_client_address_is_limited_apart(
    settings: Settings, database: Database
) -> None:
    # Every request reaches the app from one peer, the proxy (httpx's ASGI transport gives
    # 127.0.0.1). Unknown ID numbers, a new one each time: only the address limit applies.
    logins = iter(f"00130300{n:04d}" for n in range(1, 100))

    async def attempts(web: httpx.AsyncClient, *forwarded_for: str) -> list[int]:
        statuses = []
        for value in forwarded_for:
            response = await web.post(
                "/api/v1/identity/unlock",
                json={"id_number": next(logins), "password": "not the password"},
                headers={"X-Forwarded-For": value},
            )
            statuses.append(response.status_code)
        return statuses

    limited = settings.model_copy(update={"login_ip_failures_per_minute": 2})
    behind = limited.model_copy(update={"trusted_proxies": ["127.0.0.1"]})
    async with asgi_client(create_app(behind, database=database)) as web:
        assert await attempts(web, *["203.0.113.5"] * 3) == [401, 401, 429]
        assert await attempts(web, "198.51.100.9") == [401]  # another citizen, not held up
        # An address the client puts before the proxy's entry is not the one counted.
        assert await attempts(web, "198.51.100.77, 203.0.113.5") == [429]
    async with database.unit_of_work() as session:
        keys = set(await session.scalars(text("SELECT key FROM login_throttle")))
    assert keys == {"ip:203.0.113.5", "ip:198.51.100.9"}
    # Without trusted proxies the header is not believed: every failure is the peer's.
    async with asgi_client(create_app(limited, database=database)) as web:
        assert await attempts(web, "192.0.2.1", "192.0.2.2", "192.0.2.3") == [401, 401, 429]
    async with database.unit_of_work() as session:
        keys = set(await session.scalars(text("SELECT key FROM login_throttle")))
    assert keys == {"ip:203.0.113.5", "ip:198.51.100.9", "ip:127.0.0.1"}


def test_production_without_trusted_proxies_warns_at_start(
    settings: Settings, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    production = settings.model_copy(
        update={"environment": "production", "key_encryption_key": SecretStr("q" * 43)}
    )
    with caplog.at_level(logging.WARNING, logger="registry.app"):
        create_app(production, database=database)
        create_app(
            production.model_copy(update={"trusted_proxies": ["10.0.0.0/8"]}), database=database
        )
        create_app(settings, database=database)  # development: no warning
    assert [r.msg for r in caplog.records].count("startup.no_trusted_proxies") == 1


@pytest.mark.parametrize(
    ("username", "ok"),
    [
        ("lan.pt", True),
        ("clerk-9", True),
        ("9clerk", True),
        ("аdmin", False),  # a Cyrillic "а" that looks like the Latin one
        ("Admin", False),
        ("có.dấu", False),
        ("001099012345", False),  # reads as a citizen's ID number
        (".lan", False),
        ("", False),
        ("a" * 64, True),
        ("a" * 65, False),
        ("١٢٣abc", False),  # Arabic-Indic digits
    ],
)
def test_staff_usernames_are_plain_ascii_and_never_only_digits(username: str, ok: bool) -> None:
    assert accounts.staff_username_ok(username) is ok
