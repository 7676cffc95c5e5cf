"""The composition root: build the FastAPI app from Settings."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from audit import api as audit_api
from audit.gate import AuditGate
from audit.worker import AuditWorker
from core.auth import Authenticator, Requirement
from core.db import Database, hold_lock
from core.inputs import require_outside_text_check
from core.logging import configure_logging, fields, get_logger
from core.metrics import HttpMetrics
from core.middleware import RequestContextMiddleware
from core.openapi import Security, install_openapi
from core.problems import install_problem_handlers
from core.settings import Settings, load_settings
from identity import api as identity_api
from identity import keys
from identity.oidc import openapi as identity_openapi
from identity.services import build_services as build_identity_services
from registry import __version__, ops
from registry import api as registry_api
from registry.agency import api as agency_api
from registry.agency.memory import AgencyMemory
from registry.bulk import repository as bulk_repo
from registry.directory import RegistryDirectory
from registry.guide import apidocs, assets
from registry.guide import pages as guide_pages
from registry.portal import admin as portal_admin
from registry.portal import citizen as portal_citizen
from registry.portal import console as portal_console
from registry.portal import errors as portal_errors
from registry.portal import pages as portal_pages
from registry.workspace import events as workspace_events
from registry.workspace import pages as workspace_pages
from registry.workspace import web as workspace_web

log = get_logger("registry.app")

# The OpenAPI document's description (English, as the rest of the document), shown at the top
# of /docs and /redoc: where an agency starts.
API_DESCRIPTION = (
    "Verify and look up citizens under your agency's policy, for a stated purpose, with an "
    "OAuth 2.0 client_credentials token. Every call is recorded in an audit log the citizen "
    "can read.\n\n"
    f"**Agency quick start** (token, verify, lookup, fields, purposes, error codes): "
    f"[{guide_pages.AGENCY_GUIDE}]({guide_pages.AGENCY_GUIDE}) · "
    f"[Hướng dẫn nhanh cho cơ quan]({guide_pages.AGENCY_GUIDE}?lang=vi)"
)


async def _warn_of_missing_deferred(db: Database) -> None:
    """Say so when citizen's secondary indexes (or replaced_by key) are missing: an initial
    import that was stopped leaves them to the run that finishes it, and searches scan the
    whole table meanwhile."""
    if db.dialect != "postgresql":
        return
    async with db.unit_of_work() as session:
        missing = await bulk_repo.missing_deferred(session)
    if missing:
        log.warning(
            "startup.indexes_missing",
            extra=fields(
                indexes=",".join(missing),
                remedy="run registry import on the file whose initial load was stopped",
            ),
        )


def create_app(
    settings: Settings,
    *,
    database: Database | None = None,
    authenticator: Authenticator | None = None,
) -> FastAPI:
    """Wire settings, database, authenticator, middleware, error handlers and routers."""
    db = database or Database(settings)
    identity = build_identity_services(settings, RegistryDirectory(), staff_home="/staff")
    worker = AuditWorker.from_settings(db, settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Keys and the portal client are also made on first use: a database that is down or
        # not migrated yet must not stop the service from starting (it answers 503 meanwhile).
        try:
            await prepare(db, settings)
            await _warn_of_missing_deferred(db)
        except Exception as exc:  # noqa: BLE001
            log.warning("startup.prepare_deferred", extra=fields(error=type(exc).__name__))
        if settings.audit_sequencer_enabled:
            worker.start()
        try:
            yield
        finally:
            await worker.stop()
            if database is None:  # The app owns the engine it created.
                await db.dispose()

    app = FastAPI(
        title="National population and identity registry",
        version=__version__,
        lifespan=lifespan,
        description=API_DESCRIPTION,
        # /docs and /redoc are the guide's (registry/guide/apidocs.py): served from a pinned
        # package, never a CDN, so they work on a network without internet.
        docs_url=None,
        openapi_url=apidocs.OPENAPI_URL,
        redoc_url=None,
        # No OpenTelemetry here (metrics and logs are core's): without this FastAPI asks the
        # global OpenTelemetry providers on every request whether they are configured.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.database = db
    app.state.identity = identity
    app.state.authenticator = authenticator or identity.authenticator
    # Refusals at require()'s role and scope gate are recorded like those inside a door.
    app.state.gate_recorder = AuditGate()
    app.state.metrics = HttpMetrics() if settings.metrics_enabled else None
    app.state.audit_signer = worker.signer
    app.state.audit_worker = worker
    # What the agency API keeps between requests: policies seen, rate-limit leases (bounds and
    # lifetimes in registry/agency/memory.py).
    app.state.agency_memory = AgencyMemory()

    # Browsers get error pages in their language; API clients keep problem+json.
    app.state.error_pages = portal_errors.error_page
    install_problem_handlers(app, base_url=settings.public_url)
    app.add_middleware(
        RequestContextMiddleware,
        metrics=app.state.metrics,
        base_url=settings.public_url,
        deadline=settings.request_deadline,
    )
    if settings.trusted_proxies:
        # Outermost: request ids, logs, the sign-in limits per address and the audit all see
        # the client the proxy forwarded for, never the proxy.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))
    elif settings.environment == "production":
        log.warning(
            "startup.no_trusted_proxies",
            extra=fields(
                note="REGISTRY_TRUSTED_PROXIES is empty: behind a reverse proxy, every request "
                "comes from the proxy's address, and the sign-in limit per address becomes one "
                "limit for all citizens"
            ),
        )
    # The hottest routes first: routes are tried in order, and FastAPI spends CPU on every
    # route it tries (the agency API's lookup and verify on the app itself, the rest of the
    # agency API in its router, the token endpoint in the OIDC router).
    agency_api.add_calls(app)
    require_outside_text_check(app.router.routes)
    # Every route's outside text passes one check before its own work (core.inputs: each
    # router's route_class is OutsideTextRoute).
    routers = (
        agency_api.router,
        identity_api.oidc_router,
        ops.router,
        identity_api.account_router,
        audit_api.router,
        registry_api.router,
        portal_pages.router,
        portal_citizen.router,
        portal_console.router,
        guide_pages.router,
        apidocs.router,
        assets.router,
        workspace_pages.router,
        workspace_events.router,
        workspace_web.router,
        portal_admin.router,
    )
    for router in routers:
        require_outside_text_check(router.routes)
        app.include_router(router)
    install_openapi(
        app,
        security_schemes=identity_openapi.security_schemes(settings),
        security_of=security_of,
    )
    return app


STAFF_ROLES = frozenset({"official", "auditor", "administrator"})


def security_of(requirement: Requirement) -> Security:
    """How a caller of an operation gated by ``requirement`` authenticates: agencies with
    client_credentials tokens; staff with an integration's token (a first-party client with
    the staff scope) or their session; citizens with the portal's token or their session."""
    scopes = sorted(requirement.scopes)
    if requirement.roles == {"agency"}:
        return [{"agencyToken": scopes}]
    if requirement.roles & STAFF_ROLES:
        return [{"staffToken": ["staff"]}, {"bearer": scopes}, {"session": scopes}]
    return [{"bearer": scopes}, {"session": scopes}]


# Every worker of a service's first start prepares at once: they take turns under this lock
# (and the signing keys under identity's own), each seeing what the one before made. Without
# them, two made the portal's client, and the second failed its start-up preparation on the
# duplicate; two made signing keys, leaving two active keys per algorithm.
STARTUP_LOCK_KEY = 0x7374617274  # "start"


async def prepare(database: Database, settings: Settings) -> None:
    """At start-up: the signing keys (one RS256, one ES256) and the portal's own OIDC client
    (first-party: no consent page), in one unit of work under STARTUP_LOCK_KEY."""
    from registry.portal.session import ensure_portal_client

    async with database.unit_of_work() as session:
        await hold_lock(session, STARTUP_LOCK_KEY)
        await keys.ensure_keys(session, settings)
        await ensure_portal_client(session, settings)


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (each worker process builds its own app)."""
    settings = load_settings()
    configure_logging(settings.log_level)
    app = create_app(settings)
    # What start-up built (modules, routes, models, templates: some 130,000 objects) lives as
    # long as the process. Frozen out of the collector's way, a full collection no longer
    # walks it all while every request in the worker waits behind it (docs/performance.md,
    # "Garbage collector freeze").
    gc.collect()
    gc.freeze()
    return app
