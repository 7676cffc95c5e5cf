"""/docs (Swagger UI) and /redoc (ReDoc), served with no request leaving the service.

FastAPI's own pages load their scripts from a CDN and start them with an inline script, so on a
network without internet /docs is a blank page (and a strict CSP would refuse the inline script
anyway). Here the bundles come from the pinned ``fastapi-offline`` package (registry/guide/
assets.py) and our own ``apidocs.js`` starts them, under a CSP that allows only this origin.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from core.inputs import OutsideTextRoute
from registry.guide.web import render_guide

router = APIRouter(route_class=OutsideTextRoute, include_in_schema=False)

OPENAPI_URL = "/openapi.json"
# The two pages: only this origin's scripts; the bundles set styles inline (ReDoc's
# styled-components writes <style> elements, Swagger UI style attributes), ReDoc's search runs
# in a worker made from a blob, and Swagger UI's "Try it out" calls this origin only.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src blob:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
DOCS_HEADERS = {
    "Content-Security-Policy": DOCS_CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    # Nothing personal: a browser may keep the page but asks again before using it.
    "Cache-Control": "no-cache",
}


def _page(request: Request, ui: str) -> Response:
    return render_guide(
        request,
        "apidocs.html",
        headers=DOCS_HEADERS,
        context={"ui": ui, "openapi_url": OPENAPI_URL},
    )


@router.get("/docs")
async def swagger_ui(request: Request) -> Response:
    """The API's operations in Swagger UI (try them out with a token)."""
    return _page(request, "swagger")


@router.get("/redoc")
async def redoc(request: Request) -> Response:
    """The API's reference in ReDoc."""
    return _page(request, "redoc")
