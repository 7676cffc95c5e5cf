import pytest
from pydantic import SecretStr

from core.settings import DEV_SECRET_KEY, Settings, SettingsError, load_settings

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
            environment="production", database_url=PG, secret_key=SecretStr(STRONG),
            public_url="https://registry.gov.vn",
        )  # fmt: skip
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
