"""Operational endpoints: liveness, readiness, metrics, and the problem-type catalogue."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from core.deps import DatabaseDep
from core.errors import NotFound
from core.inputs import OutsideTextRoute
from core.metrics import CONTENT_TYPE_LATEST, HttpMetrics
from core.problems import PROBLEMS_PATH, problem_catalogue

router = APIRouter(route_class=OutsideTextRoute, tags=["operations"])


@router.get("/healthz", summary="Liveness: the process is running")
async def healthz() -> dict[str, str]:
    """Answer 200 while the process can serve requests at all."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the database answers",
    responses={503: {"description": "The database is unreachable (problem+json)."}},
)
async def readyz(database: DatabaseDep) -> dict[str, str]:
    """Answer 200 when the database answers ``SELECT 1`` in time, 503 problem+json otherwise."""
    await database.ping()
    return {"status": "ready", "database": database.dialect}


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """The Prometheus text exposition of this process's metrics."""
    http_metrics: HttpMetrics | None = request.app.state.metrics
    if http_metrics is None:
        raise NotFound("Metrics are disabled.")
    return Response(http_metrics.render(), media_type=CONTENT_TYPE_LATEST)


@router.get(PROBLEMS_PATH + "/{code}", summary="Describe one problem type (RFC 9457 type URI)")
async def problem_type(code: str) -> dict[str, Any]:
    """What a problem ``type`` means: its title, status and description."""
    catalogue = problem_catalogue()
    if code not in catalogue:
        raise NotFound("No such problem type.")
    return {"code": code, **catalogue[code]}
