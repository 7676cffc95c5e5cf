"""Tests for audit.checkpoint: C2SP tlog-checkpoint bodies in C2SP signed notes."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.checkpoint import (
    MAX_NOTE_BYTES,
    MAX_SIGNATURES,
    Checkpoint,
    CheckpointError,
    Signer,
    Verifier,
    compute_key_id,
    open_checkpoint,
    open_note,
    sign_checkpoint,
    sign_note,
)

ORIGIN = "registry.example/audit-log"
ROOT = bytes(range(32))
ROOT_B64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
EM_DASH = "\u2014"

# Hypothesis: never write an example database into the working tree; no timing flakiness.
FUZZ = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def independent_key_id(name: str, public_key: bytes) -> bytes:
    """Key ID per C2SP signed-note, computed here without the module under test."""
    return hashlib.sha256(name.encode() + b"\n" + b"\x01" + public_key).digest()[:4]


@pytest.fixture
def signer() -> Signer:
    return Signer.from_private_bytes(ORIGIN, bytes(range(100, 132)))


@pytest.fixture
def verifier(signer: Signer) -> Verifier:
    return Verifier.from_vkey(signer.verifier_key())


@pytest.fixture
def checkpoint() -> Checkpoint:
    return Checkpoint(origin=ORIGIN, size=5, root_hash=ROOT)


@pytest.fixture
def note(checkpoint: Checkpoint, signer: Signer) -> str:
    return sign_checkpoint(checkpoint, signer)


def replace_at(text: str, index: int, char: str) -> str:
    return text[:index] + char + text[index + 1 :]


# --------------------------------------------------------------------------- structure


def test_body_exact(checkpoint: Checkpoint) -> None:
    assert checkpoint.body() == f"{ORIGIN}\n5\n{ROOT_B64}\n"


def test_body_with_extensions() -> None:
    cp = Checkpoint(origin="o", size=0, root_hash=ROOT, extensions=("ext one", "ext2"))
    assert cp.body() == f"o\n0\n{ROOT_B64}\next one\next2\n"
    assert Checkpoint.parse_body(cp.body()) == cp


def test_parse_body_tlog_checkpoint_spec_example() -> None:
    # Body of the example in C2SP tlog-checkpoint.md.
    body = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    cp = Checkpoint.parse_body(body)
    assert cp.origin == "example.com/behind-the-sofa"
    assert cp.size == 20852163
    assert cp.root_hash == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert cp.extensions == ()
    assert cp.body() == body


def test_vkey_exact_format(signer: Signer) -> None:
    pub = signer.public_key_bytes
    kid = independent_key_id(ORIGIN, pub)
    key64 = base64.b64encode(b"\x01" + pub).decode()
    expected = f"{ORIGIN}+{kid.hex()}+{key64}"
    assert signer.verifier_key() == expected
    assert re.fullmatch(r"[^+\s]+\+[0-9a-f]{8}\+[A-Za-z0-9+/]{43}[A-Za-z0-9+/=]", expected)
    assert signer.key_id == kid
    assert compute_key_id(ORIGIN, pub) == kid
    assert Verifier.from_vkey(expected).verifier_key() == expected


def test_signed_note_exact_structure(checkpoint: Checkpoint, signer: Signer, note: str) -> None:
    body = checkpoint.body()
    assert note.startswith(body + "\n" + EM_DASH + " " + ORIGIN + " ")
    assert note.endswith("\n")
    sig_line = note[len(body) + 1 :]
    assert sig_line.count("\n") == 1
    blob = base64.b64decode(sig_line[len(EM_DASH + " " + ORIGIN + " ") : -1], validate=True)
    assert len(blob) == 4 + 64
    assert blob[:4] == independent_key_id(ORIGIN, signer.public_key_bytes)
    # Verify with the raw library, independently of audit.checkpoint.
    Ed25519PublicKey.from_public_bytes(signer.public_key_bytes).verify(blob[4:], body.encode())


def test_round_trip(checkpoint: Checkpoint, note: str, verifier: Verifier) -> None:
    assert open_checkpoint(note, verifier, origin=ORIGIN) == checkpoint
    assert open_note(note, [verifier]) == (checkpoint.body(), (ORIGIN,))
    assert open_note(note, verifier) == (checkpoint.body(), (ORIGIN,))


def test_generated_key_round_trip() -> None:
    s = Signer.generate("log.example/a")
    cp = Checkpoint(
        origin="log.example/a", size=2**64 - 1, root_hash=b"\xff" * 32, extensions=("x",)
    )
    opened = open_checkpoint(sign_checkpoint(cp, s), s.verifier(), origin="log.example/a")
    assert opened == cp


def test_pem_round_trip(signer: Signer) -> None:
    pem = signer.to_pem()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    again = Signer.from_pem(ORIGIN, pem)
    assert again.verifier_key() == signer.verifier_key()
    assert "PRIVATE" not in repr(signer)


def test_from_pem_rejects_garbage_other_algorithms_and_encrypted() -> None:
    with pytest.raises(CheckpointError):
        Signer.from_pem(ORIGIN, b"not a pem")
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(CheckpointError, match="not an Ed25519"):
        Signer.from_pem(ORIGIN, ec_pem)
    encrypted = Ed25519PrivateKey.from_private_bytes(bytes(32)).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    with pytest.raises(CheckpointError):
        Signer.from_pem(ORIGIN, encrypted)


@pytest.mark.parametrize(
    "name", ["", "a b", "a+b", "a\tb", "a\u00a0b", "a\u3000b", "a\nb", "a\x00b", "\ud800"]
)
def test_invalid_key_names(name: str) -> None:
    with pytest.raises(CheckpointError):
        Signer.from_private_bytes(name, bytes(32))
    with pytest.raises(CheckpointError):
        Verifier(name, bytes(32))


@pytest.mark.parametrize("raw", [b"", bytes(31), bytes(33)])
def test_from_private_bytes_wrong_length(raw: bytes) -> None:
    with pytest.raises(CheckpointError):
        Signer.from_private_bytes(ORIGIN, raw)


# --------------------------------------------------------------------------- Checkpoint


@pytest.mark.parametrize(
    "kwargs",
    [
        {"origin": ""},
        {"origin": "a\nb"},
        {"origin": "a\rb"},
        {"origin": "\udc80"},
        {"size": -1},
        {"size": 2**64},
        {"size": True},
        {"size": 1.0},
        {"root_hash": bytes(31)},
        {"root_hash": bytes(33)},
        {"root_hash": bytearray(32)},
        {"root_hash": ROOT_B64},
        {"extensions": ("",)},
        {"extensions": ("a\nb",)},
        {"extensions": ["a"]},
    ],
)
def test_checkpoint_constructor_rejects(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"origin": ORIGIN, "size": 1, "root_hash": ROOT}
    args.update(kwargs)
    with pytest.raises(CheckpointError):
        Checkpoint(**args)  # type: ignore[arg-type]


NONCANONICAL_ROOT = ROOT_B64[:-2] + "9="  # same bytes as "...Hh8=" except unused low bits
URLSAFE_ROOT = base64.urlsafe_b64encode(b"\xfb" * 32).decode()


@pytest.mark.parametrize(
    "body",
    [
        f"o\n05\n{ROOT_B64}\n",
        f"o\n+5\n{ROOT_B64}\n",
        f"o\n-1\n{ROOT_B64}\n",
        f"o\n 5\n{ROOT_B64}\n",
        f"o\n5 \n{ROOT_B64}\n",
        f"o\n1_000\n{ROOT_B64}\n",
        f"o\n\u0665\n{ROOT_B64}\n",
        f"o\n0x5\n{ROOT_B64}\n",
        f"o\n\n{ROOT_B64}\n",
        f"o\n{2**64}\n{ROOT_B64}\n",
        f"o\n{'9' * 5000}\n{ROOT_B64}\n",
        f"o\n5\n{ROOT_B64.rstrip('=')}\n",
        f"o\n5\n{NONCANONICAL_ROOT}\n",
        f"o\n5\n{ROOT_B64} \n",
        f"o\n5\n{URLSAFE_ROOT}\n",
        f"o\n5\n{base64.b64encode(bytes(31)).decode()}\n",
        f"o\n5\n{base64.b64encode(bytes(33)).decode()}\n",
        f"\n5\n{ROOT_B64}\n",
        f"o\n5\n{ROOT_B64}\n\n",
        f"o\n5\n{ROOT_B64}\n\next\n",
        f"o\n5\n{ROOT_B64}\ntrailing",
        f"o\n5\n{ROOT_B64}",
        "o\n5\n",
        "",
    ],
)
def test_parse_body_rejects(body: str) -> None:
    with pytest.raises(CheckpointError):
        Checkpoint.parse_body(body)


def test_noncanonical_root_decodes_to_same_bytes_in_lenient_decoder() -> None:
    # Sanity check that the test vector really is a non-canonical encoding.
    assert base64.b64decode(NONCANONICAL_ROOT) == ROOT


@pytest.mark.parametrize(
    "body",
    [
        f"{ORIGIN}\n05\n{ROOT_B64}\n",
        f"{ORIGIN}\n5\n{NONCANONICAL_ROOT}\n",
        f"{ORIGIN}\n5\n{ROOT_B64}\n\next\n",
        f"{ORIGIN}\n5\n",
    ],
)
def test_validly_signed_but_malformed_body_rejected(
    body: str, signer: Signer, verifier: Verifier
) -> None:
    note = sign_note(body, signer)
    assert open_note(note, verifier) == (body, (ORIGIN,))
    with pytest.raises(CheckpointError, match="checkpoint"):
        open_checkpoint(note, verifier, origin=ORIGIN)


# --------------------------------------------------------------------------- Verifier keys


def test_from_vkey_rejects_wrong_algorithm_byte(signer: Signer) -> None:
    pub = signer.public_key_bytes
    kid = hashlib.sha256(ORIGIN.encode() + b"\n" + b"\x02" + pub).digest()[:4]
    key64 = base64.b64encode(b"\x02" + pub).decode()
    vkey = f"{ORIGIN}+{kid.hex()}+{key64}"
    with pytest.raises(CheckpointError, match="algorithm"):
        Verifier.from_vkey(vkey)


def test_from_vkey_rejects_wrong_key_id(signer: Signer) -> None:
    name, kid, key = signer.verifier_key().split("+", 2)
    bad_kid = f"{(int(kid, 16) ^ 1):08x}"
    with pytest.raises(CheckpointError, match="key ID"):
        Verifier.from_vkey(f"{name}+{bad_kid}+{key}")
    with pytest.raises(CheckpointError):
        Verifier.from_vkey(f"other.name+{kid}+{key}")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda v: v[:-1],
        lambda v: v + "=",
        lambda v: v + "A",
        lambda v: v.upper(),
        lambda v: v.replace("+", "+ ", 1),
        lambda v: " " + v,
        lambda v: v + "\n",
        lambda v: v.split("+")[0],
        lambda v: "+".join(v.split("+")[:2]),
        lambda v: "+" + v,
        lambda v: v[: v.rfind("+") + 1] + "!" + v[v.rfind("+") + 2 :],
        lambda v: "",
    ],
)
def test_from_vkey_rejects_mangled(signer: Signer, mutate: Callable[[str], str]) -> None:
    with pytest.raises(CheckpointError):
        Verifier.from_vkey(mutate(signer.verifier_key()))


def test_from_vkey_rejects_short_key_with_matching_id() -> None:
    key = b"\x01" + bytes(31)
    kid = hashlib.sha256(b"n\n" + key).digest()[:4]
    with pytest.raises(CheckpointError):
        Verifier.from_vkey(f"n+{kid.hex()}+{base64.b64encode(key).decode()}")


# --------------------------------------------------------------------------- upstream vectors
# Known-answer vectors copied from golang.org/x/mod sumdb/note/note_test.go
# (github.com/golang/mod, TestNewVerifier, TestNewSigner, TestSign, TestOpen).

GO_PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_PETER_SIG = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqf"
    "qdngotpRZb6KE6RyyBwJnAM=\n"
)
GO_ENOCH_SIG = (
    "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTG"
    "wnWLox33WWd1RvMc+QQ=\n"
)


def go_insert_abcd(sig_line: str) -> str:
    """Mirror Go's sig[:60]+"ABCD"+sig[60:] (byte offsets, not code points)."""
    raw = sig_line.encode()
    return (raw[:60] + b"ABCD" + raw[60:]).decode()


def test_go_vkey_parses() -> None:
    v = Verifier.from_vkey(GO_PETER_VKEY)
    assert v.name == "PeterNeumann"
    assert v.key_id == bytes.fromhex("c74f20a3")
    assert v.verifier_key() == GO_PETER_VKEY


def test_go_skey_reproduces_vkey_and_signature_exactly() -> None:
    priv1, priv2, name, kid, key64 = GO_PETER_SKEY.split("+", 4)
    assert (priv1, priv2, name, kid) == ("PRIVATE", "KEY", "PeterNeumann", "c74f20a3")
    raw = base64.b64decode(key64)
    assert raw[0] == 1
    go_signer = Signer.from_private_bytes(name, raw[1:])
    assert go_signer.verifier_key() == GO_PETER_VKEY
    # Ed25519 is deterministic, so our signed note must equal Go's byte for byte.
    assert sign_note(GO_TEXT, go_signer) == GO_TEXT + "\n" + GO_PETER_SIG


def test_go_open_note_vectors() -> None:
    peter = Verifier.from_vkey(GO_PETER_VKEY)
    enoch = Verifier.from_vkey(GO_ENOCH_VKEY)
    msg = GO_TEXT + "\n" + GO_PETER_SIG + GO_ENOCH_SIG
    assert open_note(msg, [peter]) == (GO_TEXT, ("PeterNeumann",))
    assert open_note(msg, [enoch]) == (GO_TEXT, ("EnochRoot",))
    assert open_note(msg, [peter, enoch]) == (GO_TEXT, ("PeterNeumann", "EnochRoot"))
    assert open_note(msg, [enoch, peter, enoch]) == (GO_TEXT, ("PeterNeumann", "EnochRoot"))
    with pytest.raises(CheckpointError, match="no signature from a known key"):
        open_note(msg, [])
    # Duplicated verified and unverified signatures (unknown corrupted ones are ignored).
    dup = (
        GO_TEXT
        + "\n"
        + GO_PETER_SIG
        + GO_PETER_SIG
        + GO_ENOCH_SIG
        + GO_ENOCH_SIG
        + go_insert_abcd(GO_ENOCH_SIG)
    )
    assert open_note(dup, [peter]) == (GO_TEXT, ("PeterNeumann",))


def test_go_open_note_invalid_signature() -> None:
    peter = Verifier.from_vkey(GO_PETER_VKEY)
    msg = GO_TEXT + "\n" + go_insert_abcd(GO_PETER_SIG)
    with pytest.raises(CheckpointError, match="invalid signature for key PeterNeumann\\+c74f20a3"):
        open_note(msg, [peter])


def test_go_open_note_too_many_signatures() -> None:
    peter = Verifier.from_vkey(GO_PETER_VKEY)
    with pytest.raises(CheckpointError, match="more than 100"):
        open_note(GO_TEXT + "\n" + GO_PETER_SIG * 101, [peter])
    assert open_note(GO_TEXT + "\n" + GO_PETER_SIG * 100, [peter])[1] == ("PeterNeumann",)


@pytest.mark.parametrize(
    "msg",
    [
        GO_TEXT,
        GO_TEXT + "\n",
        GO_TEXT + "\n" + GO_PETER_SIG[:-1],
        "\x01" + GO_TEXT + "\n" + GO_PETER_SIG,
        "\udcff" + GO_TEXT + "\n" + GO_PETER_SIG,  # Python's stand-in for Go's "\xff" byte
        GO_TEXT + "\n\u2014 Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2"
        "pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",
        GO_TEXT + "\n" + GO_PETER_SIG + "Unexpected line.\n",
    ],
)
def test_go_malformed_notes(msg: str) -> None:
    with pytest.raises(CheckpointError):
        open_note(msg, [Verifier.from_vkey(GO_PETER_VKEY)])


@pytest.mark.parametrize(
    "vkey",
    [
        # wrong length key, with adjusted key hash
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        # unknown algorithm, with adjusted key hash
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ],
)
def test_go_bad_vkeys(vkey: str) -> None:
    with pytest.raises(CheckpointError):
        Verifier.from_vkey(vkey)


def test_go_vkey_manglings_rejected() -> None:
    vkey = GO_PETER_VKEY
    for i in range(len(vkey) + 1):
        for j in range(i + 1, len(vkey) + 1):
            if (i, j) != (0, len(vkey)):
                with pytest.raises(CheckpointError):
                    Verifier.from_vkey(vkey[i:j])
    for i in range(len(vkey)):
        with pytest.raises(CheckpointError):
            Verifier.from_vkey(replace_at(vkey, i, chr(ord(vkey[i]) + 1)))


def test_signed_note_spec_example_has_no_known_signature(verifier: Verifier) -> None:
    # Example from C2SP signed-note.md (its public key is not published): parses, unverifiable.
    msg = (
        "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\n"
        "ed \u00e8 subito sera.\n\n\u2014 quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFD"
        "kO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n"
    )
    with pytest.raises(CheckpointError, match="no signature from a known key"):
        open_note(msg, [verifier])


# --------------------------------------------------------------------------- tampering


def test_tamper_body_char(note: str, verifier: Verifier) -> None:
    tampered = replace_at(note, 3, "X" if note[3] != "X" else "Y")
    with pytest.raises(CheckpointError, match="invalid signature"):
        open_checkpoint(tampered, verifier, origin=ORIGIN)


def test_tamper_size(note: str, verifier: Verifier) -> None:
    tampered = note.replace(f"{ORIGIN}\n5\n", f"{ORIGIN}\n6\n", 1)
    assert tampered != note
    with pytest.raises(CheckpointError, match="invalid signature"):
        open_checkpoint(tampered, verifier, origin=ORIGIN)


def test_tamper_root(note: str, verifier: Verifier) -> None:
    tampered = note.replace(ROOT_B64, "B" + ROOT_B64[1:], 1)
    with pytest.raises(CheckpointError, match="invalid signature"):
        open_checkpoint(tampered, verifier, origin=ORIGIN)


@pytest.mark.parametrize("offset", [10, 30, 60, 80])
def test_tamper_signature(note: str, verifier: Verifier, offset: int) -> None:
    # offset counts from the start of the base64 blob; >= 6 leaves the key ID intact.
    start = note.rindex(" ") + 1
    index = start + offset
    tampered = replace_at(note, index, "A" if note[index] != "A" else "B")
    with pytest.raises(CheckpointError, match="invalid signature"):
        open_checkpoint(tampered, verifier, origin=ORIGIN)


def test_tamper_key_id_makes_signature_unknown(note: str, verifier: Verifier) -> None:
    start = note.rindex(" ") + 1
    tampered = replace_at(note, start, "A" if note[start] != "A" else "B")
    with pytest.raises(CheckpointError, match=f"expected key {ORIGIN}\\+[0-9a-f]{{8}}, found "):
        open_checkpoint(tampered, verifier, origin=ORIGIN)


def test_wrong_key_same_name(note: str) -> None:
    other = Signer.from_private_bytes(ORIGIN, bytes(32)).verifier()
    found = base64.b64decode(note.rsplit(" ", 1)[1])[:4].hex()  # the signature's key ID
    with pytest.raises(CheckpointError) as caught:
        open_checkpoint(note, other, origin=ORIGIN)
    assert str(caught.value) == (
        f"checkpoint of another log or key: expected key {ORIGIN}+{other.key_id.hex()}, "
        f"found {ORIGIN}+{found}"
    )


def test_wrong_key_other_name(checkpoint: Checkpoint, verifier: Verifier) -> None:
    intruder = Signer.from_private_bytes("intruder.example", bytes(range(1, 33)))
    with pytest.raises(CheckpointError) as caught:
        open_checkpoint(sign_checkpoint(checkpoint, intruder), verifier, origin=ORIGIN)
    assert str(caught.value) == (
        f"checkpoint of another log or key: expected key {ORIGIN}+{verifier.key_id.hex()}, "
        f"found intruder.example+{intruder.key_id.hex()}"
    )


def test_a_checkpoint_of_another_origin_says_which_origin_was_expected_and_found(
    signer: Signer, verifier: Verifier
) -> None:
    # The same key, named after another origin (as a server started on another URL named it).
    elsewhere = Checkpoint(origin="localhost:8123/audit", size=5, root_hash=ROOT)
    renamed = signer.named("localhost:8123/audit")
    with pytest.raises(CheckpointError) as caught:
        open_checkpoint(sign_checkpoint(elsewhere, renamed), verifier, origin=ORIGIN)
    message = str(caught.value)
    assert message == (
        f"checkpoint of another log or key: expected origin {ORIGIN!r}, found "
        "'localhost:8123/audit'; signed by the expected public key under the name "
        "'localhost:8123/audit'"
    )
    assert "tamper" not in message


def test_wrong_origin(signer: Signer, verifier: Verifier) -> None:
    cp = Checkpoint(origin="other.example/log", size=5, root_hash=ROOT)
    with pytest.raises(CheckpointError) as caught:
        open_checkpoint(sign_checkpoint(cp, signer), verifier, origin=ORIGIN)
    assert str(caught.value) == (
        f"checkpoint of another origin: expected origin {ORIGIN!r}, found 'other.example/log'"
    )


def test_expected_origin_is_exact(note: str, verifier: Verifier) -> None:
    for wrong in (ORIGIN + " ", ORIGIN.upper(), ORIGIN[:-1], ""):
        with pytest.raises(CheckpointError, match="expected origin"):
            open_checkpoint(note, verifier, origin=wrong)


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda n: n.replace("\n\n", "\n", 1), id="missing-blank-line"),
        pytest.param(lambda n: n.replace("\n\n", "\n \n", 1), id="space-in-blank-line"),
        pytest.param(lambda n: n[:-1], id="missing-final-newline"),
        pytest.param(lambda n: n[:-1] + " \n", id="trailing-space"),
        pytest.param(lambda n: n + "\n", id="extra-newline"),
        pytest.param(lambda n: n.replace(EM_DASH + " ", " " + EM_DASH + " "), id="leading-space"),
        pytest.param(lambda n: n.replace(EM_DASH + " ", EM_DASH + "  "), id="double-space-1"),
        pytest.param(lambda n: n.replace(f"{ORIGIN} ", f"{ORIGIN}  "), id="double-space-2"),
        pytest.param(lambda n: n.replace(EM_DASH, "-"), id="hyphen-not-em-dash"),
        pytest.param(lambda n: n.replace(EM_DASH, "\u2013"), id="en-dash"),
        pytest.param(lambda n: n.replace("\n", "\r\n"), id="crlf"),
        pytest.param(lambda n: n.replace("\n", "\t\n", 1), id="tab"),
        pytest.param(lambda n: n + "junk\n", id="trailing-garbage-line"),
        pytest.param(lambda n: n + "junk", id="trailing-garbage"),
        pytest.param(lambda n: "\ufeff" + n, id="bom"),
        pytest.param(lambda n: n[:-2] + "\n", id="missing-padding"),
        pytest.param(lambda n: n[:-1] + "\ud800\n", id="surrogate-in-signature"),
        pytest.param(lambda n: "\udc00" + n, id="surrogate-in-body"),
        pytest.param(lambda n: n.replace("\n\n", "\n\ud83d\n", 1), id="lone-high-surrogate"),
        pytest.param(lambda n: n.replace("\n", "\x00\n", 1), id="nul"),
        pytest.param(lambda n: "", id="empty"),
        pytest.param(lambda n: n.split("\n\n")[0] + "\n", id="unsigned"),
    ],
)
def test_tampered_notes_rejected(
    note: str, verifier: Verifier, mutate: Callable[[str], str]
) -> None:
    tampered = mutate(note)
    assert tampered != note
    with pytest.raises(CheckpointError):
        open_checkpoint(tampered, verifier, origin=ORIGIN)


@pytest.mark.parametrize("bad", ["\x07", "\r", "\x00", "\x1b", "\t"])
def test_control_characters_rejected_even_when_validly_signed(
    signer: Signer, verifier: Verifier, bad: str
) -> None:
    # Build the note by hand (sign_note refuses such text) so that only the
    # signed-note "no ASCII control characters" rule can reject it.
    text = f"hello{bad}world\n"
    blob = signer.key_id + signer.sign(text.encode())
    msg = f"{text}\n{EM_DASH} {ORIGIN} {base64.b64encode(blob).decode()}\n"
    with pytest.raises(CheckpointError, match="control characters"):
        open_note(msg, [verifier])


def test_unknown_signatures_are_ignored(
    checkpoint: Checkpoint, signer: Signer, verifier: Verifier
) -> None:
    witness = Signer.from_private_bytes("witness.example", bytes(32))
    same_name_other_key = Signer.from_private_bytes(ORIGIN, bytes(32))
    note = sign_note(checkpoint.body(), witness, same_name_other_key, signer)
    assert note.count("\n" + EM_DASH + " ") == 3
    assert open_checkpoint(note, verifier, origin=ORIGIN) == checkpoint
    body, names = open_note(note, [verifier, witness.verifier()])
    assert body == checkpoint.body()
    assert names == ("witness.example", ORIGIN)


def test_bad_signature_from_known_key_rejects_even_with_a_good_one(
    note: str, verifier: Verifier
) -> None:
    sig_line = note[note.rindex("\n" + EM_DASH) + 1 :]
    start = sig_line.rindex(" ") + 1 + 40
    bad_line = replace_at(sig_line, start, "A" if sig_line[start] != "A" else "B")
    with pytest.raises(CheckpointError, match="invalid signature"):
        open_checkpoint(note + bad_line, verifier, origin=ORIGIN)
    # A repeated valid signature is fine.
    assert open_checkpoint(note + sig_line, verifier, origin=ORIGIN).size == 5


def test_signature_count_limits(checkpoint: Checkpoint, signer: Signer, verifier: Verifier) -> None:
    others = [Signer.from_private_bytes(f"w{i}", bytes([i]) * 32) for i in range(MAX_SIGNATURES)]
    ok = sign_note(checkpoint.body(), *others[: MAX_SIGNATURES - 1], signer)
    assert open_checkpoint(ok, verifier, origin=ORIGIN) == checkpoint
    too_many = ok + ok[ok.rindex("\n" + EM_DASH) + 1 :]
    with pytest.raises(CheckpointError, match="more than 100 signatures"):
        open_checkpoint(too_many, verifier, origin=ORIGIN)
    with pytest.raises(CheckpointError, match="more than 100"):
        sign_note(checkpoint.body(), *others, signer)


def test_oversized_note(note: str, verifier: Verifier) -> None:
    with pytest.raises(CheckpointError, match="exceeds"):
        open_checkpoint("a" * (MAX_NOTE_BYTES + 1), verifier, origin=ORIGIN)
    # Fewer than 1 MiB code points but more than 1 MiB of UTF-8.
    big_ext = "\u00e9" * (MAX_NOTE_BYTES // 2)
    padded = note.replace("\n\n", "\n" + big_ext + "\n\n", 1)
    assert len(padded) < MAX_NOTE_BYTES < len(padded.encode())
    with pytest.raises(CheckpointError, match="exceeds"):
        open_checkpoint(padded, verifier, origin=ORIGIN)


def test_largest_note_accepted_and_oversized_refused_at_signing(
    signer: Signer, verifier: Verifier
) -> None:
    base = Checkpoint(ORIGIN, 1, ROOT)
    body_len = len(base.body().encode())
    sig_len = len(sign_checkpoint(base, signer).encode()) - body_len  # blank line + sig line
    room = MAX_NOTE_BYTES - body_len - sig_len - 1
    cp = Checkpoint(ORIGIN, 1, ROOT, extensions=("x" * room,))
    note = sign_checkpoint(cp, signer)
    assert len(note.encode()) == MAX_NOTE_BYTES
    assert open_checkpoint(note, verifier, origin=ORIGIN) == cp
    bigger = Checkpoint(ORIGIN, 1, ROOT, extensions=("x" * (room + 1),))
    with pytest.raises(CheckpointError, match="exceed"):
        sign_checkpoint(bigger, signer)


@pytest.mark.parametrize("text", ["no newline", "a\r\n", "\ud800\n", "a\x07\n", ""])
def test_sign_note_rejects_bad_text(signer: Signer, text: str) -> None:
    with pytest.raises(CheckpointError):
        sign_note(text, signer)


def test_sign_note_requires_a_signer() -> None:
    with pytest.raises(CheckpointError):
        sign_note("x\n")


def test_non_str_inputs(verifier: Verifier, note: str) -> None:
    with pytest.raises(CheckpointError):
        open_checkpoint(note.encode(), verifier, origin=ORIGIN)  # type: ignore[arg-type]
    with pytest.raises(CheckpointError):
        open_checkpoint(None, verifier, origin=ORIGIN)  # type: ignore[arg-type]
    with pytest.raises(CheckpointError):
        open_checkpoint(note, "vkey", origin=ORIGIN)  # type: ignore[arg-type]
    with pytest.raises(CheckpointError):
        Verifier.from_vkey(b"x")  # type: ignore[arg-type]
    with pytest.raises(CheckpointError):
        Checkpoint.parse_body(b"x")  # type: ignore[arg-type]


def test_ambiguous_verifiers_rejected(note: str, verifier: Verifier) -> None:
    # Two different public keys claiming the same (name, key ID) is a configuration error.
    forged = Verifier.__new__(Verifier)
    impostor = Signer.from_private_bytes(ORIGIN, bytes(32)).verifier()
    for slot in ("name", "public_key_bytes", "_key"):
        setattr(forged, slot, getattr(impostor, slot))
    forged.key_id = verifier.key_id
    with pytest.raises(CheckpointError, match="ambiguous"):
        open_note(note, [verifier, forged])


# --------------------------------------------------------------------------- property tests

_NO_CONTROLS = [chr(c) for c in range(32)]
line_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters=_NO_CONTROLS),
    min_size=1,
    max_size=40,
)
checkpoints = st.builds(
    Checkpoint,
    origin=line_text,
    size=st.integers(min_value=0, max_value=2**64 - 1),
    root_hash=st.binary(min_size=32, max_size=32),
    extensions=st.lists(line_text, max_size=3).map(tuple),
)
FUZZ_SIGNER = Signer.from_private_bytes(ORIGIN, bytes(range(100, 132)))
FUZZ_VERIFIER = FUZZ_SIGNER.verifier()
FUZZ_NOTE = sign_checkpoint(Checkpoint(ORIGIN, 5, ROOT), FUZZ_SIGNER)


@FUZZ
@given(cp=checkpoints)
def test_property_round_trip(cp: Checkpoint) -> None:
    signer = Signer.from_private_bytes("log.example", bytes(range(32)))
    note = sign_checkpoint(cp, signer)
    assert Checkpoint.parse_body(cp.body()) == cp
    assert open_checkpoint(note, signer.verifier(), origin=cp.origin) == cp


def _only_checkpoint_error(text: str) -> None:
    try:
        result = open_checkpoint(text, FUZZ_VERIFIER, origin=ORIGIN)
    except CheckpointError:
        return
    assert result == Checkpoint(ORIGIN, 5, ROOT)


@FUZZ
@given(text=st.text(alphabet=st.characters(exclude_categories=())))
def test_property_random_text_only_raises_checkpoint_error(text: str) -> None:
    _only_checkpoint_error(text)
    with pytest.raises(CheckpointError):
        open_note(text, [FUZZ_VERIFIER])  # random text cannot carry a valid signature


TOKENS = [
    "\n",
    "\n\n",
    EM_DASH,
    EM_DASH + " ",
    " ",
    "+",
    "=",
    "/",
    "0",
    "5",
    "05",
    "A",
    "\r",
    "\x00",
    "\ud800",
    "\u00e9",
    ORIGIN,
    "PeterNeumann",
    ROOT_B64,
    GO_PETER_SIG,
    GO_ENOCH_SIG,
    FUZZ_NOTE,
    FUZZ_NOTE[: len(FUZZ_NOTE) // 2],
    FUZZ_NOTE[len(FUZZ_NOTE) // 2 :],
]


@FUZZ
@given(parts=st.lists(st.sampled_from(TOKENS), max_size=30))
def test_property_structured_garbage_only_raises_checkpoint_error(parts: list[str]) -> None:
    _only_checkpoint_error("".join(parts))


@FUZZ
@given(
    index=st.integers(min_value=0, max_value=len(FUZZ_NOTE)),
    delete=st.integers(min_value=0, max_value=3),
    insert=st.text(alphabet=st.characters(exclude_categories=()), max_size=3),
)
def test_property_mutated_note_never_opens_to_something_else(
    index: int, delete: int, insert: str
) -> None:
    _only_checkpoint_error(FUZZ_NOTE[:index] + insert + FUZZ_NOTE[index + delete :])


@FUZZ
@given(text=st.text(alphabet=st.characters(exclude_categories=()), max_size=120))
def test_property_parse_body_and_from_vkey_only_raise_checkpoint_error(text: str) -> None:
    for func in (Checkpoint.parse_body, Verifier.from_vkey):
        try:
            func(text)
        except CheckpointError:
            pass
