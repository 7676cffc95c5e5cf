"""The assets of the guide's pages, served from this service: Swagger UI's and ReDoc's bundles
from the pinned ``fastapi-offline`` package, and the guide's own scripts and stylesheets.

Each asset is served at a path naming a digest of its bytes, so a browser may keep it for a year
(``immutable``): a new package version, or a changed script, is a new path. The bytes are read
(and gzipped) once per process.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

from fastapi import APIRouter, Request, Response

from core.errors import NotFound
from core.inputs import OutsideTextRoute

router = APIRouter(route_class=OutsideTextRoute, include_in_schema=False)

ASSETS_PATH = "/static/apidocs"
# Where each asset's bytes come from: (package, path inside it, media type).
_SOURCES = {
    "swagger-ui-bundle.js": ("fastapi_offline", "static/swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": ("fastapi_offline", "static/swagger-ui.css", "text/css"),
    "redoc.standalone.js": ("fastapi_offline", "static/redoc.standalone.js", "text/javascript"),
    "favicon.png": ("fastapi_offline", "static/favicon.png", "image/png"),
    "apidocs.js": ("registry.guide", "static/apidocs.js", "text/javascript"),
    "apidocs.css": ("registry.guide", "static/apidocs.css", "text/css"),
    "guide.js": ("registry.guide", "static/guide.js", "text/javascript"),
    "guide.css": ("registry.guide", "static/guide.css", "text/css"),
}
# The assets' own headers: a digest-named path never changes, so it is cached for a year.
_ASSET_HEADERS = {
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Vary": "Accept-Encoding",
}


@dataclass(frozen=True)
class Asset:
    """One asset's bytes, gzipped bytes, media type and digest."""

    body: bytes
    gzipped: bytes
    media_type: str
    digest: str

    @property
    def etag(self) -> str:
        """The strong validator: the digest."""
        return f'"{self.digest}"'


@cache
def asset(name: str) -> Asset:
    """An asset read from its package once per process (a pure function of the installed
    packages; eight files, some 3 MB in all, twice with their gzipped forms)."""
    package, path, media_type = _SOURCES[name]
    body = resources.files(package).joinpath(path).read_bytes()
    return Asset(
        body=body,
        gzipped=gzip.compress(body, compresslevel=9, mtime=0),
        media_type=media_type,
        digest=hashlib.sha256(body).hexdigest()[:16],
    )


def asset_url(name: str) -> str:
    """The path of an asset, naming the digest of its bytes."""
    return f"{ASSETS_PATH}/{asset(name).digest}/{name}"


def _accepts_gzip(request: Request) -> bool:
    for part in request.headers.get("accept-encoding", "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() == "gzip" and params.replace(" ", "") not in ("q=0", "q=0.0"):
            return True
    return False


@router.get(ASSETS_PATH + "/{digest}/{name}")
async def asset_file(digest: str, name: str, request: Request) -> Response:
    """A bundle or our starter script; gzipped when the browser takes it."""
    if name not in _SOURCES or asset(name).digest != digest:
        raise NotFound("No such asset.")
    found = asset(name)
    headers = {**_ASSET_HEADERS, "ETag": found.etag}
    if request.headers.get("if-none-match") == found.etag:
        return Response(status_code=304, headers=headers)
    if found.media_type.startswith("text/") and _accepts_gzip(request):
        return Response(
            found.gzipped,
            media_type=found.media_type,
            headers={**headers, "Content-Encoding": "gzip"},
        )
    return Response(found.body, media_type=found.media_type, headers=headers)


def asset_urls() -> Mapping[str, str]:
    """Every asset's path, by name (for the templates)."""
    return {name: asset_url(name) for name in _SOURCES}
