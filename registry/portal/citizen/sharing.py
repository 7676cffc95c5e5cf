"""What I share: alias IDs (create, revoke, who used each) and the services I allowed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from core.deps import SessionDep
from core.errors import RegistryError
from core.inputs import OutsideTextRoute, ascii_int, is_ascii_digits
from identity.web import pick_locale
from registry.portal import labels, service
from registry.portal.citizen.common import (
    Lang,
    back,
    citizen,
    citizen_form,
    coded,
    failed,
    form_action,
    notice,
    page,
)
from registry.portal.pages import ServicesDep

router = APIRouter(route_class=OutsideTextRoute, include_in_schema=False)


@router.get("/portal/aliases")
async def aliases_page(
    request: Request, session: SessionDep, services: ServicesDep, lang: Lang = None
) -> Response:
    """My alias IDs: create, copy, revoke, and which agencies used each."""
    user = await citizen(request, session, services, path=request.url.path)
    if isinstance(user, Response):
        return user
    locale = pick_locale(request, lang)
    aliases = await service.aliases_overview(session, user.principal)
    return page(
        request,
        services,
        "citizen_aliases.html",
        locale=locale,
        context={"aliases": aliases, **notice(request, locale)},
    )


@router.post("/portal/aliases")
async def create_alias(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """Create an alias with a note and a validity."""
    signed = await citizen_form(request, session, services, path="/portal/aliases")
    if isinstance(signed, Response):
        return signed
    user, fields = signed
    days_text, label = fields.get("valid_days", "").strip(), fields.get("label", "").strip()
    if (days_text and not is_ascii_digits(days_text)) or len(days_text) > 5 or len(label) > 64:
        return back("/portal/aliases", error="alias")
    try:
        await service.create_alias(
            session,
            user.principal,
            label=label or None,
            valid_days=ascii_int(days_text) if days_text else None,
        )
    except RegistryError as exc:
        await failed(session, exc)
        return back("/portal/aliases", error="alias")
    return back("/portal/aliases", done="alias_created")


@router.post("/portal/aliases/{alias}/revoke")
async def revoke_alias(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    alias: Annotated[str, Path(max_length=16)],
) -> Response:
    """Revoke one of my aliases."""
    return await form_action(
        request,
        session,
        services,
        path="/portal/aliases",
        act=lambda user, _: service.revoke_alias(session, user.principal, alias=alias),
        done="alias_revoked",
    )


# ------------------------------------------------------------------------------ consents


@router.get("/portal/consents")
async def consents_page(
    request: Request, session: SessionDep, services: ServicesDep, lang: Lang = None
) -> Response:
    """The services I allowed, what each receives, and withdrawing consent."""
    user = await citizen(request, session, services, path=request.url.path)
    if isinstance(user, Response):
        return user
    locale = pick_locale(request, lang)
    consents = [
        {**c, "scopes": [coded(locale, labels.SCOPES, s, s) for s in c["scopes"]]}
        for c in await service.consents_overview(session, user.principal, user.account)
    ]
    return page(
        request,
        services,
        "citizen_consents.html",
        locale=locale,
        context={"consents": consents, **notice(request, locale)},
    )


@router.post("/portal/consents/{client_id}/revoke")
async def revoke_consent(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    client_id: Annotated[str, Path(max_length=64)],
) -> Response:
    """Withdraw consent from one service."""
    return await form_action(
        request,
        session,
        services,
        path="/portal/consents",
        act=lambda user, _: service.revoke_consent(session, user.account, client_id=client_id),
        done="consent_revoked",
    )
