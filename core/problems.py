"""RFC 9457 problem+json rendering for every error, and the handlers that apply it."""

from __future__ import annotations

from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import (
    BadRequest,
    Conflict,
    FieldError,
    MethodNotAllowed,
    NotFound,
    RegistryError,
    ValidationFailed,
    all_error_types,
)
from core.logging import get_logger, request_id_var

log = get_logger("registry.http")

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEMS_PATH = "/problems"


class ProblemResponse(JSONResponse):
    """A JSON response with the problem+json media type."""

    media_type = PROBLEM_MEDIA_TYPE


def problem_body(error: RegistryError, *, base_url: str) -> dict[str, Any]:
    """The RFC 9457 document for ``error`` (section 3: type, title, status, detail, instance)."""
    body: dict[str, Any] = {
        "type": f"{base_url.rstrip('/')}{PROBLEMS_PATH}/{error.code}",
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
        "code": error.code,
    }
    request_id = request_id_var.get()
    if request_id:
        body["instance"] = f"urn:request:{request_id}"
        body["request_id"] = request_id
    if error.errors:
        body["errors"] = [e.as_dict() for e in error.errors]
    for key, value in error.extensions.items():
        body.setdefault(key, value)
    return body


def problem_response(error: RegistryError, *, base_url: str) -> ProblemResponse:
    """Render ``error`` as a problem+json response with its headers."""
    return ProblemResponse(
        problem_body(error, base_url=base_url),
        status_code=error.status,
        headers=dict(error.headers),
    )


class ErrorPages(Protocol):
    """Renders an error as a page for a browser (supplied by the composition root on
    ``app.state.error_pages``: core has no templates)."""

    def __call__(self, request: Request, error: RegistryError) -> Response: ...


def wants_page(request: Request) -> bool:
    """Whether the caller is a browser asking for a page (Accept names text/html); API
    clients, which ask for JSON or anything, keep problem+json."""
    return "text/html" in request.headers.get("accept", "")


def error_response(request: Request, error: RegistryError, *, base_url: str) -> Response:
    """``error`` as a page for a browser when the app has error pages, else problem+json."""
    pages: ErrorPages | None = getattr(request.app.state, "error_pages", None)
    if pages is not None and wants_page(request):
        try:
            return pages(request, error)
        except Exception as exc:  # noqa: BLE001 - a page that cannot render must not hide the error
            log.error("http.error_page_failed", exc_info=exc)
    return problem_response(error, base_url=base_url)


def _pointer(loc: tuple[int | str, ...]) -> FieldError | None:
    if not loc:
        return None
    where, rest = loc[0], [str(p).replace("~", "~0").replace("/", "~1") for p in loc[1:]]
    if where == "body":
        return FieldError("", pointer="#/" + "/".join(rest) if rest else "#")
    if where in ("query", "path"):
        return FieldError("", parameter=rest[0] if rest else "")
    if where == "header":
        return FieldError("", header=rest[0] if rest else "")
    if where == "cookie":
        return FieldError("", parameter=f"cookie:{rest[0]}" if rest else "cookie")
    return None


def validation_error(exc: RequestValidationError) -> RegistryError:
    """Map FastAPI's validation errors to ours: malformed JSON is 400, invalid payload is 422."""
    field_errors: list[FieldError] = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            return BadRequest("The request body is not valid JSON.")
        located = _pointer(tuple(err.get("loc", ())))
        # Pydantic's message never includes the input value; the input itself is not echoed.
        message = str(err.get("msg", "invalid value"))
        if located is None:
            field_errors.append(FieldError(message))
        else:
            field_errors.append(
                FieldError(message, located.pointer, located.parameter, located.header)
            )
    return ValidationFailed("The request has invalid fields.", errors=tuple(field_errors))


def install_problem_handlers(app: FastAPI, *, base_url: str) -> None:
    """Render every error the framework or the service raises as problem+json (or, for a
    browser, as the app's error page)."""

    async def on_registry_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RegistryError)  # noqa: S101 - registered for this type only
        return error_response(request, exc, base_url=base_url)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)  # noqa: S101
        return error_response(request, validation_error(exc), base_url=base_url)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)  # noqa: S101
        error: RegistryError
        headers = dict(exc.headers or {})
        if exc.status_code == 404:
            error = NotFound("No resource at this address.", headers=headers)
        elif exc.status_code == 405:
            error = MethodNotAllowed("This resource does not accept that method.", headers=headers)
        else:
            error = _by_status(exc.status_code)(str(exc.detail), headers=headers)
        return error_response(request, error, base_url=base_url)

    async def on_integrity(request: Request, exc: Exception) -> Response:
        # A uniqueness or reference rule held by the database: the state changed under us.
        return error_response(
            request, Conflict("The change conflicts with data already recorded."), base_url=base_url
        )

    app.add_exception_handler(RegistryError, on_registry_error)
    app.add_exception_handler(IntegrityError, on_integrity)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)


def _by_status(status: int) -> type[RegistryError]:
    for cls in all_error_types():
        if cls.status == status:
            return cls
    return BadRequest if 400 <= status < 500 else RegistryError


def problem_catalogue() -> dict[str, dict[str, Any]]:
    """Every problem type the service can answer with, by code."""
    return {
        cls.code: {"title": cls.title, "status": cls.status, "description": (cls.__doc__ or "")}
        for cls in all_error_types()
    }
