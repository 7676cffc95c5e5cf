"""Every error leaves as RFC 9457 problem+json with a stable code, never a stack trace."""

import json
import logging

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field

from core.errors import (
    Conflict,
    DatabaseUnavailable,
    FieldError,
    Forbidden,
    NotFound,
    RateLimited,
    Unauthenticated,
    ValidationFailed,
)

PROBLEM = "application/problem+json"
ID_NUMBER = "001203004512"


class Claim(BaseModel):
    name: str = Field(min_length=1)
    birth_year: int = Field(ge=1900, le=2100)


def add_routes(app: FastAPI) -> None:
    @app.post("/t/claims")
    async def claims(claim: Claim, limit: int = 10) -> dict[str, int]:
        return {"limit": limit, "year": claim.birth_year}

    @app.get("/t/raise/{kind}")
    async def raise_(kind: str) -> None:
        errors: dict[str, Exception] = {
            "unauth": Unauthenticated("Token expired."),
            "forbidden": Forbidden("Purpose not allowed."),
            "notfound": NotFound("No such citizen."),
            "conflict": Conflict("Already registered."),
            "ratelimited": RateLimited("Slow down.", headers={"Retry-After": "7"}),
            "unavailable": DatabaseUnavailable("Down."),
            "rule": ValidationFailed(
                "Birth year does not match the ID number.",
                errors=(FieldError("century digit says 2000s", pointer="#/birth_year"),),
            ),
            "bug": RuntimeError(f"secret detail {ID_NUMBER}"),
            "keyerror": KeyError(ID_NUMBER),
        }
        raise errors[kind]

    @app.get("/t/citizens/{id_number}")
    async def citizen(id_number: str) -> dict[str, str]:
        return {"ok": "yes"}


@pytest.fixture
def routed_app(http_app: FastAPI) -> FastAPI:
    add_routes(http_app)
    return http_app


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"http://localhost:8000/problems/{code}"
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    assert body["instance"] == f"urn:request:{response.headers['x-request-id']}"
    return dict(body)


async def test_unknown_route_is_a_404_problem(http_client: httpx.AsyncClient) -> None:
    assert_problem(await http_client.get("/no/such/thing"), 404, "not-found")


async def test_wrong_method_is_a_405_problem(http_client: httpx.AsyncClient) -> None:
    response = await http_client.delete("/healthz")
    assert_problem(response, 405, "method-not-allowed")
    assert "GET" in response.headers["allow"]


@pytest.mark.usefixtures("routed_app")
async def test_payload_validation_points_at_each_field(http_client: httpx.AsyncClient) -> None:
    response = await http_client.post("/t/claims?limit=abc", json={"name": "", "birth_year": 1800})
    body = assert_problem(response, 422, "validation-failed")
    errors = body["errors"]
    assert isinstance(errors, list)
    where = {e.get("pointer") or e.get("parameter") for e in errors}
    assert where == {"#/name", "#/birth_year", "limit"}
    assert all(e["detail"] for e in errors)
    # The rejected input is not echoed back (the request id, random hex, may hold "abc").
    text = response.text.replace(response.headers["x-request-id"], "")
    assert "1800" not in text
    assert "abc" not in text


@pytest.mark.usefixtures("routed_app")
async def test_malformed_json_is_a_400_not_a_422(http_client: httpx.AsyncClient) -> None:
    response = await http_client.post(
        "/t/claims", content=b'{"name": "Nguy', headers={"content-type": "application/json"}
    )
    assert_problem(response, 400, "bad-request")


@pytest.mark.usefixtures("routed_app")
@pytest.mark.parametrize(
    ("kind", "status", "code", "header"),
    [
        ("unauth", 401, "unauthenticated", ("www-authenticate", 'Bearer realm="registry"')),
        ("forbidden", 403, "forbidden", None),
        ("notfound", 404, "not-found", None),
        ("conflict", 409, "conflict", None),
        ("ratelimited", 429, "rate-limited", ("retry-after", "7")),
        ("unavailable", 503, "database-unavailable", ("retry-after", "5")),
        ("rule", 422, "validation-failed", None),
    ],
)
async def test_service_errors_keep_status_code_and_headers(
    http_client: httpx.AsyncClient,
    kind: str,
    status: int,
    code: str,
    header: tuple[str, str] | None,
) -> None:
    response = await http_client.get(f"/t/raise/{kind}")
    assert_problem(response, status, code)
    if header is not None:
        assert response.headers[header[0]] == header[1]


@pytest.mark.usefixtures("routed_app")
async def test_rule_errors_carry_pointers(http_client: httpx.AsyncClient) -> None:
    body = assert_problem(await http_client.get("/t/raise/rule"), 422, "validation-failed")
    assert body["errors"] == [{"detail": "century digit says 2000s", "pointer": "#/birth_year"}]


@pytest.mark.usefixtures("routed_app")
@pytest.mark.parametrize("kind", ["bug", "keyerror"])
async def test_a_bug_is_a_generic_500_problem_without_internals(
    http_client: httpx.AsyncClient, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        response = await http_client.get(f"/t/raise/{kind}")
    body = assert_problem(response, 500, "internal-error")
    assert "Traceback" not in response.text
    assert ID_NUMBER not in response.text
    assert "secret detail" not in response.text
    assert body["detail"] == "An unexpected error occurred; it has been logged."
    assert any(r.msg == "http.unhandled_error" for r in caplog.records)


async def test_request_id_is_kept_when_safe_and_replaced_when_not(
    http_client: httpx.AsyncClient,
) -> None:
    kept = await http_client.get("/healthz", headers={"x-request-id": "agency-req-000123"})
    assert kept.headers["x-request-id"] == "agency-req-000123"
    for bad in ("short", "has space in it", "x" * 200, "inject\u00e9-header-value"):
        raw = [(b"x-request-id", bad.encode("utf-8"))]
        response = await http_client.get("/healthz", headers=raw)
        assert response.headers["x-request-id"] != bad
        assert len(response.headers["x-request-id"]) == 32


async def test_problem_types_are_documented(http_client: httpx.AsyncClient) -> None:
    response = await http_client.get("/problems/rate-limited")
    assert response.status_code == 200
    assert response.json()["status"] == 429
    assert_problem(await http_client.get("/problems/no-such-code"), 404, "not-found")


@pytest.mark.usefixtures("routed_app")
async def test_logs_are_json_and_hold_no_personal_data(
    http_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    from core.logging import JsonFormatter

    with caplog.at_level(logging.DEBUG):
        await http_client.get(f"/t/citizens/{ID_NUMBER}?name=Nguy%E1%BB%85n+Th%E1%BB%8B+Lan")
        await http_client.get(f"/no/route/{ID_NUMBER}?secret=hunter2")
        await http_client.get("/t/raise/bug")
    formatter = JsonFormatter()
    lines = [formatter.format(r) for r in caplog.records]
    assert lines
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    text = "\n".join(lines)
    for needle in (ID_NUMBER, "Nguy", "Lan", "hunter2", "secret detail"):
        assert needle not in text
    routes = [e["fields"]["route"] for e in entries if e["event"] == "http.request"]
    assert "/t/citizens/{id_number}" in routes
    assert "<unmatched>" in routes
    assert all("request_id" in e for e in entries if e["event"] == "http.request")
    bug = next(e for e in entries if e["event"] == "http.unhandled_error")
    assert bug["exc"]["type"] == "builtins.RuntimeError"


@pytest.mark.usefixtures("routed_app")
async def test_metrics_use_route_templates(http_client: httpx.AsyncClient) -> None:
    await http_client.get(f"/t/citizens/{ID_NUMBER}")
    response = await http_client.get("/metrics")
    assert response.status_code == 200
    assert 'route="/t/citizens/{id_number}"' in response.text
    assert ID_NUMBER not in response.text


async def test_openapi_and_docs_are_served(http_client: httpx.AsyncClient) -> None:
    spec = await http_client.get("/openapi.json")
    assert spec.status_code == 200
    assert "/readyz" in spec.json()["paths"]
    docs = await http_client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
