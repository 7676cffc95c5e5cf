"""The fuzz targets: each takes raw bytes and may raise only the parser's own documented error."""

from __future__ import annotations

from collections.abc import Callable

from audit.checkpoint import Checkpoint, CheckpointError, Signer, open_checkpoint, sign_checkpoint
from core.middleware import SAFE_REQUEST_ID, parse_request_id

# A fixed key (not secret: fuzzing only) so that valid notes can appear in the corpus.
_SIGNER = Signer.from_private_bytes("fuzz.registry.example/log", bytes(range(32)))
_VERIFIER = _SIGNER.verifier()
ORIGIN = "fuzz.registry.example/log"


def checkpoint_note(data: bytes) -> None:
    """A signed checkpoint as an auditor or witness would send it (audit/checkpoint.py)."""
    text = data.decode("utf-8", errors="surrogateescape")
    try:
        checkpoint = open_checkpoint(text, _VERIFIER, origin=ORIGIN)
    except CheckpointError:
        return
    # Anything accepted is exactly our signed body (other keys' signatures may follow it).
    signed = sign_checkpoint(checkpoint, _SIGNER)
    assert text.startswith(checkpoint.body() + "\n")
    assert signed.splitlines()[-1] in text.splitlines()


def request_id(data: bytes) -> None:
    """The X-Request-ID header of any HTTP request (core/middleware.py)."""
    result = parse_request_id({"headers": [(b"x-request-id", data)]})
    assert result is None or SAFE_REQUEST_ID.fullmatch(result)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "checkpoint_note": checkpoint_note,
    "request_id": request_id,
}


def seeds() -> dict[str, list[bytes]]:
    """A few valid and near-valid inputs per target, to start the fuzzer somewhere useful."""
    note = sign_checkpoint(Checkpoint(ORIGIN, 42, bytes(range(32))), _SIGNER).encode()
    return {
        "checkpoint_note": [note, note.replace(b"42", b"43"), note[:-5], b"\n\n\n"],
        "request_id": [b"agency-req-000123", b"x" * 129, b"\xff\xfe", b"a b c d e f g h"],
    }
