"""The account API under /api/v1 (problem+json): enrolment, activation, unlock, the
citizen's own identity (/me), and officials' activation codes."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from core.auth import Principal, require
from core.deps import SessionDep
from core.errors import Unauthenticated
from core.inputs import OutsideTextRoute
from core.openapi import problems
from core.text import ID_NUMBER_PATTERN
from identity import accounts, passkeys, selfservice, signin
from identity import repository as repo
from identity.http_common import client_ip
from identity.models import Account
from identity.schemas import (
    AccountView,
    ActivationCode,
    ConsentView,
    PasskeyView,
    SessionsEnded,
    SessionView,
)
from identity.services import ServicesDep

router = APIRouter(route_class=OutsideTextRoute)


class Enrolment(BaseModel):
    """Level 1 enrolment: what the citizen declares, matched against the registry."""

    model_config = ConfigDict(extra="forbid")
    id_number: str = Field(pattern=ID_NUMBER_PATTERN)
    full_name: str = Field(min_length=1, max_length=100)
    birth_date: date
    card_issue_date: date
    password: str = Field(max_length=1024)


class Activation(BaseModel):
    """Level 2: the in-person activation code and a new password."""

    model_config = ConfigDict(extra="forbid")
    id_number: str = Field(pattern=ID_NUMBER_PATTERN)
    code: str = Field(min_length=1, max_length=40)
    password: str = Field(max_length=1024)


class Unlock(BaseModel):
    """The citizen proves who they are to unlock what they locked."""

    model_config = ConfigDict(extra="forbid")
    id_number: str = Field(pattern=ID_NUMBER_PATTERN)
    password: str = Field(max_length=1024)


class PasswordChange(BaseModel):
    """A new password, confirmed with the current one."""

    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024)


class PasskeyRename(BaseModel):
    """A passkey's new name."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)


def _account_view(account: Account) -> dict[str, Any]:
    return {"id_number": account.citizen_id, "level": account.level, "status": account.status}


@router.post(
    "/identity/enrol",
    status_code=201,
    summary="Enrol (level 1)",
    response_model=AccountView,
    responses=problems(403, 409),
)
async def enrol(body: Enrolment, session: SessionDep, services: ServicesDep) -> dict[str, Any]:
    """Create an electronic identity from declared data that matches the registry."""
    account = await accounts.enrol(
        session,
        services.ctx,
        citizen_id=body.id_number,
        full_name=body.full_name,
        birth_date=body.birth_date,
        card_issue_date=body.card_issue_date,
        password=body.password,
    )
    return _account_view(account)


@router.post(
    "/identity/activate",
    summary="Activate with an in-person code (level 2)",
    response_model=AccountView,
    responses=problems(403, 409),
)
async def activate(body: Activation, session: SessionDep, services: ServicesDep) -> dict[str, Any]:
    """Redeem an activation code issued by an official."""
    account = await accounts.activate(
        session, services.ctx, citizen_id=body.id_number, code=body.code, password=body.password
    )
    return _account_view(account)


@router.post(
    "/identity/unlock",
    summary="Unlock my electronic identity",
    response_model=AccountView,
    responses=problems(401, 403, 429),
)
async def unlock(
    request: Request, body: Unlock, session: SessionDep, services: ServicesDep
) -> dict[str, Any]:
    """Unlock an identity the citizen locked themself with the password; one that has a passkey
    refuses it (403 passkey-required): its passkey unlocks it at /unlock, or an in-person code."""
    account = await signin.unlock(
        session,
        services.ctx,
        login=body.id_number,
        password=body.password,
        client_ip=client_ip(request),
    )
    return _account_view(account)


CitizenDep = Annotated[Principal, Depends(require("citizen"))]
OfficialDep = Annotated[Principal, Depends(require("official"))]


async def _my_account(session: AsyncSession, principal: Principal) -> Account:
    account = await repo.account_by_citizen(session, principal.actor_id)
    if account is None:
        raise Unauthenticated("No electronic identity for this caller.")
    return account


@router.post("/me/lock", summary="Lock my electronic identity", response_model=AccountView)
async def lock(citizen: CitizenDep, session: SessionDep) -> dict[str, Any]:
    """No sign-in and no release to any service until unlocked; sessions end, grants revoked."""
    account = await _my_account(session, citizen)
    await accounts.lock(session, account)
    return _account_view(account)


@router.post(
    "/me/password",
    status_code=204,
    summary="Change my password",
    responses=problems(401, 422, 429),
)
async def change_password(
    body: PasswordChange, citizen: CitizenDep, session: SessionDep, services: ServicesDep
) -> Response:
    """Confirmed with the current password; every sign-in session ends (sign in again) and
    every grant is revoked with its refresh tokens."""
    account = await _my_account(session, citizen)
    await selfservice.change_password(
        session,
        services.ctx,
        account,
        current_password=body.current_password,
        proof=None,
        new_password=body.new_password,
        keep_sid=None,
    )
    return Response(status_code=204)


@router.get("/me/sessions", summary="My sign-in sessions", response_model=list[SessionView])
async def my_sessions(citizen: CitizenDep, session: SessionDep) -> list[dict[str, Any]]:
    """Each live sign-in session: the browser and system it came from, its address, when."""
    account = await _my_account(session, citizen)
    return [
        {
            "sid": s.sid,
            "signed_in_at": s.signed_in_at.isoformat(),
            "last_seen_at": s.last_seen_at.isoformat(),
            "method": s.method,
            "browser": s.device.browser,
            "system": s.device.system,
            "ip": s.ip,
        }
        for s in await selfservice.sessions_of(session, account, current_sid=None)
    ]


@router.delete(
    "/me/sessions/{sid}", status_code=204, summary="Sign out one session", responses=problems(404)
)
async def end_session(
    sid: Annotated[str, PathParam(max_length=36, description="The session's public id.")],
    citizen: CitizenDep,
    session: SessionDep,
) -> Response:
    """End one sign-in session (another device) and revoke the grants made in it."""
    account = await _my_account(session, citizen)
    await selfservice.sign_out_session(session, account, sid=sid)
    return Response(status_code=204)


@router.delete("/me/sessions", summary="Sign out everywhere", response_model=SessionsEnded)
async def end_every_session(citizen: CitizenDep, session: SessionDep) -> dict[str, int]:
    """End every sign-in session and revoke every grant (offline ones too)."""
    account = await _my_account(session, citizen)
    return {"ended": await selfservice.sign_out_everywhere(session, account)}


@router.get("/me/passkeys", summary="My passkeys", response_model=list[PasskeyView])
async def my_passkeys(citizen: CitizenDep, session: SessionDep) -> list[dict[str, Any]]:
    """Name, creation and last use of each passkey."""
    account = await _my_account(session, citizen)
    return [passkeys.describe(p) for p in await repo.passkeys_of(session, account.id)]


@router.patch("/me/passkeys/{passkey_id}", summary="Rename a passkey", response_model=PasskeyView)
async def rename_passkey(
    passkey_id: str, body: PasskeyRename, citizen: CitizenDep, session: SessionDep
) -> dict[str, Any]:
    """Give one of my passkeys a new name."""
    account = await _my_account(session, citizen)
    return passkeys.describe(await passkeys.rename(session, account, passkey_id, body.name))


@router.delete("/me/passkeys/{passkey_id}", status_code=204, summary="Remove a passkey")
async def remove_passkey(passkey_id: str, citizen: CitizenDep, session: SessionDep) -> Response:
    """Remove one of my passkeys."""
    account = await _my_account(session, citizen)
    await passkeys.remove(session, account, passkey_id, auth_methods=citizen.auth_methods)
    return Response(status_code=204)


@router.get("/me/consents", summary="Services I consented to", response_model=list[ConsentView])
async def my_consents(citizen: CitizenDep, session: SessionDep) -> list[dict[str, Any]]:
    """Each service, the scopes it may receive, and when consent was given."""
    account = await _my_account(session, citizen)
    return [
        {
            "client_id": c.client_id,
            "client_name": k.name,
            "scope": c.scope,
            "granted_at": c.granted_at.isoformat(),
            "revoked_at": c.revoked_at.isoformat() if c.revoked_at else None,
        }
        for c, k in await repo.consents_of(session, account.id)
    ]


@router.delete("/me/consents/{client_id}", status_code=204, summary="Revoke a consent")
async def revoke_consent(client_id: str, citizen: CitizenDep, session: SessionDep) -> Response:
    """The service gets nothing more: consent withdrawn and its grants revoked."""
    account = await _my_account(session, citizen)
    await accounts.revoke_consent(session, account, client_id)
    return Response(status_code=204)


@router.post(
    "/officials/citizens/{id_number}/activation-code",
    status_code=201,
    summary="Issue an in-person activation code",
    tags=["officials"],
    response_model=ActivationCode,
    responses=problems(409),
)
async def activation_code(
    id_number: Annotated[
        str, PathParam(pattern=ID_NUMBER_PATTERN, description="The 12-digit ID number.")
    ],
    official: OfficialDep,
    session: SessionDep,
    services: ServicesDep,
) -> dict[str, Any]:
    """After checking the citizen in person: a single-use, short-lived code (level 2)."""
    code, expires = await accounts.issue_activation_code(
        session, services.ctx, official=official, citizen_id=id_number
    )
    return {"code": code, "expires_at": expires.isoformat()}
