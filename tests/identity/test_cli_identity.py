"""``registry staff|clients|keys|accounts``: the identity administration commands."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from registry.cli import app

runner = CliRunner()


def rows(database_url: str, sql: str) -> list[dict[str, object]]:
    import asyncio

    from sqlalchemy.ext.asyncio import create_async_engine

    async def run() -> list[dict[str, object]]:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as conn:
                return [dict(r._mapping) for r in await conn.execute(text(sql))]
        finally:
            await engine.dispose()

    return asyncio.run(run())


@pytest.mark.parametrize(
    "args",
    [
        ["staff", "create", "--help"],
        ["clients", "create", "--help"],
        ["clients", "list", "--help"],
        ["keys", "rotate", "--help"],
        ["accounts", "activation-code", "--help"],
    ],
)
def test_identity_commands_have_help(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output


def created_agency(database_url: str) -> tuple[str, str]:
    """An agency created with ``registry clients create``; its client_id and printed secret."""
    result = runner.invoke(
        app,
        [
            "clients",
            "create",
            "--name",
            "Ngân hàng A",
            "--type",
            "agency",
            "--scope",
            "verify lookup",
        ],
        env={"REGISTRY_DATABASE_URL": database_url},
    )
    assert result.exit_code == 0, result.output
    client_id = re.search(r"client_id: (\S+)", result.output).group(1)  # type: ignore[union-attr]
    secret = re.search(r"client_secret: (\S+)", result.output).group(1)  # type: ignore[union-attr]
    return client_id, secret


def test_clients_create_stores_the_secrets_hash_and_never_the_secret(database_url: str) -> None:
    client_id, secret = created_agency(database_url)
    (row,) = rows(database_url, f"SELECT * FROM oauth_client WHERE client_id = '{client_id}'")
    assert row["secret_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in json.dumps(row, default=str)
    assert row["scopes"] == "verify lookup"


def test_clients_list_shows_the_client_but_not_its_secret(database_url: str) -> None:
    client_id, secret = created_agency(database_url)
    listed = runner.invoke(app, ["clients", "list"], env={"REGISTRY_DATABASE_URL": database_url})
    assert client_id in listed.output
    assert secret not in listed.output


def test_clients_create_refuses_a_redirect_uri_without_https(database_url: str) -> None:
    bad = runner.invoke(
        app,
        [
            "clients",
            "create",
            "--name",
            "X",
            "--type",
            "rp",
            "--redirect-uri",
            "http://evil.example/cb",
        ],
        env={"REGISTRY_DATABASE_URL": database_url},
    )
    assert bad.exit_code == 1
    assert "https" in bad.output


def test_clients_create_refuses_a_scope_the_client_type_cannot_use(database_url: str) -> None:
    env = {"REGISTRY_DATABASE_URL": database_url}
    rp = ["clients", "create", "--name", "X", "--type", "rp", "--redirect-uri", "https://a.vn/cb"]
    refused = runner.invoke(app, [*rp, "--scope", "openid lookup"], env=env)
    assert refused.exit_code == 1
    assert "lookup" in refused.output
    agency = runner.invoke(app, ["clients", "create", "--name", "Y", "--type", "agency"], env=env)
    assert agency.exit_code == 0, agency.output
    assert rows(database_url, "SELECT scopes FROM oauth_client") == [{"scopes": ""}]


def test_staff_create_and_activation_code(database_url: str) -> None:
    env = {"REGISTRY_DATABASE_URL": database_url}
    result = runner.invoke(
        app,
        [
            "staff",
            "create",
            "clerk.hanoi",
            "--name",
            "Trần Văn Bình",
            "--role",
            "official",
            "--office",
            "Công an  phường Hàng Bạc",
            "--password-stdin",
        ],
        input="a long staff password\n",
        env=env,
    )
    assert result.exit_code == 0, result.output
    (row,) = rows(
        database_url,
        "SELECT username, roles, office, passkey_required, password_hash FROM account",
    )
    assert row["roles"] == "official"
    assert row["office"] == "Công an phường Hàng Bạc"  # as citizens read it: spaces collapsed
    assert row["passkey_required"]
    assert str(row["password_hash"]).startswith("$argon2id$")
    missing = runner.invoke(
        app, ["accounts", "activation-code", "001303004512", "--official", "clerk.hanoi"], env=env
    )
    assert missing.exit_code == 1
    assert "No citizen" in missing.output


def test_keys_rotate_keeps_the_old_key_published(database_url: str) -> None:
    env = {"REGISTRY_DATABASE_URL": database_url}
    first = runner.invoke(app, ["keys", "rotate"], env=env)
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, ["keys", "rotate", "--alg", "ES256"], env=env)
    assert second.exit_code == 0, second.output
    keys = rows(database_url, "SELECT alg, active, publish_until FROM signing_key")
    assert sorted((k["alg"], bool(k["active"])) for k in keys).count(("ES256", True)) == 1
    assert any(not k["active"] and k["publish_until"] is not None for k in keys)


def test_clients_create_registers_a_fapi2_client(database_url: str, tmp_path: Path) -> None:
    from tests.identity.fapi_client import Key

    env = {"REGISTRY_DATABASE_URL": database_url}
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**Key.es256().jwk(), "alg": "ES256"}]}))
    rp = ["clients", "create", "--name", "X", "--type", "rp", "--redirect-uri", "https://a.vn/cb"]
    refused = runner.invoke(app, [*rp, "--profile", "fapi2"], env=env)
    assert refused.exit_code == 1
    assert "private_key_jwt" in refused.output
    made = runner.invoke(
        app,
        [*rp, "--profile", "fapi2", "--auth", "private_key_jwt", "--jwks-file", str(jwks)],
        env=env,
    )
    assert made.exit_code == 0, made.output
    assert "client_secret" not in made.output
    (row,) = rows(
        database_url, "SELECT profile, require_par, dpop_bound, id_token_alg FROM oauth_client"
    )
    assert row == {
        "profile": "fapi2",
        "require_par": True,
        "dpop_bound": True,
        "id_token_alg": "ES256",
    }
