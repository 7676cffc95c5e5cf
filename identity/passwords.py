"""Citizen and staff passwords: argon2id hashing, rehash on verify, and the password policy.

The policy follows NIST SP 800-63B 5.1.1.2: at least 8 characters, at most 128 (so long
passphrases fit), no composition rules, and no password from a list of commonly used ones. The
list (``data/common-passwords.txt``) is SecLists' ``10k-most-common.txt`` (MIT licence).
"""

from __future__ import annotations

import asyncio
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from core.errors import FieldError, ValidationFailed
from core.settings import Settings

MIN_LENGTH = 8
MAX_LENGTH = 128
COMMON_PASSWORDS_FILE = "common-passwords.txt"


def _normalize(password: str) -> str:
    # One code point sequence per typed password: Vietnamese input methods may send either the
    # precomposed or the combining form of "ệ", and both must hash alike (SP 800-63B 5.1.1.2).
    return unicodedata.normalize("NFC", password)


def _secret_bytes(password: str) -> bytes:
    # JSON can carry lone surrogates ("\ud800"); the policy refuses them, and here they must
    # not raise (valid text encodes exactly as strict UTF-8 would).
    return _normalize(password).encode("utf-8", "surrogatepass")


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    """The outcome of a password check; ``new_hash`` is set when the stored hash is outdated."""

    ok: bool
    new_hash: str | None = None


class PasswordHasher:
    """argon2id with the configured cost; verifies unknown accounts against a dummy hash."""

    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            hash_len=32,
            salt_len=16,
            type=argon2.Type.ID,
        )
        # Computed once, with the same parameters, so that checking a password for an account
        # that does not exist costs what checking a real one costs. Its password is random
        # and forgotten: nothing can match it.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(32))

    @classmethod
    def from_settings(cls, settings: Settings) -> PasswordHasher:
        """The hasher with the cost parameters of ``settings``."""
        return cls(
            time_cost=settings.password_time_cost,
            memory_kib=settings.password_memory_kib,
            parallelism=settings.password_parallelism,
        )

    def hash(self, password: str) -> str:
        """The argon2id PHC string of ``password`` (random salt)."""
        return self._hasher.hash(_secret_bytes(password))

    def verify(self, stored_hash: str | None, password: str) -> PasswordCheck:
        """Check ``password`` against ``stored_hash`` (None: no such account, always False)."""
        candidate = _secret_bytes(password)
        if stored_hash is None:
            self._verify_quietly(self._dummy_hash, candidate)
            return PasswordCheck(ok=False)
        try:
            self._hasher.verify(stored_hash, candidate)
        except VerifyMismatchError:
            return PasswordCheck(ok=False)
        except (InvalidHashError, VerificationError):
            # An unreadable stored hash never matches; spend the usual time all the same.
            self._verify_quietly(self._dummy_hash, candidate)
            return PasswordCheck(ok=False)
        if self._hasher.check_needs_rehash(stored_hash):
            return PasswordCheck(ok=True, new_hash=self._hasher.hash(candidate))
        return PasswordCheck(ok=True)

    async def hash_async(self, password: str) -> str:
        """:meth:`hash` in a worker thread, so the event loop keeps serving other requests."""
        return await asyncio.to_thread(self.hash, password)

    async def verify_async(self, stored_hash: str | None, password: str) -> PasswordCheck:
        """:meth:`verify` in a worker thread, so the event loop keeps serving other requests."""
        return await asyncio.to_thread(self.verify, stored_hash, password)

    def _verify_quietly(self, stored_hash: str, password: bytes) -> None:
        try:
            self._hasher.verify(stored_hash, password)
        except VerificationError:
            pass


@cache
def common_passwords() -> frozenset[str]:
    """The bundled list of commonly used passwords, case-folded (loaded once)."""
    text = (
        resources.files("identity")
        .joinpath("data", COMMON_PASSWORDS_FILE)
        .read_text(encoding="utf-8")
    )
    return frozenset(
        _normalize(line.strip()).casefold() for line in text.splitlines() if line.strip()
    )


def check_password_policy(
    password: str, *, pointer: str = "#/password", context_words: Iterable[str | None] = ()
) -> None:
    """Refuse a password that breaks the policy, with a FieldError at ``pointer``.

    ``context_words`` are values the password must not equal (the ID number, the username).
    Messages never repeat the password.
    """
    problem = password_problem(password, context_words)
    if problem is not None:
        raise ValidationFailed(
            "The password does not meet the password policy.",
            errors=(FieldError(POLICY_PROBLEMS[problem], pointer=pointer),),
        )


# What each way of breaking the policy is called, and the API's words for it.
POLICY_PROBLEMS = {
    "invalid": "The password contains characters that are not valid text.",
    "short": f"The password must be at least {MIN_LENGTH} characters long.",
    "long": f"The password must be at most {MAX_LENGTH} characters long.",
    "common": "This password is one of the most commonly used passwords; choose another one.",
    "personal": "The password must not be your ID number, username or another personal detail.",
}


def password_problem(password: str, context_words: Iterable[str | None] = ()) -> str | None:
    """How ``password`` breaks the policy (a key of POLICY_PROBLEMS), or None."""
    password = _normalize(password)
    if any("\ud800" <= ch <= "\udfff" for ch in password):
        return "invalid"
    length = len(password)  # code points of the NFC form
    if length < MIN_LENGTH:
        return "short"
    if length > MAX_LENGTH:
        return "long"
    folded = password.casefold()
    if folded in common_passwords():
        return "common"
    for word in context_words:
        if word and _normalize(word.strip()).casefold() == folded.strip():
            return "personal"
    return None
