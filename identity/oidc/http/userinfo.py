"""The UserInfo endpoint (OIDC Core 5.3)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from audit import recording as audit
from core.deps import SessionDep
from core.headers import NO_STORE
from core.inputs import OutsideTextRoute
from core.openapi import problems
from identity import repository as repo
from identity.authn import check_dpop
from identity.oidc import dpop, tokens
from identity.oidc.claims import parse_scope, released_claims
from identity.oidc.openapi import bare
from identity.schemas import UserInfo
from identity.services import IdentityServices, ServicesDep

router = APIRouter(route_class=OutsideTextRoute)


async def _userinfo(
    request: Request, session: AsyncSession, services: IdentityServices
) -> Response:
    # OIDC Core 5.3; errors per RFC 6750 3.1 in WWW-Authenticate.
    authorization = request.headers.get("authorization") or ""
    scheme, _, token = authorization.partition(" ")
    scheme, token = scheme.lower(), token.strip()
    if scheme not in ("bearer", "dpop") or not token:
        return Response(
            status_code=401, headers={"WWW-Authenticate": 'Bearer realm="registry"', **NO_STORE}
        )
    try:
        found = await tokens.validate_access_token(session, services.tokens, token)
        await check_dpop(request, session, services.tokens, found.claims, scheme, token)
    except tokens.InvalidToken as exc:
        description = str(exc).replace('"', "'")
        challenge = (
            dpop.challenge("invalid_token", description)
            if scheme == "dpop"
            else 'Bearer realm="registry", error="invalid_token", '
            f'error_description="{description}"'
        )
        return Response(status_code=401, headers={"WWW-Authenticate": challenge, **NO_STORE})
    except dpop.DPoPError as exc:
        return Response(status_code=401, headers={**dpop.resource_headers(exc), **NO_STORE})
    if found.grant is None or found.account is None or "openid" not in found.scopes:
        if found.client is not None:  # a refusal at the scope gate is an access attempt too
            await audit.record(
                session,
                actor=tokens.client_principal(found.client, found.scopes),
                action="oidc.userinfo",
                outcome="denied",
                subject=found.account.citizen_id if found.account else None,
                detail={"reason": "missing_scope", "required": "openid"},
            )
        return Response(
            status_code=403,
            headers={
                "WWW-Authenticate": 'Bearer realm="registry", error="insufficient_scope", '
                'scope="openid"',
                **NO_STORE,
            },
        )
    grant, account = found.grant, found.account
    client = await repo.client(session, grant.client_id)
    if client is None or account.citizen_id is None:
        return Response(
            status_code=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        )
    claims_request = json.loads(grant.claims) if grant.claims else None
    names = released_claims(parse_scope(grant.scope), claims_request, "userinfo")
    values = (
        await services.ctx.directory.claims(session, account.citizen_id, names) if names else {}
    )
    body: dict[str, Any] = {
        "sub": tokens.subject_for(services.settings, client, account.citizen_id)
    }
    body.update({k: v for k, v in values.items() if k in names})
    released = [n for n in names if n in body]
    await audit.record(
        session,
        actor=tokens.client_principal(client),
        action="oidc.userinfo",
        outcome="granted",
        subject=account.citizen_id,
        fields=released,
    )
    return JSONResponse(body, headers=NO_STORE)


_USERINFO: dict[int | str, dict[str, Any]] = {
    200: {"model": UserInfo},
    401: bare("No access token, or not a valid one."),
    403: bare("The token was not issued for a citizen with the openid scope."),
    **problems(503),
}
_USERINFO_EXTRA: dict[str, Any] = {"security": [{"bearer": []}]}


@router.get(
    "/userinfo", summary="UserInfo endpoint", responses=_USERINFO, openapi_extra=_USERINFO_EXTRA
)
async def userinfo_get(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """OIDC Core 5.3.1."""
    return await _userinfo(request, session, services)


@router.post(
    "/userinfo",
    summary="UserInfo endpoint (POST)",
    responses=_USERINFO,
    openapi_extra=_USERINFO_EXTRA,
)
async def userinfo_post(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """OIDC Core 5.3.1."""
    return await _userinfo(request, session, services)
