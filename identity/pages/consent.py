"""The consent page's submission."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from core.deps import SessionDep
from core.headers import NO_STORE
from core.i18n import N_
from core.inputs import OutsideTextRoute
from identity import repository as repo
from identity.http_common import page_error, unseal
from identity.oidc import authorize as authz
from identity.services import ServicesDep
from identity.web import FORM_EXPIRED, csrf_ok

router = APIRouter(route_class=OutsideTextRoute)


@router.post("/consent", include_in_schema=False)
async def consent_submit(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """Record the citizen's decision; issue the code or return access_denied."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    settings = services.settings
    try:
        auth_request = unseal(services, fields.get("req"))
        if auth_request is None:
            raise authz.PageError(N_("Thiếu yêu cầu đăng nhập."))
    except authz.PageError as exc:
        return page_error(request, services, str(exc))
    if not csrf_ok(request, settings, fields.get("csrf")):
        return page_error(request, services, FORM_EXPIRED)
    signed_in = await services.authenticator.signed_in(request, session)
    client = await repo.client(session, auth_request.client_id)
    if client is None or not client.active:
        return page_error(request, services, authz.UNKNOWN_CLIENT)
    if signed_in is None:
        return RedirectResponse(
            "/login?" + urlencode({"req": fields.get("req", "")}), status_code=303
        )
    login_session, account = signed_in
    granted = fields.get("decision") == "allow"
    await authz.record_consent(session, auth_request, client, account, granted=granted)
    if not granted:
        error = authz.RedirectError(
            auth_request.redirect_uri,
            "access_denied",
            "The citizen did not consent.",
            auth_request.state,
            settings.issuer,
        )
        return RedirectResponse(error.location(), status_code=303, headers=NO_STORE)
    location = await authz.issue_code(
        session, settings, auth_request, client, login_session, account
    )
    return RedirectResponse(location, status_code=303, headers=NO_STORE)
