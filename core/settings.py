"""One typed settings object for the whole service (environment prefix ``REGISTRY_``)."""

from __future__ import annotations

from functools import cached_property
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url

# Development defaults for secrets: usable on a laptop, refused in production.
DEV_SECRET_KEY = "dev-only-secret-key-do-not-use-in-production-0000000000"  # noqa: S105

Environment = Literal["development", "test", "production"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class InsecureSettingsError(ValueError):
    """Raised when production settings keep a development default or miss a secret."""


class Settings(BaseSettings):
    """Service configuration; every field can be set as ``REGISTRY_<NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="REGISTRY_",
        env_file=None,
        extra="ignore",
        frozen=True,
    )

    environment: Environment = Field(
        "development", description="development, test or production (production is strict)."
    )
    database_url: str = Field(
        "sqlite+aiosqlite:///./var/registry.db",
        description="SQLAlchemy async URL: postgresql+asyncpg://... or sqlite+aiosqlite:///...",
    )
    database_pool_size: int = Field(10, ge=1, le=500, description="Connections kept per process.")
    database_max_overflow: int = Field(
        10, ge=0, le=500, description="Extra connections allowed under burst."
    )
    database_pool_timeout: float = Field(
        5.0, gt=0, description="Seconds to wait for a pooled connection before answering 503."
    )
    database_statement_timeout_ms: int = Field(
        10_000, ge=0, description="PostgreSQL statement_timeout per connection (0 = none)."
    )
    database_echo: bool = Field(False, description="Log SQL statements (never their parameters).")
    secret_key: SecretStr = Field(
        SecretStr(DEV_SECRET_KEY),
        description="Key for CSRF tokens and session cookies; at least 32 characters.",
    )
    public_url: str = Field(
        "http://127.0.0.1:8000", description="External base URL (issuer, links, problem types)."
    )
    log_level: LogLevel = Field("INFO", description="Minimum level of the JSON logs.")
    metrics_enabled: bool = Field(True, description="Serve Prometheus metrics at /metrics.")
    readiness_timeout: float = Field(
        2.0, gt=0, description="Seconds /readyz waits for the database before answering 503."
    )
    database_role: str | None = Field(
        None,
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="PostgreSQL role to SET ROLE to on each connection (e.g. registry_app, "
        "which may only INSERT and SELECT audit tables).",
    )
    audit_signing_key_file: str | None = Field(
        None,
        description="PEM (PKCS#8) Ed25519 private key that signs audit checkpoints. In "
        "development it is created under var/ when missing; required in production.",
    )
    audit_signing_key: SecretStr | None = Field(
        None, description="The same key as PEM text, instead of a file."
    )
    audit_log_origin: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9.\-:/_]{1,200}$",
        description="Checkpoint origin line (default: the public URL's host + '/audit').",
    )
    audit_sequencer_enabled: bool = Field(
        True, description="Run the audit sequencer and periodic checkpoints inside the app."
    )
    audit_sequence_interval: float = Field(
        0.25, gt=0, description="Seconds between sequencer runs inside the app."
    )
    audit_checkpoint_interval: float = Field(
        30.0, gt=0, description="Seconds between signed checkpoints (when the log grew)."
    )

    @model_validator(mode="after")
    def _refuse_insecure_production(self) -> Settings:
        if self.environment != "production":
            return self
        problems: list[str] = []
        secret = self.secret_key.get_secret_value()
        if not secret or secret == DEV_SECRET_KEY:
            problems.append("REGISTRY_SECRET_KEY is missing or still the development default")
        elif len(secret) < 32:
            problems.append("REGISTRY_SECRET_KEY must be at least 32 characters")
        if not self.audit_signing_key_file and not self.audit_signing_key:
            problems.append(
                "REGISTRY_AUDIT_SIGNING_KEY_FILE (or REGISTRY_AUDIT_SIGNING_KEY) is required"
            )
        if self.url.get_backend_name() != "postgresql":
            problems.append("REGISTRY_DATABASE_URL must point to PostgreSQL in production")
        if not self.public_url.startswith("https://"):
            problems.append("REGISTRY_PUBLIC_URL must be https:// in production")
        if problems:
            raise InsecureSettingsError("refusing to start in production: " + "; ".join(problems))
        return self

    @cached_property
    def url(self) -> URL:
        """The parsed database URL."""
        return make_url(self.database_url)

    @property
    def audit_origin(self) -> str:
        """The origin line of this registry's audit checkpoints."""
        if self.audit_log_origin:
            return self.audit_log_origin
        from urllib.parse import urlsplit

        return f"{urlsplit(self.public_url).netloc or 'registry'}/audit"

    @property
    def is_sqlite(self) -> bool:
        """True when the embedded SQLite store is configured."""
        return self.url.get_backend_name() == "sqlite"


class SettingsError(ValueError):
    """Settings could not be loaded; the message never echoes the values given."""


def load_settings(**overrides: object) -> Settings:
    """Build Settings from the environment, reporting problems without echoing any value."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        # Pydantic's default message repeats the input, which may hold a secret.
        lines = []
        for err in exc.errors(include_input=False, include_url=False):
            where = ".".join(str(p) for p in err["loc"]) or "settings"
            lines.append(f"{where}: {err['msg']}")
        raise SettingsError("invalid settings: " + "; ".join(lines)) from None
