"""The answers of the electronic identity's JSON API, as the OpenAPI document states them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccountView(_Answer):
    """An electronic identity: whose, its enrolment level, and its state."""

    id_number: str | None
    level: Literal[1, 2]
    status: str


class PasskeyView(_Answer):
    """A passkey as its owner sees it."""

    id: str
    name: str
    created_at: str | None
    last_used_at: str | None


class SessionView(_Answer):
    """A sign-in session of the citizen: the device it came from and when."""

    sid: str
    signed_in_at: str
    last_seen_at: str
    method: Literal["pwd", "passkey"]
    browser: str | None
    system: str | None
    ip: str | None


class SessionsEnded(_Answer):
    """How many sign-in sessions a request ended."""

    ended: int


class ConsentView(_Answer):
    """A service the citizen consented to."""

    client_id: str
    client_name: str
    scope: str
    granted_at: str
    revoked_at: str | None


class ActivationCode(_Answer):
    """A single-use, short-lived in-person activation code."""

    code: str
    expires_at: str


class CeremonyOptions(_Answer):
    """The options of a WebAuthn ceremony and the server-side state that goes with them."""

    challenge_id: str
    options: dict[str, Any]


class SignedIn(_Answer):
    """Where the browser goes after a passkey sign-in."""

    redirect: str


class PasskeyProof(_Answer):
    """A verified passkey assertion, kept for the one form it was made for."""

    proof: str


class Address(_Answer):
    """OIDC Core 5.1.1."""

    formatted: str
    country: str


class UserInfo(_Answer):
    """OIDC Core 5.3.2: ``sub`` and the claims the granted scopes release."""

    sub: str
    name: str | None = None
    family_name: str | None = None
    middle_name: str | None = None
    given_name: str | None = None
    birthdate: str | None = None
    gender: str | None = None
    address: Address | None = None
    national_id: str | None = None
