"""The signed-in account page."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from core.deps import SessionDep
from core.headers import NO_STORE
from core.inputs import OutsideTextRoute
from identity import passkeys
from identity import repository as repo
from identity.services import ServicesDep
from identity.web import pick_locale, render

router = APIRouter(route_class=OutsideTextRoute)


@router.get("/account", include_in_schema=False)
async def account_page(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """The signed-in account: passkeys (add with WebAuthn) and sign-out."""
    signed_in = await services.authenticator.signed_in(request, session)
    if signed_in is None:
        return RedirectResponse("/login", status_code=303, headers=NO_STORE)
    _, account = signed_in
    listed = [passkeys.describe(p) for p in await repo.passkeys_of(session, account.id)]
    return render(
        request,
        services.settings,
        "account.html",
        locale=pick_locale(request),
        context={
            "who": account.citizen_id or account.username,
            "level": account.level,
            "passkeys": listed,
            # An official's work is in the registry's workspace (/workspace).
            "official": account.kind == "staff" and "official" in account.roles.split(),
        },
    )
