"""core.inputs.OutsideTextRoute: the check of outside text runs in each route's handler, before
the route's own work, after a JSON body the route parses; a router without it is refused."""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from core.inputs import OutsideTextRoute, checks_own_text, require_outside_text_check
from core.problems import install_problem_handlers
from tests.http import asgi_client


class Note(BaseModel):
    text: str


def app_with(router: APIRouter) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app, base_url="http://testserver")
    app.include_router(router)
    return app


def checked_router() -> APIRouter:
    router = APIRouter(route_class=OutsideTextRoute)

    @router.post("/notes")
    async def add(note: Note, tag: str = "") -> dict[str, str]:
        return {"text": note.text}

    @router.get("/own")
    @checks_own_text
    async def own(q: str) -> dict[str, str]:
        return {"q": q.encode("unicode_escape").decode()}

    return router


def test_a_router_without_the_route_class_is_refused() -> None:
    router = APIRouter()

    @router.get("/x")
    async def x() -> None:
        return None

    with pytest.raises(TypeError, match="route_class=OutsideTextRoute"):
        require_outside_text_check(router.routes)


def test_a_router_with_the_route_class_is_taken() -> None:
    require_outside_text_check(checked_router().routes)


async def test_refused_text_in_a_json_body_is_a_422_naming_its_member() -> None:
    async with asgi_client(app_with(checked_router())) as client:
        response = await client.post("/notes", json={"text": "a\0b"})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["pointer"] == "#/text"


async def test_a_body_that_is_not_json_is_answered_before_the_query_is_checked() -> None:
    async with asgi_client(app_with(checked_router())) as client:
        response: httpx.Response = await client.post(
            "/notes",
            params={"tag": "a\0b"},
            content=b"{",
            headers={"content-type": "application/json"},
        )
    assert response.status_code == 400, response.text
    assert response.json()["detail"] == "The request body is not valid JSON."


async def test_an_endpoint_that_checks_its_own_text_is_left_to_it() -> None:
    async with asgi_client(app_with(checked_router())) as client:
        response = await client.get("/own", params={"q": "a\0b"})
    assert response.status_code == 200, response.text


async def test_refused_text_in_the_query_of_a_request_without_a_body_is_a_422_naming_it() -> None:
    async with asgi_client(app_with(checked_router())) as client:
        response = await client.post(
            "/notes", params={"tag": "a\0b"}, headers={"content-type": "application/json"}
        )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["parameter"] == "tag"
