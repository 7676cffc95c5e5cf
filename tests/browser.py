"""Browser tests: Debian's Chromium driven by Playwright, a live server, passkeys, screenshots.

A pytest plugin of fixtures: a test module that uses them declares ``pytest_plugins`` (or the
root conftest does, once several modules use them)::

    pytest_plugins = ["tests.browser"]

    async def test_sign_in(live_server: LiveServer, page: Page) -> None:
        settings = Settings(environment="test", public_url=live_server.url, ...)
        live_server.start(create_app(settings))    # serves on http://localhost:PORT
        authenticator = await add_virtual_authenticator(page)
        await page.goto(live_server.url + "/login")
        await shot(page, "login")                  # test-artifacts/screenshots/login.png

The server runs in its own thread with its own event loop, so an app served here must create
its own Database (``create_app(settings)``), not reuse the test's ``database`` fixture, whose
connections belong to the test's loop. Seed data through a separate Database on the same URL.

PYTEST_DONT_REWRITE: no asserts here, and test modules import it before pytest loads it as a
plugin, which would otherwise warn that it cannot be rewritten.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.async_api import Browser, BrowserContext, CDPSession, Page, async_playwright
from starlette.types import ASGIApp

CHROMIUM = Path("/usr/bin/chromium")
REPO_ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"

# Quiet, hermetic Chromium: no GPU, no QUIC, no calls home, no first-run UI or component updates.
CHROMIUM_ARGS = (
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium_args() -> list[str]:
    """Command-line switches for the test browser (the sandbox cannot start as root)."""
    args = list(CHROMIUM_ARGS)
    if os.geteuid() == 0:
        args.append("--no-sandbox")
    return args


def require_chromium() -> Path:
    """The Chromium executable; skip without it on a workstation, fail without it in CI."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    reason = f"{CHROMIUM} is not installed (apt-get install chromium)"
    if os.environ.get("CI") or os.environ.get("REGISTRY_REQUIRE_BROWSER"):
        pytest.fail(f"browser tests must run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """A headless Chromium for this test (launch takes about 0.3 s, Playwright's driver 0.5 s).

    Plain ``launch`` already gives each browser a fresh temporary profile (--user-data-dir).
    """
    executable = require_chromium()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=chromium_args()
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def browser_context(browser: Browser) -> AsyncIterator[BrowserContext]:
    """A fresh browser context (cookies, storage) in Vietnamese, Asia/Ho_Chi_Minh time."""
    context = await browser.new_context(
        locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh", viewport={"width": 1280, "height": 800}
    )
    context.set_default_timeout(10_000)
    try:
        yield context
    finally:
        await context.close()


@pytest.fixture
async def page(browser_context: BrowserContext) -> Page:
    """A blank page in ``browser_context``."""
    return await browser_context.new_page()


# ---------------------------------------------------------------------------- live server


class LiveServer:
    """An ASGI app served by uvicorn in a background thread on http://localhost:PORT.

    The port is reserved (a bound socket) before the app exists, so the app's settings can
    carry ``public_url=live_server.url``. ``localhost``, not 127.0.0.1: it is a secure context
    and a valid WebAuthn RP id, which an IP address is not.
    """

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self.url = f"http://localhost:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self, app: ASGIApp, *, timeout: float = 10.0) -> None:
        """Serve ``app`` (its lifespan included) and return once it accepts connections."""
        if self._server is not None:
            raise RuntimeError("this live server is already serving an app")
        config = uvicorn.Config(
            app, lifespan="on", log_level="warning", access_log=False, loop="asyncio", ws="none"
        )
        server = uvicorn.Server(config)
        self._server = server

        def run() -> None:
            try:
                asyncio.run(server.serve(sockets=[self._socket]))
            except BaseException as exc:  # reported by start() or stop()
                self._error = exc

        self._thread = threading.Thread(target=run, name=f"live-server-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the live server stopped during startup") from self._error
            if time.monotonic() > deadline:
                raise TimeoutError(f"the live server did not start within {timeout} s")
            time.sleep(0.01)

    def stop(self, *, timeout: float = 10.0) -> None:
        """Stop serving (the app's lifespan shutdown runs) and release the port."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(timeout)
        self._socket.close()
        if self._error is not None:
            raise RuntimeError("the live server failed") from self._error


@pytest.fixture
def live_server() -> Iterator[LiveServer]:
    """A reserved port and its URL; call ``live_server.start(app)``; stopped after the test."""
    server = LiveServer()
    try:
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------------------- passkeys


@dataclass
class VirtualAuthenticator:
    """A CDP virtual authenticator attached to one page (Chromium's WebAuthn domain)."""

    cdp: CDPSession
    authenticator_id: str

    async def credentials(self) -> list[dict[str, Any]]:
        """The credentials it holds (credentialId, isResidentCredential, userHandle, signCount).

        Binary members are standard base64 (with + and /), as CDP sends them.
        """
        reply = await self.cdp.send(
            "WebAuthn.getCredentials", {"authenticatorId": self.authenticator_id}
        )
        credentials: list[dict[str, Any]] = reply["credentials"]
        return credentials

    async def set_user_verified(self, verified: bool) -> None:
        """Make later ceremonies pass (True) or fail (False) user verification."""
        await self.cdp.send(
            "WebAuthn.setUserVerified",
            {"authenticatorId": self.authenticator_id, "isUserVerified": verified},
        )

    async def clear(self) -> None:
        """Forget every credential (a new device, or a passkey deleted by the user)."""
        await self.cdp.send("WebAuthn.clearCredentials", {"authenticatorId": self.authenticator_id})


async def add_virtual_authenticator(page: Page, **options: Any) -> VirtualAuthenticator:
    """Attach a platform passkey authenticator to ``page``: CTAP2, internal, resident keys, UV.

    It verifies the user and simulates presence on its own, so ceremonies need no clicks.
    ``options`` override members of CDP's VirtualAuthenticatorOptions.
    """
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("WebAuthn.enable", {"enableUI": False})
    reply = await cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "ctap2Version": "ctap2_1",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
                **options,
            }
        },
    )
    return VirtualAuthenticator(cdp=cdp, authenticator_id=str(reply["authenticatorId"]))


@pytest.fixture
async def authenticator(page: Page) -> VirtualAuthenticator:
    """A virtual passkey authenticator on ``page``."""
    return await add_virtual_authenticator(page)


# ---------------------------------------------------------------------------- screenshots


async def shot(page: Page, name: str) -> Path:
    """Save a full-page PNG as test-artifacts/screenshots/<name>.png and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "screenshot"
    path = SCREENSHOTS / f"{safe}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
