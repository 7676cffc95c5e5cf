"""Password hashing (argon2id, rehash, dummy hash) and the password policy."""

from __future__ import annotations

import unicodedata

import argon2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import ValidationFailed
from core.settings import Settings
from identity.passwords import (
    MAX_LENGTH,
    MIN_LENGTH,
    PasswordCheck,
    PasswordHasher,
    check_password_policy,
    common_passwords,
)

ID_NUMBER = "001203004512"
GOOD = "mưa rơi trên phố cổ"


def fast_hasher(time_cost: int = 1) -> PasswordHasher:
    # Far below the production floor that Settings enforces: only to keep the tests quick.
    return PasswordHasher(time_cost=time_cost, memory_kib=8, parallelism=1)


@pytest.fixture(scope="module")
def hasher() -> PasswordHasher:
    return fast_hasher()


def refusal(password: str, **kwargs: object) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        check_password_policy(password, **kwargs)  # type: ignore[arg-type]
    return caught.value


# ------------------------------------------------------------------------------ hashing


def test_the_installed_argon2_computes_rfc_9106s_argon2id_test_vector() -> None:
    # `make install` may build argon2-cffi-bindings here (AVX2) instead of taking the wheel:
    # whichever build is installed must compute Argon2id itself (RFC 9106 section 5.3: 32 KiB,
    # 3 passes, 4 lanes, with a secret and associated data, tag of 32 bytes).
    from argon2.low_level import ARGON2_VERSION, Type, core, ffi

    out = ffi.new("uint8_t[]", 32)
    buffers = {
        name: ffi.new("uint8_t[]", value)
        for name, value in (
            ("pwd", b"\x01" * 32),
            ("salt", b"\x02" * 16),
            ("secret", b"\x03" * 8),
            ("ad", b"\x04" * 12),
        )
    }
    context = ffi.new(
        "argon2_context *",
        {
            "out": out,
            "outlen": 32,
            "version": ARGON2_VERSION,
            "pwd": buffers["pwd"],
            "pwdlen": 32,
            "salt": buffers["salt"],
            "saltlen": 16,
            "secret": buffers["secret"],
            "secretlen": 8,
            "ad": buffers["ad"],
            "adlen": 12,
            "t_cost": 3,
            "m_cost": 32,
            "lanes": 4,
            "threads": 4,
            "allocate_cbk": ffi.NULL,
            "free_cbk": ffi.NULL,
            "flags": 0,  # ARGON2_DEFAULT_FLAGS
        },
    )
    assert core(context, Type.ID.value) == 0  # ARGON2_OK
    assert bytes(ffi.buffer(out, 32)).hex() == (
        "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"
    )


def test_hash_is_argon2id_and_verifies(hasher: PasswordHasher) -> None:
    stored = hasher.hash(GOOD)
    assert stored.startswith("$argon2id$")
    assert hasher.hash(GOOD) != stored  # salted
    assert hasher.verify(stored, GOOD) == PasswordCheck(ok=True, new_hash=None)
    assert hasher.verify(stored, GOOD + " ") == PasswordCheck(ok=False)


def test_settings_parameters_are_used() -> None:
    config = Settings(environment="test", password_time_cost=3, password_memory_kib=19_456)
    params = argon2.extract_parameters(PasswordHasher.from_settings(config).hash(GOOD))
    assert (params.type, params.time_cost, params.memory_cost, params.parallelism) == (
        argon2.Type.ID,
        3,
        19_456,
        1,
    )


def test_default_is_owasp_and_keycloak_7_mib_x_5() -> None:
    params = argon2.extract_parameters(
        PasswordHasher.from_settings(Settings(environment="test")).hash(GOOD)
    )
    assert (params.type, params.memory_cost, params.time_cost, params.parallelism) == (
        argon2.Type.ID,
        7_168,
        5,
        1,
    )


def test_another_owasp_pair_rehashes_at_the_next_sign_in() -> None:
    # Between OWASP's equal-defence pairs, here from 19 MiB x 2 (the default before) to the
    # default 7 MiB x 5: each password is hashed again, at the new parameters, when its owner
    # next signs in.
    before = PasswordHasher.from_settings(
        Settings(environment="test", password_memory_kib=19_456, password_time_cost=2)
    )
    old = before.hash(GOOD)
    now = PasswordHasher.from_settings(Settings(environment="test"))
    check = now.verify(old, GOOD)
    assert check.ok and check.new_hash is not None
    params = argon2.extract_parameters(check.new_hash)
    assert (params.memory_cost, params.time_cost) == (7_168, 5)
    assert now.verify(check.new_hash, GOOD) == PasswordCheck(ok=True, new_hash=None)
    # And back: a change of parameters either way rehashes.
    back = before.verify(check.new_hash, GOOD)
    assert back.ok and back.new_hash is not None
    assert argon2.extract_parameters(back.new_hash).memory_cost == 19_456


def test_verify_rehashes_when_parameters_rise(hasher: PasswordHasher) -> None:
    old = hasher.hash(GOOD)
    stronger = fast_hasher(time_cost=3)
    check = stronger.verify(old, GOOD)
    assert check.ok
    assert check.new_hash is not None
    assert argon2.extract_parameters(check.new_hash).time_cost == 3
    assert stronger.verify(check.new_hash, GOOD) == PasswordCheck(ok=True, new_hash=None)
    # A wrong password never yields a new hash.
    assert stronger.verify(old, "not the password") == PasswordCheck(ok=False)


def test_unknown_account_checks_a_dummy_hash_and_fails(
    hasher: PasswordHasher, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    real_verify = argon2.PasswordHasher.verify

    def spy(self: argon2.PasswordHasher, stored: str | bytes, password: str | bytes) -> bool:
        checked.append(str(stored))
        return real_verify(self, stored, password)

    monkeypatch.setattr(argon2.PasswordHasher, "verify", spy)
    assert hasher.verify(None, GOOD) == PasswordCheck(ok=False)
    assert hasher.verify(None, "") == PasswordCheck(ok=False)
    # The same work as for a real account: one argon2id check with the same parameters.
    assert len(checked) == 2
    dummy = argon2.extract_parameters(checked[0])
    real = argon2.extract_parameters(hasher.hash(GOOD))
    assert dummy == real


@pytest.mark.parametrize(
    "stored",
    ["", "not a hash", "$argon2id$v=19$m=8,t=1,p=1$broken", "$2b$12$abcdefghijklmnopqrstuv"],
)
def test_unreadable_stored_hash_never_matches(hasher: PasswordHasher, stored: str) -> None:
    assert hasher.verify(stored, GOOD) == PasswordCheck(ok=False)


def test_other_argon2_variant_is_upgraded(hasher: PasswordHasher) -> None:
    legacy = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=argon2.Type.I)
    check = hasher.verify(legacy.hash(GOOD), GOOD)
    assert check.ok
    assert check.new_hash is not None
    assert check.new_hash.startswith("$argon2id$")


def test_composed_and_decomposed_forms_are_one_password(hasher: PasswordHasher) -> None:
    nfc = unicodedata.normalize("NFC", "Mật khẩu của tôi")
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    assert hasher.verify(hasher.hash(nfd), nfc).ok
    assert hasher.verify(hasher.hash(nfc), nfd).ok


def test_lone_surrogates_do_not_raise(hasher: PasswordHasher) -> None:
    stored = hasher.hash(GOOD)
    assert hasher.verify(stored, "\ud800abcdefgh") == PasswordCheck(ok=False)
    assert hasher.verify(None, "\udfff") == PasswordCheck(ok=False)


async def test_async_variants_run_off_the_loop(hasher: PasswordHasher) -> None:
    stored = await hasher.hash_async(GOOD)
    assert (await hasher.verify_async(stored, GOOD)).ok
    assert not (await hasher.verify_async(stored, "wrong password")).ok
    assert not (await hasher.verify_async(None, GOOD)).ok


# ------------------------------------------------------------------------------ policy


def test_length_bounds_count_code_points() -> None:
    refused = refusal("kx7#Qm2")
    assert (
        refused.errors[0].detail == f"The password must be at least {MIN_LENGTH} characters long."
    )
    check_password_policy("kx7#Qm2p")
    check_password_policy("k" * MAX_LENGTH)
    too_long = f"The password must be at most {MAX_LENGTH} characters long."
    assert refusal("k" * (MAX_LENGTH + 1)).errors[0].detail == too_long


def test_length_is_measured_after_nfc() -> None:
    # Seven letters written with combining marks are 14 code points in NFD, still seven.
    seven = unicodedata.normalize("NFD", "ệệệệệệệ")
    assert len(seven) > MIN_LENGTH
    refusal(seven)
    # 128 letters in NFD (256 code points) are 128 characters: accepted.
    check_password_policy(unicodedata.normalize("NFD", "ệ" * MAX_LENGTH))


@pytest.mark.parametrize(
    "password", ["password", "PASSWORD1", "BaseBall", "1q2w3e4r", "QwErTyUiOp"]
)
def test_common_passwords_are_refused_in_any_case(password: str) -> None:
    refused = refusal(password)
    assert "commonly used" in refused.errors[0].detail


def test_the_bundled_list_is_loaded_once() -> None:
    first = common_passwords()
    assert first is common_passwords()
    assert 9_000 <= len(first) <= 10_000
    assert {"password", "iloveyou", "qwertyuiop"} <= first
    assert all(entry == entry.casefold() for entry in first)


def test_the_id_number_is_not_a_password() -> None:
    refused = refusal(ID_NUMBER, context_words=(ID_NUMBER,))
    assert "ID number" in refused.errors[0].detail
    check_password_policy(ID_NUMBER + "x", context_words=(ID_NUMBER,))
    check_password_policy(ID_NUMBER)  # without context it is just twelve digits


def test_the_username_is_compared_case_insensitively() -> None:
    refusal("Clerk.Hanoi.17", context_words=("clerk.hanoi.17", None))


def test_refusal_points_at_the_field_and_never_repeats_the_password() -> None:
    for password, context in [
        ("Zq9!", ()),
        ("Letmein1", ()),
        (ID_NUMBER, (ID_NUMBER,)),
        ("z" * 200, ()),
    ]:
        refused = refusal(password, pointer="#/new_password", context_words=context)
        assert [e.pointer for e in refused.errors] == ["#/new_password"]
        text = refused.detail + " ".join(e.detail for e in refused.errors)
        assert password not in text
    assert refusal("Zq9!").errors[0].pointer == "#/password"


def test_invalid_text_is_refused() -> None:
    assert "not valid text" in refusal("abc\ud800defgh").errors[0].detail


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_policy_only_ever_refuses_with_a_field_error(password: str) -> None:
    errors: tuple[object, ...] | None = None
    try:
        check_password_policy(password, context_words=(ID_NUMBER,))
    except ValidationFailed as exc:
        errors = tuple(exc.errors)
    if errors is not None:
        assert len(errors) == 1
        return
    length = len(unicodedata.normalize("NFC", password))
    assert MIN_LENGTH <= length <= MAX_LENGTH
    assert password.casefold() not in common_passwords()
