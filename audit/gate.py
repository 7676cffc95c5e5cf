"""The record of a call refused at the role gate (``core.auth.require``): who tried, the
citizen the call named, which route, and why it was refused. Plugged into the app by the
composition root, so every gated route, present and future, leaves its event."""

from __future__ import annotations

import json
from collections.abc import Mapping

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from audit.recording import record
from core.principal import Principal
from core.text import ID_NUMBER_RE

# What a refused call names its citizen by: a path or query parameter, or a member of its
# JSON body (the agency API's verify), holding a 12-digit ID number.
SUBJECT_NAMES = ("id_number", "id", "subject")
GATE_ACTION = "api.request"
_MAX_BODY = 64 * 1024  # a body larger than any named-citizen call is not searched


def named_subject(request: Request) -> str | None:
    """The ID number of the citizen a request names, if it names one."""
    sources: list[Mapping[str, object]] = [request.path_params, request.query_params]
    # The route read its body before solving dependencies (FastAPI caches it on the
    # request); the stream itself is never read here.
    body = getattr(request, "_body", None)
    if isinstance(body, bytes) and body[:1] == b"{" and len(body) <= _MAX_BODY:
        try:
            loaded = json.loads(body)
        except ValueError:
            loaded = None
        if isinstance(loaded, dict):
            sources.append(loaded)
    for source in sources:
        for name in SUBJECT_NAMES:
            value = source.get(name)
            if isinstance(value, str) and ID_NUMBER_RE.fullmatch(value):
                return value
    return None


def route_of(request: Request) -> str:
    """The method and route template of a request (never the values in its path)."""
    template = getattr(request.scope.get("route"), "path", None) or "(no route)"
    return f"{request.method} {template}"[:200]


class AuditGate:
    """core.auth.GateRecorder: the refusal is an audit event in the request's unit of work."""

    async def refused(
        self,
        request: Request,
        session: AsyncSession,
        principal: Principal,
        *,
        reason: str,
        required: frozenset[str],
    ) -> None:
        """Record the refused call (outcome denied)."""
        await record(
            session,
            actor=principal,
            action=GATE_ACTION,
            outcome="denied",
            subject=named_subject(request),
            detail={
                "route": route_of(request),
                "reason": f"missing_{reason}",
                "required": " ".join(sorted(required)),
            },
        )
