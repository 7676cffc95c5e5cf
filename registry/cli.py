"""The ``registry`` command: serve the service, migrate the database, show the version."""

from __future__ import annotations

import typer
from rich.console import Console

from core.settings import Settings, SettingsError, load_settings
from registry import __version__

app = typer.Typer(
    name="registry",
    help="National population and identity registry.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)


def _add_subcommands() -> None:
    from registry.cli_audit import audit_app

    app.add_typer(audit_app, name="audit")


def load_cli_settings() -> Settings:
    """Settings from the environment; a clear message and exit code 2 when they are invalid."""
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

    settings = load_cli_settings()
    configure_logging(settings.log_level)
    base = f"http://{host}:{port}"
    console.print(f"[bold]Registry {__version__}[/bold] ({settings.environment})")
    console.print(f"  database : {_describe_database(settings)}")
    console.print(f"  service  : {base}/")
    console.print(f"  API docs : {base}/docs")
    console.print(f"  health   : {base}/healthz  {base}/readyz")
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
    )


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


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


_add_subcommands()


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
