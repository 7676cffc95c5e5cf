"""``registry clients policy|suspend|reinstate``: administering agencies from the server."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from registry.cli import app

runner = CliRunner()
AGENCY = "tong-cuc-thue"


def rows(database_url: str, sql: str, **params: object) -> list[dict[str, object]]:
    """The rows of a query, read outside the CLI."""

    async def run() -> list[dict[str, object]]:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as conn:
                return [dict(r._mapping) for r in await conn.execute(text(sql), params)]
        finally:
            await engine.dispose()

    return asyncio.run(run())


def invoke(database_url: str, *args: str) -> tuple[int, str]:
    """Run ``registry ARGS`` on this test's database; (exit code, output)."""
    result = runner.invoke(app, list(args), env={"REGISTRY_DATABASE_URL": database_url})
    return result.exit_code, result.output


def create_agency(database_url: str, client_id: str = AGENCY, type: str = "agency") -> None:
    """Register a client with the existing ``clients create`` command."""
    extra = (
        ["--scope", "verify lookup"] if type == "agency" else ["--redirect-uri", "https://a.vn/cb"]
    )
    code, output = invoke(
        database_url,
        "clients",
        "create",
        "--name",
        "Tổng cục Thuế",
        "--type",
        type,
        "--client-id",
        client_id,
        *extra,
    )
    assert code == 0, output


def stored_policy(database_url: str, client_id: str = AGENCY) -> dict[str, object]:
    sql = "SELECT policy FROM agency_policy WHERE client_id = :c"
    (row,) = rows(database_url, sql, c=client_id)
    policy: dict[str, object] = json.loads(str(row["policy"]))
    return policy


@pytest.mark.parametrize("command", ["policy", "suspend", "reinstate"])
def test_agency_commands_have_help(command: str) -> None:
    result = runner.invoke(app, ["clients", command, "--help"])
    assert result.exit_code == 0, result.output
    assert f"registry clients {command}" in result.output


def test_clients_policy_sets_a_validated_policy(database_url: str) -> None:
    create_agency(database_url)
    code, output = invoke(
        database_url,
        "clients",
        "policy",
        AGENCY,
        "--action",
        "verify",
        "--action",
        "lookup",
        "--field",
        "full_name",
        "--field",
        "birth_date",
        "--purpose",
        "kyc.account_opening",
        "--purpose",
        "police.investigation",
        "--attribute-results",
        "--name-match",
        "folded",
        "--rate",
        "2.5",
        "--burst",
        "5",
        "--batch-max",
        "100",
    )
    assert code == 0, output
    assert AGENCY in output
    assert stored_policy(database_url) == {
        "actions": ["verify", "lookup"],
        "fields": ["full_name", "birth_date"],
        "purposes": ["kyc.account_opening", "police.investigation"],
        "attribute_results": True,
        "name_match": "folded",
        "rate_per_second": 2.5,
        "burst": 5,
        "batch_max": 100,
    }
    (event,) = rows(
        database_url,
        "SELECT actor_type, actor_id, outcome, detail FROM audit_event "
        "WHERE action = 'agency.policy'",
    )
    assert (event["actor_type"], event["actor_id"], event["outcome"]) == (
        "official",
        "cli",
        "granted",
    )
    assert json.loads(str(event["detail"])) == {"client": AGENCY}
    # Replacing it: what is not given falls back to nothing (and the defaults).
    code, output = invoke(database_url, "clients", "policy", AGENCY, "--action", "verify")
    assert code == 0, output
    replaced = stored_policy(database_url)
    assert (replaced["actions"], replaced["fields"], replaced["purposes"]) == (["verify"], [], [])
    assert (replaced["rate_per_second"], replaced["burst"], replaced["batch_max"]) == (
        10.0,
        20,
        1000,
    )


def test_clients_policy_refuses_an_invalid_policy_and_keeps_the_old_one(
    database_url: str,
) -> None:
    create_agency(database_url)
    assert invoke(database_url, "clients", "policy", AGENCY, "--action", "lookup")[0] == 0
    code, output = invoke(
        database_url,
        "clients",
        "policy",
        AGENCY,
        "--action",
        "delete",
        "--field",
        "password",
        "--purpose",
        "kyc.fishing",
        "--name-match",
        "fuzzy",
        "--rate",
        "0",
        "--burst",
        "0",
        "--batch-max",
        "5000",
    )
    assert code == 1
    assert "policy is invalid" in output
    for problem in ("'delete'", "'password'", "'kyc.fishing'", "exact or folded", "(0, 100000]"):
        assert problem in output, problem
    assert stored_policy(database_url)["actions"] == ["lookup"]
    assert len(rows(database_url, "SELECT id FROM audit_event WHERE action = 'agency.policy'")) == 1


def test_clients_policy_needs_an_agency(database_url: str) -> None:
    code, output = invoke(database_url, "clients", "policy", "nobody", "--action", "verify")
    assert code == 1
    assert "No agency client" in output
    create_agency(database_url, "cong-dvc", type="rp")
    code, output = invoke(database_url, "clients", "policy", "cong-dvc", "--action", "verify")
    assert code == 1
    assert "No agency client" in output


def test_clients_suspend_and_reinstate(database_url: str) -> None:
    create_agency(database_url)

    def active() -> bool:
        (row,) = rows(
            database_url, "SELECT active FROM oauth_client WHERE client_id = :c", c=AGENCY
        )
        return bool(row["active"])

    code, output = invoke(database_url, "clients", "suspend", AGENCY)
    assert code == 0, output
    assert "suspended" in output
    assert active() is False
    listed = invoke(database_url, "clients", "list")[1]
    assert f"{AGENCY}\tagency\tTổng cục Thuế\tsuspended" in listed
    code, output = invoke(database_url, "clients", "reinstate", AGENCY)
    assert code == 0, output
    assert "reinstated" in output
    assert active() is True
    recorded = rows(
        database_url,
        "SELECT action, actor_id, detail FROM audit_event "
        "WHERE action IN ('agency.suspend', 'agency.activate') ORDER BY id",
    )
    assert [(r["action"], r["actor_id"]) for r in recorded] == [
        ("agency.suspend", "cli"),
        ("agency.activate", "cli"),
    ]
    for command in ("suspend", "reinstate"):
        code, output = invoke(database_url, "clients", command, "nobody")
        assert code == 1
        assert "No agency client" in output
