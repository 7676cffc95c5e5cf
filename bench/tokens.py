"""Electronic identity benchmark: client_credentials tokens/s, password and passkey logins/s.

Against a throwaway PostgreSQL (tests/pgcluster.py), migrated and seeded here with synthetic
citizens (``registry.synthetic`` rows through ``parse_record`` and the registry repository),
one electronic identity each (all with the same password: one argon2id hash, computed with the
configured parameters, reused for every row), a pre-recorded consent of each citizen for the
relying party (so a login is a returning user's: the consent row is read, no consent page), one
agency client (client_secret_basic), one relying party (client_secret_basic) and a P-256 passkey
for a subset of the citizens (Passkey rows built with fido2's AttestedCredentialData: registration
is not what is measured), and one earlier failed sign-in on record for the load generator's
address (as a carrier's NAT address soon has: sign-ins from it must not wait for each other).
The app runs as in production, under uvicorn with 2 workers (uvloop,
httptools, JSON logs at WARNING, metrics on, the audit sequencer ON inside the app), with
non-default secrets, the key-encryption key and the pairwise salt set; environment=development
only because it is served over plain HTTP.

Measured, each for a fixed time after a warm-up:

1. client_credentials: POST /token (Basic auth, scope=verify) with wrk and a Lua script (keep-alive
   connections), or with the asyncio client below when wrk is missing; then the same with a
   DPoP proof (RFC 9449: a fresh ES256 proof per request, with the server's nonce) for a
   DPoP-bound token, with the asyncio client (wrk cannot sign).
2. Full password logins, each a new browser (no cookies): GET /authorize (PKCE S256, nonce) ->
   303 /login -> GET /login (csrf and req from the form; the CSRF cookie is set) -> POST /login ->
   303 /authorize/resume -> 303 to the relying party with the code -> POST /token (the relying
   party's back channel, Basic auth) -> the ID token, whose nonce and amr are checked.
3. Full passkey logins, each a new browser: GET /authorize -> GET /login (the CSRF token from
   <meta name="csrf-token">) -> POST /webauthn/login/begin -> a software authenticator (P-256,
   counter increasing) signs the challenge -> POST /webauthn/login/complete -> GET
   /authorize/resume -> code -> POST /token -> ID token (amr hwk+user checked).

The login flows are driven by a lean HTTP/1.1 client on asyncio streams in a separate process
(many concurrent tasks, each owning its own accounts or keys, keep-alive connections). Both
cores are shared by the app, PostgreSQL and the load generator, so the CPU each used in the
measured window is read from /proc and shown too. The peer is Keycloak's published sizing guide
(not run here: no JVM server in scope): 120 client-credentials grants/s and 15 password logins/s
per vCPU of the Keycloak cluster, database CPU not included; Keycloak's default hashing is
argon2id at 7 MiB x 5 iterations, our default too (OWASP's last equal-defence line; the CPU of a
verify at OWASP's first line, 19 MiB x 2, is printed beside it). The machine's CPU steal in each
window (/proc/stat) is shown: a run the host took CPU from understates the code.

``python -m bench tokens [--quick | --tiny] [--profile]`` (or ``BENCH_QUICK=1``,
``BENCH_TINY=1``; how long each takes: docs/performance.md, "How long the benches run").
``--steps N`` measures instead each request's CPU (app process and PostgreSQL backends, /proc
schedstat) over N logins of each flow made one at a time, on one uvicorn worker with the
sequencer off: the steadier figure for comparing two versions of a step. ``--profile`` then
samples the server with py-spy (pip install py-spy) during a further run of each flow and prints
where the time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import hashlib
import json
import multiprocessing as mp
import os
import re
import resource
import secrets
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from bench.harness import report
from bench.harness.database import migrated_database, postmaster_pid, start_cluster
from bench.harness.load import Conn, HttpError, Response, basic_auth, wrk
from bench.harness.probes import (
    Probe,
    Sample,
    children_cpu,
    proc_table,
    raw_stacks,
    record_pyspy,
    statement_delta,
    steal_share,
)
from bench.harness.report import console, emit, percentile, r3, run_async, table, timed
from bench.harness.server import PUBLIC_URL, Secrets, b64url, serve
from tests.pgcluster import PostgresCluster

WORKERS = 2  # uvicorn workers: the machine has 2 cores
PASSWORD = "mùa thu Hà Nội 2003"  # noqa: S105 - every bench account's, NFC-normalised
RP_REDIRECT = "https://rp.bench.example/callback"
SCOPE = "openid profile"
ORIGIN = PUBLIC_URL
RP_ID = "localhost"
SEED = 20_250_101

TARGET_CC_TOTAL = 1_000.0  # tokens/s on 2 cores
TARGET_PWD_PER_CORE = 30.0
TARGET_PASSKEY_PER_CORE = 300.0
KEYCLOAK_CC_PER_VCPU = 120.0
KEYCLOAK_PWD_PER_VCPU = 15.0
KEYCLOAK_SOURCE = (
    "Keycloak 26 sizing guide, 'Concepts for sizing CPU and memory resources' "
    "(keycloak.org/high-availability/concepts-memory-and-cpu-sizing): per vCPU of the Keycloak "
    "cluster, database CPU not included; its client-credentials figure opens a new TLS "
    "connection per request; its default password hashing is argon2id, 7168 KiB, 5 iterations"
)


@dataclass(frozen=True)
class Scale:
    """How big and how long."""

    name: str
    citizens: int
    passkeys: int
    warmup: float  # seconds before each measured window
    cc_seconds: int
    login_seconds: int
    cc_connections: int
    password_tasks: int
    passkey_tasks: int
    profile_seconds: int


FULL = Scale("full", 2_000, 1_000, 3.0, 20, 30, 32, 16, 32, 10)
QUICK = Scale("quick", 300, 150, 1.5, 4, 6, 32, 12, 24, 4)
TINY = Scale("tiny", 20, 10, 0.5, 1, 1, 4, 2, 2, 1)


# ------------------------------------------------------------------------------ the world


@dataclass(frozen=True)
class PasskeyCred:
    """What the software authenticator holds for one passkey (picklable)."""

    credential_id: bytes
    user_handle: bytes
    private_value: int  # the P-256 private scalar


@dataclass(frozen=True)
class World:
    """What the load generators need to know about the seeded database."""

    agency_id: str
    agency_secret: str
    rp_id: str
    rp_secret: str
    logins: list[str]
    passkeys: list[PasskeyCred]
    seed_seconds: float
    hash_seconds: float


async def seed(url: str, keys: Secrets, scale: Scale) -> World:
    """Citizens, accounts (one shared argon2id hash), consents, clients, passkeys, signing keys."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from fido2.cose import ES256
    from fido2.webauthn import AttestedCredentialData

    from core.clock import utcnow
    from core.db import Database
    from identity import keys as signing_keys
    from identity.models import Account, Consent, LoginThrottle, Passkey
    from identity.oidc.clients import create_client
    from identity.passwords import PasswordHasher
    from registry import repository as registry_repo
    from registry.record import RecordInvalid, parse_record
    from registry.synthetic import generate

    began = time.perf_counter()
    settings = keys.settings(url)
    rows: list[dict[str, Any]] = []
    for raw in generate(scale.citizens * 3, seed=SEED):
        try:
            values = parse_record(raw)
        except RecordInvalid:
            continue
        if values["status"] != "alive":
            continue
        values["version"] = 1
        rows.append(values)
        if len(rows) == scale.citizens:
            break
    if len(rows) < scale.citizens:
        raise SystemExit(f"only {len(rows)} living citizens generated, {scale.citizens} wanted")
    t0 = time.perf_counter()
    password_hash = PasswordHasher.from_settings(settings).hash(PASSWORD)
    hash_seconds = time.perf_counter() - t0
    database = Database(settings)
    passkeys: list[PasskeyCred] = []
    try:
        async with database.unit_of_work() as session:
            for values in rows:
                if not await registry_repo.insert_citizen_if_free(session, values):
                    raise SystemExit(f"duplicate synthetic ID number {values['id_number']}")
            agency = await create_client(
                session, settings, name="Bench agency", type="agency", scopes=["verify"]
            )
            rp = await create_client(
                session,
                settings,
                name="Bench relying party",
                type="rp",
                redirect_uris=[RP_REDIRECT],
                scopes=["openid", "profile"],
            )
            now = utcnow()
            accounts = [
                Account(
                    id=str(uuid.uuid4()),
                    kind="citizen",
                    citizen_id=str(v["id_number"]),
                    level=1,
                    status="active",
                    roles="",
                    failed_logins=0,
                    passkey_required=False,
                    password_hash=password_hash,
                )
                for v in rows
            ]
            session.add_all(accounts)
            await session.flush()
            session.add_all(
                Consent(account_id=a.id, client_id=rp.client.client_id, scope=SCOPE, granted_at=now)
                for a in accounts
            )
            for account in accounts[: scale.passkeys]:
                key = ec.generate_private_key(ec.SECP256R1())
                credential_id = os.urandom(32)
                handle = uuid.UUID(account.id).bytes
                cose = ES256.from_cryptography_key(key.public_key())  # type: ignore[no-untyped-call]
                data = AttestedCredentialData.create(b"\x00" * 16, credential_id, cose)
                session.add(
                    Passkey(
                        id=str(uuid.uuid4()),
                        account_id=account.id,
                        credential_id=credential_id,
                        credential_data=bytes(data),
                        user_handle=handle,
                        sign_count=0,
                        name="bench",
                        transports="internal",
                    )
                )
                passkeys.append(
                    PasskeyCred(credential_id, handle, key.private_numbers().private_value)
                )
            # The load generator's address has a failed sign-in on record, as the address of a
            # carrier's NAT (shared by many citizens) soon has: its sign-ins must not wait for
            # each other because of it (an earlier lock on this row held each one across the
            # password check of the one before).
            session.add(
                LoginThrottle(
                    key="ip:127.0.0.1", window_start=utcnow() - timedelta(minutes=5), failures=1
                )
            )
            # Before the workers start, so that they do not both create keys at start-up.
            await signing_keys.ensure_keys(session, settings)
    finally:
        await database.dispose()
    return World(
        agency_id=agency.client.client_id,
        agency_secret=agency.secret or "",
        rp_id=rp.client.client_id,
        rp_secret=rp.secret or "",
        logins=[str(v["id_number"]) for v in rows],
        passkeys=passkeys,
        seed_seconds=time.perf_counter() - began,
        hash_seconds=hash_seconds,
    )


def argon2_floor() -> tuple[int, int, int, float]:
    """(time_cost, memory_kib, parallelism, CPU ms per verify here) of the default Settings."""
    from core.settings import Settings

    settings = Settings()
    time_cost, memory_kib = settings.password_time_cost, settings.password_memory_kib
    parallelism = settings.password_parallelism
    return time_cost, memory_kib, parallelism, verify_cpu_ms(time_cost, memory_kib, parallelism)


# OWASP's first argon2id line, the default here before the OWASP line Keycloak uses: printed
# next to the one in use, so that a reader sees what the choice between them is worth here.
ARGON2_REFERENCE = (2, 19_456, 1)
STEAL_WARNING = 0.02  # a flow whose window lost this share of its CPU time to the host


def verify_cpu_ms(time_cost: int, memory_kib: int, parallelism: int) -> float:
    """CPU milliseconds of one argon2id verify at these parameters, here (mean of 10)."""
    from identity.passwords import PasswordHasher

    hasher = PasswordHasher(time_cost=time_cost, memory_kib=memory_kib, parallelism=parallelism)
    stored = hasher.hash(PASSWORD)
    hasher.verify(stored, PASSWORD)
    t0 = time.process_time()  # CPU time: other work on the machine does not inflate it
    n = 10
    for _ in range(n):
        hasher.verify(stored, PASSWORD)
    return (time.process_time() - t0) / n * 1000


def argon2_build() -> str:
    """Which build of argon2-cffi-bindings is imported: its version and wheel tag (a
    manylinux tag is PyPI's SSE2 wheel; linux_x86_64 was built here, by `make install` with
    AVX2 where the CPU has it)."""
    from importlib.metadata import distribution

    dist = distribution("argon2-cffi-bindings")
    tags = [
        line.split(":", 1)[1].strip()
        for line in (dist.read_text("WHEEL") or "").splitlines()
        if line.startswith("Tag:")
    ]
    return f"argon2-cffi-bindings {dist.version} ({', '.join(tags) or 'no wheel tag'})"


# ------------------------------------------------------------------------------ the flows


class DPoPKey:
    """A load-generator task's DPoP key (P-256) and the server's last nonce: one proof per
    request (RFC 9449 4.2), signed here, outside the app's CPU."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec

        self.key = ec.generate_private_key(ec.SECP256R1())
        numbers = self.key.public_key().public_numbers()
        jwk = {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big")),
        }
        header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}
        self.header = b64url(json.dumps(header, separators=(",", ":")).encode())
        self.nonce = ""

    def proof(self) -> str:
        """A proof for POST /token of the bench's public URL."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        claims: dict[str, Any] = {
            "jti": secrets.token_urlsafe(12),
            "htm": "POST",
            "htu": PUBLIC_URL.rstrip("/") + "/token",
            "iat": int(time.time()),
        }
        if self.nonce:
            claims["nonce"] = self.nonce
        signing_input = self.header + "." + b64url(json.dumps(claims).encode())
        der = self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


@dataclass(frozen=True)
class FlowSpec:
    """One load-generator process's work (picklable)."""

    kind: str  # "cc" | "cc_dpop" | "password" | "passkey"
    port: int
    warmup: float
    seconds: float
    tasks: int
    world: World
    logins: list[str] = field(default_factory=list)
    passkeys: list[PasskeyCred] = field(default_factory=list)
    counter_base: int = 0


@dataclass
class Stats:
    """What one load-generator process measured in its window."""

    completed: int = 0
    latencies: list[float] = field(default_factory=list)  # ms per completed operation
    steps: dict[str, list[float]] = field(default_factory=dict)  # ms per request, by step
    errors: dict[str, int] = field(default_factory=dict)
    first_error: str = ""
    requests: int = 0
    cpu_seconds: float = 0.0


_CSRF_INPUT = re.compile(r'name="csrf" value="([^"]*)"')
_REQ_INPUT = re.compile(r'name="req" value="([^"]*)"')
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)"')
_DATA_REQ = re.compile(r'data-req="([^"]*)"')


def _unescape(value: str) -> str:
    return value.replace("&amp;", "&").replace("&#34;", '"').replace("&#39;", "'")


def _jwt_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


class Runner:
    """The flows, with per-step timing, for one load-generator process."""

    def __init__(self, spec: FlowSpec, window: tuple[float, float]) -> None:
        self.spec = spec
        self.world = spec.world
        self.window = window
        self.stats = Stats()
        self.rp_auth = basic_auth(self.world.rp_id, self.world.rp_secret)
        self.agency_auth = basic_auth(self.world.agency_id, self.world.agency_secret)
        self.counters: dict[bytes, int] = {}

    def _in_window(self, at: float) -> bool:
        return self.window[0] <= at < self.window[1]

    async def _step(
        self, conn: Conn, step: str, expect: int, method: str, target: str, **kwargs: Any
    ) -> Response:
        t0 = time.monotonic()
        response = await conn.request(method, target, **kwargs)
        t1 = time.monotonic()
        if self._in_window(t1):
            self.stats.requests += 1
            self.stats.steps.setdefault(step, []).append((t1 - t0) * 1000)
        if response.status != expect:
            raise HttpError(step, response.status, response.body[:300])
        return response

    # ------------------------------------------------------------------ building blocks

    async def _authorize(self, conn: Conn, jar: dict[str, str]) -> tuple[str, str, str, str]:
        verifier = secrets.token_urlsafe(48)
        challenge = b64url(hashlib.sha256(verifier.encode()).digest())
        state, nonce = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.world.rp_id,
                "redirect_uri": RP_REDIRECT,
                "scope": SCOPE,
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        r = await self._step(conn, "GET /authorize", 303, "GET", "/authorize?" + query, cookies=jar)
        location = r.header("location")
        if not location.startswith("/login?"):
            raise HttpError("GET /authorize (not to /login)", r.status)
        return location, verifier, state, nonce

    async def _code_and_token(
        self,
        conn: Conn,
        jar: dict[str, str],
        resume: str,
        verifier: str,
        state: str,
        nonce: str,
        amr: list[str],
    ) -> None:
        if not resume.startswith("/authorize/resume?"):
            raise HttpError("sign-in (not to /authorize/resume)", 0, resume.encode()[:300])
        r = await self._step(conn, "GET /authorize/resume", 303, "GET", resume, cookies=jar)
        location = r.header("location")
        if not location.startswith(RP_REDIRECT):
            raise HttpError("GET /authorize/resume (not to the RP)", r.status, location.encode())
        params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        if params.get("state") != state or "code" not in params:
            raise HttpError("authorization response (state/code)", r.status, location.encode())
        form = urlencode(
            {
                "grant_type": "authorization_code",
                "code": params["code"],
                "redirect_uri": RP_REDIRECT,
                "code_verifier": verifier,
            }
        )
        r = await self._step(
            conn,
            "POST /token (code)",
            200,
            "POST",
            "/token",
            body=form.encode(),
            headers=[
                ("Authorization", self.rp_auth),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
        )
        body = json.loads(r.body)
        claims = _jwt_claims(body["id_token"])
        if claims.get("nonce") != nonce or claims.get("amr") != amr or not body["access_token"]:
            raise HttpError("ID token (nonce/amr)", r.status, r.body[:300])

    # ------------------------------------------------------------------ flows

    async def password_login(self, conn: Conn, login: str) -> None:
        """authorize -> login page -> POST /login -> resume -> code -> token."""
        jar: dict[str, str] = {}
        location, verifier, state, nonce = await self._authorize(conn, jar)
        page = await self._step(conn, "GET /login", 200, "GET", location, cookies=jar)
        html = page.body.decode()
        csrf, req = _CSRF_INPUT.search(html), _REQ_INPUT.search(html)
        if csrf is None or req is None:
            raise HttpError("GET /login (no form)", page.status)
        form = urlencode(
            {
                "csrf": _unescape(csrf.group(1)),
                "req": _unescape(req.group(1)),
                "login": login,
                "password": PASSWORD,
            }
        )
        r = await self._step(
            conn,
            "POST /login",
            303,
            "POST",
            "/login",
            cookies=jar,
            body=form.encode(),
            headers=[("Content-Type", "application/x-www-form-urlencoded")],
        )
        await self._code_and_token(conn, jar, r.header("location"), verifier, state, nonce, ["pwd"])

    def _assertion(self, cred: PasskeyCred, challenge: str, key: Any) -> dict[str, Any]:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        counter = self.counters.get(cred.credential_id, self.spec.counter_base) + 1
        self.counters[cred.credential_id] = counter
        client_data = json.dumps(
            {
                "type": "webauthn.get",
                "challenge": challenge,
                "origin": ORIGIN,
                "crossOrigin": False,
            },
            separators=(",", ":"),
        ).encode()
        # WebAuthn 3 section 6.1: rpIdHash, flags UP|UV, signCount.
        auth_data = hashlib.sha256(RP_ID.encode()).digest() + struct.pack(">BI", 0x05, counter)
        signature = key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        raw_id = b64url(cred.credential_id)
        return {
            "id": raw_id,
            "rawId": raw_id,
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(cred.user_handle),
            },
        }

    async def passkey_login(self, conn: Conn, cred: PasskeyCred, key: Any) -> None:
        """authorize -> login page -> begin -> sign -> complete -> resume -> code -> token."""
        jar: dict[str, str] = {}
        location, verifier, state, nonce = await self._authorize(conn, jar)
        page = await self._step(conn, "GET /login", 200, "GET", location, cookies=jar)
        html = page.body.decode()
        csrf, req = _CSRF_META.search(html), _DATA_REQ.search(html)
        if csrf is None or req is None:
            raise HttpError("GET /login (no csrf meta / data-req)", page.status)
        json_headers = [
            ("Content-Type", "application/json"),
            ("X-CSRF-Token", _unescape(csrf.group(1))),
        ]
        r = await self._step(
            conn,
            "POST /webauthn/login/begin",
            200,
            "POST",
            "/webauthn/login/begin",
            cookies=jar,
            headers=json_headers,
            body=b"{}",
        )
        begun = json.loads(r.body)
        credential = self._assertion(cred, begun["options"]["challenge"], key)
        body = json.dumps(
            {
                "challenge_id": begun["challenge_id"],
                "credential": credential,
                "req": _unescape(req.group(1)),
            }
        ).encode()
        r = await self._step(
            conn,
            "POST /webauthn/login/complete",
            200,
            "POST",
            "/webauthn/login/complete",
            cookies=jar,
            headers=json_headers,
            body=body,
        )
        await self._code_and_token(
            conn, jar, json.loads(r.body)["redirect"], verifier, state, nonce, ["hwk", "user"]
        )

    async def client_credentials(self, conn: Conn, dpop: DPoPKey | None = None) -> None:
        """POST /token grant_type=client_credentials (Basic auth), with a proof when ``dpop``."""
        headers = [
            ("Authorization", self.agency_auth),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ]
        if dpop is not None:
            headers.append(("DPoP", dpop.proof()))
        r = await self._step(
            conn,
            "POST /token (client_credentials" + (", DPoP)" if dpop else ")"),
            200,
            "POST",
            "/token",
            body=b"grant_type=client_credentials&scope=verify",
            headers=headers,
        )
        if b'"access_token"' not in r.body:
            raise HttpError("client_credentials (no token)", r.status, r.body[:300])
        if dpop is not None:
            if b'"DPoP"' not in r.body:
                raise HttpError("client_credentials (not DPoP-bound)", r.status, r.body[:300])
            dpop.nonce = r.header("dpop-nonce") or dpop.nonce

    async def dpop_nonce(self, conn: Conn, dpop: DPoPKey) -> None:
        """The server's first nonce (RFC 9449 8: a proof without one is answered with it)."""
        r = await conn.request(
            "POST",
            "/token",
            body=b"grant_type=client_credentials&scope=verify",
            headers=[
                ("Authorization", self.agency_auth),
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("DPoP", dpop.proof()),
            ],
        )
        dpop.nonce = r.header("dpop-nonce")
        if r.status != 400 or not dpop.nonce:
            raise HttpError("client_credentials (no DPoP nonce)", r.status, r.body[:300])

    # ------------------------------------------------------------------ driving

    def _failed(self, exc: Exception) -> None:
        if isinstance(exc, HttpError):
            key, detail = f"{exc.step} {exc.status}", exc.body.decode(errors="replace")
        else:
            key, detail = type(exc).__name__, str(exc)
        self.stats.errors[key] = self.stats.errors.get(key, 0) + 1
        if not self.stats.first_error:
            self.stats.first_error = f"{key}: {detail}"

    async def task(self, items: Sequence[Any]) -> None:
        """Loop over this task's own accounts or keys until the window closes."""
        from cryptography.hazmat.primitives.asymmetric import ec

        conn = Conn(self.spec.port)
        dpop = DPoPKey() if self.spec.kind == "cc_dpop" else None
        if dpop is not None:
            await self.dpop_nonce(conn, dpop)
        keys = {
            c.credential_id: ec.derive_private_key(c.private_value, ec.SECP256R1())
            for c in items
            if isinstance(c, PasskeyCred)
        }
        i = 0
        try:
            while time.monotonic() < self.window[1]:
                item = items[i % len(items)] if items else None
                i += 1
                t0 = time.monotonic()
                try:
                    if self.spec.kind == "password":
                        await self.password_login(conn, str(item))
                    elif isinstance(item, PasskeyCred):
                        await self.passkey_login(conn, item, keys[item.credential_id])
                    else:
                        await self.client_credentials(conn, dpop)
                except (
                    HttpError,
                    OSError,
                    asyncio.IncompleteReadError,
                    ValueError,
                    KeyError,
                ) as exc:
                    self._failed(exc)
                    await conn.close()
                    continue
                t1 = time.monotonic()
                if self._in_window(t1):
                    self.stats.completed += 1
                    self.stats.latencies.append((t1 - t0) * 1000)
        finally:
            await conn.close()


async def _drive(spec: FlowSpec, t0: float) -> Stats:
    window = (t0 + spec.warmup, t0 + spec.warmup + spec.seconds)
    runner = Runner(spec, window)
    items: list[Any] = list(spec.logins) if spec.kind == "password" else list(spec.passkeys)
    if spec.kind in ("cc", "cc_dpop"):
        items = []
    usage: list[float] = []

    async def cpu_clock() -> None:
        for edge in window:
            await asyncio.sleep(max(0.0, edge - time.monotonic()))
            ru = resource.getrusage(resource.RUSAGE_SELF)
            usage.append(ru.ru_utime + ru.ru_stime)

    share = [items[k :: spec.tasks] for k in range(spec.tasks)] if items else [[]] * spec.tasks
    await asyncio.gather(cpu_clock(), *(runner.task(s) for s in share))
    runner.stats.cpu_seconds = usage[1] - usage[0]
    return runner.stats


def loadgen_process(spec: FlowSpec, go: Event, out: Queue[Any]) -> None:
    """Entry point of a load-generator process: wait for the go, drive, send Stats back."""
    out.put(("ready", os.getpid()))
    go.wait()
    t0 = time.monotonic()
    stats = run_async(_drive(spec, t0))
    out.put(("done", stats))


# ------------------------------------------------------------------------------ measuring


@dataclass
class FlowResult:
    """One measured flow."""

    name: str
    tool: str
    seconds: float
    completed: int
    rate: float
    p50_ms: float
    p99_ms: float
    errors: int
    error_kinds: dict[str, int]
    first_error: str
    app_cpu: float
    db_cpu: float
    client_cpu: float
    requests: int
    steps: dict[str, tuple[float, float, int]]  # step -> (p50, p99, count)
    sql: list[tuple[str, int, float]]  # (query, calls, exec ms) in the window
    steal: float  # CPU seconds the hypervisor took from this machine in the window

    @property
    def steal_share(self) -> float:
        """The share of the machine's CPU time in the window that the hypervisor took."""
        return steal_share(self.steal, self.seconds)

    @property
    def sql_per_op(self) -> float:
        """SQL statements per completed operation (BEGIN and COMMIT included)."""
        return sum(c for _, c, _ in self.sql) / self.completed if self.completed else 0.0

    @property
    def transactions_per_op(self) -> float:
        """Transactions (BEGIN statements) per completed operation."""
        begins = sum(c for q, c, _ in self.sql if q.upper().startswith("BEGIN"))
        return begins / self.completed if self.completed else 0.0

    @property
    def server_cpu_ms(self) -> float:
        """App + PostgreSQL CPU milliseconds per completed operation."""
        return (self.app_cpu + self.db_cpu) / self.completed * 1000 if self.completed else 0.0

    @property
    def per_server_cpu_second(self) -> float:
        """Operations per CPU-second of app + PostgreSQL (the capacity of one dedicated core)."""
        busy = self.app_cpu + self.db_cpu
        return self.completed / busy if busy else 0.0


def run_flow(
    kind: str,
    name: str,
    port: int,
    world: World,
    *,
    warmup: float,
    seconds: float,
    tasks: int,
    probe: Probe,
    counter_base: int = 0,
) -> FlowResult:
    """One load-generator process driving ``kind`` for warmup + seconds; CPU read meanwhile."""
    ctx = mp.get_context("spawn")
    spec = FlowSpec(
        kind=kind,
        port=port,
        warmup=warmup,
        seconds=seconds,
        tasks=tasks,
        world=world,
        logins=world.logins if kind == "password" else [],
        passkeys=world.passkeys if kind == "passkey" else [],
        counter_base=counter_base,
    )
    go: Event = ctx.Event()
    out: Queue[Any] = ctx.Queue()
    proc = ctx.Process(target=loadgen_process, args=(spec, go, out))
    proc.start()
    try:
        out.get(timeout=120)  # ("ready", pid): imports done
        go.set()
        t0 = time.monotonic()
        time.sleep(max(0.0, t0 + warmup - time.monotonic()))
        before = probe.take()
        time.sleep(max(0.0, t0 + warmup + seconds - time.monotonic()))
        after = probe.take()
        _, stats = out.get(timeout=120)
        proc.join(timeout=30)
    finally:
        if proc.is_alive():
            proc.terminate()
            proc.join()
    return _result(name, "asyncio client", seconds, stats, before, after)


def _result(
    name: str, tool: str, seconds: float, stats: Stats, before: Sample, after: Sample
) -> FlowResult:
    latencies = sorted(stats.latencies)
    steps = {
        step: (percentile(sorted(v), 50), percentile(sorted(v), 99), len(v))
        for step, v in stats.steps.items()
    }
    return FlowResult(
        name=name,
        tool=tool,
        seconds=seconds,
        completed=stats.completed,
        rate=stats.completed / seconds,
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        errors=sum(stats.errors.values()),
        error_kinds=stats.errors,
        first_error=stats.first_error,
        app_cpu=after.app - before.app,
        db_cpu=after.db - before.db,
        client_cpu=stats.cpu_seconds,
        requests=stats.requests,
        steps=steps,
        sql=statement_delta(before, after),
        steal=after.steal - before.steal,
    )


def wrk_script(world: World) -> str:
    """The Lua script of the client_credentials POST."""
    auth = basic_auth(world.agency_id, world.agency_secret)
    return (
        'wrk.method = "POST"\n'
        'wrk.body = "grant_type=client_credentials&scope=verify"\n'
        'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
        f'wrk.headers["Authorization"] = "{auth}"\n'
    )


def run_wrk(
    port: int, world: World, *, seconds: float, connections: int, probe: Probe
) -> FlowResult:
    """client_credentials with wrk (1 thread, keep-alive connections); CPU read around it."""
    client0, before = children_cpu(), probe.take()
    url = f"http://127.0.0.1:{port}/token"
    done = wrk(url, seconds=seconds, connections=connections, script=wrk_script(world))
    after, client = probe.take(), children_cpu() - client0
    kinds = {f"socket {kind}": n for kind, n in done.sockets.items()}
    if done.non_2xx:
        kinds["non-2xx"] = done.non_2xx
    good = done.requests - done.non_2xx  # socket errors are not among the requests
    return FlowResult(
        name="client_credentials",
        tool=f"wrk -t1 -c{connections}",
        seconds=done.seconds,
        completed=good,
        rate=good / done.seconds,
        p50_ms=done.p50_ms,
        p99_ms=done.p99_ms,
        errors=done.errors,
        error_kinds=kinds,
        first_error="",
        app_cpu=after.app - before.app,
        db_cpu=after.db - before.db,
        client_cpu=client,
        requests=done.requests,
        steps={"POST /token (client_credentials)": (done.p50_ms, done.p99_ms, done.requests)},
        sql=statement_delta(before, after),
        steal=after.steal - before.steal,
    )


# ------------------------------------------------------------------------------ profiling


@dataclass
class Profile:
    """py-spy samples of the app during one flow, summarised."""

    flow: str
    samples: int
    top_self: list[tuple[str, int]]
    top_inclusive: list[tuple[str, int]]
    by_package: list[tuple[str, int]]
    raw_file: str


_OURS = ("identity/", "core/", "audit/", "registry/")


def summarise_raw(path: Path, flow: str, top: int = 10) -> Profile:
    """Top functions by self samples and our own functions by inclusive samples."""
    self_counts: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    packages: collections.Counter[str] = collections.Counter()
    total = 0
    for frames, count in raw_stacks(path):
        if not frames:
            frames = ["(no Python frame)"]
        total += count
        self_counts[frames[-1]] += count
        packages[_package(frames[-1])] += count
        for frame in set(frames):
            if any(f" ({p}" in frame for p in _OURS):
                inclusive[frame] += count
    return Profile(
        flow,
        total,
        self_counts.most_common(top),
        inclusive.most_common(top),
        packages.most_common(top),
        str(path),
    )


def _package(frame: str) -> str:
    """The top-level package of a py-spy frame "function (package/module.py)"."""
    match = re.search(r"\(([^/)]+)[/)]", frame)
    if match is None:
        return "(no file: the event loop or C code under the process's main frame)"
    name = match.group(1)
    return name[:-3] if name.endswith(".py") else name


def profile_flow(
    flow: str, out_dir: Path, app_pid: int, seconds: int, drive: Callable[[], object]
) -> Profile:
    """Sample the uvicorn workers with py-spy while ``drive`` loads the server."""
    return summarise_raw(record_pyspy(flow, out_dir, app_pid, seconds, drive), flow)


# ------------------------------------------------------------------------------ main


# ------------------------------------------------------------------------------ --steps


def _schedstat_ns(pid: int) -> int:
    """CPU time of every thread of ``pid`` in nanoseconds (proc(5) schedstat, field 1); 0 once
    the process is gone."""
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", encoding="ascii") as handle:
                total += int(handle.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return total


class StepRunner(Runner):
    """The flows one login at a time, charging each request the CPU that the app process and
    PostgreSQL's backends used while it was answered (nothing else runs meanwhile)."""

    def __init__(self, spec: FlowSpec, app_pid: int, postmaster: int) -> None:
        super().__init__(spec, (0.0, float("inf")))
        self.app_pid, self.postmaster = app_pid, postmaster
        self.flow, self.recording = "", False
        self.cpu: dict[tuple[str, str], list[int]] = {}  # (flow, step) -> [app ns, db ns, n]

    def _db_ns(self) -> int:
        backends = [pid for pid, (ppid, _) in proc_table().items() if ppid == self.postmaster]
        return sum(_schedstat_ns(pid) for pid in backends)

    async def _step(
        self, conn: Conn, step: str, expect: int, method: str, target: str, **kwargs: Any
    ) -> Response:
        app0, db0 = _schedstat_ns(self.app_pid), self._db_ns()
        response = await conn.request(method, target, **kwargs)
        app1, db1 = _schedstat_ns(self.app_pid), self._db_ns()
        if self.recording:
            entry = self.cpu.setdefault((self.flow, step), [0, 0, 0])
            entry[0] += app1 - app0
            entry[1] += db1 - db0
            entry[2] += 1
        if response.status != expect:
            raise HttpError(step, response.status, response.body[:300])
        return response


def measure_steps(url: str, keys: Secrets, world: World, cluster: PostgresCluster, n: int) -> None:
    """``--steps``: one uvicorn worker, the in-app sequencer off, logins one at a time; each
    request's CPU in the app and in PostgreSQL, averaged over ``n`` logins of each flow after
    20 unrecorded ones. Steadier than the throughput runs for comparing two versions of one
    step: nothing else is charged to it (the throughput runs share 2 cores with the load
    generator and each other)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    env = {**keys.env(url), "REGISTRY_AUDIT_SEQUENCER_ENABLED": "false"}
    with serve(env, workers=1) as (port, proc):
        spec = FlowSpec(kind="steps", port=port, warmup=0.0, seconds=0.0, tasks=1, world=world)
        runner = StepRunner(spec, proc.pid, postmaster_pid(cluster))
        keys_by_id = {
            c.credential_id: ec.derive_private_key(c.private_value, ec.SECP256R1())
            for c in world.passkeys
        }

        async def drive() -> None:
            conn = Conn(port)
            try:
                for flow in ("password", "passkey"):
                    runner.flow = flow
                    for i in range(n + 20):
                        runner.recording = i >= 20
                        if flow == "password":
                            await runner.password_login(conn, world.logins[i % len(world.logins)])
                        else:
                            cred = world.passkeys[i % len(world.passkeys)]
                            await runner.passkey_login(conn, cred, keys_by_id[cred.credential_id])
            finally:
                await conn.close()

        run_async(drive())
    rows: list[list[Any]] = []
    figures: dict[str, Any] = {"logins_per_flow": n}
    for flow in ("password", "passkey"):
        total_app = total_db = 0.0
        steps: dict[str, Any] = {}
        for (name, step), (app_ns, db_ns, count) in runner.cpu.items():
            if name != flow:
                continue
            app_ms, db_ms = app_ns / count / 1e6, db_ns / count / 1e6
            total_app, total_db = total_app + app_ms, total_db + db_ms
            rows.append([flow, step, count, f"{app_ms:.2f}", f"{db_ms:.2f}"])
            steps[step] = {"app_cpu_ms": round(app_ms, 3), "db_cpu_ms": round(db_ms, 3)}
        rows.append([flow, "whole login", n, f"{total_app:.2f}", f"{total_db:.2f}"])
        figures[flow] = {
            "steps": steps,
            "app_cpu_ms": round(total_app, 3),
            "db_cpu_ms": round(total_db, 3),
        }
    table(
        "CPU per request, one login at a time (1 uvicorn worker, sequencer off; "
        "/proc schedstat of the app process and of PostgreSQL's backends)",
        ["flow", "step", "requests", "app CPU ms", "PostgreSQL CPU ms"],
        rows,
    )
    emit("tokens-steps", figures, {"name": "none: a diagnostic of our own steps"}, {}, {})


def main(argv: list[str] | None = None) -> None:
    """Seed, serve, measure each flow, print the tables and the JSON line."""
    parser = argparse.ArgumentParser(prog="bench tokens")
    report.add_scale_options(parser, "small seed, short runs (< 60 s)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="then sample the server with py-spy during each flow and print the hotspots",
    )
    parser.add_argument("--profile-dir", default=None, help="keep py-spy's raw files here")
    parser.add_argument(
        "--steps",
        type=int,
        default=0,
        metavar="N",
        help="instead: N logins of each flow one at a time, and each request's CPU",
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    scale = report.pick_scale(args, full=FULL, quick=QUICK, tiny=TINY)
    began = time.perf_counter()
    load_start = os.getloadavg()[0]
    console.print(f"{os.cpu_count()} CPUs, 1-minute load average at start {load_start:.2f}")
    if load_start > 1.0:
        console.print(
            "[yellow]other work is running on this machine: the rates below understate what "
            "it can do (the CPU per operation is the steadier figure)[/yellow]"
        )
    time_cost, memory_kib, parallelism, verify_ms = argon2_floor()
    reference_ms = verify_cpu_ms(*ARGON2_REFERENCE)
    console.print(
        f"argon2id in use (Settings defaults): time_cost={time_cost}, memory_kib={memory_kib}, "
        f"parallelism={parallelism}; one verify costs {verify_ms:.1f} ms of CPU here "
        f"(so at most {1000 / verify_ms:.0f} password checks/s per core); {argon2_build()}. "
        f"For reference, OWASP's equal-defence line time_cost={ARGON2_REFERENCE[0]}, "
        f"memory_kib={ARGON2_REFERENCE[1]}: {reference_ms:.1f} ms per verify here"
    )
    timings: list[tuple[str, float]] = []
    t0 = time.perf_counter()
    # pg_stat_statements: how many statements each login costs, and which.
    cluster = start_cluster(statements="all")
    try:
        url, dsn = migrated_database(cluster, "bench_tokens", statements=True)
        timings.append(("start PostgreSQL and migrate", time.perf_counter() - t0))
        keys = Secrets.generate()
        world = run_async(seed(url, keys, scale))
        timings.append(("seed", world.seed_seconds))
        if args.steps:
            measure_steps(url, keys, world, cluster, args.steps)
            return
        console.print(
            f"seeded {len(world.logins):,} citizens and accounts (one argon2id hash, "
            f"{world.hash_seconds * 1000:.0f} ms, reused), {len(world.logins):,} consents, "
            f"{len(world.passkeys):,} passkeys, 1 agency, 1 relying party in "
            f"{world.seed_seconds:.1f} s"
        )
        t0 = time.perf_counter()
        with serve(keys.env(url), workers=WORKERS) as (port, server):
            timings.append(("start uvicorn (2 workers)", time.perf_counter() - t0))
            probe = Probe(server.pid, postmaster_pid(cluster), dsn)
            results, profiles = _measure(port, world, scale, probe, args, timings, server)
    finally:
        cluster.cleanup()
    total = time.perf_counter() - began
    _report(
        scale,
        results,
        profiles,
        timings,
        total,
        (load_start, os.getloadavg()[0]),
        (time_cost, memory_kib, parallelism, verify_ms),
        reference_ms,
    )


def _measure(
    port: int,
    world: World,
    scale: Scale,
    probe: Probe,
    args: argparse.Namespace,
    timings: list[tuple[str, float]],
    server: subprocess.Popen[bytes],
) -> tuple[list[FlowResult], list[Profile]]:
    have_wrk = shutil.which("wrk") is not None

    def cc(seconds: float, warmup: float = 0.0) -> FlowResult:
        if have_wrk:
            if warmup:
                run_wrk(port, world, seconds=warmup, connections=scale.cc_connections, probe=probe)
            return run_wrk(
                port, world, seconds=seconds, connections=scale.cc_connections, probe=probe
            )
        result = run_flow(
            "cc",
            "client_credentials",
            port,
            world,
            warmup=warmup or 0.5,
            seconds=seconds,
            tasks=scale.cc_connections,
            probe=probe,
        )
        return result

    def logins(kind: str, seconds: float, base: int) -> FlowResult:
        name = "password login" if kind == "password" else "passkey login"
        tasks = scale.password_tasks if kind == "password" else scale.passkey_tasks
        return run_flow(
            kind,
            name,
            port,
            world,
            warmup=scale.warmup,
            seconds=seconds,
            tasks=tasks,
            counter_base=base,
            probe=probe,
        )

    results = [
        timed(
            f"client_credentials, {scale.cc_seconds} s",
            timings,
            lambda: cc(scale.cc_seconds, warmup=max(2, int(scale.warmup))),
            server,
        ),
        timed(
            f"client_credentials with DPoP, {scale.cc_seconds} s",
            timings,
            lambda: run_flow(
                "cc_dpop",
                "client_credentials (DPoP)",
                port,
                world,
                warmup=scale.warmup,
                seconds=scale.cc_seconds,
                tasks=scale.cc_connections,
                probe=probe,
            ),
            server,
        ),
        timed(
            f"password logins, {scale.login_seconds} s",
            timings,
            lambda: logins("password", scale.login_seconds, 0),
            server,
        ),
        timed(
            f"passkey logins, {scale.login_seconds} s",
            timings,
            lambda: logins("passkey", scale.login_seconds, 0),
            server,
        ),
    ]
    for r in results:
        console.print(
            f"  {r.name}: {r.rate:,.1f}/s, p50 {r.p50_ms:.1f} ms, p99 {r.p99_ms:.1f} ms, "
            f"{r.errors} errors"
        )
        if r.errors:
            console.print(f"  errors {r.error_kinds}; first: {r.first_error[:300]}")
    profiles: list[Profile] = []
    if args.profile:
        out_dir = Path(args.profile_dir or tempfile.mkdtemp(prefix="bench-tokens-profile-"))
        out_dir.mkdir(parents=True, exist_ok=True)
        seconds = scale.profile_seconds
        drives: list[tuple[str, Callable[[], object]]] = [
            ("client_credentials", lambda: cc(seconds)),
            ("password", lambda: logins("password", seconds, 0)),
            ("passkey", lambda: logins("passkey", seconds, 10_000_000)),
        ]
        for flow, drive in drives:
            profiles.append(
                timed(
                    f"py-spy during {flow}, {seconds} s",
                    timings,
                    lambda flow=flow, drive=drive: profile_flow(  # type: ignore[misc]
                        flow, out_dir, probe.app_pid, seconds, drive
                    ),
                    server,
                )
            )
    return results, profiles


def _per_core(rate: float) -> float:
    return rate / WORKERS


def _report(
    scale: Scale,
    results: list[FlowResult],
    profiles: list[Profile],
    timings: list[tuple[str, float]],
    total: float,
    load: tuple[float, float],
    argon: tuple[int, int, int, float],
    argon_reference_ms: float,
) -> None:
    cc, cc_dpop, pwd, pk = results
    # flow -> (target per core, Keycloak's figure per vCPU)
    peers = {
        cc.name: (f">= {TARGET_CC_TOTAL / WORKERS:,.0f}", KEYCLOAK_CC_PER_VCPU),
        cc_dpop.name: ("measured", None),
        pwd.name: (f">= {TARGET_PWD_PER_CORE:g}", KEYCLOAK_PWD_PER_VCPU),
        pk.name: (f">= {TARGET_PASSKEY_PER_CORE:g}", None),
    }

    def keycloak(r: FlowResult) -> str:
        figure = peers[r.name][1]
        return f"{_per_core(r.rate) / figure:.2f}" if figure else "-"

    report.columns_table(
        f"Tokens and logins per second, {WORKERS} uvicorn workers, {scale.name} (per core = /2)",
        [
            ("flow", lambda r: r.name),
            ("/s", lambda r: r.rate),
            ("/core", lambda r: _per_core(r.rate)),
            ("target /core", lambda r: peers[r.name][0]),
            ("Keycloak /vCPU", lambda r: peers[r.name][1] or "not published"),
            ("÷ Keycloak", keycloak),
            ("p50 ms", lambda r: f"{r.p50_ms:.1f}"),
            ("p99 ms", lambda r: f"{r.p99_ms:.1f}"),
            ("errors", lambda r: r.errors),
        ],
        results,
    )
    console.print(
        f"client_credentials: POST /token, Basic auth ({cc.tool}; target 1,000/s on 2 cores). "
        "Logins (asyncio client, each a new browser, latency per whole login): password = "
        "GET /authorize -> GET /login -> POST /login -> GET /authorize/resume -> POST /token; "
        "passkey = GET /authorize -> GET /login -> POST /webauthn/login/begin -> sign -> "
        "POST /webauthn/login/complete -> GET /authorize/resume -> POST /token. "
        "Consent pre-recorded (returning users). The 2 cores are shared by the app, "
        f"PostgreSQL and the load generator; audit sequencer on. argon2id time_cost={argon[0]}, "
        f"memory_kib={argon[1]}, parallelism={argon[2]} ({argon[3]:.1f} ms CPU per verify "
        f"here). Peer: {KEYCLOAK_SOURCE}; Keycloak was not run here."
    )
    report.columns_table(
        "CPU in the measured window (app and PostgreSQL from /proc, client from getrusage)",
        [
            ("flow", lambda r: r.name),
            ("window s", lambda r: f"{r.seconds:.1f}"),
            ("done", lambda r: r.completed),
            ("app CPU s", lambda r: f"{r.app_cpu:.1f}"),
            ("db CPU s", lambda r: f"{r.db_cpu:.1f}"),
            ("client CPU s", lambda r: f"{r.client_cpu:.1f}"),
            ("app+db ms/op", lambda r: f"{r.server_cpu_ms:.2f}"),
            ("ops per app+db CPU-s", lambda r: r.per_server_cpu_second),
            ("host steal", lambda r: f"{r.steal:.1f} s ({r.steal_share:.0%})"),
        ],
        results,
    )
    console.print(
        "ops per app+db CPU-s: what one core given wholly to the app and PostgreSQL would do "
        "(no load generator, nothing else on it). host steal: CPU time the hypervisor gave to "
        "other guests while this machine's CPUs wanted to run (/proc/stat), as a share of the "
        "window's CPU time."
    )
    for r in results:
        if r.steal_share >= STEAL_WARNING:
            console.print(
                f"[yellow]the host took {r.steal_share:.0%} of the CPU during {r.name}: its "
                "rate understates the code (its CPU per operation is the steadier figure)"
                "[/yellow]"
            )
    step_rows: list[list[Any]] = []
    for r in (pwd, pk):
        for step, (p50, p99, n) in r.steps.items():
            step_rows.append([r.name, step, n, f"{p50:.2f}", f"{p99:.2f}"])
    table(
        "Per request in the login flows (ms, client side)",
        ["flow", "step", "requests", "p50", "p99"],
        step_rows,
    )
    sql_rows: list[list[Any]] = []
    for r in results:
        transactions = f"{r.transactions_per_op:.1f} transactions/op"
        sql_rows.append([r.name, "all statements", f"{r.sql_per_op:.1f}", "", transactions])
        for query, calls, ms in r.sql[:8]:
            text = " ".join(query.split())
            text = text[:70] + ("…" if len(text) > 70 else "")
            per_op = calls / max(r.completed, 1)
            sql_rows.append(["", text, f"{per_op:.2f}", f"{ms / calls:.3f}", ""])
    table(
        "SQL per operation in the measured window (pg_stat_statements; most called first)",
        ["flow", "statement", "per op", "mean ms", ""],
        sql_rows,
    )
    cc_ok = cc.rate >= TARGET_CC_TOTAL
    pwd_ok = _per_core(pwd.rate) >= TARGET_PWD_PER_CORE
    pk_ok = _per_core(pk.rate) >= TARGET_PASSKEY_PER_CORE
    errors = cc.errors + cc_dpop.errors + pwd.errors + pk.errors
    report.targets_table(
        "Targets",
        [
            ("client_credentials tokens/s (2 cores)", cc.rate, f">= {TARGET_CC_TOTAL:,.0f}", cc_ok),
            (
                "password logins/s per core",
                _per_core(pwd.rate),
                f">= {TARGET_PWD_PER_CORE:g}",
                pwd_ok,
            ),
            (
                "passkey logins/s per core",
                _per_core(pk.rate),
                f">= {TARGET_PASSKEY_PER_CORE:g}",
                pk_ok,
            ),
            ("errors", errors, "0", errors == 0),
        ],
    )
    for r in results:
        if r.errors:
            console.print(f"{r.name} errors {r.error_kinds}; first: {r.first_error[:300]}")
    for p in profiles:
        busy = max(p.samples, 1)
        rows: list[list[Any]] = [
            ["self, by package", name, f"{n / busy * 100:.1f}%"] for name, n in p.by_package[:6]
        ]
        rows += [["self", name, f"{n / busy * 100:.1f}%"] for name, n in p.top_self[:8]]
        rows += [
            ["ours, inclusive", name, f"{n / busy * 100:.1f}%"] for name, n in p.top_inclusive[:8]
        ]
        table(
            f"py-spy, app processes during {p.flow}: {p.samples:,} busy samples",
            ["kind", "function (file)", "share"],
            rows,
        )
        console.print(f"raw stacks: {p.raw_file}")
    report.timings_table(timings, total, load)

    def flow_json(r: FlowResult) -> dict[str, Any]:
        return {
            "per_s": r3(r.rate),
            "per_core": r3(_per_core(r.rate)),
            "p50_ms": r3(r.p50_ms),
            "p99_ms": r3(r.p99_ms),
            "completed": r.completed,
            "seconds": r3(r.seconds),
            "errors": r.errors,
            "tool": r.tool,
            "app_cpu_s": r3(r.app_cpu),
            "db_cpu_s": r3(r.db_cpu),
            "client_cpu_s": r3(r.client_cpu),
            "app_db_cpu_ms_per_op": r3(r.server_cpu_ms),
            "per_app_db_cpu_second": r3(r.per_server_cpu_second),
            "sql_statements_per_op": r3(r.sql_per_op),
            "transactions_per_op": r3(r.transactions_per_op),
            "host_steal_cpu_s": r3(r.steal),
            "host_steal_share": r3(r.steal_share),
        }

    figures: dict[str, Any] = {
        "scale": scale.name,
        "cpus": os.cpu_count(),
        "uvicorn_workers": WORKERS,
        "audit_sequencer": True,
        "argon2": {
            "time_cost": argon[0],
            "memory_kib": argon[1],
            "parallelism": argon[2],
            "verify_cpu_ms": r3(argon[3]),
            "build": argon2_build(),
            "reference": {
                "time_cost": ARGON2_REFERENCE[0],
                "memory_kib": ARGON2_REFERENCE[1],
                "parallelism": ARGON2_REFERENCE[2],
                "verify_cpu_ms": r3(argon_reference_ms),
            },
        },
        "loadavg_1m_start_end": [round(load[0], 2), round(load[1], 2)],
        "total_seconds": round(total, 1),
        "client_credentials": flow_json(cc),
        "client_credentials_dpop": flow_json(cc_dpop),
        "password_login": flow_json(pwd),
        "passkey_login": flow_json(pk),
    }
    if profiles:
        figures["profile_top_self"] = {
            p.flow: [[name, round(n / max(p.samples, 1), 3)] for name, n in p.top_self[:5]]
            for p in profiles
        }
    peer = {
        "name": "Keycloak published sizing (not run here)",
        "source": KEYCLOAK_SOURCE,
        "client_credentials_per_vcpu": KEYCLOAK_CC_PER_VCPU,
        "password_logins_per_vcpu": KEYCLOAK_PWD_PER_VCPU,
    }
    ratio = {
        "client_credentials_per_core_vs_keycloak": r3(_per_core(cc.rate) / KEYCLOAK_CC_PER_VCPU),
        "password_logins_per_core_vs_keycloak": r3(_per_core(pwd.rate) / KEYCLOAK_PWD_PER_VCPU),
    }
    targets = {
        "client_credentials_per_s_2_cores": {
            "target": f">= {TARGET_CC_TOTAL:.0f}",
            "measured": r3(cc.rate),
            "met": cc_ok,
        },
        "password_logins_per_s_per_core": {
            "target": f">= {TARGET_PWD_PER_CORE:g}",
            "measured": r3(_per_core(pwd.rate)),
            "met": pwd_ok,
        },
        "passkey_logins_per_s_per_core": {
            "target": f">= {TARGET_PASSKEY_PER_CORE:g}",
            "measured": r3(_per_core(pk.rate)),
            "met": pk_ok,
        },
    }
    emit("tokens", figures=figures, peer=peer, ratio=ratio, targets=targets)


if __name__ == "__main__":
    main()
