"""One typed settings object for the whole service (environment prefix ``REGISTRY_``)."""

from __future__ import annotations

import ipaddress
from functools import cached_property
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url

# Development defaults for secrets: usable on a laptop, refused in production.
DEV_SECRET_KEY = "dev-only-secret-key-do-not-use-in-production-0000000000"  # noqa: S105

Environment = Literal["development", "test", "production"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


# OWASP Password Storage Cheat Sheet, Argon2id: minimum (memory KiB, iterations) pairs at p=1,
# "an equal level of defense, and the only difference is a trade off between CPU and RAM
# usage". The default is the last of them (7 MiB, 5), which is also Keycloak's default
# (spi-password-hashing-argon2: memory 7168, iterations 5, parallelism 1), so bench tokens
# compares with Keycloak's sizing at the same hashing. It is also among the cheapest in CPU
# (its memory stays in cache) and the cheapest in RAM per sign-in being checked
# (docs/performance.md, "Password hashing cost").
ARGON2ID_MINIMUMS = ((47_104, 1), (19_456, 2), (12_288, 3), (9_216, 4), (7_168, 5))


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
    # A fixed pool by default: an extra connection opened for a burst is closed when it is
    # returned, so with more requests in flight than the pool holds every checkout past it
    # paid for a new PostgreSQL backend, which costs more than waiting for a pooled connection
    # (docs/performance.md, "Connection pool overflow").
    database_max_overflow: int = Field(
        0, ge=0, le=500, description="Extra connections allowed under burst (closed after use)."
    )
    database_statement_pool_size: int = Field(
        1,
        ge=1,
        le=100,
        description="Connections per process for one-statement requests (the agency API).",
    )
    database_statement_pool_max_group: int = Field(
        64,
        ge=1,
        le=1000,
        description=(
            "Most requests that waited for one of those connections sent together in one "
            "statement (1: each request its own statement)."
        ),
    )
    database_pool_timeout: float = Field(
        5.0, gt=0, description="Seconds to wait for a pooled connection before answering 503."
    )
    database_statement_timeout_ms: int = Field(
        10_000, ge=0, description="PostgreSQL statement_timeout per connection (0 = none)."
    )
    request_deadline: float = Field(
        10.0,
        gt=0,
        le=600,
        description="Seconds a request may wait (for the database above all) before its answer "
        "starts; then 503 with Retry-After.",
    )
    database_echo: bool = Field(False, description="Log SQL statements (never their parameters).")
    secret_key: SecretStr = Field(
        SecretStr(DEV_SECRET_KEY),
        description="Key for CSRF tokens and session cookies; at least 32 characters.",
    )
    public_url: str = Field(
        "http://localhost:8000", description="External base URL (issuer, links, problem types)."
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
        0.25,
        gt=0,
        description="Seconds between sequencer runs (in the app or --follow) while no event "
        "arrives; after a run that found events the next comes after 0.05 s (at most this).",
    )
    audit_sequencer_nice: int = Field(
        10,
        ge=0,
        le=19,
        description="CPU niceness `registry audit sequence --follow` takes: requests come first.",
    )
    audit_checkpoint_interval: float = Field(
        30.0, gt=0, description="Seconds between signed checkpoints (when the log grew)."
    )

    # ------------------------------------------------------------------ electronic identity
    key_encryption_key: SecretStr | None = Field(
        None,
        description="Base64url of 32 random bytes: encrypts the OIDC signing keys at rest "
        "(AES-256-GCM). Derived from the secret key in development; required in production.",
    )
    pairwise_salt: SecretStr | None = Field(
        None,
        description="Salt of pairwise subject identifiers (OIDC Core 8.1). Derived from the "
        "secret key in development; required in production. Changing it changes every sub.",
    )
    # Any pair at or above one of OWASP's argon2id minimums (ARGON2ID_MINIMUMS) is accepted.
    password_time_cost: int = Field(5, ge=1, le=20, description="argon2id iterations.")
    password_memory_kib: int = Field(
        7_168,
        ge=min(m for m, _ in ARGON2ID_MINIMUMS),
        le=4_194_304,
        description="argon2id memory in KiB.",
    )
    password_parallelism: int = Field(1, ge=1, le=16, description="argon2id lanes.")
    login_max_failures: int = Field(
        100,
        ge=5,
        le=100,
        description="Consecutive failed logins after which an account locks (NIST SP 800-63B "
        "5.2.2 allows at most 100).",
    )
    login_ip_failures_per_minute: int = Field(
        30, ge=1, description="Failed logins one client address may make per minute."
    )
    session_idle_timeout: int = Field(
        1800, ge=60, description="Seconds a citizen's sign-in session lives without activity."
    )
    session_absolute_timeout: int = Field(
        43_200, ge=300, description="Seconds a citizen's sign-in session lives at most."
    )
    staff_session_idle_timeout: int = Field(
        600, ge=60, description="Seconds a staff session lives without activity."
    )
    staff_session_absolute_timeout: int = Field(
        28_800, ge=300, description="Seconds a staff session lives at most."
    )
    access_token_ttl: int = Field(300, ge=30, le=3600, description="Access token lifetime (s).")
    id_token_ttl: int = Field(300, ge=30, le=3600, description="ID token lifetime (s).")
    refresh_token_ttl: int = Field(
        2_592_000, ge=300, description="Refresh token lifetime (s); each use rotates it."
    )
    activation_code_ttl: int = Field(
        900, ge=60, le=86_400, description="Lifetime of an in-person activation code (s)."
    )
    staff_enrolment_code_ttl: int = Field(
        1800,
        ge=60,
        le=86_400,
        description="Lifetime of a staff enrolment code handed over in person (s).",
    )
    webauthn_rp_id: str | None = Field(
        None, description="WebAuthn relying party id (default: the public URL's host)."
    )
    webauthn_rp_name: str = Field(
        "Cổng định danh quốc gia", description="Relying party name shown by authenticators."
    )
    webauthn_origins: list[str] | None = Field(
        None, description="Origins allowed in WebAuthn responses (default: the public URL)."
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or networks (CIDR) of the reverse proxies in front of the "
        "service: from a request they forward, the client's address is the right-most "
        "X-Forwarded-For entry that is not one of them (and the scheme X-Forwarded-Proto). "
        "Empty: the connecting peer is the client, and forwarded headers are ignored.",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: list[str]) -> list[str]:
        # Trusting any peer ("*") would let every client name its own address, and so step
        # around the sign-in limits per address: only explicit addresses and networks, in
        # canonical form ("10.0.0.1/8" becomes "10.0.0.0/8": uvicorn's middleware would take
        # the former for a host name and silently never match it).
        out = []
        for item in value:
            text = item.strip()
            try:
                if "/" in text:
                    out.append(str(ipaddress.ip_network(text, strict=False)))
                else:
                    out.append(str(ipaddress.ip_address(text)))
            except ValueError:
                raise ValueError(
                    f"trusted_proxies: {item!r} is not an IP address or network (CIDR)"
                ) from None
        return out

    @model_validator(mode="after")
    def _argon2id_at_owasp_minimum(self) -> Settings:
        memory, time = self.password_memory_kib, self.password_time_cost
        if not any(memory >= m and time >= t for m, t in ARGON2ID_MINIMUMS):
            pairs = ", ".join(f"{m} KiB x {t}" for m, t in ARGON2ID_MINIMUMS)
            raise ValueError(
                f"argon2id at {memory} KiB x {time} iterations is below every OWASP minimum "
                f"({pairs}): raise REGISTRY_PASSWORD_MEMORY_KIB or REGISTRY_PASSWORD_TIME_COST"
            )
        return self

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
        if self.key_encryption_key is None:
            problems.append("REGISTRY_KEY_ENCRYPTION_KEY is required")
        if self.pairwise_salt is None:
            problems.append("REGISTRY_PAIRWISE_SALT is required")
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
    def issuer(self) -> str:
        """The OpenID Provider's issuer identifier (OIDC Discovery 3): the public URL."""
        return self.public_url.rstrip("/")

    @property
    def rp_id(self) -> str:
        """The WebAuthn relying party id."""
        from urllib.parse import urlsplit

        return self.webauthn_rp_id or (urlsplit(self.public_url).hostname or "localhost")

    @property
    def allowed_origins(self) -> list[str]:
        """Origins accepted in WebAuthn client data."""
        from urllib.parse import urlsplit

        if self.webauthn_origins:
            return list(self.webauthn_origins)
        parts = urlsplit(self.public_url)
        return [f"{parts.scheme}://{parts.netloc}"]

    @property
    def cookie_secure(self) -> bool:
        """Cookies carry Secure when the service is served over HTTPS."""
        return self.public_url.startswith("https://")

    def derived_secret(self, label: str) -> bytes:
        """32 bytes derived from the secret key for ``label`` (development fallbacks, CSRF)."""
        import hashlib
        import hmac

        key = self.secret_key.get_secret_value().encode()
        return hmac.new(key, b"registry-derive:" + label.encode(), hashlib.sha256).digest()

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
