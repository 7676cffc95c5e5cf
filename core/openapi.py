"""The OpenAPI document states every answer an operation can give, with its schema.

Routes declare only what their own rules answer (``responses=problems(404, 409)``); what their
dependencies and parameters imply is derived here, once, from the route itself:

- ``require(...)`` can answer 401 and 403, and sets the operation's security requirement;
- the unit of work or the database can answer 503 (with Retry-After);
- any parameter or body can answer 422; a JSON body that does not parse is 400; and every
  route that passes the check of outside text (``core.inputs``) can answer 422, for it checks
  any query parameter sent, declared or not;
- a path parameter can answer 404 (a value holding ``/`` leads to no route at all).

Every such status is an RFC 9457 problem (``application/problem+json``, schema ``Problem``);
FastAPI's own 422 schema, which the service never sends, is replaced by it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from pydantic import BaseModel, ConfigDict, Field

from core.auth import Requirement, requirement_of
from core.deps import get_database, unit_of_work
from core.inputs import OutsideTextRoute, checks_own_outside_text
from core.problems import PROBLEM_MEDIA_TYPE

SCHEMA_REF = "#/components/schemas/"

Security = list[dict[str, list[str]]]
SecurityOf = Callable[[Requirement], Security]


class ProblemFieldError(BaseModel):
    """One invalid input (RFC 9457 section 3: an ``errors`` member entry)."""

    model_config = ConfigDict(extra="forbid")
    detail: str
    pointer: str | None = Field(None, description="A JSON pointer into the request body.")
    parameter: str | None = Field(None, description="A query or path parameter.")
    header: str | None = Field(None, description="A request header.")


class Problem(BaseModel):
    """An RFC 9457 problem document; ``code`` is stable, ``type`` resolves to its description.
    Some problems carry extension members (e.g. ``fields`` of field-not-allowed)."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None
    request_id: str | None = None
    errors: list[ProblemFieldError] | None = None


# What each status means, for every operation that can answer it.
STATUS_TEXT: Mapping[int, str] = {
    400: "The request is malformed (a body that is not JSON, a repeated parameter).",
    401: "Credentials are missing or not valid; WWW-Authenticate says why.",
    403: "The caller may not do this (role, scope, policy, purpose, CSRF token).",
    404: "Not found.",
    409: "The request conflicts with the current state.",
    413: "The request body is too large.",
    415: "The request body is in a media type this operation does not take.",
    422: "Invalid input; ``errors`` points at each field.",
    429: "Too many requests; retry after Retry-After seconds.",
    503: "A dependency (the database, the audit log) is unavailable; retry later.",
}
_HEADERS: Mapping[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "RFC 6750 3."}},
    429: {"Retry-After": {"schema": {"type": "string"}, "description": "Seconds."}},
    503: {"Retry-After": {"schema": {"type": "string"}, "description": "Seconds."}},
}


def problem_content() -> dict[str, Any]:
    """The ``content`` of a problem response."""
    return {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": SCHEMA_REF + "Problem"}}}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries: the route's own rules answer these statuses as problems."""
    return {status: _problem_response(status) for status in statuses}


def _problem_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": STATUS_TEXT.get(status, "A problem (RFC 9457)."),
        "content": problem_content(),
    }
    if status in _HEADERS:
        response["headers"] = dict(_HEADERS[status])
    return response


@dataclass(frozen=True)
class RouteFacts:
    """What a route's dependencies and parameters imply about its answers."""

    statuses: frozenset[int]
    requirement: Requirement | None
    # Any outside text sent to it (declared or not) passes core.inputs' check: 422.
    text_checked: bool = False


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def route_facts(route: APIRoute | RouteContext) -> RouteFacts:
    """The statuses a route can answer because of how it is built, and who may call it."""
    statuses: set[int] = set()
    requirement: Requirement | None = None
    for dependant in _dependants(route.dependant):
        call = dependant.call
        if call is unit_of_work or call is get_database:
            statuses.add(503)
        found = requirement_of(call)
        if found is not None:
            requirement = found
            statuses.update((401, 403))
        if dependant.path_params:
            statuses.update((404, 422))
        if dependant.query_params or dependant.header_params or dependant.cookie_params:
            statuses.add(422)
        if dependant.body_params:
            statuses.update((400, 422))
    original = getattr(route, "original_route", route)
    text_checked = isinstance(original, OutsideTextRoute)
    declared = requirement_of(original.endpoint)
    if declared is not None:
        # An endpoint that authenticates in a unit of work of its own (the agency API's lookup
        # and verify, registry/agency/api.py) states the requirement it checks.
        requirement = declared
        statuses.update((401, 403, 503))
    return RouteFacts(
        frozenset(statuses),
        requirement,
        text_checked and not checks_own_outside_text(original.endpoint),
    )


def _is_problem(response: Mapping[str, Any]) -> bool:
    return PROBLEM_MEDIA_TYPE in response.get("content", {})


def _fastapi_validation_error(response: Mapping[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref", "").endswith("/HTTPValidationError"))


def _describe_operation(
    operation: dict[str, Any], facts: RouteFacts, security_of: SecurityOf
) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    statuses = set(facts.statuses)
    if facts.text_checked:  # any query parameter, declared or not, is checked
        statuses.add(422)
    for status in sorted(statuses):
        key = str(status)
        found = responses.get(key)
        if found is None or _fastapi_validation_error(found):
            responses[key] = _problem_response(status)
        elif not _is_problem(found) and status >= 400:
            # The route answers this status in its own media type (e.g. an OAuth error body);
            # a failing dependency still answers it as a problem.
            found.setdefault("content", {}).update(problem_content())
    for key, response in responses.items():
        content = response.get("content", {})
        if PROBLEM_MEDIA_TYPE in content and not content[PROBLEM_MEDIA_TYPE].get("schema"):
            content[PROBLEM_MEDIA_TYPE] = problem_content()[PROBLEM_MEDIA_TYPE]
        if key.isdigit() and int(key) in _HEADERS and PROBLEM_MEDIA_TYPE in content:
            response.setdefault("headers", dict(_HEADERS[int(key)]))
    if facts.requirement is not None and "security" not in operation:
        operation["security"] = security_of(facts.requirement)


def _drop_unused(
    schemas: dict[str, Any], document: Mapping[str, Any], names: Sequence[str]
) -> None:
    text = json.dumps(document["paths"])
    for name in names:
        if name in schemas and f'"{SCHEMA_REF}{name}"' not in text:
            del schemas[name]


def install_openapi(
    app: FastAPI,
    *,
    security_schemes: Mapping[str, dict[str, Any]],
    security_of: SecurityOf,
) -> None:
    """Replace ``app.openapi`` by a builder that completes each operation's responses and
    security from its route (built once, on first request of /openapi.json)."""

    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description or None,
            routes=app.routes,
            servers=app.servers,
        )
        components = document.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        problem = Problem.model_json_schema(ref_template=SCHEMA_REF + "{model}")
        schemas.update(problem.pop("$defs", {}))
        schemas["Problem"] = problem
        components["securitySchemes"] = dict(security_schemes)
        # Routes as the app serves them (included routers' prefixes and dependencies applied).
        for route in iter_route_contexts(app.routes):
            if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
                continue
            facts = route_facts(route)
            operations = document["paths"].get(route.path_format, {})
            for method in route.methods or ():
                operation = operations.get(method.lower())
                if operation is not None:
                    _describe_operation(operation, facts, security_of)
        _drop_unused(schemas, document, ("HTTPValidationError", "ValidationError"))
        app.openapi_schema = document
        return document

    app.openapi = build  # type: ignore[method-assign]  # FastAPI's documented extension point
