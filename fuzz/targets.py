"""The fuzz targets: each takes raw bytes and may raise only the parser's own documented error."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

from audit import merkle
from audit.checkpoint import Checkpoint, CheckpointError, Signer, open_checkpoint, sign_checkpoint
from audit.proofs import ProofError, check_inclusion
from core.middleware import SAFE_REQUEST_ID, parse_request_id
from fuzz.targets_identity import SEEDS as IDENTITY_SEEDS
from fuzz.targets_identity import TARGETS as IDENTITY_TARGETS
from fuzz.targets_oidc import SEEDS as OIDC_SEEDS
from fuzz.targets_oidc import TARGETS as OIDC_TARGETS
from fuzz.targets_registry import SEEDS as REGISTRY_SEEDS
from fuzz.targets_registry import TARGETS as REGISTRY_TARGETS
from registry.record import RecordInvalid, parse_record

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


def inclusion_proof(data: bytes) -> None:
    """A proof file given to ``registry audit check-proof`` (audit/proofs.py check_inclusion)."""
    try:
        proof = json.loads(data)
    except (ValueError, RecursionError):
        return
    if not isinstance(proof, dict):
        return
    try:
        check_inclusion(proof, _VERIFIER, origin=ORIGIN)
    except ProofError:
        return


def import_row(data: bytes) -> None:
    """One row of a bulk import file, as JSON (registry/record.py parse_record)."""
    try:
        row = json.loads(data)
    except (ValueError, RecursionError):
        return
    if not isinstance(row, dict):
        return
    try:
        stored = parse_record(row)
    except RecordInvalid as exc:
        if not exc.problems:
            raise AssertionError("a refused record must name its problems") from exc
        return
    assert len(stored["id_number"]) == 12


TARGETS: dict[str, Callable[[bytes], None]] = {
    "checkpoint_note": checkpoint_note,
    "request_id": request_id,
    "inclusion_proof": inclusion_proof,
    "import_row": import_row,
    **REGISTRY_TARGETS,
    **IDENTITY_TARGETS,
    **OIDC_TARGETS,
}


def seeds() -> dict[str, list[bytes]]:
    """A few valid and near-valid inputs per target, to start the fuzzer somewhere useful."""
    note = sign_checkpoint(Checkpoint(ORIGIN, 42, bytes(range(32))), _SIGNER).encode()
    return {
        "checkpoint_note": [note, note.replace(b"42", b"43"), note[:-5], b"\n\n\n"],
        "request_id": [b"agency-req-000123", b"x" * 129, b"\xff\xfe", b"a b c d e f g h"],
        "import_row": [
            json.dumps(
                {
                    "id_number": "001203004512",
                    "full_name": "nguyễn văn an",
                    "birth_date": "2003",
                    "gender": "male",
                    "birth_province": "001",
                    "ethnicity": "01",
                }
            ).encode(),
            b'{"id_number": "001203004512"}',
            b'{"birth_date": "2003-02-30", "status": "deceased"}',
        ],
        **REGISTRY_SEEDS,
        **IDENTITY_SEEDS,
        **OIDC_SEEDS,
        "inclusion_proof": [
            _valid_proof(),
            _valid_proof().replace(b'"leaf_index": 1', b'"leaf_index": 0'),
            b"{}",
            b"[]",
            b'{"checkpoint": 1}',
        ],
    }


def _valid_proof() -> bytes:
    """A real two-leaf log's proof of leaf 1."""
    leaves = [b"leaf zero", b"leaf one"]
    hashes = [merkle.leaf_hash(d) for d in leaves]
    root = merkle.root(hashes)
    note = sign_checkpoint(Checkpoint(ORIGIN, 2, root), _SIGNER)
    proof = {
        "leaf_index": 1,
        "tree_size": 2,
        "leaf_data": base64.b64encode(leaves[1]).decode(),
        "proof": [base64.b64encode(hashes[0]).decode()],
        "checkpoint": note,
    }
    return json.dumps(proof).encode()
