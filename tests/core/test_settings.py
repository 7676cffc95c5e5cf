import pytest
from pydantic import SecretStr

from core.settings import ARGON2ID_MINIMUMS, DEV_SECRET_KEY, Settings, SettingsError, load_settings

PG = "postgresql+asyncpg://registry@db.internal/registry"
STRONG = "x" * 48


def test_defaults_are_the_embedded_store(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("REGISTRY_DATABASE_URL", "REGISTRY_ENVIRONMENT", "REGISTRY_SECRET_KEY"):
        monkeypatch.delenv(key, raising=False)
    settings = Settings()
    assert settings.database_url == "sqlite+aiosqlite:///./var/registry.db"
    assert settings.is_sqlite
    assert settings.environment == "development"


def test_reads_the_registry_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_DATABASE_URL", PG)
    monkeypatch.setenv("REGISTRY_DATABASE_POOL_SIZE", "33")
    settings = Settings()
    assert settings.url.get_backend_name() == "postgresql"
    assert settings.database_pool_size == 33


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({}, "REGISTRY_SECRET_KEY is missing"),
        ({"secret_key": SecretStr(DEV_SECRET_KEY)}, "development default"),
        ({"secret_key": SecretStr("")}, "REGISTRY_SECRET_KEY is missing"),
        ({"secret_key": SecretStr("short-secret")}, "at least 32 characters"),
        (
            {"secret_key": SecretStr(STRONG), "database_url": "sqlite+aiosqlite:///x.db"},
            "must point to PostgreSQL",
        ),
        (
            {"secret_key": SecretStr(STRONG), "public_url": "http://registry.gov.vn"},
            "must be https://",
        ),
    ],
)
def test_production_refuses_defaults_and_missing_secrets(
    overrides: dict[str, object], complaint: str
) -> None:
    base: dict[str, object] = {
        "environment": "production",
        "database_url": PG,
        "public_url": "https://registry.gov.vn",
    }
    with pytest.raises(SettingsError, match=complaint):
        load_settings(**{**base, **overrides})


def test_production_starts_with_real_secrets() -> None:
    settings = load_settings(
        environment="production",
        database_url=PG,
        secret_key=SecretStr(STRONG),
        public_url="https://registry.gov.vn",
        key_encryption_key=SecretStr("q" * 43),
        pairwise_salt=SecretStr("a-salt-of-the-pairwise-subject-identifiers"),
    )
    assert settings.environment == "production"


def test_production_requires_the_identity_secrets() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(
            environment="production",
            database_url=PG,
            secret_key=SecretStr(STRONG),
            public_url="https://registry.gov.vn",
        )
    assert "REGISTRY_KEY_ENCRYPTION_KEY" in str(caught.value)
    assert "REGISTRY_PAIRWISE_SALT" in str(caught.value)


def test_settings_errors_never_echo_the_values(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "hunter2-but-a-little-longer-than-thirty-two-chars"
    monkeypatch.setenv("REGISTRY_ENVIRONMENT", "production")
    monkeypatch.setenv("REGISTRY_SECRET_KEY", secret)
    monkeypatch.setenv("REGISTRY_DATABASE_URL", f"postgresql+asyncpg://u:{secret}@h/db")
    monkeypatch.setenv("REGISTRY_PUBLIC_URL", "http://plain")
    monkeypatch.setenv("REGISTRY_DATABASE_POOL_SIZE", "not-a-number")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert "database_pool_size" in message
    assert secret not in message
    assert "not-a-number" not in message


def test_secret_is_not_in_repr() -> None:
    settings = Settings(secret_key=SecretStr(STRONG))
    assert STRONG not in repr(settings)
    assert STRONG not in str(settings.model_dump())


@pytest.mark.parametrize(("memory", "time"), [*ARGON2ID_MINIMUMS, (65_536, 3), (8_000, 5)])
def test_argon2id_at_any_owasp_minimum_or_above(memory: int, time: int) -> None:
    settings = Settings(password_memory_kib=memory, password_time_cost=time)
    assert (settings.password_memory_kib, settings.password_time_cost) == (memory, time)


@pytest.mark.parametrize(
    ("memory", "time"), [(19_456, 1), (47_103, 1), (12_288, 2), (9_216, 3), (7_168, 4)]
)
def test_argon2id_below_every_owasp_minimum_is_refused(
    monkeypatch: pytest.MonkeyPatch, memory: int, time: int
) -> None:
    monkeypatch.setenv("REGISTRY_PASSWORD_MEMORY_KIB", str(memory))
    monkeypatch.setenv("REGISTRY_PASSWORD_TIME_COST", str(time))
    with pytest.raises(SettingsError, match="below every OWASP minimum"):
        load_settings()
    monkeypatch.setenv("REGISTRY_PASSWORD_MEMORY_KIB", "7167")  # under the smallest at all
    monkeypatch.setenv("REGISTRY_PASSWORD_TIME_COST", "20")
    with pytest.raises(SettingsError, match="password_memory_kib"):
        load_settings()


def test_trusted_proxies_are_addresses_or_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REGISTRY_TRUSTED_PROXIES", raising=False)
    assert Settings().trusted_proxies == []  # default: the connecting peer is the client
    monkeypatch.setenv(
        "REGISTRY_TRUSTED_PROXIES", '["10.0.0.0/8", " 192.0.2.7", "2001:db8:0::/32", "10.1.2.3/16"]'
    )
    # Canonical forms: uvicorn's middleware would take "10.1.2.3/16" for a host name.
    assert load_settings().trusted_proxies == [
        "10.0.0.0/8",
        "192.0.2.7",
        "2001:db8::/32",
        "10.1.0.0/16",
    ]


@pytest.mark.parametrize("value", ["*", "proxy.example.vn", "10.0.0.0/33", ""])
def test_trusted_proxies_refuse_anything_else(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    # "*" would let every client name its own address (and so its own sign-in limit).
    monkeypatch.setenv("REGISTRY_TRUSTED_PROXIES", f'["{value}"]')
    with pytest.raises(SettingsError, match="trusted_proxies"):
        load_settings()
