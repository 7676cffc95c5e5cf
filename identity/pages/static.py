"""The pages' stylesheet and passkey script."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Response
from fastapi.responses import PlainTextResponse

from core.inputs import OutsideTextRoute

router = APIRouter(route_class=OutsideTextRoute)


STATIC = Path(__file__).resolve().parent.parent / "static"


@router.get("/static/{name}", include_in_schema=False)
async def static_file(name: str) -> Response:
    """The pages' stylesheet and the passkey script (same origin, so CSP stays 'self')."""
    media = {"identity.js": "text/javascript", "identity.css": "text/css"}.get(name)
    if media is None:
        return PlainTextResponse("not found", status_code=404)
    return Response(
        (STATIC / name).read_bytes(),
        media_type=media,
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )
