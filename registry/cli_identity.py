"""``registry staff|clients|keys|accounts``: administering the electronic identity."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from core.errors import RegistryError

if TYPE_CHECKING:  # imported by the commands (see cli_audit)
    from sqlalchemy.ext.asyncio import AsyncSession

staff_app = typer.Typer(help="Staff accounts (officials, auditors, administrators).")
clients_app = typer.Typer(help="OAuth clients: relying parties and agencies.")
keys_app = typer.Typer(help="OIDC signing keys.")
accounts_app = typer.Typer(help="Citizens' electronic identities.")

T = TypeVar("T")


def _console() -> Any:
    from registry.cli import console

    return console


def _in_unit_of_work(work: Callable[[AsyncSession, Any], Awaitable[T]]) -> T:
    from core.db import Database
    from registry.cli import load_cli_settings

    settings = load_cli_settings()

    async def run() -> T:
        database = Database(settings)
        try:
            async with database.unit_of_work() as session:
                return await work(session, settings)
        finally:
            await database.dispose()

    try:
        return asyncio.run(run())
    except RegistryError as exc:
        _console().print(f"[red]error:[/red] {exc.detail}")
        for err in exc.errors:
            _console().print(f"  - {err.detail}")
        raise typer.Exit(1) from None


def _read_password(stdin: bool) -> str:
    if stdin:
        return sys.stdin.readline().rstrip("\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


def context_for(settings: Any) -> Any:
    """The identity context the app builds, for commands."""
    return _context(settings)


def _context(settings: Any) -> Any:
    from identity.accounts import IdentityContext
    from identity.passwords import PasswordHasher
    from registry.directory import RegistryDirectory

    return IdentityContext(
        settings=settings,
        hasher=PasswordHasher.from_settings(settings),
        directory=RegistryDirectory(),
    )


def _operator() -> Any:
    """The actor of a staff command: the system user running it (behind sudo, who ran sudo)."""
    import getpass
    import os

    from identity.staff import operator_principal

    return operator_principal(os.environ.get("SUDO_USER") or getpass.getuser())


def _when(value: Any) -> str:
    """An instant as operators read it: dd/mm/yyyy HH:MM, Vietnam time."""
    from core.clock import time_text

    return time_text(value, empty="-")


def _print_code(code: str, expires: Any) -> None:
    typer.echo(f"enrolment code: {code}")
    typer.echo(
        f"valid until {_when(expires)} (Vietnam time), single use; hand it over in person. "
        "The staff member signs in at /staff/enrol with it and registers a new passkey."
    )


@staff_app.command("create")
def staff_create(
    username: str = typer.Argument(..., help="Sign-in name (letters, digits, dots, hyphens)."),
    name: str = typer.Option(..., "--name", help="Display name."),
    role: list[str] = typer.Option(..., "--role", help="official, auditor or administrator."),
    password_stdin: bool = typer.Option(False, help="Read the password from standard input."),
    office: str | None = typer.Option(
        None, "--office", help="Where they work, as citizens read it in their access log."
    ),
    enrolment_code: bool = typer.Option(
        False, "--enrolment-code", help="No password: issue a one-time enrolment code instead."
    ),
) -> None:
    """Create a staff account; it must register a passkey at its first sign-in."""
    from identity import staff

    password = None if enrolment_code else _read_password(password_stdin)

    async def work(session: AsyncSession, settings: Any) -> tuple[str, Any]:
        account, code = await staff.create(
            session,
            _context(settings),
            actor=_operator(),
            username=username,
            display_name=name,
            roles=tuple(role),
            password=password,
            office=office,
        )
        return account.id, code

    account_id, code = _in_unit_of_work(work)
    typer.echo(f"staff account {username} created (id {account_id}); roles: {' '.join(role)}")
    if code is not None:
        _print_code(*code)
    else:
        typer.echo("first sign-in with the password, then register a passkey (required)")


@staff_app.command("list")
def staff_list() -> None:
    """Every staff account: username, name, roles, status, passkeys, last sign-in."""
    from identity import staff

    async def work(session: AsyncSession, settings: Any) -> list[Any]:
        return await staff.list_staff(session, actor=_operator())

    typer.echo("username\tname\troles\tstatus\tpasskeys\tlast sign-in")
    for row in _in_unit_of_work(work):
        typer.echo(
            "\t".join(
                (
                    row.username,
                    row.display_name,
                    " ".join(row.roles),
                    row.status,
                    str(row.passkeys),
                    _when(row.last_sign_in),
                )
            )
        )


@staff_app.command("show")
def staff_show(username: str = typer.Argument(..., help="The staff member's username.")) -> None:
    """One staff account: roles, status, passkeys, sessions, the latest enrolment code."""
    from identity import staff

    async def work(session: AsyncSession, settings: Any) -> Any:
        return await staff.show_staff(session, actor=_operator(), username=username)

    row = _in_unit_of_work(work)
    typer.echo(f"username:       {row.username}")
    typer.echo(f"name:           {row.display_name}")
    typer.echo(f"roles:          {' '.join(row.roles)}")
    typer.echo(f"status:         {row.status}")
    typer.echo(f"created:        {_when(row.created_at)}")
    typer.echo(f"last sign-in:   {_when(row.last_sign_in)}")
    typer.echo(f"live sessions:  {row.live_sessions}")
    typer.echo(f"passkeys:       {row.passkeys}")
    for key in row.passkey_list:
        typer.echo(f"  - {key['name']} (last used {_when(key['last_used_at'])})")
    if row.code is not None:
        code = row.code
        typer.echo(
            f"enrolment code: {code.state}, issued by {code.issued_by}, "
            f"valid until {_when(code.expires_at)}, wrong attempts {code.failed_attempts}"
        )


def _staff_change(username: str, change: Callable[..., Awaitable[Any]], **kwargs: Any) -> None:
    async def work(session: AsyncSession, settings: Any) -> Any:
        return await change(session, actor=_operator(), username=username, **kwargs)

    _in_unit_of_work(work)


@staff_app.command("disable")
def staff_disable(username: str = typer.Argument(..., help="The staff member's username.")) -> None:
    """Disable a staff account: its sessions end and its tokens stop working at once."""
    from identity import staff

    _staff_change(username, staff.disable)
    typer.echo(f"staff account {username} disabled; its sessions and tokens are ended")


@staff_app.command("enable")
def staff_enable(username: str = typer.Argument(..., help="The staff member's username.")) -> None:
    """Enable a disabled staff account."""
    from identity import staff

    _staff_change(username, staff.enable)
    typer.echo(f"staff account {username} enabled")


@staff_app.command("set-roles")
def staff_set_roles(
    username: str = typer.Argument(..., help="The staff member's username."),
    role: list[str] = typer.Option(..., "--role", help="official, auditor or administrator."),
) -> None:
    """Replace a staff member's roles."""
    from identity import staff

    _staff_change(username, staff.set_roles, roles=tuple(role))
    typer.echo(f"roles of {username}: {' '.join(sorted(set(role)))}")


@staff_app.command("reset")
def staff_reset(username: str = typer.Argument(..., help="The staff member's username.")) -> None:
    """A lost device: remove the staff member's passkeys and password, end their sessions,
    revoke their tokens, and issue a one-time enrolment code to hand over in person."""
    from identity import staff

    async def work(session: AsyncSession, settings: Any) -> tuple[str, Any]:
        return await staff.reset(session, _context(settings), actor=_operator(), username=username)

    code, expires = _in_unit_of_work(work)
    typer.echo(f"staff account {username} reset: passkeys removed, sessions and tokens ended")
    _print_code(code, expires)


@clients_app.command("create")
def clients_create(
    name: str = typer.Option(..., "--name", help="Shown to citizens on the consent page."),
    type: str = typer.Option(..., "--type", help="rp (citizen sign-in) or agency (API)."),
    redirect_uri: list[str] = typer.Option([], "--redirect-uri", help="Exact redirect URI."),
    post_logout_uri: list[str] = typer.Option([], "--post-logout-uri", help="After logout."),
    scope: list[str] = typer.Option(
        [], "--scope", help="Allowed scope (repeat); only those the client type can use."
    ),
    auth: str = typer.Option("client_secret_basic", "--auth", help="Client authentication."),
    jwks_file: Path | None = typer.Option(None, "--jwks-file", help="JWK Set (private_key_jwt)."),
    sector: str | None = typer.Option(None, "--sector", help="Pairwise sector identifier."),
    id_token_alg: str | None = typer.Option(
        None, "--id-token-alg", help="RS256 or ES256 (default RS256; ES256 for fapi2)."
    ),
    first_party: bool = typer.Option(False, help="The registry's own portal: no consent page."),
    client_id: str | None = typer.Option(None, "--client-id", help="Choose the id."),
    profile: str = typer.Option(
        "standard", "--profile", help="standard, or fapi2 (PAR, DPoP, private_key_jwt)."
    ),
    require_par: bool = typer.Option(False, help="Authorization requests by PAR only."),
    dpop: bool = typer.Option(False, help="Tokens must be DPoP-bound."),
) -> None:
    """Register a client; prints its id and secret once (only the SHA-256 is stored)."""
    from identity.oidc.clients import create_client

    scopes: list[str] = []
    for item in scope:
        scopes.extend(item.split())
    jwks = json.loads(jwks_file.read_text()) if jwks_file else None

    async def work(session: AsyncSession, settings: Any) -> tuple[str, str | None]:
        new = await create_client(
            session,
            settings,
            name=name,
            type=type,
            redirect_uris=redirect_uri,
            post_logout_redirect_uris=post_logout_uri,
            scopes=scopes or None,
            auth_method=auth,
            jwks=jwks,
            sector_identifier=sector,
            id_token_alg=id_token_alg,
            first_party=first_party,
            client_id=client_id,
            profile=profile,
            require_par=require_par,
            dpop_bound=dpop,
        )
        return new.client.client_id, new.secret

    cid, secret = _in_unit_of_work(work)
    typer.echo(f"client_id: {cid}")
    if secret:
        typer.echo(f"client_secret: {secret}")
        typer.echo("(the secret is shown once; store it now)")


@clients_app.command("list")
def clients_list() -> None:
    """List the clients."""
    from identity.oidc.clients import list_clients

    async def work(session: AsyncSession, settings: Any) -> list[tuple[str, str, str, str]]:
        return [
            (c.client_id, c.type, c.name, "active" if c.active else "suspended")
            for c in await list_clients(session)
        ]

    for row in _in_unit_of_work(work):
        typer.echo("\t".join(row))


@keys_app.command("rotate")
def keys_rotate(
    alg: str | None = typer.Option(None, "--alg", help="RS256 or ES256 (default: both)."),
) -> None:
    """New signing keys; retired ones stay in the JWKS until their tokens have expired."""
    from identity import keys

    async def work(session: AsyncSession, settings: Any) -> Any:
        return await keys.rotate(session, settings, alg=alg)

    result = _in_unit_of_work(work)
    typer.echo(f"rotated: {result}")


@accounts_app.command("activation-code")
def activation_code(
    id_number: str = typer.Argument(..., help="The citizen's 12-digit ID number."),
    official: str = typer.Option(..., "--official", help="Username of the issuing official."),
) -> None:
    """Issue a single-use, short-lived activation code after an in-person check (level 2)."""
    from core.principal import Principal
    from identity import accounts

    async def work(session: AsyncSession, settings: Any) -> tuple[str, Any]:
        principal = Principal(
            actor_type="official", actor_id=official, roles=frozenset({"official"})
        )
        return await accounts.issue_activation_code(
            session, _context(settings), official=principal, citizen_id=id_number
        )

    code, expires = _in_unit_of_work(work)
    typer.echo(f"activation code: {code}")
    typer.echo(f"valid until {expires.isoformat()} (single use)")


# ------------------------------------------------------------------------------ agency policies


def _cli_official() -> Any:
    # Commands run by an operator on the server: recorded in the audit trail as actor "cli".
    from core.principal import Principal

    return Principal(actor_type="official", actor_id="cli", roles=frozenset({"official"}))


@clients_app.command("policy")
def clients_policy(
    client_id: str = typer.Argument(..., help="The agency's client id."),
    action: list[str] = typer.Option(
        [], "--action", help="verify, verify_batch or lookup (repeat)."
    ),
    field: list[str] = typer.Option([], "--field", help="A record field lookups release (repeat)."),
    purpose: list[str] = typer.Option([], "--purpose", help="A purpose code (repeat)."),
    attribute_results: bool = typer.Option(
        False, "--attribute-results", help="Answer verifications attribute by attribute."
    ),
    name_match: str = typer.Option("exact", "--name-match", help="exact or folded."),
    rate: float = typer.Option(10.0, "--rate", help="Sustained requests per second."),
    burst: int = typer.Option(20, "--burst", help="Requests allowed at once."),
    batch_max: int = typer.Option(1000, "--batch-max", help="Items per batch (at most 1000)."),
) -> None:
    """Replace an agency's policy (what it may ask, for which purposes, how often)."""
    from registry.agency import admin

    raw = {
        "actions": action,
        "fields": field,
        "purposes": purpose,
        "attribute_results": attribute_results,
        "name_match": name_match,
        "rate_per_second": rate,
        "burst": burst,
        "batch_max": batch_max,
    }

    async def work(session: AsyncSession, settings: Any) -> str:
        policy = await admin.set_policy(
            session, official=_cli_official(), client_id=client_id, raw=raw
        )
        return policy.to_json()

    typer.echo(f"policy of {client_id}: {_in_unit_of_work(work)}")


def _set_agency_active(client_id: str, active: bool) -> None:
    from registry.agency import admin

    async def work(session: AsyncSession, settings: Any) -> None:
        await admin.set_active(
            session, official=_cli_official(), client_id=client_id, active=active
        )

    _in_unit_of_work(work)


@clients_app.command("suspend")
def clients_suspend(client_id: str = typer.Argument(..., help="The agency's client id.")) -> None:
    """Suspend an agency: its tokens stop working at once."""
    _set_agency_active(client_id, False)
    typer.echo(f"agency {client_id} suspended")


@clients_app.command("reinstate")
def clients_reinstate(client_id: str = typer.Argument(..., help="The agency's client id.")) -> None:
    """Lift an agency's suspension."""
    _set_agency_active(client_id, True)
    typer.echo(f"agency {client_id} reinstated")
