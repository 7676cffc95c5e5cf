"""Passkeys of accounts: registration after sign-in, discoverable sign-in, rename, removal.

The WebAuthn verification itself is identity.webauthn (the fido2 adapter); this module keeps the
ceremony state server-side with an expiry, stores credentials and records the audit events.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from audit import recording as audit
from core.clock import utcnow
from core.digests import sha256_hex
from core.errors import FieldError, NotFound, ValidationFailed
from core.settings import Settings
from identity import repository as repo
from identity.accounts import PasskeyRequired, principal_of
from identity.models import Account, Passkey, WebAuthnChallenge
from identity.signin import check_usable
from identity.webauthn import PasskeyInvalid, PasskeyServer, StoredPasskey, credential_id_of

CHALLENGE_TTL = timedelta(minutes=5)  # the adapter's WebAuthn timeout (300 s)
MAX_PASSKEYS = 10


def user_handle(account: Account) -> bytes:
    """The WebAuthn user handle of an account: its random id, never personal data."""
    return uuid.UUID(account.id).bytes


PURGE_INTERVAL = 10.0


class ChallengePurge:
    """When an app last dropped the expired passkey ceremonies of its database: at most every
    PURGE_INTERVAL, not on every begin. A take refuses an expired one anyway, and a DELETE on
    every begin made concurrent begins wait on each other's row locks (and cost a statement
    each).

    Made by the composition root (``identity.services.build_services``); lives as long as the
    app. One time per database URL the app's sessions use (an app has one).
    """

    def __init__(self) -> None:
        self._purged_at: dict[str, float] = {}

    def due(self, session: AsyncSession) -> bool:
        """Whether this begin drops the expired ceremonies (then not again for a while)."""
        key = str(session.get_bind().engine.url)
        now = time.monotonic()
        last = self._purged_at.get(key)
        if last is not None and now - last < PURGE_INTERVAL:
            return False
        self._purged_at[key] = now
        return True


async def _save_challenge(
    session: AsyncSession,
    purpose: str,
    state: Mapping[str, Any],
    account: Account | None,
    purge: ChallengePurge,
) -> str:
    handle = secrets.token_urlsafe(24)
    if purge.due(session):
        await repo.purge_challenges(session, utcnow())
    await repo.insert(
        session,
        WebAuthnChallenge(
            id=sha256_hex(handle),
            purpose=purpose,
            account_id=account.id if account else None,
            state=json.dumps(dict(state)),
            expires_at=utcnow() + CHALLENGE_TTL,
        ),
    )
    return handle


async def _take_challenge(session: AsyncSession, handle: object, purpose: str) -> WebAuthnChallenge:
    if not isinstance(handle, str) or not handle or len(handle) > 100:
        raise PasskeyInvalid("The passkey ceremony is unknown or expired; start again.")
    row = await repo.take_challenge(session, sha256_hex(handle), purpose, utcnow())
    if row is None:
        raise PasskeyInvalid("The passkey ceremony is unknown or expired; start again.")
    return row


# RFC 8176 amr values of a sign-in with a passkey.
PASSKEY_AMR = frozenset({"hwk", "swk"})


async def may_change_passkeys(
    session: AsyncSession, account: Account, auth_methods: Iterable[str], *, action: str
) -> None:
    """Once an account holds a passkey, only a sign-in with one adds or removes passkeys: a
    stolen password must not plant its own passkey (which would then unlock and recover the
    identity) or remove the owner's (after which the password alone unlocks). Refused and
    recorded otherwise."""
    if PASSKEY_AMR & set(auth_methods) or await repo.count_passkeys(session, account.id) == 0:
        return
    raise await audit.refuse(
        session,
        PasskeyRequired("Sign in with one of your passkeys to add or remove a passkey."),
        actor=principal_of(account),
        action=action,
        outcome="denied",
        subject=account.citizen_id,
        detail={"reason": "passkey_session"},
    )


async def begin_registration(
    session: AsyncSession,
    server: PasskeyServer,
    account: Account,
    *,
    purge: ChallengePurge,
    auth_methods: Iterable[str],
) -> tuple[str, dict[str, Any]]:
    """Options for navigator.credentials.create and the ceremony handle (``auth_methods``: how
    the session asking signed in, see ``may_change_passkeys``)."""
    await may_change_passkeys(session, account, auth_methods, action="identity.passkey.add")
    existing = await repo.passkeys_of(session, account.id)
    if len(existing) >= MAX_PASSKEYS:
        raise ValidationFailed(f"An account may hold at most {MAX_PASSKEYS} passkeys.")
    name = account.citizen_id or account.username or account.id
    options, state = server.begin_registration(
        user_handle=user_handle(account),
        name=name,
        display_name=account.display_name or name,
        existing=[p.credential_data for p in existing],
    )
    return await _save_challenge(session, "register", state, account, purge), options


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 64:
        raise ValidationFailed(
            "A passkey needs a name of 1-64 characters.",
            errors=[FieldError("invalid passkey name", pointer="#/name")],
        )
    return " ".join(name.split())


async def complete_registration(
    session: AsyncSession,
    server: PasskeyServer,
    account: Account,
    *,
    handle: object,
    credential: Mapping[str, Any],
    name: object,
) -> Passkey:
    """Verify the attestation and store the new passkey."""
    label = _check_name(name)
    row = await _take_challenge(session, handle, "register")
    if row.account_id != account.id:
        raise PasskeyInvalid("The passkey ceremony belongs to another sign-in.")
    new = server.complete_registration(json.loads(row.state), credential)
    if await repo.passkey_by_credential(session, new.credential_id) is not None:
        raise PasskeyInvalid("This passkey is already registered.")
    passkey = Passkey(
        id=str(uuid.uuid4()),
        account_id=account.id,
        credential_id=new.credential_id,
        credential_data=new.credential_data,
        user_handle=user_handle(account),
        sign_count=new.sign_count,
        name=label,
        transports=" ".join(new.transports)[:100] or None,
    )
    await repo.add(session, passkey)
    await audit.record(
        session,
        actor=principal_of(account),
        action="identity.passkey.add",
        outcome="granted",
        subject=account.citizen_id,
    )
    return passkey


async def begin_login(
    session: AsyncSession, server: PasskeyServer, *, purge: ChallengePurge
) -> tuple[str, dict[str, Any]]:
    """Options for a discoverable (username-less) sign-in."""
    options, state = server.begin_authentication()
    return await _save_challenge(session, "authenticate", state, None, purge), options


async def _verify_assertion(
    session: AsyncSession,
    server: PasskeyServer,
    *,
    handle: object,
    credential: Mapping[str, Any],
) -> Account:
    """Verify a discoverable assertion and its counter; the account it names (any status)."""
    row = await _take_challenge(session, handle, "authenticate")
    credential_id = credential_id_of(credential)
    passkey = await repo.passkey_by_credential(session, credential_id)
    if passkey is None:
        raise PasskeyInvalid("This passkey is not registered (it may have been removed).")
    account = await repo.account_by_id(session, passkey.account_id)
    if account is None:
        raise PasskeyInvalid("This passkey is not registered.")
    result = server.complete_authentication(
        json.loads(row.state),
        credential,
        lookup=[
            StoredPasskey(
                passkey.credential_id,
                passkey.credential_data,
                passkey.sign_count,
                passkey.user_handle,
            )
        ],
    )
    if result.user_handle is not None and result.user_handle != passkey.user_handle:
        raise PasskeyInvalid("The passkey's user handle does not match its account.")
    passkey.sign_count = result.new_sign_count
    passkey.last_used_at = utcnow()
    return account


async def complete_login(
    session: AsyncSession,
    server: PasskeyServer,
    *,
    handle: object,
    credential: Mapping[str, Any],
) -> Account:
    """Verify the assertion, check the counter, and return the account it signs in."""
    account = await _verify_assertion(session, server, handle=handle, credential=credential)
    check_usable(account)
    if account.failed_logins or account.throttled_until:
        account.failed_logins, account.throttled_until = 0, None
    await session.flush()
    return account


# What a passkey proof may be used for: the form that asked for it.
PROOF_USES = ("recover", "unlock", "password")


async def complete_proof(
    session: AsyncSession,
    server: PasskeyServer,
    *,
    handle: object,
    credential: Mapping[str, Any],
    use: str,
    purge: ChallengePurge,
) -> str:
    """Verify an assertion made to prove who one is (a locked identity may prove it too) and
    keep it, single use and short-lived, for the form ``use`` names; the proof's handle."""
    if use not in PROOF_USES:
        raise ValidationFailed("Unknown use of a passkey proof.")
    account = await _verify_assertion(session, server, handle=handle, credential=credential)
    if account.status == "closed":
        raise PasskeyInvalid("This electronic identity is closed.")
    await session.flush()
    # The proof names the passkey that made it: once that passkey is removed (by its owner or
    # a staff reset), a proof it made before is worth nothing (``take_proof``).
    made_by = base64.urlsafe_b64encode(credential_id_of(credential)).decode("ascii")
    return await _save_challenge(session, "proof", {"use": use, "passkey": made_by}, account, purge)


async def take_proof(session: AsyncSession, handle: object, *, use: str) -> Account | None:
    """The account a passkey proof made for ``use`` names, spending the proof; None when the
    proof is unknown, spent, expired or made for another form."""
    try:
        row = await _take_challenge(session, handle, "proof")
    except PasskeyInvalid:
        return None
    state = json.loads(row.state)
    if state.get("use") != use or row.account_id is None or "passkey" not in state:
        return None
    passkey = await repo.passkey_by_credential(
        session, base64.urlsafe_b64decode(state["passkey"].encode("ascii"))
    )
    if passkey is None or passkey.account_id != row.account_id:
        return None  # the passkey that made the proof was removed since
    return await repo.account_by_id(session, row.account_id)


async def rename(session: AsyncSession, account: Account, passkey_id: str, name: object) -> Passkey:
    """Give a passkey a new name."""
    passkey = await repo.passkey_of(session, account.id, passkey_id)
    if passkey is None:
        raise NotFound("No passkey of yours has this id.")
    passkey.name = _check_name(name)
    await session.flush()
    await audit.record(
        session,
        actor=principal_of(account),
        action="identity.passkey.rename",
        outcome="granted",
        subject=account.citizen_id,
    )
    return passkey


async def remove(
    session: AsyncSession, account: Account, passkey_id: str, *, auth_methods: Iterable[str]
) -> None:
    """Remove a passkey (staff keep at least one: they sign in with it); ``auth_methods``: how
    the session asking signed in (``may_change_passkeys``)."""
    await may_change_passkeys(session, account, auth_methods, action="identity.passkey.remove")
    passkey = await repo.passkey_of(session, account.id, passkey_id)
    if passkey is None:
        raise NotFound("No passkey of yours has this id.")
    if account.kind == "staff" and await repo.count_passkeys(session, account.id) <= 1:
        raise ValidationFailed("Staff must keep at least one passkey.")
    await repo.delete_row(session, passkey)
    await audit.record(
        session,
        actor=principal_of(account),
        action="identity.passkey.remove",
        outcome="granted",
        subject=account.citizen_id,
    )


@dataclass(frozen=True, slots=True)
class PasskeySummary:
    """A passkey as the citizen's pages show it: its id, name, creation and last use."""

    id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None


async def passkeys_of(session: AsyncSession, account: Account) -> list[PasskeySummary]:
    """The account's passkeys."""
    return [
        PasskeySummary(p.id, p.name, p.created_at, p.last_used_at)
        for p in await repo.passkeys_of(session, account.id)
    ]


def describe(passkey: Passkey) -> dict[str, Any]:
    """A passkey as the account page and API show it."""
    return {
        "id": passkey.id,
        "name": passkey.name,
        "created_at": passkey.created_at.isoformat() if passkey.created_at else None,
        "last_used_at": passkey.last_used_at.isoformat() if passkey.last_used_at else None,
    }


def server_from(settings: Settings) -> PasskeyServer:
    """The WebAuthn server of these settings."""
    return PasskeyServer(settings)
