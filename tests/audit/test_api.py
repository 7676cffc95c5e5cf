"""The audit HTTP API on both backends: search, export, proofs, the citizen's log, public keys."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from audit import proofs, recording, views
from audit.checkpoint import Checkpoint, Verifier, open_checkpoint
from audit.events import Outcome
from audit.merkle import verify_consistency
from audit.models import AuditEvent
from audit.worker import AuditWorker
from core.auth import Principal
from core.db import Database
from core.settings import Settings
from registry.app import create_app
from tests.auth import BearerTable, bearer
from tests.faults import fail_audit_inserts
from tests.http import asgi_client

CITIZEN_ID = "001203004512"
OTHER_ID = "079185000123"

AUDITOR = Principal("auditor", "auditor-1", roles=frozenset({"auditor"}))
CITIZEN = Principal("citizen", CITIZEN_ID, roles=frozenset({"citizen"}))
OTHER_CITIZEN = Principal("citizen", OTHER_ID, roles=frozenset({"citizen"}))
AGENCY = Principal("agency", "bank-1", roles=frozenset({"agency"}), on_behalf_of="teller-9")
HOSPITAL = Principal("agency", "hospital-3", roles=frozenset({"agency"}))
OFFICIAL = Principal("official", "clerk-7", roles=frozenset({"official"}))

TOKENS = {
    "tok-auditor": AUDITOR,
    "tok-citizen": CITIZEN,
    "tok-other": OTHER_CITIZEN,
    "tok-agency": AGENCY,
}
PROBLEM = "application/problem+json"


AS_AUDITOR = bearer("tok-auditor")
AS_CITIZEN = bearer("tok-citizen")


@pytest.fixture
def audit_app(settings: Settings, database: Database) -> FastAPI:
    return create_app(settings, database=database, authenticator=BearerTable(TOKENS))


@pytest.fixture
async def api(audit_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(audit_app) as c:
        yield c


async def add(
    database: Database,
    actor: Principal,
    action: str,
    *,
    subject: str | None = None,
    fields: Iterable[str] = (),
    purpose: str | None = None,
    outcome: Outcome = "granted",
    detail: dict[str, Any] | None = None,
) -> str:
    """Record one event in its own unit of work and return its event_uid."""
    async with database.unit_of_work() as session:
        return await recording.record(
            session,
            actor=actor,
            action=action,
            outcome=outcome,
            subject=subject,
            fields=fields,
            purpose=purpose,
            detail=detail,
        )


async def seed(database: Database) -> dict[str, str]:
    """A small trail about two citizens, one event per unit of work, oldest first."""
    return {
        "verify": await add(database, AGENCY, "citizen.verify", subject=CITIZEN_ID, purpose="kyc"),
        "lookup_other": await add(
            database,
            AGENCY,
            "citizen.lookup",
            subject=OTHER_ID,
            fields=["full_name", "birth_date"],
            purpose="tax",
        ),
        "update": await add(database, OFFICIAL, "citizen.update", subject=CITIZEN_ID),
        "batch": await add(
            database,
            AGENCY,
            "citizen.verify_batch",
            subject=CITIZEN_ID,
            purpose="kyc",
            detail={"batch_size": 1000},
        ),
        "denied_other": await add(
            database,
            HOSPITAL,
            "citizen.lookup",
            subject=OTHER_ID,
            fields=["address"],
            purpose="marketing",
            outcome="denied",
        ),
        "hospital": await add(
            database,
            HOSPITAL,
            "citizen.lookup",
            subject=CITIZEN_ID,
            fields=["blood_type"],
            purpose="treatment",
        ),
        "login": await add(database, CITIZEN, "identity.login"),
    }


async def all_events(database: Database) -> list[Any]:
    async with database.sessions() as session:
        return list((await session.execute(select(AuditEvent).order_by(AuditEvent.id))).scalars())


async def count_events(database: Database) -> int:
    async with database.sessions() as session:
        return int(
            (await session.execute(select(func.count()).select_from(AuditEvent))).scalar_one()
        )


async def seal(app: FastAPI, database: Database, settings: Settings) -> str:
    """Sequence every committed event and sign a checkpoint of the grown tree."""
    worker = AuditWorker(database, app.state.audit_signer, origin=settings.audit_origin)
    await worker.sequence_pending()
    note = await worker.checkpoint()
    assert note is not None
    return note


def uids(body: dict[str, Any]) -> list[str]:
    return [item["event_uid"] for item in body["items"]]


async def search(api: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await api.get("/api/v1/audit/events", params=params, headers=AS_AUDITOR)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_problem(
    response: httpx.Response, status: int, *, parameter: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    if parameter is not None:
        assert parameter in [e.get("parameter") for e in body["errors"]], body
    return body


# ------------------------------------------------------------------------------ search


async def test_search_by_each_filter(api: httpx.AsyncClient, database: Database) -> None:
    ids = await seed(database)

    def newest_first(*names: str) -> list[str]:
        return [ids[n] for n in reversed(list(ids)) if n in names]

    cases: list[tuple[dict[str, str], list[str]]] = [
        ({"subject": CITIZEN_ID}, newest_first("verify", "update", "batch", "hospital")),
        ({"actor_id": "hospital-3"}, newest_first("denied_other", "hospital")),
        ({"actor_type": "official"}, newest_first("update")),
        ({"actor_type": "citizen"}, newest_first("login")),
        ({"action": "citizen.lookup"}, newest_first("lookup_other", "denied_other", "hospital")),
        ({"purpose": "kyc"}, newest_first("verify", "batch")),
        ({"outcome": "denied"}, newest_first("denied_other")),
        (
            {"subject": CITIZEN_ID, "actor_id": "bank-1", "purpose": "kyc"},
            newest_first("verify", "batch"),
        ),
        ({"subject": "999999999999"}, []),
    ]
    for params, expected in cases:
        body = await search(api, **params)
        assert uids(body) == expected, params
        assert body["next_cursor"] is None


async def test_event_view_shape(api: httpx.AsyncClient, database: Database) -> None:
    ids = await seed(database)
    body = await search(api, actor_id="bank-1", action="citizen.lookup")
    (item,) = body["items"]
    assert item["event_uid"] == ids["lookup_other"]
    assert item["actor"] == {"type": "agency", "id": "bank-1", "on_behalf_of": "teller-9"}
    assert item["subject"] == OTHER_ID
    assert item["fields"] == ["birth_date", "full_name"]  # names only, sorted
    assert item["purpose"] == "tax"
    assert item["outcome"] == "granted"
    assert item["leaf_index"] is None  # not sequenced yet
    assert datetime.fromisoformat(item["occurred_at"]).utcoffset() is not None
    assert set(item) == {
        "event_uid",
        "occurred_at",
        "actor",
        "subject",
        "action",
        "fields",
        "purpose",
        "outcome",
        "request_id",
        "leaf_index",
    }


async def test_search_by_time_range(api: httpx.AsyncClient, database: Database) -> None:
    await seed(database)
    await seed(database)
    events = (await search(api, actor_type="agency"))["items"]
    at = {e["event_uid"]: datetime.fromisoformat(e["occurred_at"]) for e in events}
    instants = sorted(set(at.values()))
    low, high = instants[len(instants) // 3], instants[2 * len(instants) // 3]

    async def between(since: datetime | None, until: datetime | None) -> set[str]:
        params: dict[str, str] = {"actor_type": "agency"}
        if since is not None:
            params["since"] = since.isoformat()
        if until is not None:
            params["until"] = until.isoformat()
        return set(uids(await search(api, **params)))

    # since is inclusive and until exclusive, to the exact stored instant, on both backends.
    assert await between(low, None) == {u for u, t in at.items() if t >= low}
    assert await between(None, high) == {u for u, t in at.items() if t < high}
    assert await between(low, high) == {u for u, t in at.items() if low <= t < high}
    assert await between(low, low) == set()
    assert await between(instants[0], None) == set(at)
    assert await between(None, instants[0]) == set()
    # The same instant in another zone selects the same events.
    plus7 = low.astimezone(timezone(timedelta(hours=7)))
    assert await between(plus7, None) == await between(low, None)


async def test_pagination_visits_every_event_once_newest_first(
    api: httpx.AsyncClient, database: Database
) -> None:
    created = [
        await add(database, AGENCY, "citizen.verify", subject=CITIZEN_ID, purpose="kyc")
        for _ in range(20)
    ]
    bank: dict[str, str] = {"actor_id": "bank-1"}
    # Unfiltered first: the searches recorded while paging are newer than the first page.
    for limit, params in ((5, {}), (7, bank), (20, bank), (1, bank)):
        seen: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            query: dict[str, Any] = {**params, "limit": limit}
            if cursor is not None:
                query["cursor"] = cursor
            body = await search(api, **query)
            assert len(body["items"]) <= limit
            seen.extend(uids(body))
            pages += 1
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert seen == list(reversed(created)), (limit, params)
        assert pages == -(-len(created) // limit)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


BAD_SUBJECTS = ["12345", "0012030045120", "00120300451a", "٠٠١٢٠٣٠٠٤٥١٢"]


def invalid_calls() -> list[tuple[str, dict[str, Any], dict[str, str], str]]:
    """Calls refused for one parameter: (path, query, headers, the parameter named)."""
    events = "/api/v1/audit/events"
    bad_cursors = ["!!!", "abc", b64(b"-1"), b64(b" 5"), b64(b"1_0"), b64(b"x"), "MQ==", ""]
    bad_cursors.append(b64(str(2**64).encode()))
    calls = [(events, {"cursor": cursor}, AS_AUDITOR, "cursor") for cursor in bad_cursors]
    calls += [(events, {"subject": subject}, AS_AUDITOR, "subject") for subject in BAD_SUBJECTS]
    calls += [
        (events, {"limit": limit}, AS_AUDITOR, "limit") for limit in ["0", "501", "-1", "many"]
    ]
    others: list[tuple[dict[str, str], str]] = [
        ({"since": "2026-01-01T00:00:00"}, "since"),  # naive: the zone is required
        ({"until": "yesterday"}, "until"),
        ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until"),
        ({"actor_type": "robot"}, "actor_type"),
        ({"outcome": "maybe"}, "outcome"),
        ({"subjct": CITIZEN_ID}, "subjct"),  # a misspelt filter must not widen the search
    ]
    calls += [(events, params, AS_AUDITOR, parameter) for params, parameter in others]
    return [
        *calls,
        ("/api/v1/me/access-log", {"cursor": "!!!"}, AS_CITIZEN, "cursor"),
        ("/api/v1/audit/consistency", {"first": 5, "second": 2}, AS_AUDITOR, "first"),
        ("/api/v1/audit/events/export", {"subject": "1"}, AS_AUDITOR, "subject"),
    ]


async def test_invalid_parameters_are_422_problems(
    api: httpx.AsyncClient, database: Database
) -> None:
    await seed(database)
    for path, params, headers, parameter in invalid_calls():
        response = await api.get(path, params=params, headers=headers)
        assert_problem(response, 422, parameter=parameter)


async def test_a_refused_subject_is_a_validation_failure_that_never_echoes_it(
    api: httpx.AsyncClient, database: Database
) -> None:
    await seed(database)
    for subject in BAD_SUBJECTS:
        response = await api.get(
            "/api/v1/audit/events", params={"subject": subject}, headers=AS_AUDITOR
        )
        body = assert_problem(response, 422, parameter="subject")
        assert subject not in response.text  # the input is never echoed
        assert body["code"] == "validation-failed"


async def test_a_request_refused_for_its_parameters_records_nothing(
    api: httpx.AsyncClient, database: Database
) -> None:
    # A refused request released nothing, so it recorded nothing.
    await seed(database)
    before = await count_events(database)
    for path, params, headers, _ in invalid_calls():
        await api.get(path, params=params, headers=headers)
    assert await count_events(database) == before


# ------------------------------------------------------------------------------ access control

AUDITOR_PATHS = [
    "/api/v1/audit/events",
    "/api/v1/audit/events/export",
    "/api/v1/audit/events/00000000-0000-4000-8000-000000000000",
    "/api/v1/audit/events/00000000-0000-4000-8000-000000000000/proof",
    "/api/v1/audit/consistency?first=0&second=0",
]
CITIZEN_PATHS = [
    "/api/v1/me/access-log",
    "/api/v1/me/access-log/00000000-0000-4000-8000-000000000000/proof",
]


async def test_401_without_token_and_403_for_other_roles(
    api: httpx.AsyncClient, database: Database
) -> None:
    await seed(database)
    before = await count_events(database)
    for path in AUDITOR_PATHS + CITIZEN_PATHS:
        response = await api.get(path)
        assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert_problem(await api.get(path, headers=bearer("forged")), 401)
    # No actor to name: a call without valid credentials is not recorded.
    assert await count_events(database) == before
    for path in AUDITOR_PATHS:
        for token in ("tok-agency", "tok-citizen"):
            assert_problem(await api.get(path, headers=bearer(token)), 403)
    for path in CITIZEN_PATHS:
        for token in ("tok-agency", "tok-auditor"):
            assert_problem(await api.get(path, headers=bearer(token)), 403)
    # A known caller refused at the role gate is an access attempt: one denied event each.
    refused = 2 * len(AUDITOR_PATHS + CITIZEN_PATHS)
    assert await count_events(database) == before + refused


async def test_every_auditor_query_records_its_own_event(
    api: httpx.AsyncClient, audit_app: FastAPI, database: Database, settings: Settings
) -> None:
    ids = await seed(database)
    verifier = audit_app.state.audit_signer.verifier()
    origin = settings.audit_origin
    first = open_checkpoint(await seal(audit_app, database, settings), verifier, origin=origin)
    await add(database, AGENCY, "citizen.verify", subject=CITIZEN_ID)
    second = open_checkpoint(await seal(audit_app, database, settings), verifier, origin=origin)

    calls: list[tuple[str, dict[str, Any], str, str | None]] = [
        (
            "/api/v1/audit/events",
            {"subject": CITIZEN_ID, "purpose": "kyc"},
            "audit.search",
            CITIZEN_ID,
        ),
        ("/api/v1/audit/events", {"actor_type": "agency"}, "audit.search", None),
        (f"/api/v1/audit/events/{ids['lookup_other']}", {}, "audit.event_view", OTHER_ID),
        (f"/api/v1/audit/events/{ids['verify']}/proof", {}, "audit.proof", CITIZEN_ID),
        (
            "/api/v1/audit/consistency",
            {"first": first.size, "second": second.size},
            "audit.consistency",
            None,
        ),
        ("/api/v1/audit/events/export", {"subject": OTHER_ID}, "audit.export", OTHER_ID),
    ]
    for path, params, action, subject in calls:
        before = await count_events(database)
        response = await api.get(path, params=params, headers=AS_AUDITOR)
        assert response.status_code == 200, (path, response.text)
        events = await all_events(database)
        assert len(events) == before + 1, path
        event = events[-1]
        assert event.action == action
        assert (event.actor_type, event.actor_id) == ("auditor", "auditor-1")
        assert event.subject == subject
        assert event.outcome == "granted"
        assert event.request_id == response.headers["x-request-id"]


async def test_a_search_records_its_filter_names_and_result_count_never_their_values(
    api: httpx.AsyncClient, database: Database
) -> None:
    await seed(database)
    await add(database, AGENCY, "citizen.verify", subject=CITIZEN_ID)
    for params in ({"subject": CITIZEN_ID, "purpose": "kyc"}, {"actor_type": "agency"}):
        response = await api.get("/api/v1/audit/events", params=params, headers=AS_AUDITOR)
        assert response.status_code == 200, response.text
    searches = [e for e in await all_events(database) if e.action == "audit.search"]
    assert json.loads(searches[0].detail) == {"filters": "subject,purpose", "results": 2}
    assert json.loads(searches[1].detail) == {"filters": "actor_type", "results": 6}
    assert all(CITIZEN_ID not in (e.detail or "") for e in searches)


async def test_get_one_event_with_its_leaf_index(
    api: httpx.AsyncClient, audit_app: FastAPI, database: Database, settings: Settings
) -> None:
    ids = await seed(database)
    response = await api.get(f"/api/v1/audit/events/{ids['batch']}", headers=AS_AUDITOR)
    assert response.status_code == 200
    assert response.json()["leaf_index"] is None
    assert response.json()["action"] == "citizen.verify_batch"
    await seal(audit_app, database, settings)
    response = await api.get(f"/api/v1/audit/events/{ids['batch']}", headers=AS_AUDITOR)
    assert response.json()["leaf_index"] == list(ids).index("batch")


async def test_an_unknown_event_is_a_404_recorded_as_not_found(
    api: httpx.AsyncClient, database: Database
) -> None:
    await seed(database)
    before = await count_events(database)
    missing = "00000000-0000-4000-8000-000000000000"
    assert_problem(await api.get(f"/api/v1/audit/events/{missing}", headers=AS_AUDITOR), 404)
    # The refused lookup is itself on the record, with its outcome.
    assert await count_events(database) == before + 1
    async with database.sessions() as session:
        last = (
            await session.execute(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1))
        ).scalar_one()
    assert (last.action, last.outcome) == ("audit.event_view", "not_found")


# ------------------------------------------------------------------------------ export


def ndjson(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert response.text.endswith("\n") or response.text == ""
    return [json.loads(line) for line in response.text.splitlines()]


async def test_export_streams_every_matching_event_beyond_the_page_cap(
    api: httpx.AsyncClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(database)
    async with database.unit_of_work() as session:
        bulk = [
            await recording.record(
                session,
                actor=HOSPITAL,
                action="citizen.verify",
                outcome="granted",
                subject=OTHER_ID,
                purpose="admission",
            )
            for _ in range(520)
        ]
    # Small keyset chunks, so the stream crosses many chunk boundaries.
    monkeypatch.setattr(views, "EXPORT_CHUNK", 37)

    lines = ndjson(
        await api.get(
            "/api/v1/audit/events/export", params={"purpose": "admission"}, headers=AS_AUDITOR
        )
    )
    assert [line["event_uid"] for line in lines] == list(reversed(bulk))  # beyond the page cap
    assert lines[0]["actor"] == {"type": "agency", "id": "hospital-3", "on_behalf_of": None}


async def test_export_starts_with_its_own_event_then_the_events_search_shows(
    api: httpx.AsyncClient, database: Database
) -> None:
    ids = await seed(database)
    response = await api.get(
        "/api/v1/audit/events/export", params={"subject": CITIZEN_ID}, headers=AS_AUDITOR
    )
    lines = ndjson(response)
    # The export's own event is about the subject too, and was committed before the body.
    assert lines[0]["action"] == "audit.export"
    assert lines[0]["request_id"] == response.headers["x-request-id"]
    expected = [ids[n] for n in ("hospital", "batch", "update", "verify")]
    assert [line["event_uid"] for line in lines[1:]] == expected
    assert lines == (await search(api, subject=CITIZEN_ID))["items"]  # the same views


async def test_export_of_nothing_is_an_empty_stream(
    api: httpx.AsyncClient, database: Database
) -> None:
    await seed(database)
    assert (
        ndjson(
            await api.get(
                "/api/v1/audit/events/export", params={"outcome": "error"}, headers=AS_AUDITOR
            )
        )
        == []
    )


async def test_export_event_is_committed_before_the_body_is_sent(
    api: httpx.AsyncClient, database: Database
) -> None:
    await seed(database)
    response = await api.get(
        "/api/v1/audit/events/export",
        params={"action": "audit.export", "actor_id": "auditor-1"},
        headers=AS_AUDITOR,
    )
    # The body is read from a separate session, which sees committed rows only: the export's
    # own event is in it, so it was committed before the first line was produced.
    (line,) = ndjson(response)
    assert line["request_id"] == response.headers["x-request-id"]
    assert line["actor"]["id"] == "auditor-1"
    events = [e for e in await all_events(database) if e.action == "audit.export"]
    assert [e.event_uid for e in events] == [line["event_uid"]]
    assert json.loads(events[0].detail) == {"filters": "actor_id,action"}


# ------------------------------------------------------------------------------ proofs


async def test_inclusion_proof_verifies_offline(
    api: httpx.AsyncClient, audit_app: FastAPI, database: Database, settings: Settings
) -> None:
    ids = await seed(database)
    response = await api.get(f"/api/v1/audit/events/{ids['update']}/proof", headers=AS_AUDITOR)
    assert_problem(response, 409)  # recorded, not yet sequenced
    await seal(audit_app, database, settings)
    verifier = audit_app.state.audit_signer.verifier()
    for name, uid in ids.items():
        response = await api.get(f"/api/v1/audit/events/{uid}/proof", headers=AS_AUDITOR)
        assert response.status_code == 200, response.text
        proof = response.json()
        checkpoint = proofs.check_inclusion(proof, verifier, origin=settings.audit_origin)
        assert proof["event_uid"] == uid
        assert proof["leaf_index"] == list(ids).index(name)
        assert checkpoint.size == proof["tree_size"]
        assert json.loads(base64.b64decode(proof["leaf_data"]))["event_uid"] == uid
    tampered = {**proof, "leaf_index": proof["leaf_index"] - 1}
    with pytest.raises(proofs.ProofError):
        proofs.check_inclusion(tampered, verifier, origin=settings.audit_origin)
    missing = "00000000-0000-4000-8000-000000000000"
    response = await api.get(f"/api/v1/audit/events/{missing}/proof", headers=AS_AUDITOR)
    assert_problem(response, 404)


async def two_checkpoints(
    audit_app: FastAPI, database: Database, settings: Settings
) -> tuple[Checkpoint, Checkpoint]:
    """The seeded log signed, six more events, signed again; both checkpoints."""
    verifier = audit_app.state.audit_signer.verifier()
    origin = settings.audit_origin
    await seed(database)
    first = open_checkpoint(await seal(audit_app, database, settings), verifier, origin=origin)
    for _ in range(6):
        await add(database, AGENCY, "citizen.verify", subject=OTHER_ID)
    second = open_checkpoint(await seal(audit_app, database, settings), verifier, origin=origin)
    return first, second


async def test_consistency_proof_verifies_between_checkpoints(
    api: httpx.AsyncClient, audit_app: FastAPI, database: Database, settings: Settings
) -> None:
    verifier = audit_app.state.audit_signer.verifier()
    origin = settings.audit_origin
    first, second = await two_checkpoints(audit_app, database, settings)
    assert first.size < second.size

    response = await api.get(
        "/api/v1/audit/consistency",
        params={"first": first.size, "second": second.size},
        headers=AS_AUDITOR,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    one = open_checkpoint(body["first"]["checkpoint"], verifier, origin=origin)
    two = open_checkpoint(body["second"]["checkpoint"], verifier, origin=origin)
    assert (one, two) == (first, second)
    assert (body["first"]["tree_size"], body["second"]["tree_size"]) == (one.size, two.size)
    path = [base64.b64decode(h) for h in body["proof"]]
    assert verify_consistency(one.size, two.size, one.root_hash, two.root_hash, path)
    assert not verify_consistency(one.size, two.size, two.root_hash, two.root_hash, path)


async def test_consistency_to_a_size_no_checkpoint_signed_is_a_404(
    api: httpx.AsyncClient, audit_app: FastAPI, database: Database, settings: Settings
) -> None:
    first, second = await two_checkpoints(audit_app, database, settings)
    response = await api.get(
        "/api/v1/audit/consistency",
        params={"first": first.size, "second": second.size + 1},
        headers=AS_AUDITOR,
    )
    assert_problem(response, 404)  # not the size of a signed checkpoint


# ------------------------------------------------------------------------------ citizens


async def test_citizen_sees_only_events_about_themselves(
    api: httpx.AsyncClient, database: Database
) -> None:
    ids = await seed(database)
    mine = [ids[n] for n in ("hospital", "batch", "update", "verify")]  # newest first

    response = await api.get("/api/v1/me/access-log", headers=AS_CITIZEN)
    assert response.status_code == 200
    body = response.json()
    assert uids(body) == mine
    assert body["next_cursor"] is None
    assert "citizen.verify_batch" in [item["action"] for item in body["items"]]
    assert {item["subject"] for item in body["items"]} == {CITIZEN_ID}


async def test_a_citizen_looking_at_their_log_is_recorded_about_them(
    api: httpx.AsyncClient, database: Database
) -> None:
    await seed(database)
    response = await api.get("/api/v1/me/access-log", headers=AS_CITIZEN)
    assert response.status_code == 200
    own = (await all_events(database))[-1]
    assert (own.action, own.actor_type, own.actor_id, own.subject) == (
        "audit.own_log",
        "citizen",
        CITIZEN_ID,
        CITIZEN_ID,
    )


async def test_a_citizens_log_pages_through_with_their_looking_on_top(
    api: httpx.AsyncClient, database: Database
) -> None:
    ids = await seed(database)
    mine = [ids[n] for n in ("hospital", "batch", "update", "verify")]  # newest first
    response = await api.get("/api/v1/me/access-log", headers=AS_CITIZEN)
    assert response.status_code == 200
    # Looking was recorded, about the citizen: it tops the log from now on.
    own = (await all_events(database))[-1]
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await api.get("/api/v1/me/access-log", params=params, headers=AS_CITIZEN)).json()
        seen.extend(uids(page))
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [own.event_uid, *mine]


async def test_another_citizen_sees_only_their_own_events(
    api: httpx.AsyncClient, database: Database
) -> None:
    ids = await seed(database)
    response = await api.get("/api/v1/me/access-log", headers=AS_CITIZEN)
    assert response.status_code == 200
    other = await api.get("/api/v1/me/access-log", headers=bearer("tok-other"))
    assert uids(other.json()) == [ids["denied_other"], ids["lookup_other"]]


async def test_citizen_proof_only_for_own_events(
    api: httpx.AsyncClient, audit_app: FastAPI, database: Database, settings: Settings
) -> None:
    ids = await seed(database)
    not_yet = await add(database, AGENCY, "citizen.verify", subject=OTHER_ID)
    await seal(audit_app, database, settings)
    unsequenced = await add(database, AGENCY, "citizen.verify", subject=OTHER_ID)

    response = await api.get(f"/api/v1/me/access-log/{ids['batch']}/proof", headers=AS_CITIZEN)
    assert response.status_code == 200, response.text
    verifier = audit_app.state.audit_signer.verifier()
    proofs.check_inclusion(response.json(), verifier, origin=settings.audit_origin)
    proof_event = (await all_events(database))[-1]
    assert (proof_event.action, proof_event.actor_id, proof_event.subject) == (
        "audit.proof",
        CITIZEN_ID,
        CITIZEN_ID,
    )

    before = await count_events(database)
    missing = "00000000-0000-4000-8000-000000000000"
    details = set()
    for uid in (ids["lookup_other"], not_yet, unsequenced, ids["login"], missing):
        response = await api.get(f"/api/v1/me/access-log/{uid}/proof", headers=AS_CITIZEN)
        details.add(assert_problem(response, 404)["detail"])
    assert len(details) == 1  # another person's event looks exactly like no event
    # Each refusal is on the record as "not found" with the citizen as subject.
    assert await count_events(database) == before + 5


# ------------------------------------------------------------------------------ public


async def test_public_checkpoint_and_key_need_no_token(
    api: httpx.AsyncClient, audit_app: FastAPI, database: Database, settings: Settings
) -> None:
    assert_problem(await api.get("/api/v1/audit/checkpoint"), 404)
    key = await api.get("/api/v1/audit/public-key")
    assert key.status_code == 200
    assert key.headers["content-type"].startswith("text/plain")
    verifier = Verifier.from_vkey(key.text)
    assert verifier.verifier_key() == audit_app.state.audit_signer.verifier_key()

    await seed(database)
    note = await seal(audit_app, database, settings)
    response = await api.get("/api/v1/audit/checkpoint")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == note
    checkpoint = open_checkpoint(response.text, verifier, origin=settings.audit_origin)
    assert checkpoint.size == 7


async def test_a_server_on_another_url_keeps_the_origin_its_log_was_signed_under(
    settings: Settings, database: Database
) -> None:
    # The log's first checkpoint was signed by a server whose public URL named port 8123.
    first = create_app(
        settings.model_copy(update={"public_url": "http://localhost:8123"}), database=database
    )
    await seed(database)
    await seal(first, database, first.state.settings)
    log_vkey = first.state.audit_signer.named("localhost:8123/audit").verifier_key()
    # Restarted on the default URL: it publishes the log's key and signs under its origin.
    again = create_app(settings, database=database, authenticator=BearerTable(TOKENS))
    assert settings.audit_origin != "localhost:8123/audit"
    async with asgi_client(again) as web:
        key = await web.get("/api/v1/audit/public-key")
        assert key.text == log_vkey
        await add(database, AGENCY, "citizen.lookup", subject=CITIZEN_ID)
        note = await seal(again, database, settings)
        assert note.startswith("localhost:8123/audit\n8\n")
        checkpoint = await web.get("/api/v1/audit/checkpoint")
        assert (
            open_checkpoint(
                checkpoint.text, Verifier.from_vkey(key.text), origin="localhost:8123/audit"
            ).size
            == 8
        )


# ------------------------------------------------------------------------------ failure


async def test_no_data_when_the_audit_insert_fails(
    api: httpx.AsyncClient, database: Database, database_url: str, backend: str
) -> None:
    await seed(database)
    assert uids(await search(api, subject=CITIZEN_ID))  # data is there while recording works
    before = await count_events(database)
    await fail_audit_inserts(database_url)

    requests = [
        ("/api/v1/audit/events", {"subject": CITIZEN_ID}, AS_AUDITOR),
        ("/api/v1/audit/events/export", {"subject": CITIZEN_ID}, AS_AUDITOR),
        ("/api/v1/me/access-log", {}, AS_CITIZEN),
    ]
    for path, params, headers in requests:
        response = await api.get(path, params=params, headers=headers)
        assert response.status_code >= 400, path
        assert response.headers["content-type"].startswith(PROBLEM)
        assert "items" not in response.json()
        assert CITIZEN_ID not in response.text
        assert "citizen.verify" not in response.text
    assert await count_events(database) == before
