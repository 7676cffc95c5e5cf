"""Outside text: the one check that every request's path, query, form and JSON text passes
(no NUL or other control character, no lone surrogate), and ASCII-only numbers.

PostgreSQL refuses NUL in text and asyncpg cannot encode a lone surrogate, so such a value
would fail deep inside a unit of work; refused here, it is a 422 naming its field before any
work (and before the first byte of a streamed answer). Python's ``int()``, ``str.isdigit()``
and ``re``'s ``\\d`` take other digits than 0-9 (Arabic-Indic, fullwidth; ``isdigit`` even
superscripts, which ``int`` then refuses): numbers from outside are read by ``ascii_int``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute

from core.errors import FieldError, ValidationFailed

# C0 controls other than tab, line feed and carriage return; DEL and the C1 controls; UTF-16
# surrogates (a JSON "\ud800" escape decodes to one, which no UTF-8 encoder accepts).
_REFUSED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_ASCII_DIGITS = re.compile("[0-9]+")
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_NO_BODY = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
_OWN_CHECK = "checks_own_outside_text"
_Endpoint = TypeVar("_Endpoint", bound=Callable[..., Any])


def refused_character(text: str) -> str | None:
    """Why ``text`` cannot be taken from outside (naming the code point, never the text)."""
    found = _REFUSED.search(text)
    if found is None:
        return None
    return f"must not contain the control character U+{ord(found.group()):04X}"


def is_ascii_digits(text: str) -> bool:
    """True when ``text`` is one or more of the digits 0-9 and nothing else."""
    return _ASCII_DIGITS.fullmatch(text) is not None


def ascii_int(text: str) -> int:
    """The number ``text`` writes in the digits 0-9, or ValueError (no sign, space, other digit)."""
    if not is_ascii_digits(text):
        raise ValueError("must be a number written with the digits 0-9")
    return int(text)


def _pointer(path: Iterable[str | int]) -> str:
    """An RFC 6901 JSON pointer, as a URI fragment (as the framework's 422s point)."""
    return "#" + "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def refused_in_json(document: Any) -> FieldError | None:
    """A refused string (a member name or a value) in a JSON document, with its pointer."""
    # Iterative: the parser has already taken the document's depth; recursion here need not.
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), document)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            reason = refused_character(value)
            if reason is not None:
                return FieldError(reason, pointer=_pointer(path))
        elif isinstance(value, dict):
            for key, item in value.items():
                reason = refused_character(key)
                if reason is not None:
                    return FieldError(f"a member name {reason}", pointer=_pointer(path))
                stack.append(((*path, key), item))
        elif isinstance(value, list):
            stack.extend(((*path, i), item) for i, item in enumerate(value))
    return None


# What a JSON text needs to hold a refused character once parsed (json.loads reads bytes as
# UTF-8, UTF-16 or UTF-32, with lone surrogates let through): an escape (a backslash), DEL, a C1
# control (0xC2 0x80-0x9F), or a surrogate (0xED 0xA0-0xBF) in UTF-8; a NUL byte, which every
# UTF-16 or UTF-32 text holds. Raw C0 controls are not JSON.
_MAY_HOLD_REFUSED = re.compile(rb"[\\\x00\x7f]|\xc2[\x80-\x9f]|\xed[\xa0-\xbf]")


def refused_in_json_text(text: bytes, document: Any) -> FieldError | None:
    """``refused_in_json(document)`` for the document parsed from ``text``, without walking it
    when the text cannot hold a refused character."""
    if _MAY_HOLD_REFUSED.search(text) is None:
        return None
    return refused_in_json(document)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _is_json_media(media: str) -> bool:
    return media == "application/json" or media.endswith("+json")


async def _parses_as_json(request: Request) -> bool:
    media = _media_type(request)
    return (not media or _is_json_media(media)) and bool(await request.body())


def _parameter_problem(items: Iterable[tuple[str, Any]]) -> FieldError | None:
    for key, value in items:
        for text in (key, value):
            if not isinstance(text, str):
                continue  # an uploaded file: its content is the route's to read
            reason = refused_character(text)
            if reason is not None:
                return FieldError(reason, parameter=key)
    return None


async def refused_input(request: Request) -> FieldError | None:
    """The first refused text of the request's path, query, form or JSON body, or None."""
    problem = _parameter_problem(request.path_params.items()) or _parameter_problem(
        request.query_params.multi_items()
    )
    if problem is not None or request.method in _NO_BODY:
        return problem
    media = _media_type(request)
    if media in _FORM_TYPES:
        # Starlette keeps the parsed form on the request: the route reads the same one.
        return _parameter_problem((await request.form()).multi_items())
    if _is_json_media(media):
        try:
            document = await request.json()  # parsed once: the route's body is this one
        except (ValueError, RecursionError):
            return None  # not JSON: the route answers that
        return refused_in_json_text(await request.body(), document)
    return None


def checks_own_text(endpoint: _Endpoint) -> _Endpoint:
    """Mark an endpoint that answers such text itself, in its protocol's own error body (the
    OAuth token, revocation and introspection endpoints: RFC 6749 5.2)."""
    setattr(endpoint, _OWN_CHECK, True)
    return endpoint


def checks_own_outside_text(endpoint: object) -> bool:
    """Whether ``endpoint`` was marked by ``checks_own_text``."""
    return bool(getattr(endpoint, _OWN_CHECK, False))


class OutsideTextRoute(APIRoute):
    """A route whose outside text passes the check before any work of its own (its
    dependencies, authentication included): 422 naming the first field that holds refused
    text. Checked in the route's handler rather than by a dependency, which costs a request
    several times the check itself (docs/performance.md, "What the fixes of #24 cost")."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if checks_own_outside_text(self.endpoint):
            return handler
        parses_body = self.body_field is not None

        async def checked(request: Request) -> Response:
            # A body the route parses is parsed first, as the route would (JSON when so
            # labelled or not labelled at all): if it is not JSON, the route answers that, as
            # before any check of its fields.
            if parses_body and request.method not in _NO_BODY and await _parses_as_json(request):
                try:
                    await request.json()  # kept on the request: the route parses this one
                except (ValueError, RecursionError):
                    return await handler(request)
            problem = await refused_input(request)
            if problem is not None:
                raise ValidationFailed("The request has invalid fields.", errors=(problem,))
            return await handler(request)

        return checked


def require_outside_text_check(routes: Iterable[BaseRoute]) -> None:
    """Refuse to serve a route that would skip the check: every router's ``route_class`` is
    OutsideTextRoute."""
    for context in iter_route_contexts(list(routes)):
        route = context.original_route
        if isinstance(route, APIRoute) and not isinstance(route, OutsideTextRoute):
            raise TypeError(f"{route.path}: its router needs route_class=OutsideTextRoute")
