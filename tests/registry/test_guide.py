"""The guide in-process: the start page, the agency quick start, /docs and /redoc and their assets.

The browser test (test_browser_guide.py) shows the pages render with the network cut; these
hold the headers, the links and the lists to the code's own definitions.
"""

from __future__ import annotations

import gzip
import re

import httpx
import pytest

from core.errors import all_error_types
from registry.agency.policy import ACTIONS, LOOKUP_FIELDS, VERIFY_ATTRIBUTES, purposes
from registry.guide import reference
from registry.guide.apidocs import DOCS_CSP
from registry.guide.assets import _SOURCES, asset
from registry.guide.pages import AGENCY_GUIDE, DOORS

ASSET = re.compile(r'(?:src|href)="(/static/apidocs/[0-9a-f]{16}/[^"]+)"')


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_the_api_docs_load_nothing_but_this_services_own_assets(
    client: httpx.AsyncClient, path: str
) -> None:
    page = await client.get(path)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == DOCS_CSP
    assert "script-src 'self';" in DOCS_CSP and "connect-src 'self';" in DOCS_CSP
    assert page.headers["x-frame-options"] == "DENY"
    # Every script and stylesheet is a path of this origin: nothing names another host.
    assert not re.search(r'(?:src|href)="(?:https?:)?//', page.text)
    assert "<script>" not in page.text  # no inline script (CSP script-src 'self')
    assets = ASSET.findall(page.text)
    bundle = "swagger-ui-bundle.js" if path == "/docs" else "redoc.standalone.js"
    assert any(a.endswith("/" + bundle) for a in assets)
    assert any(a.endswith("/apidocs.js") for a in assets)
    for url in assets:
        answer = await client.get(url)
        assert answer.status_code == 200, url
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert answer.headers["x-content-type-options"] == "nosniff"


async def test_the_bundles_come_from_the_pinned_package() -> None:
    from importlib import metadata

    assert metadata.version("fastapi-offline") == "1.7.7"  # pyproject.toml pins it
    # ReDoc's and Swagger UI's own builds, not a page that fetches them from a CDN.
    assert asset("redoc.standalone.js").body.startswith(b"/*! For license information")
    assert b"SwaggerUIBundle" in asset("swagger-ui-bundle.js").body


async def test_an_asset_is_gzipped_when_asked_and_revalidated_by_its_etag(
    client: httpx.AsyncClient,
) -> None:
    found = asset("swagger-ui-bundle.js")
    url = f"/static/apidocs/{found.digest}/swagger-ui-bundle.js"
    zipped = await client.get(url, headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["vary"] == "Accept-Encoding"
    assert zipped.content == found.body  # httpx decoded it
    assert len(found.gzipped) < len(found.body) / 2
    assert gzip.decompress(found.gzipped) == found.body
    plain = await client.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == found.body
    again = await client.get(url, headers={"If-None-Match": zipped.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


@pytest.mark.parametrize(
    "url",
    [
        "/static/apidocs/0000000000000000/swagger-ui-bundle.js",  # a digest of other bytes
        f"/static/apidocs/{asset('apidocs.js').digest}/core.py",  # not an asset
        "/static/apidocs/x/../../../pyproject.toml",
    ],
)
async def test_anything_else_under_the_assets_path_is_not_found(
    client: httpx.AsyncClient, url: str
) -> None:
    assert (await client.get(url)).status_code == 404


async def test_the_openapi_description_leads_to_the_agency_quick_start(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    assert f"]({AGENCY_GUIDE})" in document["info"]["description"]
    for path in ("/docs", "/redoc"):
        page = (await client.get(path)).text
        assert f'href="{AGENCY_GUIDE}?lang=vi"' in page


async def test_the_start_page_links_to_a_page_for_every_kind_of_user(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<html lang="vi">' in page.text and "Công dân" in page.text
    assert {door.key for door in DOORS} == {
        "citizen",
        "official",
        "auditor",
        "administrator",
        "agency",
    }
    for door in DOORS:
        assert f'href="{door.path}' in page.text
        answer = await client.get(door.path)
        # A page, or a redirect to the sign-in that leads to it: never a 404 or JSON.
        assert answer.status_code in (200, 303, 307), (door.path, answer.status_code)
        if answer.status_code == 200:
            assert answer.headers["content-type"].startswith("text/html")
    english = await client.get("/?lang=en")
    assert '<html lang="en">' in english.text and "Citizen" in english.text
    assert "Công dân" not in english.text


async def test_the_quick_start_lists_what_the_code_decides_with(
    client: httpx.AsyncClient,
) -> None:
    page = (await client.get(AGENCY_GUIDE)).text
    for action in ACTIONS:
        assert f"<code>{action}</code>" in page
    for attribute in VERIFY_ATTRIBUTES:
        assert f"<code>{attribute}</code>" in page
    for field in LOOKUP_FIELDS:
        assert f"<code>{field}</code>" in page
    for purpose in purposes().values():
        assert f"<code>{purpose.code}</code>" in page and purpose.name_vi in page
    for problem in reference.agency_problems():
        assert f'id="problem-{problem.code}"' in page
    for error in reference.TOKEN_ERROR_TEXT:
        assert f"<code>{error}</code>" in page
    # The curl examples name this service's own address.
    assert 'curl -s -u "$CLIENT_ID:$CLIENT_SECRET"' in page
    assert "http://localhost:8000/token" in page
    english = (await client.get(AGENCY_GUIDE + "?lang=en")).text
    assert "Agency quick start" in english and "Get an access token" in english
    assert purposes()["court.order"].name_en in english


def test_every_problem_type_of_the_agency_api_has_a_meaning_for_the_agency() -> None:
    agency_codes = {
        cls.code
        for cls in all_error_types()
        if cls.__module__.startswith(("core.", "registry.agency."))
    }
    assert agency_codes <= set(reference.PROBLEM_TEXT)
    assert {p.code for p in reference.agency_problems()} == agency_codes
    assert "field-not-allowed" in agency_codes and "agency-suspended" in agency_codes


def test_every_scope_attribute_and_field_has_words() -> None:
    assert set(reference.action_texts()) == set(ACTIONS)
    assert set(reference.attribute_texts()) == set(VERIFY_ATTRIBUTES)
    assert set(reference.field_labels()) == set(LOOKUP_FIELDS)
    assert set(_SOURCES) >= {"swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"}
