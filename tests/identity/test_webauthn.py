"""The passkey adapter, driven by a software authenticator (P-256, "none" attestation)."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fido2 import cbor
from fido2.utils import websafe_decode
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from core.settings import Settings
from identity.webauthn import (
    AssertionResult,
    NewPasskey,
    PasskeyCounterError,
    PasskeyInvalid,
    PasskeyServer,
    StoredPasskey,
    credential_id_of,
)
from tests.identity.authenticator import AT, ORIGIN, UP, SoftAuthenticator, b64

USER = b"\x01" * 16


def make_server(public_url: str = ORIGIN, **overrides: Any) -> PasskeyServer:
    return PasskeyServer(Settings(environment="test", public_url=public_url, **overrides))


def through_json(state: dict[str, Any]) -> dict[str, Any]:
    """What the caller stores in webauthn_challenge.state and reads back."""
    loaded: dict[str, Any] = json.loads(json.dumps(state))
    return loaded


@pytest.fixture
def server() -> PasskeyServer:
    return make_server()


def register(
    server: PasskeyServer, authenticator: SoftAuthenticator
) -> tuple[NewPasskey, StoredPasskey]:
    options, state = server.begin_registration(
        user_handle=USER, name="001203004512", display_name="Nguyễn Thị Minh Anh"
    )
    new = server.complete_registration(through_json(state), authenticator.create(options))
    stored = StoredPasskey(
        credential_id=new.credential_id,
        credential_data=new.credential_data,
        sign_count=new.sign_count,
        user_handle=new.user_handle,
    )
    return new, stored


def refused(exc: pytest.ExceptionInfo[PasskeyInvalid], code: str = "passkey-invalid") -> None:
    assert exc.value.code == code
    assert exc.value.status == 400


# ---------------------------------------------------------------------------- happy paths


def test_creation_options_ask_for_a_discoverable_verified_passkey(server: PasskeyServer) -> None:
    existing = SoftAuthenticator()
    _, stored = register(server, existing)
    options, state = server.begin_registration(
        user_handle=USER,
        name="001203004512",
        display_name="Nguyễn Thị Minh Anh",
        existing=[stored.credential_data],
    )
    assert json.loads(json.dumps(options)) == options  # plain JSON
    assert options["rp"] == {"name": "Cổng định danh quốc gia", "id": "localhost"}
    assert options["user"] == {
        "id": b64(USER),
        "name": "001203004512",
        "displayName": "Nguyễn Thị Minh Anh",
    }
    assert len(websafe_decode(options["challenge"])) == 32
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["requireResidentKey"] is True
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["attestation"] == "none"
    assert [p["alg"] for p in options["pubKeyCredParams"]] == [-7, -8, -257]
    assert options["excludeCredentials"] == [
        {"type": "public-key", "id": b64(stored.credential_id)}
    ]
    assert options["timeout"] == server.timeout * 1000
    assert state["challenge"] == options["challenge"]
    assert through_json(state) == state


def test_register_then_sign_in_discoverably(server: PasskeyServer) -> None:
    authenticator = SoftAuthenticator()
    new, stored = register(server, authenticator)
    assert new.credential_id == authenticator.credential_id
    assert new.sign_count == 0
    assert new.transports == ["hybrid", "internal"]  # unknown transports dropped
    assert new.user_handle == USER

    options, state = server.begin_authentication()
    assert "allowCredentials" not in options
    assert options["userVerification"] == "required"
    assert options["rpId"] == "localhost"
    response = authenticator.get(options)
    assert credential_id_of(response) == new.credential_id

    result = server.complete_authentication(through_json(state), response, lookup=[stored])
    assert result == AssertionResult(
        credential_id=new.credential_id, user_handle=USER, new_sign_count=1
    )


def test_sign_in_with_allowed_credentials(server: PasskeyServer) -> None:
    authenticator = SoftAuthenticator()
    _, stored = register(server, authenticator)
    options, state = server.begin_authentication(credentials=[stored.credential_data])
    assert options["allowCredentials"] == [{"type": "public-key", "id": b64(stored.credential_id)}]
    # Non-discoverable: the authenticator need not return a user handle.
    response = authenticator.get(options)
    response["response"]["userHandle"] = None
    result = server.complete_authentication(through_json(state), response, lookup=[stored])
    assert result.user_handle is None
    assert result.new_sign_count == 1


def test_a_credential_outside_allow_credentials_is_refused(server: PasskeyServer) -> None:
    first, other = SoftAuthenticator(), SoftAuthenticator()
    _, stored_first = register(server, first)
    _, stored_other = register(server, other)
    options, state = server.begin_authentication(credentials=[stored_first.credential_data])
    with pytest.raises(PasskeyInvalid) as exc:
        server.complete_authentication(
            state, other.get(options), lookup=[stored_first, stored_other]
        )
    refused(exc)


def test_counters_of_zero_are_accepted(server: PasskeyServer) -> None:
    """Authenticators without a counter (most synced passkeys) always report 0."""
    authenticator = SoftAuthenticator()
    _, stored = register(server, authenticator)
    for _ in range(2):
        options, state = server.begin_authentication()
        result = server.complete_authentication(
            state, authenticator.get(options, step=0), lookup=[stored]
        )
        assert result.new_sign_count == 0


# ---------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "origin",
    ["http://localhost:8001", "https://localhost:8000", "http://evil.localhost:8000", "null"],
)
def test_wrong_origin_is_refused(server: PasskeyServer, origin: str) -> None:
    authenticator = SoftAuthenticator()
    options, state = server.begin_registration(user_handle=USER, name="n", display_name="d")
    with pytest.raises(PasskeyInvalid) as exc:
        server.complete_registration(state, authenticator.create(options, origin=origin))
    refused(exc)

    _, stored = register(server, authenticator)
    options, state = server.begin_authentication()
    with pytest.raises(PasskeyInvalid) as exc:
        server.complete_authentication(
            state, authenticator.get(options, origin=origin), lookup=[stored]
        )
    refused(exc)


def test_any_configured_origin_is_accepted() -> None:
    server = make_server(webauthn_origins=["http://localhost:8000", "http://localhost:9000"])
    authenticator = SoftAuthenticator(origin="http://localhost:9000")
    new, _ = register(server, authenticator)
    assert new.credential_id == authenticator.credential_id


def test_wrong_challenge_is_refused(server: PasskeyServer) -> None:
    authenticator = SoftAuthenticator()
    other = b64(os.urandom(32))
    options, state = server.begin_registration(user_handle=USER, name="n", display_name="d")
    with pytest.raises(PasskeyInvalid) as exc:
        server.complete_registration(state, authenticator.create(options, challenge=other))
    refused(exc)
    assert "challenge" in exc.value.detail

    _, stored = register(server, authenticator)
    options, state = server.begin_authentication()
    with pytest.raises(PasskeyInvalid) as exc:
        server.complete_authentication(
            state, authenticator.get(options, challenge=other), lookup=[stored]
        )
    refused(exc)


def test_a_state_cannot_be_replayed_for_another_ceremony(server: PasskeyServer) -> None:
    authenticator = SoftAuthenticator()
    _, stored = register(server, authenticator)
    options, register_state = server.begin_registration(
        user_handle=USER, name="n", display_name="d"
    )
    with pytest.raises(PasskeyInvalid) as exc:
        server.complete_authentication(register_state, authenticator.get(options), lookup=[stored])
    refused(exc)
    options, auth_state = server.begin_authentication()
    with pytest.raises(PasskeyInvalid):
        server.complete_registration(auth_state, SoftAuthenticator().create(options | _user()))


def _user() -> dict[str, Any]:
    return {"user": {"id": b64(USER)}}


def test_wrong_client_data_type_is_refused(server: PasskeyServer) -> None:
    authenticator = SoftAuthenticator()
    options, state = server.begin_registration(user_handle=USER, name="n", display_name="d")
    with pytest.raises(PasskeyInvalid):
        server.complete_registration(state, authenticator.create(options, kind="webauthn.get"))


def test_wrong_rp_id_hash_is_refused(server: PasskeyServer) -> None:
    authenticator = SoftAuthenticator()
    options, state = server.begin_registration(user_handle=USER, name="n", display_name="d")
    with pytest.raises(PasskeyInvalid) as exc:
        server.complete_registration(state, authenticator.create(options, rp_id="example.org"))
    refused(exc)
    assert "RP ID" in exc.value.detail

    _, stored = register(server, authenticator)
    options, state = server.begin_authentication()
    with pytest.raises(PasskeyInvalid) as exc:
        server.complete_authentication(
            state, authenticator.get(options, rp_id="example.org"), lookup=[stored]
        )
    refused(exc)


def test_a_server_for_another_rp_id_refuses_the_passkey() -> None:
    authenticator = SoftAuthenticator()
    _, stored = register(make_server(), authenticator)
    other = make_server(webauthn_rp_id="registry.example", webauthn_origins=[ORIGIN])
    options, state = other.begin_authentication()
    with pytest.raises(PasskeyInvalid):
        other.complete_authentication(state, authenticator.get(options), lookup=[stored])


def test_user_verification_is_required(server: PasskeyServer) -> None:
    authenticator = SoftAuthenticator()
    options, state = server.begin_registration(user_handle=USER, name="n", display_name="d")
    with pytest.raises(PasskeyInvalid):
        server.complete_registration(state, authenticator.create(options, flags=UP | AT))
    _, stored = register(server, authenticator)
    options, state = server.begin_authentication()
    with pytest.raises(PasskeyInvalid):
        server.complete_authentication(state, authenticator.get(options, flags=UP), lookup=[stored])


def test_cross_origin_ceremonies_are_refused(server: PasskeyServer) -> None:
    authenticator = SoftAuthenticator()
    options, state = server.begin_registration(user_handle=USER, name="n", display_name="d")
    with pytest.raises(PasskeyInvalid) as exc:
        server.complete_registration(
            state,
            authenticator.create(options, crossOrigin=True, topOrigin="https://evil.example"),
        )
    assert "cross-origin" in exc.value.detail


@pytest.mark.parametrize("part", ["signature", "authenticatorData", "clientDataJSON"])
def test_tampered_assertion_is_refused(server: PasskeyServer, part: str) -> None:
    authenticator = SoftAuthenticator()
    _, stored = register(server, authenticator)
    options, state = server.begin_authentication()
    response = authenticator.get(options)
    raw = bytearray(websafe_decode(response["response"][part]))
    if part == "signature":
        raw[-1] ^= 0x01
    elif part == "authenticatorData":
        raw[-1] ^= 0x01  # the counter's low byte: still well-formed, no longer signed
    else:
        raw[:] = raw.replace(b'"crossOrigin":false', b'"crossOrigin":false,"x":1')
    response["response"][part] = b64(bytes(raw))
    with pytest.raises(PasskeyInvalid) as exc:
        server.complete_authentication(state, response, lookup=[stored])
    refused(exc)


def test_a_signature_by_another_key_is_refused(server: PasskeyServer) -> None:
    authenticator = SoftAuthenticator()
    _, stored = register(server, authenticator)
    authenticator.key = ec.generate_private_key(ec.SECP256R1())
    options, state = server.begin_authentication()
    with pytest.raises(PasskeyInvalid) as exc:
        server.complete_authentication(state, authenticator.get(options), lookup=[stored])
    assert "signature" in exc.value.detail.lower()


@pytest.mark.parametrize(("stored_count", "step"), [(5, 0), (5, -1), (5, -5), (1, 0)])
def test_counter_regression_is_refused(server: PasskeyServer, stored_count: int, step: int) -> None:
    authenticator = SoftAuthenticator()
    _, stored = register(server, authenticator)
    stored = StoredPasskey(
        credential_id=stored.credential_id,
        credential_data=stored.credential_data,
        sign_count=stored_count,
        user_handle=stored.user_handle,
    )
    authenticator.counter = stored_count
    options, state = server.begin_authentication()
    with pytest.raises(PasskeyCounterError) as exc:
        server.complete_authentication(
            state, authenticator.get(options, step=step), lookup=[stored]
        )
    refused(exc, "passkey-counter")
    assert isinstance(exc.value, PasskeyInvalid)


def test_a_forged_counter_is_not_reported_as_a_clone(server: PasskeyServer) -> None:
    """The counter is checked after the signature: a forger gets passkey-invalid, not -counter."""
    authenticator = SoftAuthenticator()
    _, stored = register(server, authenticator)
    stored = StoredPasskey(stored.credential_id, stored.credential_data, 9, stored.user_handle)
    authenticator.key = ec.generate_private_key(ec.SECP256R1())
    options, state = server.begin_authentication()
    with pytest.raises(PasskeyInvalid) as exc:
        server.complete_authentication(state, authenticator.get(options), lookup=[stored])
    refused(exc)


def test_unknown_credential_is_refused(server: PasskeyServer) -> None:
    authenticator = SoftAuthenticator()
    register(server, authenticator)
    options, state = server.begin_authentication()
    with pytest.raises(PasskeyInvalid) as exc:
        server.complete_authentication(state, authenticator.get(options), lookup=[])
    refused(exc)


def test_discoverable_sign_in_needs_the_right_user_handle(server: PasskeyServer) -> None:
    authenticator = SoftAuthenticator()
    _, stored = register(server, authenticator)
    options, state = server.begin_authentication()
    response = authenticator.get(options)
    response["response"]["userHandle"] = None
    with pytest.raises(PasskeyInvalid):
        server.complete_authentication(state, response, lookup=[stored])
    options, state = server.begin_authentication()
    response = authenticator.get(options, user_handle=b"\x02" * 16)
    with pytest.raises(PasskeyInvalid) as exc:
        server.complete_authentication(state, response, lookup=[stored])
    assert "user handle" in exc.value.detail


def test_an_algorithm_that_was_not_offered_is_refused(server: PasskeyServer) -> None:
    authenticator = SoftAuthenticator(cose_alg=-47)  # ES256K, not in pubKeyCredParams
    options, state = server.begin_registration(user_handle=USER, name="n", display_name="d")
    with pytest.raises(PasskeyInvalid) as exc:
        server.complete_registration(state, authenticator.create(options))
    assert "algorithm" in exc.value.detail


def test_a_public_key_off_the_curve_is_refused(server: PasskeyServer) -> None:
    authenticator = SoftAuthenticator()
    authenticator.cose_key = lambda: cbor.encode(  # type: ignore[method-assign]
        {1: 2, 3: -7, -1: 1, -2: b"\x01" * 32, -3: b"\x02" * 32}
    )
    options, state = server.begin_registration(user_handle=USER, name="n", display_name="d")
    with pytest.raises(PasskeyInvalid) as exc:
        server.complete_registration(state, authenticator.create(options))
    assert "public key" in exc.value.detail


def test_raw_id_must_match_the_attested_credential(server: PasskeyServer) -> None:
    authenticator = SoftAuthenticator()
    options, state = server.begin_registration(user_handle=USER, name="n", display_name="d")
    response = authenticator.create(options)
    response["id"] = response["rawId"] = b64(b"another-credential")
    with pytest.raises(PasskeyInvalid):
        server.complete_registration(state, response)


# ---------------------------------------------------------------------------- hostile input


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda r: r.pop("response"), id="no-response"),
        pytest.param(lambda r: r.pop("rawId"), id="no-rawId"),
        pytest.param(lambda r: r.update(type="password"), id="wrong-type"),
        # fido2 alone would run bytes(10**12): a MemoryError (a 500) or worse.
        pytest.param(lambda r: r.update(id=10**12, rawId=10**12), id="integer-rawId"),
        pytest.param(lambda r: r.update(id="AAAA"), id="id-not-rawId"),
        pytest.param(lambda r: r["response"].pop("attestationObject"), id="no-attestation"),
        pytest.param(lambda r: r["response"].update(clientDataJSON="!!"), id="not-base64"),
        pytest.param(lambda r: r["response"].update(clientDataJSON=b64(b"[]")), id="cd-array"),
        pytest.param(
            lambda r: r["response"].update(
                clientDataJSON=b64(b'{"type":"webauthn.create","challenge":1000000000000}')
            ),
            id="integer-challenge",
        ),
        pytest.param(
            lambda r: r["response"].update(
                attestationObject=b64(cbor.encode({"fmt": "none", "authData": 10**12}))
            ),
            id="integer-authData",
        ),
        pytest.param(
            lambda r: r["response"].update(
                attestationObject=b64(
                    cbor.encode({"fmt": "none", "attStmt": {}, "authData": b"\x00" * 37})
                )
            ),
            id="no-attested-credential",
        ),
        pytest.param(lambda r: r["response"].update(attestationObject=b64(b"\xff")), id="cbor"),
        pytest.param(lambda r: r["response"].update(attestationObject="A" * 70_000), id="too-long"),
    ],
)
def test_malformed_registration_is_refused(server: PasskeyServer, mutate: Any) -> None:
    options, state = server.begin_registration(user_handle=USER, name="n", display_name="d")
    response = SoftAuthenticator().create(options)
    mutate(response)
    with pytest.raises(PasskeyInvalid) as exc:
        server.complete_registration(state, response)
    refused(exc)


@pytest.mark.parametrize("state", [None, {}, {"challenge": 1}, "x", {"ceremony": "authenticate"}])
def test_malformed_state_is_refused(server: PasskeyServer, state: Any) -> None:
    options, _ = server.begin_registration(user_handle=USER, name="n", display_name="d")
    with pytest.raises(PasskeyInvalid):
        server.complete_registration(state, SoftAuthenticator().create(options))


def test_credential_id_of_refuses_garbage() -> None:
    for bad in [None, {}, {"rawId": 5}, {"rawId": ""}, {"rawId": "A" * 2000}, {"rawId": "*"}]:
        with pytest.raises(PasskeyInvalid):
            credential_id_of(bad)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
field_names = st.sampled_from(
    [
        "id",
        "rawId",
        "type",
        "response",
        "clientDataJSON",
        "attestationObject",
        "authenticatorData",
        "signature",
        "userHandle",
        "transports",
    ]
)


def _mutations() -> st.SearchStrategy[list[tuple[str, str | None, Any]]]:
    """Replace or delete members of a valid response, at the top level or inside response."""
    return st.lists(
        st.tuples(
            st.sampled_from(["outer", "inner"]),
            field_names | st.none(),
            json_values | st.binary(max_size=64).map(b64),
        ),
        min_size=1,
        max_size=4,
    )


def _apply(response: dict[str, Any], mutations: list[tuple[str, str | None, Any]]) -> None:
    for where, name, value in mutations:
        target = response if where == "outer" else response.get("response")
        if not isinstance(target, dict):
            continue
        if name is None:
            target.clear()
        elif value is None:
            target.pop(name, None)
        else:
            target[name] = value


# One server and one registered passkey for the property tests (the server keeps no state).
SERVER = make_server()
AUTHENTICATOR = SoftAuthenticator()
_, STORED = register(SERVER, AUTHENTICATOR)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(garbage=json_values)
def test_random_json_is_refused_cleanly(garbage: Any) -> None:
    server = SERVER
    _, reg_state = server.begin_registration(user_handle=USER, name="n", display_name="d")
    _, auth_state = server.begin_authentication()
    for call in (
        lambda: server.complete_registration(reg_state, garbage),
        lambda: server.complete_authentication(auth_state, garbage, lookup=[]),
        lambda: credential_id_of(garbage),
    ):
        with pytest.raises(PasskeyInvalid):
            call()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations=_mutations(), data=st.data())
def test_mutated_responses_never_raise_anything_else(
    mutations: list[tuple[str, str | None, Any]], data: st.DataObject
) -> None:
    server, authenticator, stored = SERVER, AUTHENTICATOR, STORED
    options, state = server.begin_registration(user_handle=USER, name="n", display_name="d")
    response = SoftAuthenticator(key=AUTHENTICATOR.key).create(options)
    _apply(response, mutations)
    try:
        server.complete_registration(state, response)
    except PasskeyInvalid:
        pass

    options, state = server.begin_authentication()
    response = authenticator.get(options)
    _apply(response, data.draw(_mutations()))
    try:
        server.complete_authentication(state, response, lookup=[stored])
    except PasskeyInvalid:
        pass


@settings(max_examples=200, deadline=None)
@given(blob=st.binary(max_size=300))
def test_random_binary_fields_are_refused_cleanly(blob: bytes) -> None:
    """Random bytes as clientDataJSON, attestationObject, authenticatorData or signature."""
    assume(blob != USER)
    server, authenticator, stored = SERVER, AUTHENTICATOR, STORED
    options, state = server.begin_registration(user_handle=USER, name="n", display_name="d")
    for part in ("clientDataJSON", "attestationObject"):
        response = SoftAuthenticator(key=AUTHENTICATOR.key).create(options)
        response["response"][part] = b64(blob)
        with pytest.raises(PasskeyInvalid):
            server.complete_registration(state, response)
    options, state = server.begin_authentication()
    for part in ("clientDataJSON", "authenticatorData", "signature", "userHandle"):
        response = authenticator.get(options)
        response["response"][part] = b64(blob)
        with pytest.raises(PasskeyInvalid):
            server.complete_authentication(state, response, lookup=[stored])


def test_fido2_resolves_each_data_class_hints_once(server: PasskeyServer) -> None:
    """identity.webauthn hands fido2 a get_type_hints that remembers each class's hints; a
    second sign-in resolves none again, and still completes."""
    import fido2.utils

    cached: Any = getattr(fido2.utils, "get_type_hints")  # noqa: B009 - not in its __all__
    authenticator = SoftAuthenticator()
    _, stored = register(server, authenticator)
    options, state = server.begin_authentication()
    server.complete_authentication(through_json(state), authenticator.get(options), lookup=[stored])
    before = cached.cache_info()
    options, state = server.begin_authentication()
    result = server.complete_authentication(
        through_json(state), authenticator.get(options), lookup=[stored]
    )
    after = cached.cache_info()
    assert result.new_sign_count == 2
    assert after.misses == before.misses
    assert after.hits > before.hits
