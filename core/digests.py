"""Digests of presented secrets: what the database keeps instead of the secret."""

from __future__ import annotations

import hashlib


def sha256_hex(value: str) -> str:
    """SHA-256 of a presented secret (cookies, codes, tokens are stored only as this), in hex."""
    return hashlib.sha256(value.encode()).hexdigest()
