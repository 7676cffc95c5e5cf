"""The digest that stands in for a presented secret."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from core.digests import sha256_hex


def test_sha256_hex_is_the_known_digest_of_the_utf8_text() -> None:
    assert sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sha256_hex("Nguyễn") == hashlib.sha256("Nguyễn".encode()).hexdigest()


@given(st.text())
def test_sha256_hex_is_64_lowercase_hex_digits(value: str) -> None:
    digest = sha256_hex(value)
    assert len(digest) == 64
    assert set(digest) <= set("0123456789abcdef")
