"""The checkpoint signing key: from a file or a setting, never from the database."""

from __future__ import annotations

import os
from pathlib import Path

from audit.checkpoint import CheckpointError, Signer
from core.settings import Settings

DEV_KEY_PATH = Path("var/audit-signing-key.pem")


class SigningKeyError(RuntimeError):
    """The signing key is missing or unreadable."""


def load_signer(settings: Settings) -> Signer:
    """The Ed25519 signer named after the log's origin.

    Outside production a missing key is generated once into ``var/`` (mode 0600), so that a
    first run works; production refuses to start without a configured key (see Settings).
    """
    name = settings.audit_origin
    try:
        if settings.audit_signing_key is not None:
            return Signer.from_pem(name, settings.audit_signing_key.get_secret_value().encode())
        path = Path(settings.audit_signing_key_file or DEV_KEY_PATH)
        if not path.exists():
            if settings.environment == "production" or settings.audit_signing_key_file:
                raise SigningKeyError(f"audit signing key file {path} does not exist")
            _write_new_key(path, Signer.generate(name))
        return Signer.from_pem(name, path.read_bytes())
    except CheckpointError as exc:
        raise SigningKeyError(f"audit signing key is not a usable Ed25519 key: {exc}") from None


def _write_new_key(path: Path, signer: Signer) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(signer.to_pem())
