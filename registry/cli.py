"""The ``registry`` command: serve the service, migrate the database, show the version."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

import registry

if TYPE_CHECKING:
    from core.settings import Settings

# Commands import what they use (settings, database, the app) when they run: this module and
# its subcommands' are imported whatever the command, and `registry import` reads its file's
# digest in a thread while the rest of the service's modules are imported.

app = typer.Typer(
    name="registry",
    help="National population and identity registry.",
    no_args_is_help=True,
    add_completion=False,
)
# Messages are never wrapped at the terminal width: a path or value cut by a line break
# cannot be copied (or matched by a log search).
console = Console(stderr=True, soft_wrap=True)


def _add_subcommands() -> None:
    from registry.cli_audit import audit_app
    from registry.cli_identity import accounts_app, clients_app, keys_app, staff_app

    app.add_typer(audit_app, name="audit")
    app.add_typer(staff_app, name="staff")
    app.add_typer(clients_app, name="clients")
    app.add_typer(keys_app, name="keys")
    app.add_typer(accounts_app, name="accounts")


def load_cli_settings() -> Settings:
    """Settings from the environment; a clear message and exit code 2 when they are invalid."""
    from core.settings import SettingsError, load_settings

    try:
        return load_settings()
    except SettingsError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


def _describe_database(settings: Settings) -> str:
    # Never print a password: render the URL with it masked.
    return settings.url.render_as_string(hide_password=True)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
    workers: int = typer.Option(1, min=1, max=64, help="Worker processes."),
) -> None:
    """Serve the HTTP API (uvicorn)."""
    import uvicorn

    from core.logging import configure_logging
    from core.settings import Settings

    settings = load_cli_settings()
    default_url = Settings.model_fields["public_url"].default
    if "REGISTRY_PUBLIC_URL" not in os.environ and settings.public_url == default_url:
        # The default public URL names port 8000: follow --host and --port, so that the printed
        # links, the OpenID Connect issuer and the passkey origin are this server's (workers
        # read the env).
        os.environ["REGISTRY_PUBLIC_URL"] = local_url(host, port)
        settings = load_cli_settings()
    configure_logging(settings.log_level)
    _check_app_builds(settings)
    _print_banner(settings)
    uvicorn.run(
        "registry.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_config=None,
        server_header=False,
        proxy_headers=False,
        # httptools, each response written to the socket in one system call (core/serving.py).
        http="core.serving:HttpToolsProtocol",
    )


# Addresses that mean "this machine" to a browser on it: the service is opened as localhost,
# a secure context and a valid WebAuthn relying party id (an IP address is neither).
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0", "::", ""}  # noqa: S104


def local_url(host: str, port: int) -> str:
    """The base URL a browser opens for a server listening on ``host``:``port``."""
    if host in _LOCAL_HOSTS or host.startswith("127."):
        return f"http://localhost:{port}"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _print_banner(settings: Settings) -> None:
    """Where to go, all under the one public URL: first the start page, which links to where
    each kind of user signs in (the same places, registry/guide/pages.py DOORS)."""
    from registry.guide.pages import DOORS

    base = settings.public_url.rstrip("/")
    console.print(f"[bold]Registry {registry.__version__}[/bold] ({settings.environment})")
    console.print(f"  open          : {base}/  (start page: where each kind of user signs in)")
    console.print(f"  database      : {_describe_database(settings)}")
    for door in DOORS:
        console.print(f"  {door.key:<14}: {base}{door.path}")
    console.print(f"  API docs      : {base}/docs  {base}/redoc")
    console.print(f"  OpenID Connect: {base}/.well-known/openid-configuration")
    console.print(f"  health        : {base}/healthz  {base}/readyz")
    console.print(
        f"  audit log     : {base}/api/v1/audit/checkpoint  (key: /api/v1/audit/public-key)"
    )
    demo = _demo_citizen(settings)
    if demo:
        console.print(f"  demo          : citizen ID {demo}, password {DEMO_PASSWORD!r}")
        staff = ", ".join(f"{role} {name!r}" for role, name, _ in DEMO_STAFF)
        console.print(
            f"                  {staff}: same password (staff register a passkey at the first "
            "sign-in)"
        )


def _check_app_builds(settings: Settings) -> None:
    """Build the app once before serving: a worker that cannot build it (a missing signing
    key, a bad key-encryption key) exits, and uvicorn's supervisor would restart it forever,
    never serving and never exiting. Refused here, the command exits with the reason."""
    from registry.app import create_app

    try:
        create_app(settings)
    except Exception as exc:  # noqa: BLE001 - any failure to build is fatal, named, not traced
        console.print(f"[red]error:[/red] cannot start: {exc}")
        raise typer.Exit(2) from None


@app.command()
def migrate(
    revision: str = typer.Argument("head", help="Target revision (default: the newest)."),
) -> None:
    """Bring the database schema up to date (alembic upgrade)."""
    import migrations
    from core.db import sqlite_path

    settings = load_cli_settings()
    path = sqlite_path(settings.url)
    if path is not None:
        from pathlib import Path

        Path(path).parent.mkdir(parents=True, exist_ok=True)
    migrations.upgrade(settings.database_url, revision)
    console.print(f"database at revision {revision}: {_describe_database(settings)}")


@app.command("import")
def import_(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV or NDJSON file."),
    fmt: str | None = typer.Option(None, "--format", help="csv or ndjson (default: by suffix)."),
    update: bool = typer.Option(False, "--update", help="Update records that exist and differ."),
    batch_size: int = typer.Option(10_000, min=1, max=200_000, help="Rows per transaction."),
    rejects: Path | None = typer.Option(None, help="Reject report (default: FILE.rejects.csv)."),
    max_rejects: int = typer.Option(
        0, "--max-rejects", min=0, help="Rejected rows tolerated: more make the exit code 1."
    ),
    actor: str = typer.Option("import-cli", help="Who is importing (recorded in the audit log)."),
    workers: int | None = typer.Option(
        None, min=1, max=64, help="Processes validating rows (default: up to 2 for a large file)."
    ),
) -> None:
    """Load citizen records from FILE: validated, idempotent, resumable, audited per batch.

    Exit code 0: loaded, with at most --max-rejects rows rejected; 1: more rows rejected (the
    valid ones are loaded; see the reject report); 2: nothing done (the file is refused for its
    header, delimiter or format, or an option or setting is wrong).
    """
    import asyncio
    import time
    from concurrent.futures import ThreadPoolExecutor

    from registry.bulk import POOL_MIN_BYTES, worker_context
    from registry.bulk.reader import file_digest

    # While this process imports the rest, a thread reads the file's digest (its identity for
    # resuming) and, for a large file, the workers' fork server imports their code.
    hashing = ThreadPoolExecutor(1, thread_name_prefix="digest")
    digest = hashing.submit(file_digest, file)
    hashing.shutdown(wait=False)
    if workers != 1 and file.stat().st_size > POOL_MIN_BYTES:
        worker_context()

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from core.db import Database
    from core.principal import Principal
    from registry.bulk.reader import FileRefused
    from registry.bulk.service import check_import_file, import_file

    settings = load_cli_settings()
    if fmt not in (None, "csv", "ndjson"):
        console.print("[red]error:[/red] --format must be csv or ndjson")
        raise typer.Exit(2)
    try:
        kind = check_import_file(file, fmt)  # type: ignore[arg-type]
    except FileRefused as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None

    async def run() -> int:
        database = Database(settings)
        columns = (
            TextColumn("[bold]import"),
            BarColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
        )
        meter = ImportProgress(size=file.stat().st_size, started=time.monotonic())
        try:
            with Progress(*columns, console=console, transient=False) as bar:
                task = bar.add_task(meter.describe(meter.started), total=meter.size)
                file_id: str = await asyncio.wrap_future(digest)

                def advance(rows: int, position: int) -> None:
                    now = time.monotonic()
                    meter.advance(rows, position, now=now)
                    bar.update(task, completed=position, description=meter.describe(now))

                report = await import_file(
                    database,
                    file,
                    actor=Principal("system", actor[:128]),
                    fmt=kind,
                    update=update,
                    batch_size=batch_size,
                    reject_path=rejects,
                    progress=advance,
                    workers=workers,
                    digest=file_id,
                )
        finally:
            await database.dispose()
        if report.already_done:
            console.print(f"already imported ({report.rows:,} rows); nothing to do")
            return _rejects_verdict(report.file_rejected, max_rejects)
        console.print(
            f"rows {report.rows:,}  loaded {report.loaded:,}  updated {report.updated:,}  "
            f"skipped (already present) {report.skipped:,}  rejected {report.rejected:,}"
            + (f"  (resumed after row {report.resumed_from:,})" if report.resumed_from else "")
        )
        if report.deferred_built:
            console.print(
                "built the indexes and key deferred during the load in "
                f"{report.deferred_seconds:.1f} s: {', '.join(report.deferred_built)}"
            )
        console.print(f"reject report: {report.reject_path}")
        return _rejects_verdict(report.file_rejected, max_rejects)

    code = asyncio.run(run())
    if code:
        raise typer.Exit(code)


def _rejects_verdict(rejected: int, max_rejects: int) -> int:
    """Say whether the file's rejected rows are within --max-rejects; the exit code."""
    rows = f"{rejected:,} row{'' if rejected == 1 else 's'} rejected"
    if rejected > max_rejects:
        console.print(
            f"[red]{rows}, more than --max-rejects {max_rejects:,} allows[/red] (exit code 1)",
            highlight=False,
        )
        return 1
    if rejected:
        console.print(f"{rows}, within --max-rejects {max_rejects:,}")
    return 0


@dataclass
class ImportProgress:
    """What the import's progress line says: the share of the file behind the committed
    batches, their rows and rate, and the time left at the rate measured so far."""

    size: int  # bytes of the file
    started: float  # clock reading (seconds) at the start
    rows: int = 0
    done: int = 0  # bytes of the file behind the last committed batch
    first: tuple[float, int] | None = None  # (clock, done) at the first batch

    def advance(self, rows: int, position: int, *, now: float) -> None:
        """A batch of ``rows`` committed, reaching ``position`` bytes into the file."""
        self.rows += rows
        self.done = position
        if self.first is None:
            self.first = (now, position)

    def describe(self, now: float) -> str:
        """'37%  120,000 rows  9,500 rows/s  0:02:05 left' (the rate and time once known)."""
        share = self.done * 100 // self.size if self.size else 100
        text = f"{share}%  {self.rows:,} rows"
        if self.first is None or now <= self.started:
            return text
        text += f"  {self.rows / (now - self.started):,.0f} rows/s"
        # From the first batch on: a resumed import's first batch reports a position far into
        # the file that this run did not read. Before a second batch, from the start.
        since, base = self.started, 0
        if now > self.first[0] and self.done > self.first[1]:
            since, base = self.first
        if self.done <= base:
            return text
        left = round((self.size - self.done) * (now - since) / (self.done - base))
        return text + f"  {left // 3600}:{left // 60 % 60:02d}:{left % 60:02d} left"


@app.command()
def generate(
    count: int = typer.Argument(..., min=0, help="How many people."),
    seed: int = typer.Option(1, "--seed", help="Same seed, same file."),
    output: Path = typer.Option(..., "-o", "--output", help="File to write (.csv or .ndjson)."),
) -> None:
    """Write a synthetic, realistic and consistent population (deterministic by seed)."""
    from registry.bulk.reader import detect_format
    from registry.synthetic import write

    try:
        fmt = detect_format(output)
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    written = write(count, seed=seed, path=output, fmt=fmt)
    console.print(f"wrote {written:,} people to {output}")


@app.command()
def demo(
    count: int = typer.Option(10_000, min=1, max=1_000_000, help="How many people."),
) -> None:
    """Load a synthetic demo population (once; skipped when the registry already has people)."""
    import asyncio
    import tempfile

    from sqlalchemy import func, select

    from core.db import Database
    from core.principal import Principal
    from registry.bulk.service import import_file
    from registry.models import Citizen
    from registry.synthetic import write

    settings = load_cli_settings()

    async def run() -> None:
        database = Database(settings)
        try:
            async with database.unit_of_work() as session:
                present = (await session.execute(select(func.count(Citizen.id_number)))).scalar()
            if present:
                console.print(f"demo population already present ({present:,} people)")
                return
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "demo.csv"
                write(count, seed=2026, path=path, fmt="csv")
                report = await import_file(
                    database,
                    path,
                    actor=Principal("system", "demo-loader"),
                    reject_path=Path(tmp) / "rejects.csv",
                )
            console.print(f"loaded a demo population of {report.loaded:,} people")
        finally:
            await _ensure_demo_account(database, settings)
            await database.dispose()

    asyncio.run(run())


DEMO_PASSWORD = "demo mật khẩu 2026"  # noqa: S105 - printed on purpose, development only
DEMO_NAME = "Demo citizen"
# Staff of the demo, one of each role: (role, sign-in name, display name).
DEMO_STAFF = (
    ("official", "demo.official", "Demo official"),
    ("auditor", "demo.auditor", "Demo auditor"),
    ("administrator", "demo.admin", "Demo administrator"),
)


async def _ensure_demo_account(database: Any, settings: Settings) -> None:
    """Give one adult demo citizen an electronic identity whose password is printed at start."""
    from sqlalchemy import select

    from identity import accounts
    from registry.cli_identity import context_for
    from registry.models import Citizen

    if settings.environment == "production":
        return
    async with database.unit_of_work() as session:
        for role, username, display_name in DEMO_STAFF:
            if await accounts.staff_account(session, username) is None:
                await accounts.create_staff(
                    session,
                    context_for(settings),
                    username=username,
                    display_name=display_name,
                    roles=(role,),
                    password=DEMO_PASSWORD,
                )
        existing = await accounts.citizen_named(session, DEMO_NAME)
        if existing:
            console.print(f"demo citizen: {existing} (password {DEMO_PASSWORD!r})")
            return
        row = (
            await session.execute(
                select(Citizen)
                .where(
                    Citizen.status == "alive",
                    Citizen.card_issue_date.is_not(None),
                    Citizen.birth_date_precision == "day",
                    Citizen.permanent_address.is_not(None),
                )
                .order_by(Citizen.id_number)
                .limit(1)
            )
        ).scalar_one_or_none()
        if row is None or row.card_issue_date is None:
            return
        await accounts.enrol(
            session,
            context_for(settings),
            citizen_id=row.id_number,
            full_name=row.full_name,
            birth_date=row.birth_date,
            card_issue_date=row.card_issue_date,
            password=DEMO_PASSWORD,
            display_name=DEMO_NAME,
        )
        console.print(f"demo citizen: {row.id_number} (password {DEMO_PASSWORD!r})")


def _demo_citizen(settings: Settings) -> str | None:
    """The demo citizen's ID number, when the demo was loaded (development only)."""
    import asyncio

    from core.db import Database
    from identity import accounts

    if settings.environment == "production":
        return None

    async def run() -> str | None:
        database = Database(settings)
        try:
            async with database.unit_of_work() as session:
                return await accounts.citizen_named(session, DEMO_NAME)
        except Exception:  # noqa: BLE001 - a missing or old database just means no demo line
            return None
        finally:
            await database.dispose()

    return asyncio.run(run())


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(registry.__version__)


_add_subcommands()


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
