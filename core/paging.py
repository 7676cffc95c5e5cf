"""Opaque page cursors: base64url (no padding) of a short ASCII key, accepted only as issued."""

from __future__ import annotations

import base64
import binascii

from core.errors import FieldError, ValidationFailed


def encode_cursor(key: str) -> str:
    """The cursor that carries ``key`` (ASCII) to the next page request."""
    return base64.urlsafe_b64encode(key.encode("ascii")).decode("ascii").rstrip("=")


def invalid_cursor() -> ValidationFailed:
    """The 422 for a cursor this API did not hand out, pointing at the ``cursor`` parameter."""
    return ValidationFailed(
        "The request has invalid fields.",
        errors=(FieldError("Not a cursor returned by this API.", parameter="cursor"),),
    )


def decode_cursor(cursor: str) -> str:
    """The key inside a cursor made by :func:`encode_cursor`; only that exact spelling passes."""
    try:
        key = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid_cursor() from None
    if encode_cursor(key) != cursor:  # no padding, no alternative spellings
        raise invalid_cursor()
    return key
