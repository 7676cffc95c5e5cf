"""The shared response headers."""

from __future__ import annotations

from core.headers import NO_STORE


def test_no_store_is_what_rfc_6749_asks_of_token_responses() -> None:
    assert NO_STORE == {"Cache-Control": "no-store", "Pragma": "no-cache"}
