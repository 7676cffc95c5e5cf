"""``registry staff list|show|disable|enable|set-roles|reset``: the staff lifecycle from the
server's command line, each change an audit event naming the operator who ran it."""

from __future__ import annotations

import getpass
import json
import os
import re

import pytest
from typer.testing import CliRunner

from registry.cli import app
from tests.identity.test_cli_identity import rows

runner = CliRunner()
OPERATOR = "cli:" + (os.environ.get("SUDO_USER") or getpass.getuser())


def run(database_url: str, *args: str, input: str | None = None) -> str:
    result = runner.invoke(
        app, list(args), env={"REGISTRY_DATABASE_URL": database_url}, input=input
    )
    assert result.exit_code == 0, result.output
    return result.output


def refused(database_url: str, *args: str) -> str:
    result = runner.invoke(app, list(args), env={"REGISTRY_DATABASE_URL": database_url})
    assert result.exit_code == 1, result.output
    return result.output


def create(database_url: str, username: str, *roles: str) -> str:
    role_args = [arg for role in roles for arg in ("--role", role)]
    return run(
        database_url,
        "staff",
        "create",
        username,
        "--name",
        "Lê Thị Hoa",
        *role_args,
        "--password-stdin",
        input="a long staff password\n",
    )


def staff_events(database_url: str) -> list[dict[str, object]]:
    return rows(
        database_url,
        "SELECT actor_type, actor_id, action, outcome, detail FROM audit_event "
        "WHERE action LIKE 'identity.staff.%' ORDER BY id",
    )


@pytest.mark.parametrize(
    "command", ["list", "show", "disable", "enable", "set-roles", "reset", "create"]
)
def test_each_staff_command_has_help(command: str) -> None:
    result = runner.invoke(app, ["staff", command, "--help"])
    assert result.exit_code == 0, result.output


def test_create_is_recorded_with_the_operator_as_actor(database_url: str) -> None:
    create(database_url, "hoa.le", "official")
    (event,) = staff_events(database_url)
    assert (event["actor_type"], event["actor_id"]) == ("administrator", OPERATOR)
    assert event["action"] == "identity.staff.create"
    detail = json.loads(str(event["detail"]))
    assert detail == {"username": "hoa.le", "roles": "official", "password": True}


def test_create_with_an_enrolment_code_stores_no_password_and_only_the_codes_hash(
    database_url: str,
) -> None:
    output = run(
        database_url, "staff", "create", "moi.vao", "--name", "Phạm Văn Mới", "--role",
        "auditor", "--enrolment-code",
    )  # fmt: skip
    code = re.search(r"enrolment code: (\S+)", output).group(1)  # type: ignore[union-attr]
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", code)
    (account,) = rows(database_url, "SELECT password_hash FROM account")
    assert account["password_hash"] is None
    (stored,) = rows(database_url, "SELECT * FROM staff_enrolment_code")
    assert code not in json.dumps(stored, default=str)
    assert stored["issued_by"] == OPERATOR


def test_list_and_show_name_roles_status_and_passkeys(database_url: str) -> None:
    create(database_url, "hoa.le", "official")
    create(database_url, "an.tran", "auditor", "administrator")
    listed = run(database_url, "staff", "list").splitlines()
    assert listed[0].split("\t")[:4] == ["username", "name", "roles", "status"]
    assert listed[1].split("\t")[:5] == [
        "an.tran", "Lê Thị Hoa", "administrator auditor", "active", "0",
    ]  # fmt: skip
    assert listed[2].startswith("hoa.le\t")
    shown = run(database_url, "staff", "show", "hoa.le")
    assert "roles:          official" in shown
    assert "status:         active" in shown
    assert "No staff account" in refused(database_url, "staff", "show", "nobody")
    actions = [(e["action"], e["outcome"]) for e in staff_events(database_url)]
    assert actions[-3:] == [
        ("identity.staff.view", "granted"),
        ("identity.staff.view", "granted"),
        ("identity.staff.view", "not_found"),
    ]


def test_disable_enable_and_set_roles_change_the_account_and_are_recorded(
    database_url: str,
) -> None:
    create(database_url, "hoa.le", "official")
    run(database_url, "staff", "disable", "hoa.le")
    assert "disabled" in run(database_url, "staff", "show", "hoa.le")
    (account,) = rows(database_url, "SELECT status, lock_reason FROM account")
    assert (account["status"], account["lock_reason"]) == ("locked", "disabled")
    run(database_url, "staff", "enable", "hoa.le")
    run(database_url, "staff", "set-roles", "hoa.le", "--role", "auditor", "--role", "official")
    (account,) = rows(database_url, "SELECT status, roles FROM account")
    assert (account["status"], account["roles"]) == ("active", "auditor official")
    assert "must be among" in refused(database_url, "staff", "set-roles", "hoa.le", "--role", "x")
    changes = [e for e in staff_events(database_url) if e["action"] != "identity.staff.view"]
    assert [e["action"] for e in changes] == [
        "identity.staff.create",
        "identity.staff.disable",
        "identity.staff.enable",
        "identity.staff.roles",
    ]
    assert {e["actor_id"] for e in changes} == {OPERATOR}
    assert json.loads(str(changes[-1]["detail"])) == {
        "username": "hoa.le",
        "before": "official",
        "after": "auditor official",
    }


def test_the_last_active_administrator_cannot_be_disabled_or_lose_the_role(
    database_url: str,
) -> None:
    create(database_url, "quan.tri", "administrator")
    assert "last active administrator" in refused(database_url, "staff", "disable", "quan.tri")
    assert "last active administrator" in refused(
        database_url, "staff", "set-roles", "quan.tri", "--role", "official"
    )
    refusals = [e for e in staff_events(database_url) if e["outcome"] == "denied"]
    assert [e["action"] for e in refusals] == ["identity.staff.disable", "identity.staff.roles"]
    assert all(str(e["actor_id"]).startswith("cli:") for e in refusals)
    create(database_url, "quan.tri2", "administrator")
    run(database_url, "staff", "disable", "quan.tri")


def test_reset_removes_the_password_ends_sessions_and_issues_a_code(database_url: str) -> None:
    create(database_url, "hoa.le", "official")
    output = run(database_url, "staff", "reset", "hoa.le")
    assert "passkeys removed, sessions and tokens ended" in output
    first = re.search(r"enrolment code: (\S+)", output).group(1)  # type: ignore[union-attr]
    (account,) = rows(database_url, "SELECT password_hash FROM account")
    assert account["password_hash"] is None
    second = re.search(
        r"enrolment code: (\S+)", run(database_url, "staff", "reset", "hoa.le")
    ).group(1)  # type: ignore[union-attr]
    assert first != second
    # A new reset replaces the code: one row, the second code's.
    assert len(rows(database_url, "SELECT account_id FROM staff_enrolment_code")) == 1
    (event,) = [e for e in staff_events(database_url) if e["action"] == "identity.staff.reset"][:1]
    assert event["actor_id"] == OPERATOR
    assert json.loads(str(event["detail"])) == {"username": "hoa.le", "passkeys_removed": 0}
    assert "No staff account" in refused(database_url, "staff", "reset", "nobody")
