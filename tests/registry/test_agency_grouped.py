"""The agency API's grouped statement (registry/agency/grouped.py ``grouped_lookup`` and
``grouped_verify``): an agency's ordinary call, once its token and policy were seen, is served by
one statement that reads the record and inserts its event. Whatever changed since (policy,
suspension, revoked token, lock, death, failing audit store) is seen at once: the statement
writes nothing and the full path answers, as tests/registry/test_agency.py expects of it.

On SQLite there is no such path (every call takes the unit of work); the same calls must give
the same answers there.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text

from audit.models import AuditEvent
from registry.agency import repository as agency_repository
from registry.agency.policy import LOOKUP_FIELDS, Policy, purposes
from registry.agency.rules import GATES, Call, Facts, Granted, decide, gate_open
from tests.faults import fail_audit_inserts, postmaster_of
from tests.http import asgi_client
from tests.identity.factories import make_account
from tests.pgcluster import paused
from tests.registry.agencies import (
    ANH,
    AS_OFFICIAL,
    DUC,
    LAN,
    NOBODY,
    ORDINARY,
    STATUTORY,
    Env,
    agency,
    agency_events,
    lock_identity,
    lookup,
    problem,
    registry_app,
    verify,
)


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Each one-statement attempt: whether it recorded its event (and so served the call)."""
    seen: list[bool] = []
    original = agency_repository.record_and_event

    async def counting(*args: Any, **kwargs: Any) -> dict[str, Any] | None:
        row = await original(*args, **kwargs)
        seen.append(bool(row and row["recorded"]))
        return row

    monkeypatch.setattr(agency_repository, "record_and_event", counting)
    return seen


def served_by_statement(env: Env, count: int) -> int:
    """How many calls the one-statement path serves on this backend."""
    return count if env.database.dialect == "postgresql" else 0


def granted(events: list[AuditEvent]) -> list[tuple[Any, ...]]:
    return [(e.action, e.subject, e.fields, e.purpose, e.outcome) for e in events]


async def test_a_seen_token_and_policy_take_one_statement(env: Env, statements: list[bool]) -> None:
    bank = await agency(env, attribute_results=True)
    # The first call validates the token and reads the policy (the full path).
    first = await lookup(env, bank, ANH, ["full_name", "birth_date"])
    assert first.status_code == 200, first.text
    assert statements == []
    answers = [
        await lookup(env, bank, ANH, ["full_name", "birth_date"]),
        await lookup(env, bank, DUC, ["birth_date", "status"], STATUTORY),
        await verify(env, bank, ANH, full_name="nguyễn thị  minh anh", birth_date="2003-05-14"),
        await verify(env, bank, DUC, gender="female"),
    ]
    assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
    assert answers[0].json()["citizen"] == first.json()["citizen"]
    assert answers[1].json()["citizen"] == {"birth_date": "1950", "status": "alive"}
    assert answers[2].json()["match"] is True
    assert answers[2].json()["attributes"] == {"full_name": True, "birth_date": True}
    assert answers[3].json() == {
        "match": False, "attributes": {"gender": False}, "event_id": answers[3].json()["event_id"]
    }  # fmt: skip
    assert statements == [True] * served_by_statement(env, 4)
    recorded = await agency_events(env.database)
    assert granted(recorded[1:]) == [
        ("agency.lookup", ANH, '["birth_date","full_name"]', ORDINARY, "granted"),
        ("agency.lookup", DUC, '["birth_date","status"]', STATUTORY, "granted"),
        ("agency.verify", ANH, '["birth_date","full_name"]', ORDINARY, "granted"),
        ("agency.verify", DUC, '["gender"]', ORDINARY, "granted"),
    ]
    # Each answer names its own event; the official acting inside the agency is kept too.
    assert [a.json()["event_id"] for a in answers] == [e.event_uid for e in recorded[1:]]
    officer = await env.web.get(
        f"/api/v1/citizens/{ANH}", params={"fields": "full_name", "purpose": ORDINARY},
        headers={**bank.headers, "x-on-behalf-of": "officer.17"},
    )  # fmt: skip
    assert officer.status_code == 200
    assert (await agency_events(env.database))[-1].on_behalf_of == "officer.17"
    assert len(statements) == served_by_statement(env, 5)


async def test_what_changed_since_is_seen_at_once(env: Env, statements: list[bool]) -> None:
    bank = await agency(env)
    await make_account(env.database, env.settings)
    assert (await lookup(env, bank, ANH, ["full_name", "religion"])).status_code == 200
    # A narrower policy: the remembered one still allows religion, the stored one does not.
    narrower = await env.web.put(
        f"/api/v1/officials/agencies/{bank.client_id}/policy",
        json={"actions": ["lookup", "verify"], "fields": ["full_name"], "purposes": [ORDINARY,
              STATUTORY], "rate_per_second": 1000, "burst": 1000},
        headers=AS_OFFICIAL,
    )  # fmt: skip
    assert narrower.status_code == 200, narrower.text
    problem(await lookup(env, bank, ANH, ["full_name", "religion"]), 403, "field-not-allowed")
    assert (await lookup(env, bank, ANH, ["full_name"])).status_code == 200
    # A missing record, a locked identity: nothing written by the statement, the full path
    # refuses and records the refusal.
    problem(await lookup(env, bank, NOBODY, ["full_name"]), 404, "not-found")
    await lock_identity(env.database, ANH)
    problem(await lookup(env, bank, ANH, ["full_name"]), 403, "identity-locked")
    problem(await verify(env, bank, ANH, gender="female"), 403, "identity-locked")
    assert (await lookup(env, bank, ANH, ["full_name"], STATUTORY)).status_code == 200
    # The token revoked (RFC 7009) by its own agency: refused at once.
    token = bank.headers["authorization"].removeprefix("Bearer ")
    revoked = await env.web.post(
        "/revoke", data={"token": token, "token_type_hint": "access_token"},
        auth=(bank.client_id, bank.secret),
    )  # fmt: skip
    assert revoked.status_code == 200, revoked.text
    problem(await lookup(env, bank, DUC, ["full_name"], STATUTORY), 401, "unauthenticated")
    outcomes = [(e.subject, e.outcome) for e in await agency_events(env.database)]
    assert outcomes == [
        (ANH, "granted"), (ANH, "denied"), (ANH, "granted"), (NOBODY, "not_found"),
        (ANH, "denied"), (ANH, "denied"), (ANH, "granted"),
    ]  # fmt: skip
    # Tried by the statement, which wrote nothing: the narrower policy, the missing record,
    # the two locked calls and the revoked token. Served by it: full_name alone (the policy
    # then seen by the full path) and the statutory lookup.
    assert statements == (
        [False, True, False, False, False, True, False]
        if env.database.dialect == "postgresql"
        else []
    )


async def test_a_suspension_in_the_table_stops_the_next_call(
    env: Env, statements: list[bool]
) -> None:
    bank = await agency(env)
    assert (await verify(env, bank, ANH, gender="female")).status_code == 200
    assert (await verify(env, bank, ANH, gender="female")).status_code == 200
    async with env.database.unit_of_work() as session:
        await session.execute(
            text("UPDATE oauth_client SET active = false WHERE client_id = :c"),
            {"c": bank.client_id},
        )
    problem(await verify(env, bank, ANH, gender="female"), 401, "unauthenticated")
    assert [e.outcome for e in await agency_events(env.database)] == ["granted", "granted"]
    assert statements == [True, False][: served_by_statement(env, 2)]


async def test_a_deceased_citizen_through_the_statement(env: Env, statements: list[bool]) -> None:
    bank = await agency(env)
    assert (await lookup(env, bank, DUC, ["full_name"])).status_code == 200
    died = await env.web.post(
        f"/api/v1/officials/citizens/{DUC}/death",
        json={"death_date": "2024-01-02", "legal_basis": "Giấy báo tử 12/2024"},
        headers=AS_OFFICIAL,
    )
    assert died.status_code == 200, died.text
    problem(await lookup(env, bank, DUC, ["full_name"]), 403, "citizen-deceased")
    looked = await lookup(env, bank, DUC, ["status", "death_date"], STATUTORY)
    assert looked.json()["citizen"] == {"status": "deceased", "death_date": "2024-01-02"}
    # A deceased citizen never verifies, and the verification is recorded as made.
    assert (await verify(env, bank, DUC, gender="male")).json()["match"] is False
    assert [e.outcome for e in await agency_events(env.database)] == [
        "granted",
        "denied",
        "granted",
        "granted",
    ]
    assert statements == [False, True, True][: served_by_statement(env, 3)]


@pytest.mark.postgresql_only
async def test_a_driver_error_of_the_statement_leaves_the_call_to_the_full_path(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    bank = await agency(env)
    assert (await lookup(env, bank, ANH, ["full_name"])).status_code == 200

    async def crashed(*_args: Any, **_kwargs: Any) -> None:
        # What asyncpg raised from the grouped statement at the instant PostgreSQL crashed.
        raise asyncpg.InternalClientError("got result for unknown protocol state 3")

    monkeypatch.setattr(agency_repository, "record_and_event", crashed)
    assert (await lookup(env, bank, ANH, ["full_name"])).status_code == 200
    assert (await verify(env, bank, ANH, gender="female")).status_code == 200
    assert [e.outcome for e in await agency_events(env.database)] == ["granted"] * 3


@pytest.mark.postgresql_only
async def test_a_stalled_database_answers_agencies_503_at_the_request_deadline(
    env: Env, database_url: str
) -> None:
    bank = await agency(env)
    postmaster = await postmaster_of(database_url)
    short = Env(env.settings.model_copy(update={"request_deadline": 3.0}), env.database, env.web)
    async with asgi_client(registry_app(short.settings, env.database)) as short.web:
        stalled = []
        # The full path (a token this app has not seen), then the one-statement path.
        for _ in range(2):
            with paused(postmaster):
                async with asyncio.timeout(15):  # without a deadline: as long as the pause
                    stalled.append(await lookup(short, bank, ANH, ["full_name"]))
            assert (await lookup(short, bank, ANH, ["full_name"])).status_code == 200
    for response in stalled:
        problem(response, 503, "database-unavailable")
        assert int(response.headers["retry-after"]) >= 1
        assert "Nguy" not in response.text
    # Each answered lookup has its event; a stalled one may have its own (sent, not answered).
    assert 2 <= len(await agency_events(env.database)) <= 4


async def answers_with_a_failing_audit_store(env: Env, database_url: str) -> list[Any]:
    """A seen agency's lookup and verify once every audit INSERT fails."""
    bank = await agency(env)
    assert (await lookup(env, bank, ANH, ["full_name"])).status_code == 200
    await fail_audit_inserts(database_url)
    return [
        await lookup(env, bank, ANH, ["full_name"]),
        await verify(env, bank, ANH, gender="female"),
    ]


async def test_a_failing_audit_store_releases_nothing(
    env: Env, statements: list[bool], database_url: str
) -> None:
    for response in await answers_with_a_failing_audit_store(env, database_url):
        problem(response, 503, "audit-unavailable")
        assert "Nguy" not in response.text
    assert len(await agency_events(env.database)) == 1
    # The statement failed (an error, not a row), and the full path answered.
    assert statements == []


async def test_a_failing_audit_store_asks_the_agency_to_retry_later(
    env: Env, database_url: str
) -> None:
    for response in await answers_with_a_failing_audit_store(env, database_url):
        problem(response, 503, "audit-unavailable")
        assert int(response.headers["retry-after"]) >= 1


async def test_each_call_is_charged_once_whichever_path_answers(
    env: Env, statements: list[bool]
) -> None:
    bank = await agency(env, rate_per_second=0.01, burst=3)
    assert (await lookup(env, bank, ANH, ["full_name"])).status_code == 200
    # The statement takes the second token, finds no record and writes nothing; the full path
    # answers the 404 without taking a third.
    problem(await lookup(env, bank, NOBODY, ["full_name"]), 404, "not-found")
    assert (await verify(env, bank, ANH, gender="female")).status_code == 200
    response = await lookup(env, bank, ANH, ["full_name"])
    problem(response, 429, "rate-limited")
    assert int(response.headers["retry-after"]) >= 1
    assert [e.outcome for e in await agency_events(env.database)] == [
        "granted",
        "not_found",
        "granted",
        "denied",
    ]
    assert statements == [False, True][: served_by_statement(env, 2)]


async def test_calls_that_wait_for_a_connection_share_one_statement(
    env: Env, statements: list[bool]
) -> None:
    """Calls that arrive while the connections are busy go to the database together (one
    statement per kind of call); each is still judged and recorded on its own, and answered
    as it would be alone: a locked identity or a missing record takes the full path."""
    env.database.settings = env.database.settings.model_copy(
        update={"database_statement_pool_size": 1}
    )
    bank = await agency(env, attribute_results=True)
    await make_account(env.database, env.settings)
    await lock_identity(env.database, ANH)
    assert (await lookup(env, bank, DUC, ["full_name"])).status_code == 200  # seen from now on
    pool = env.database.statement_pool()
    release = asyncio.Event()

    async def hold(connection: Any, item: Any) -> Any:
        await release.wait()

    held = asyncio.create_task(pool.run("hold", None, hold, hold)) if pool else None
    fields = ["full_name", "birth_date"]
    calls = asyncio.gather(
        lookup(env, bank, DUC, fields),
        lookup(env, bank, LAN, fields),
        lookup(env, bank, ANH, fields),  # locked: refused by the full path
        lookup(env, bank, NOBODY, fields),  # no record: 404 from the full path
        lookup(env, bank, ANH, fields, STATUTORY),  # the same columns, another purpose
        verify(env, bank, LAN, full_name="Lê Thị Lan", birth_date="1985-03"),
        verify(env, bank, DUC, gender="female"),
        lookup(env, bank, LAN, fields),
    )
    if pool is not None:
        async with asyncio.timeout(10):
            while pool.waiting < 8:
                await asyncio.sleep(0.001)
    release.set()
    answers = await calls
    if held is not None:
        await held
    assert [a.status_code for a in answers] == [200, 200, 403, 404, 200, 200, 200, 200]
    assert answers[0].json()["citizen"] == {"full_name": "Trần Văn Đức", "birth_date": "1950"}
    assert answers[1].json()["citizen"] == {"full_name": "Lê Thị Lan", "birth_date": "1985-03"}
    problem(answers[2], 403, "identity-locked")
    problem(answers[3], 404, "not-found")
    assert answers[4].json()["citizen"]["birth_date"] == "2003-05-14"
    assert answers[5].json()["attributes"] == {"full_name": True, "birth_date": True}
    assert answers[6].json()["match"] is False
    assert answers[7].json()["citizen"] == answers[1].json()["citizen"]
    recorded = {e.event_uid: e for e in await agency_events(env.database)}
    assert len(recorded) == 9
    granted_ids = [a.json()["event_id"] for i, a in enumerate(answers) if i not in (2, 3)]
    assert [(recorded[e].subject, recorded[e].outcome) for e in granted_ids] == [
        (DUC, "granted"), (LAN, "granted"), (ANH, "granted"), (LAN, "granted"),
        (DUC, "granted"), (LAN, "granted"),
    ]  # fmt: skip
    assert recorded[granted_ids[2]].purpose == STATUTORY
    refused = sorted((e.subject, e.outcome) for e in recorded.values() if e.outcome != "granted")
    assert refused == [(ANH, "denied"), (NOBODY, "not_found")]
    if pool is not None:
        # Two statements: the six lookups together, then the two verifications.
        assert (pool.grouped, sorted(statements)) == (8, [False, False] + [True] * 6)


@pytest.mark.postgresql_only
async def test_the_grouped_statement_judges_each_call_as_its_own_statement_does(
    env: Env, database_url: str
) -> None:
    """Every combination of record (alive, locked identity, deceased, missing), purpose flags,
    client (its policy, another policy text, suspended) and token (live, revoked): the grouped
    statement, all at once, gives each call the row and the decision its own statement gives
    it alone, and records exactly the calls it says it recorded."""
    good = await agency(env)
    suspended = await agency(env)
    await make_account(env.database, env.settings)
    await lock_identity(env.database, ANH)
    async with env.database.unit_of_work() as session:
        await session.execute(text("UPDATE citizen SET status = 'deceased' WHERE id_number = :d"),
                              {"d": DUC})  # fmt: skip
        await session.execute(
            text("UPDATE oauth_client SET active = false WHERE client_id = :c"),
            {"c": suspended.client_id},
        )
        await session.execute(
            text("INSERT INTO revoked_token (jti, expires_at) VALUES ('jti-revoked', :t)"),
            {"t": datetime(2099, 1, 1, tzinfo=UTC)},
        )
        policy = (
            await session.execute(
                text("SELECT policy FROM agency_policy WHERE client_id = :c"), {"c": good.client_id}
            )
        ).scalar_one()
    clients = [(good.client_id, policy), (good.client_id, policy + " "),
               (suspended.client_id, policy)]  # fmt: skip
    combos = list(itertools.product(
        [ANH, DUC, LAN, NOBODY], [False, True], [False, True], clients, ["jti-live", "jti-revoked"]
    ))  # fmt: skip

    def calls(tag: str) -> list[tuple[Any, ...]]:
        return [
            (subject, overrides, deceased, client, text_, jti, f"{tag}-{n}", None,
             "agency.lookup", '["full_name"]', ORDINARY, f"req-{tag}-{n}")
            for n, (subject, overrides, deceased, (client, text_), jti) in enumerate(combos)
        ]  # fmt: skip

    columns = ("birth_date_precision", "full_name", "status")
    dsn = env.database.settings.url.set(drivername="postgresql").render_as_string(
        hide_password=False
    )
    connection = await asyncpg.connect(dsn)
    try:
        grouped = await agency_repository._record_and_event_many(
            columns, connection, calls("group")
        )
        alone = [
            await agency_repository._record_and_event_one(columns, connection, call)
            for call in calls("alone")
        ]
        counted = dict(
            await connection.fetch(
                "SELECT split_part(event_uid, '-', 1), count(*) FROM audit_event "
                "WHERE event_uid LIKE 'group-%' OR event_uid LIKE 'alone-%' GROUP BY 1"
            )
        )
    finally:
        await connection.close()
    assert grouped == alone
    recorded = sum(1 for row in alone if row and row["recorded"])
    # Recorded: the live client with its own policy and a live token, on LAN always, on ANH
    # only with its lock gate open, on DUC only with its death gate open: (4 + 2 + 2) of 96.
    assert recorded == 8
    assert counted == {"group": recorded, "alone": recorded}
    assert sum(1 for row in alone if row is None) == len(combos) // 4  # NOBODY has no row


@pytest.mark.postgresql_only
async def test_the_statement_grants_exactly_what_the_rules_grant(env: Env) -> None:
    """Every record state (identity active or locked or none, alive or deceased) x every purpose
    code x lookup and verify: the statement records the call exactly when rules.decide, given
    the record it read, grants it (the SQL gates are generated from rules.GATES; this holds
    them to the Python rule case by case)."""
    good = await agency(env)
    await make_account(env.database, env.settings)  # ANH has an electronic identity
    async with env.database.unit_of_work() as session:
        policy_text = (
            await session.execute(
                text("SELECT policy FROM agency_policy WHERE client_id = :c"), {"c": good.client_id}
            )
        ).scalar_one()
    everything = Policy(
        actions=("lookup", "verify"), fields=LOOKUP_FIELDS, purposes=tuple(purposes())
    )
    scopes = frozenset({"lookup", "verify"})
    dsn = env.database.settings.url.set(drivername="postgresql").render_as_string(
        hide_password=False
    )
    columns = ("birth_date_precision", "full_name", "status")
    connection = await asyncpg.connect(dsn)
    seen: set[tuple[Any, ...]] = set()
    try:
        for account, status in itertools.product(["active", "locked"], ["alive", "deceased"]):
            await connection.execute(
                "UPDATE account SET status = $1 WHERE citizen_id = $2", account, ANH
            )
            await connection.execute(
                "UPDATE citizen SET status = $1 WHERE id_number = ANY($2::varchar[])",
                status, [ANH, DUC],
            )  # fmt: skip
            cases = itertools.product([ANH, DUC], purposes().values(), ["lookup", "verify"])
            for n, (subject, purpose, action) in enumerate(cases):
                call = Call(action, purpose.code, subject, fields=["full_name"],  # type: ignore[arg-type]
                            claims={"gender": "female"}, pointer="#")  # fmt: skip
                opened = tuple(gate_open(g, purpose, action) for g in GATES)  # type: ignore[arg-type]
                uid = f"rule-{account}-{status}-{n}"
                row = await agency_repository._record_and_event_one(
                    columns, connection,
                    (subject, *opened, good.client_id, policy_text, "jti-live", uid, None,
                     f"agency.{action}", '["full_name"]', purpose.code, uid),
                )  # fmt: skip
                assert row is not None
                decided = decide(
                    call, scopes=scopes, policy=everything,
                    facts=Facts(None, subject, row),
                )  # fmt: skip
                assert row["recorded"] == isinstance(decided, Granted), (
                    subject, account, status, purpose.code, action, decided,
                )  # fmt: skip
                seen.add((row["identity_status"], row["status"], row["recorded"]))
    finally:
        await connection.close()
    # Every fact the gates read was met, granted and refused.
    assert {(i, s) for i, s, _ in seen} == {
        (i, s) for i in ("active", "locked", None) for s in ("alive", "deceased")
    }
    assert {r for *_, r in seen} == {True, False}
