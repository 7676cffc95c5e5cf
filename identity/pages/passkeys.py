"""Passkey ceremonies (WebAuthn): sign-in, and registration by a signed-in citizen."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from audit import recording as audit
from core.auth import Principal
from core.deps import SessionDep
from core.errors import Forbidden, RegistryError, Unauthenticated
from core.headers import NO_STORE
from core.inputs import OutsideTextRoute
from core.openapi import problems
from identity import passkeys, signin
from identity.http_common import after_login, client_ip, set_session_cookie, unseal
from identity.models import Account, LoginSession
from identity.oidc import authorize as authz
from identity.oidc.openapi import SIGNED_IN
from identity.schemas import CeremonyOptions, PasskeyProof, PasskeyView, SignedIn
from identity.services import IdentityServices, ServicesDep
from identity.web import csrf_ok, gettext

router = APIRouter(route_class=OutsideTextRoute)


class CeremonyStart(BaseModel):
    """The start of a passkey ceremony (no input)."""

    model_config = ConfigDict(extra="ignore")


class LoginFinish(BaseModel):
    """The browser's assertion."""

    model_config = ConfigDict(extra="forbid")
    challenge_id: str = Field(max_length=100)
    credential: dict[str, Any]
    req: str | None = Field(None, max_length=8000)


class ProofFinish(BaseModel):
    """The browser's assertion, and the form the proof is for."""

    model_config = ConfigDict(extra="forbid")
    challenge_id: str = Field(max_length=100)
    credential: dict[str, Any]
    use: Literal["recover", "unlock", "password"]


class RegisterFinish(BaseModel):
    """The browser's new credential and the name the owner gives it."""

    model_config = ConfigDict(extra="forbid")
    challenge_id: str = Field(max_length=100)
    credential: dict[str, Any]
    name: str = Field(max_length=64)


def _check_csrf_header(request: Request, services: IdentityServices) -> None:
    if not csrf_ok(request, services.settings, request.headers.get("x-csrf-token")):
        raise Forbidden("The X-CSRF-Token header is missing or does not match this browser.")


@router.post(
    "/webauthn/login/begin",
    summary="Start a passkey sign-in",
    response_model=CeremonyOptions,
    responses=problems(403),
)
async def passkey_login_begin(
    request: Request, session: SessionDep, services: ServicesDep, _: CeremonyStart
) -> JSONResponse:
    """Options for a discoverable credential request (WebAuthn Level 3, 5.5)."""
    _check_csrf_header(request, services)
    handle, options = await passkeys.begin_login(
        session, services.passkeys, purge=services.challenge_purge
    )
    return JSONResponse({"challenge_id": handle, "options": options}, headers=NO_STORE)


@router.post(
    "/webauthn/login/complete",
    summary="Finish a passkey sign-in",
    response_model=SignedIn,
    responses=problems(401, 403),
)
async def passkey_login_complete(
    request: Request, session: SessionDep, services: ServicesDep, body: LoginFinish
) -> JSONResponse:
    """Verify the assertion, start the session, and say where to go next."""
    _check_csrf_header(request, services)
    try:
        auth_request = unseal(services, body.req)
    except authz.PageError as exc:
        raise Forbidden(gettext("en", str(exc))) from None  # problem details stay English
    try:
        account = await passkeys.complete_login(
            session, services.passkeys, handle=body.challenge_id, credential=body.credential
        )
    except RegistryError as exc:
        await audit.record(
            session,
            actor=Principal(actor_type="system", actor_id="anonymous"),
            action="identity.login",
            outcome="denied",
            detail={"method": "passkey", "reason": exc.code[:60]},
        )
        exc.commit_unit_of_work = True
        raise
    previous = await services.authenticator.signed_in(request, session)
    if account.kind == "staff" and previous is not None and previous[1].id == account.id:
        # The password or enrolment-code session of the first sign-in gives way to this one.
        await signin.sign_out(session, token=request.cookies.get(services.authenticator.cookie))
    token, row = await signin.start_session(
        session,
        services.settings,
        account,
        amr=("hwk", "user"),
        user_agent=request.headers.get("user-agent"),
        ip=client_ip(request),
    )
    await signin.record_login(session, account, method="passkey")
    location = after_login(services, auth_request, row.sid, account)
    response = JSONResponse({"redirect": location}, headers=NO_STORE)
    set_session_cookie(response, services, token, account)
    return response


@router.post(
    "/webauthn/proof/complete",
    summary="Prove who you are with a passkey",
    response_model=PasskeyProof,
    responses=problems(401, 403),
)
async def passkey_proof_complete(
    request: Request, session: SessionDep, services: ServicesDep, body: ProofFinish
) -> JSONResponse:
    """Verify an assertion (begun at /webauthn/login/begin) and keep it, single use for five
    minutes, for the form it confirms: a password recovery, an unlock, a new password. A
    locked identity may prove itself this way; nobody is signed in."""
    _check_csrf_header(request, services)
    try:
        proof = await passkeys.complete_proof(
            session,
            services.passkeys,
            handle=body.challenge_id,
            credential=body.credential,
            use=body.use,
            purge=services.challenge_purge,
        )
    except RegistryError as exc:
        await audit.record(
            session,
            actor=Principal(actor_type="system", actor_id="anonymous"),
            action="identity.passkey.proof",
            outcome="denied",
            detail={"use": body.use, "reason": exc.code[:60]},
        )
        exc.commit_unit_of_work = True
        raise
    return JSONResponse({"proof": proof}, headers=NO_STORE)


async def _signed_in(
    request: Request, session: AsyncSession, services: IdentityServices
) -> tuple[LoginSession, Account]:
    signed_in = await services.authenticator.signed_in(request, session)
    if signed_in is None:
        raise Unauthenticated("Sign in first.")
    _check_csrf_header(request, services)
    return signed_in


async def _session_account(
    request: Request, session: AsyncSession, services: IdentityServices
) -> Account:
    return (await _signed_in(request, session, services))[1]


_SIGNED_IN: dict[str, Any] = {
    "responses": problems(401, 403),
    "openapi_extra": {"security": SIGNED_IN},
}


@router.post(
    "/webauthn/register/begin",
    summary="Start registering a passkey",
    response_model=CeremonyOptions,
    **_SIGNED_IN,
)
async def passkey_register_begin(
    request: Request, session: SessionDep, services: ServicesDep, _: CeremonyStart
) -> JSONResponse:
    """Options for navigator.passkeys.create (resident key, user verification)."""
    signed_in = await _signed_in(request, session, services)
    handle, options = await passkeys.begin_registration(
        session,
        services.passkeys,
        signed_in[1],
        purge=services.challenge_purge,
        auth_methods=signed_in[0].amr.split(),
    )
    return JSONResponse({"challenge_id": handle, "options": options}, headers=NO_STORE)


@router.post(
    "/webauthn/register/complete",
    summary="Finish registering a passkey",
    status_code=201,
    response_model=PasskeyView,
    **_SIGNED_IN,
)
async def passkey_register_complete(
    request: Request, session: SessionDep, services: ServicesDep, body: RegisterFinish
) -> JSONResponse:
    """Verify and store the new passkey."""
    account = await _session_account(request, session, services)
    passkey = await passkeys.complete_registration(
        session,
        services.passkeys,
        account,
        handle=body.challenge_id,
        credential=body.credential,
        name=body.name,
    )
    return JSONResponse(passkeys.describe(passkey), status_code=201, headers=NO_STORE)
