"""``registry audit ...``: sequence, checkpoint, verify, prove, check a proof offline."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from audit.checkpoint import Signer
    from audit.verification import VerifyReport
    from audit.worker import AuditWorker
    from core.db import Database
    from core.settings import Settings

# The audit, database and settings modules are imported by the commands that use them: the
# `registry` command imports this module whatever it is asked to do (issue 4: `registry import`
# reads its file's digest meanwhile).

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


def _settings() -> Settings:
    from registry.cli import load_cli_settings

    return load_cli_settings()


def _worker(settings: Settings, database: Database) -> AuditWorker:
    from audit.worker import AuditWorker

    return AuditWorker.from_settings(database, settings)


@audit_app.command("sequence")
def sequence(
    follow: bool = typer.Option(False, "--follow", help="Keep running (as the in-app worker)."),
) -> None:
    """Give leaves to committed events (one sequencer is active at a time)."""
    from core.db import Database

    settings = _settings()
    if follow and settings.audit_sequencer_nice:
        # Background work with seconds of slack: on cores it shares with the API's workers, its
        # batches must not delay requests (docs/performance.md, "Sequencer interval").
        os.nice(settings.audit_sequencer_nice)

    async def run() -> int:
        database = Database(settings)
        try:
            worker = _worker(settings, database)
            if follow:
                await worker.run()
            return await worker.sequence_pending()
        finally:
            await database.dispose()

    typer.echo(f"sequenced {asyncio.run(run())} events")


@audit_app.command("checkpoint")
def checkpoint() -> None:
    """Sequence what is pending, then sign a checkpoint if the tree grew; print it."""
    from core.db import Database

    settings = _settings()

    async def run() -> str | None:
        database = Database(settings)
        try:
            worker = _worker(settings, database)
            await worker.sequence_pending()
            return await worker.checkpoint()
        finally:
            await database.dispose()

    note = asyncio.run(run())
    if note is None:
        typer.echo("the tree has not grown since the last checkpoint", err=True)
    else:
        sys.stdout.write(note)


async def _log_signer(settings: Settings, database: Database) -> Signer:
    """The signing key named after the log's origin, which its first checkpoint fixed (not
    the origin this command's settings would derive from their public URL)."""
    from audit import signing
    from audit.keys import load_signer

    async with database.unit_of_work() as session:
        signer = await signing.log_signer(
            session, load_signer(settings), default_origin=settings.audit_origin
        )
    configured = settings.audit_log_origin
    if configured and configured != signer.name:
        typer.echo(
            f"note: REGISTRY_AUDIT_LOG_ORIGIN is {configured!r}, but the log's origin, fixed by "
            f"its first checkpoint, is {signer.name!r}; the log's is used",
            err=True,
        )
    return signer


@audit_app.command("public-key")
def public_key() -> None:
    """Print the verifier key (C2SP vkey) that checks this registry's checkpoints."""
    from core.db import Database

    settings = _settings()

    async def run() -> str:
        database = Database(settings)
        try:
            return (await _log_signer(settings, database)).verifier_key()
        finally:
            await database.dispose()

    from sqlalchemy.exc import SQLAlchemyError

    from core.errors import RegistryError

    try:
        vkey = asyncio.run(run())
    except (SQLAlchemyError, OSError, RegistryError) as exc:
        # A key named after a guessed origin would fail every check of this log's checkpoints.
        typer.echo(
            f"error: the log's origin (the key's name) is read from the database: {exc}", err=True
        )
        raise typer.Exit(1) from None
    typer.echo(vkey)


@audit_app.command("verify")
def verify() -> None:
    """Recompute every leaf, rebuild the root, check every signed checkpoint."""
    from audit import proofs, verification
    from core.db import Database

    settings = _settings()

    async def run() -> tuple[VerifyReport, Signer]:
        database = Database(settings)
        try:
            signer = await _log_signer(settings, database)
            async with database.unit_of_work() as session:
                report = await verification.verify(session, signer.verifier(), origin=signer.name)
                return report, signer
        finally:
            await database.dispose()

    report, signer = asyncio.run(run())
    typer.echo(
        f"origin: {signer.name}  key: {signer.name}+{signer.key_id.hex()}\n"
        f"leaves: {report.leaves}  checkpoints: {report.checkpoints}  "
        f"root: {proofs.b64(report.root)}"
    )
    if report.ok:
        typer.echo("OK: every leaf matches its event and every checkpoint matches the log")
        return
    if report.first_bad_index is not None:
        typer.echo(f"FAILED: first index that disagrees: {report.first_bad_index}")
    else:
        typer.echo("FAILED")
    for problem in report.problems:
        typer.echo(f"  - {problem}")
    raise typer.Exit(1)


@audit_app.command("prove")
def prove(event: str = typer.Argument(..., help="The event's id (event_uid).")) -> None:
    """Print an inclusion proof of EVENT against the newest checkpoint (JSON)."""
    from audit import proofs
    from core.db import Database

    settings = _settings()

    async def run() -> dict[str, object]:
        database = Database(settings)
        try:
            async with database.unit_of_work() as session:
                return await proofs.inclusion_proof(session, event)
        finally:
            await database.dispose()

    from core.errors import RegistryError

    try:
        proof = asyncio.run(run())
    except RegistryError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(proof, indent=2, ensure_ascii=False))


@audit_app.command("check-proof")
def check_proof(
    proof_file: Path = typer.Argument(..., help="The JSON printed by `registry audit prove`."),
    public_key: str = typer.Option(..., "--public-key", help="The vkey, or a file holding it."),
    origin: str | None = typer.Option(None, help="Expected origin (default: the key's name)."),
) -> None:
    """Verify an inclusion proof offline: only the proof, its checkpoint and the public key."""
    from audit import proofs
    from audit.checkpoint import CheckpointError, Verifier

    vkey = Path(public_key).read_text().strip() if Path(public_key).is_file() else public_key
    try:
        verifier = Verifier.from_vkey(vkey)
        proof = json.loads(proof_file.read_text())
        checkpoint = proofs.check_inclusion(proof, verifier, origin=origin or verifier.name)
    except (CheckpointError, proofs.ProofError, ValueError) as exc:
        typer.echo(f"INVALID: {exc}")
        raise typer.Exit(1) from None
    typer.echo(
        f"VALID: leaf {proof['leaf_index']} is in the log of {checkpoint.size} leaves "
        f"signed by {verifier.name}"
    )
