"""The OpenAPI document describes the service: how each caller authenticates, every status each
operation can answer with its schema (RFC 9457 problems; RFC 6749 errors on OAuth endpoints),
the form bodies of the OAuth endpoints, and the agency API's answers.

The last test lets schemathesis call every operation with an agency's, a citizen's and staff
credentials and with none, from valid and invalid input, and checks each answer's status,
media type and body against the document.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from core.auth import Principal
from core.db import Database
from core.openapi import route_facts
from core.settings import Settings
from identity.oidc.openapi import Introspection, TokenResponse
from identity.schemas import UserInfo
from registry.agency.schemas import BatchAnswer, LookupAnswer, VerifyAnswer
from registry.app import create_app
from tests.auth import BearerTable, bearer
from tests.browser import LiveServer
from tests.http import asgi_client
from tests.identity.factories import browser_csrf, make_agency, make_citizen
from tests.identity.relying_party import code_flow
from tests.registry.agencies import (
    ANH,
    ANH_RECORD,
    FULL_POLICY,
    NOBODY,
    ORDINARY,
    TOKENS,
    Env,
    TableThenIdentity,
    agency,
)

PROBLEM = "application/problem+json"
FORM = "application/x-www-form-urlencoded"
OAUTH_ENDPOINTS = {
    ("/token", "post"),
    ("/par", "post"),
    ("/revoke", "post"),
    ("/introspect", "post"),
}
METHODS = ("get", "put", "post", "delete", "patch")


def document() -> dict[str, Any]:
    """The app's OpenAPI document."""
    app = create_app(Settings(environment="test", database_url="sqlite+aiosqlite:///:memory:"))
    spec: dict[str, Any] = app.openapi()
    return spec


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(path, method, operation) of every operation."""
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def test_the_document_names_how_each_kind_of_caller_authenticates() -> None:
    schemes = document()["components"]["securitySchemes"]
    flow = schemes["agencyToken"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"].endswith("/token")
    assert set(flow["scopes"]) == {"verify", "verify_batch", "lookup"}
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert schemes["session"]["in"] == "cookie"
    assert schemes["clientBasic"]["scheme"] == "basic"


def test_every_operation_that_requires_a_role_states_its_security_and_401_403() -> None:
    app = create_app(Settings(environment="test", database_url="sqlite+aiosqlite:///:memory:"))
    spec = app.openapi()
    gated = 0
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        if route_facts(route).requirement is None:
            continue
        for method in route.methods or ():
            op = spec["paths"][route.path_format][method.lower()]
            assert op.get("security"), (method, route.path_format)
            assert {"401", "403"} <= set(op["responses"]), (method, route.path_format)
            gated += 1
    assert gated >= 37
    paths = spec["paths"]
    assert paths["/api/v1/verify"]["post"]["security"] == [{"agencyToken": ["verify"]}]
    assert paths["/api/v1/me/aliases"]["get"]["security"] == [{"bearer": []}, {"session": []}]
    assert paths["/token"]["post"]["security"] == [{"clientBasic": []}, {}]


def test_every_error_status_is_declared_with_a_schema() -> None:
    spec = document()
    for path, method, op in operations(spec):
        for status, response in op["responses"].items():
            if not status.startswith(("4", "5")):
                continue
            content = response.get("content")
            if content is None:  # RFC 6750 3: the reason is in WWW-Authenticate
                assert "WWW-Authenticate" in response.get("headers", {}), (method, path, status)
                continue
            for media, described in content.items():
                assert described.get("schema"), (method, path, status, media)
            if (path, method) in OAUTH_ENDPOINTS and status in ("400", "401"):
                schema = content["application/json"]["schema"]
                assert schema["$ref"].endswith("/OAuthErrorBody"), (path, status)
            elif "text/html" not in content:
                assert content[PROBLEM]["schema"]["$ref"].endswith("/Problem"), (
                    method,
                    path,
                    status,
                )


def test_parameters_bodies_and_the_database_imply_their_problems() -> None:
    spec = document()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, method, op in operations(spec):
        statuses = set(op["responses"])
        json_body = "application/json" in op.get("requestBody", {}).get("content", {})
        if json_body:
            assert {"400", "422"} <= statuses, (method, path)
        if "{" in path:
            assert {"404", "422"} <= statuses, (method, path)
    paths = spec["paths"]
    assert "503" in paths["/api/v1/me/aliases"]["get"]["responses"]
    assert "429" in paths["/api/v1/citizens/{id}"]["get"]["responses"]
    assert "503" not in paths["/healthz"]["get"]["responses"]


def test_the_oauth_endpoints_describe_their_form_bodies() -> None:
    paths = document()["paths"]
    fields = {
        "/token": {"grant_type", "code", "code_verifier", "refresh_token", "client_assertion"},
        "/revoke": {"token", "token_type_hint", "client_id", "client_secret"},
        "/introspect": {"token", "token_type_hint"},
        "/authorize": {"response_type", "client_id", "redirect_uri", "code_challenge"},
        "/par": {"response_type", "redirect_uri", "code_challenge", "client_assertion"},
    }
    for path, names in fields.items():
        body = paths[path]["post"]["requestBody"]
        schema = body["content"][FORM]["schema"]
        assert names <= set(schema["properties"]), path
    assert paths["/token"]["post"]["requestBody"]["content"][FORM]["schema"]["required"] == [
        "grant_type"
    ]
    query = {p["name"] for p in paths["/authorize"]["get"]["parameters"]}
    assert {"client_id", "redirect_uri", "code_challenge", "state"} <= query


def test_the_agency_answers_are_typed() -> None:
    spec = document()
    schemas = spec["components"]["schemas"]
    answers = {
        ("/api/v1/verify", "post", "200"): "VerifyAnswer",
        ("/api/v1/verify/batch", "post", "200"): "BatchAnswer",
        ("/api/v1/citizens/{id}", "get", "200"): "LookupAnswer",
        ("/api/v1/me/aliases", "post", "201"): "AliasView",
        ("/api/v1/officials/agencies/{client_id}/policy", "put", "200"): "PolicyView",
    }
    for (path, method, status), name in answers.items():
        schema = spec["paths"][path][method]["responses"][status]["content"]["application/json"]
        assert schema["schema"]["$ref"].endswith("/" + name), path
        assert schemas[name]["additionalProperties"] is False, name


# ------------------------------------------------------------------------------ schemathesis


@pytest.fixture
async def seeded(settings: Settings, database: Database) -> dict[str, dict[str, str]]:
    """A citizen, an agency allowed everything, and the headers of each kind of caller."""
    await make_citizen(database, **ANH_RECORD)
    client_id, secret = await make_agency(
        database, settings, scopes=["verify", "verify_batch", "lookup"]
    )
    app = contract_app(settings, database)
    async with asgi_client(app) as web:
        policy = {**FULL_POLICY, "rate_per_second": 100_000, "burst": 100_000}
        set_policy = await web.put(
            f"/api/v1/officials/agencies/{client_id}/policy", json=policy, headers=AS_OFFICIAL
        )
        assert set_policy.status_code == 200, set_policy.text
        token = await web.post(
            "/token",
            data={"grant_type": "client_credentials", "scope": "verify verify_batch lookup"},
            auth=(client_id, secret),
        )
        assert token.status_code == 200, token.text
    return {
        "agency": bearer(token.json()["access_token"]),
        "citizen": bearer("tok-anh"),
        "official": AS_OFFICIAL,
        "auditor": bearer("tok-auditor"),
        "nobody": {},
    }


AUDITOR = Principal("auditor", "auditor-1", roles=frozenset({"auditor"}))
AS_OFFICIAL = bearer("tok-official")


def contract_app(settings: Settings, database: Database | None = None) -> FastAPI:
    """The real app; citizens and staff are BearerTable principals in front of identity."""
    app = create_app(settings, database=database)
    table = {**TOKENS, "tok-auditor": AUDITOR}
    app.state.authenticator = TableThenIdentity(BearerTable(table), app.state.authenticator)
    return app


EXAMPLES = 5  # per operation and generation mode: the whole run stays within a minute


@dataclass
class Fuzzer:
    """Calls the live server with schemathesis cases and collects what breaks the document."""

    url: str
    callers: dict[str, dict[str, str]]
    http: requests.Session = field(default_factory=requests.Session)
    failures: dict[str, str] = field(default_factory=dict)

    def run(self, operation: Any, mode: Any) -> None:
        """Up to EXAMPLES cases of ``operation`` in ``mode``, each by a drawn caller."""
        import schemathesis
        from hypothesis import HealthCheck, Phase, given, settings
        from hypothesis import strategies as st

        checks = [
            schemathesis.checks.not_a_server_error,
            schemathesis.checks.status_code_conformance,
            schemathesis.checks.content_type_conformance,
            schemathesis.checks.response_schema_conformance,
        ]

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
        )
        @given(
            case=operation.as_strategy(generation_mode=mode),
            caller=st.sampled_from(sorted(self.callers)),
        )
        def call(case: Any, caller: str) -> None:
            response = case.call(
                base_url=self.url, session=self.http, headers=self.callers[caller], timeout=30
            )
            try:
                case.validate_response(response, checks=checks)
            except (AssertionError, BaseExceptionGroup) as exc:  # a Failure, or a FailureGroup
                for failure in getattr(exc, "exceptions", [exc]):
                    key = f"{operation.label} [{caller}] {getattr(failure, 'title', '')}"
                    message = f"{response.status_code}: {getattr(failure, 'message', failure)}"
                    self.failures.setdefault(key, message)

        call()


# PostgreSQL only: the stricter backend (it refuses text SQLite takes), and one run of the
# fuzzer is what the suite can afford.
@pytest.mark.postgresql_only
async def test_every_answer_has_a_declared_status_media_type_and_schema(
    settings: Settings, seeded: dict[str, dict[str, str]], live_server: LiveServer
) -> None:
    import schemathesis
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    live_server.start(contract_app(settings))
    fuzzer = Fuzzer(live_server.url, seeded)
    spec = fuzzer.http.get(live_server.url + "/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(spec)
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an Err raises its error here
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzzer.run(operation, mode)
            except Unsatisfiable:
                # Nothing can be invalid in an operation without parameters or body.
                assert mode is GenerationMode.NEGATIVE, operation.label
    assert not fuzzer.failures, "\n".join(
        f"{k}: {v[:300]}" for k, v in sorted(fuzzer.failures.items())
    )


# ------------------------------------------------------------------------------ agency answers


async def test_granted_agency_answers_match_their_schemas_on_both_paths(
    env: Env, slow: httpx.AsyncClient, served: list[str]
) -> None:
    who = await agency(env, attribute_results=True)
    claims = {"full_name": "Nguyễn Thị Minh Anh", "birth_date": "2003", "gender": "female"}
    verification = {"id_number": ANH, "purpose": ORDINARY, "claims": claims}
    items = [
        {"id_number": ANH, "claims": claims},
        {"id_number": NOBODY, "claims": {}},
        {"id_number": "12", "claims": {}},
    ]
    lookup = {"fields": "full_name,birth_date,death_date,card_issue_date", "purpose": ORDINARY}
    # Twice: the second lookup and verify take the grouped statement on PostgreSQL, then the
    # full path again.
    for caller in (env.web, env.web, slow):
        verified = await caller.post("/api/v1/verify", json=verification, headers=who.headers)
        assert verified.status_code == 200, verified.text
        VerifyAnswer.model_validate(verified.json(), strict=True)
        found = await caller.get(f"/api/v1/citizens/{ANH}", params=lookup, headers=who.headers)
        assert found.status_code == 200, found.text
        LookupAnswer.model_validate(found.json(), strict=True)
        body = {"purpose": ORDINARY, "items": items}
        checked = await caller.post("/api/v1/verify/batch", json=body, headers=who.headers)
        assert checked.status_code == 200, checked.text
        BatchAnswer.model_validate(checked.json(), strict=True)
    assert len(served) == (3 if env.database.dialect == "postgresql" else 0)


def test_no_json_answer_of_the_api_is_an_untyped_object() -> None:
    spec = document()
    for path, method, op in operations(spec):
        for status, response in op["responses"].items():
            schema = response.get("content", {}).get("application/json", {}).get("schema")
            if not status.startswith("2") or schema is None or not path.startswith("/api/"):
                continue
            named = schema.get("$ref") or schema.get("items", {}).get("$ref")
            assert named, (method, path, status, schema)


async def test_the_code_flow_answers_match_their_schemas(
    app: FastAPI, web: httpx.AsyncClient, world: dict[str, str]
) -> None:
    rp, token, _ = await code_flow(app, web, world)
    TokenResponse.model_validate(
        {k: v for k, v in token.items() if k != "expires_at"}, strict=True
    )  # authlib adds expires_at
    UserInfo.model_validate((await rp.get("/userinfo")).json(), strict=True)
    auth = (world["client_id"], world["secret"])
    for hint in (token["access_token"], token["refresh_token"], "not a token"):
        answer = await web.post("/introspect", data={"token": hint}, auth=auth)
        assert answer.status_code == 200, answer.text
        Introspection.model_validate(answer.json(), strict=True)


# ------------------------------------------------------------------------------ found by the fuzzer


async def test_a_csrf_token_with_non_ascii_characters_is_refused_not_a_server_error(
    web: httpx.AsyncClient,
) -> None:
    await browser_csrf(web)  # the browser holds a CSRF cookie
    confirmed = await web.post("/logout", data={"csrf": "ÿ-not-the-token"})
    assert confirmed.status_code == 400, confirmed.text
    begun = await web.post(
        "/webauthn/login/begin", json={}, headers={b"x-csrf-token": "ÿ".encode("latin-1")}
    )
    assert begun.status_code == 403, begun.text
