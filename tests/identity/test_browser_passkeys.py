"""The passkey adapter against real Chromium and its virtual authenticator, end to end."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fido2.utils import websafe_encode
from playwright.async_api import Page, expect

from core.settings import Settings
from identity.webauthn import (
    PasskeyInvalid,
    PasskeyServer,
    StoredPasskey,
    credential_id_of,
)
from tests import browser as browser_harness
from tests.browser import LiveServer, VirtualAuthenticator, shot

USER_HANDLE = b"account-7f3a9c1e-0b5d-4e2f-9a61"

# Test-only page: the browser side of both ceremonies, with WebAuthn's JSON helpers
# (parseCreationOptionsFromJSON, parseRequestOptionsFromJSON, PublicKeyCredential.toJSON).
PAGE = """<!doctype html>
<html lang="vi">
<head><meta charset="utf-8"><title>Khóa truy cập (passkey)</title>
<style>
body { font-family: "DejaVu Sans", sans-serif; margin: 2rem }
pre { background: #eee; padding: 1rem }
</style>
</head>
<body>
<h1>Đăng nhập bằng khóa truy cập</h1>
<button id="register">Tạo khóa truy cập</button>
<button id="login">Đăng nhập</button>
<p id="status">Sẵn sàng</p>
<pre id="result"></pre>
<script>
async function post(path, body) {
  const reply = await fetch(path, {
    method: "POST",
    headers: {"content-type": "application/json"},
    body: JSON.stringify(body ?? {}),
  });
  const data = await reply.json();
  if (!reply.ok) throw new Error(data.code + ": " + data.detail);
  return data;
}
async function run(label, ceremony) {
  const status = document.getElementById("status");
  status.textContent = "Đang xử lý…";
  try {
    const result = await ceremony();
    document.getElementById("result").textContent = JSON.stringify(result, null, 2);
    status.textContent = label;
  } catch (error) {
    status.textContent = "Lỗi: " + error.name + ": " + error.message;
  }
}
document.getElementById("register").onclick = () => run("Đã tạo khóa", async () => {
  const options = await post("/register/begin");
  const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options);
  const credential = await navigator.credentials.create({publicKey});
  return post("/register/complete", credential.toJSON());
});
document.getElementById("login").onclick = () => run("Đã đăng nhập", async () => {
  const options = await post("/login/begin");
  const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options);
  const credential = await navigator.credentials.get({publicKey});
  return post("/login/complete", credential.toJSON());
});
</script>
</body>
</html>
"""


@dataclass
class Relying:
    """The test app's memory: pending ceremony states (as stored JSON) and passkeys."""

    states: dict[str, str] = field(default_factory=dict)
    passkeys: dict[bytes, StoredPasskey] = field(default_factory=dict)
    sign_ins: list[dict[str, Any]] = field(default_factory=list)
    options: dict[str, dict[str, Any]] = field(default_factory=dict)


def passkey_app(server: PasskeyServer, memory: Relying) -> FastAPI:
    """Four JSON endpoints and one page that call PasskeyServer (test-only, not product code)."""
    app = FastAPI()

    @app.exception_handler(PasskeyInvalid)
    async def refused(_: Request, exc: PasskeyInvalid) -> JSONResponse:
        return JSONResponse({"code": exc.code, "detail": exc.detail}, status_code=exc.status)

    @app.get("/")
    async def index() -> HTMLResponse:
        return HTMLResponse(PAGE)

    @app.post("/register/begin")
    async def register_begin() -> dict[str, Any]:
        options, state = server.begin_registration(
            user_handle=USER_HANDLE,
            name="001203004512",
            display_name="Nguyễn Thị Minh Anh",
            existing=[p.credential_data for p in memory.passkeys.values()],
        )
        memory.states["register"] = json.dumps(state)
        memory.options["register"] = options
        return options

    @app.post("/register/complete")
    async def register_complete(request: Request) -> dict[str, Any]:
        state = json.loads(memory.states.pop("register"))
        new = server.complete_registration(state, await request.json())
        memory.passkeys[new.credential_id] = StoredPasskey(
            credential_id=new.credential_id,
            credential_data=new.credential_data,
            sign_count=new.sign_count,
            user_handle=new.user_handle,
        )
        return {
            "credential_id": websafe_encode(new.credential_id),
            "sign_count": new.sign_count,
            "transports": new.transports,
        }

    @app.post("/login/begin")
    async def login_begin() -> dict[str, Any]:
        options, state = server.begin_authentication()  # discoverable: no allowCredentials
        memory.states["login"] = json.dumps(state)
        memory.options["login"] = options
        return options

    @app.post("/login/complete")
    async def login_complete(request: Request) -> dict[str, Any]:
        state = json.loads(memory.states.pop("login"))
        response = await request.json()
        stored = memory.passkeys.get(credential_id_of(response))
        result = server.complete_authentication(state, response, lookup=[stored] if stored else [])
        if stored is not None:
            memory.passkeys[stored.credential_id] = StoredPasskey(
                credential_id=stored.credential_id,
                credential_data=stored.credential_data,
                sign_count=result.new_sign_count,
                user_handle=stored.user_handle,
            )
        outcome = {
            "user_handle": websafe_encode(result.user_handle or b""),
            "sign_count": result.new_sign_count,
        }
        memory.sign_ins.append(outcome)
        return outcome

    return app


def std_b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def test_register_and_sign_in_with_a_passkey_in_chromium(
    live_server: LiveServer, page: Page, authenticator: VirtualAuthenticator
) -> None:
    settings = Settings(environment="test", public_url=live_server.url)
    memory = Relying()
    live_server.start(passkey_app(PasskeyServer(settings), memory))

    await page.goto(live_server.url + "/")
    assert await page.evaluate(
        "typeof PublicKeyCredential.parseCreationOptionsFromJSON === 'function'"
        " && typeof PublicKeyCredential.parseRequestOptionsFromJSON === 'function'"
    )
    status = page.locator("#status")

    await page.click("#register")
    await expect(status).to_have_text("Đã tạo khóa")
    assert len(memory.passkeys) == 1
    (stored,) = memory.passkeys.values()
    assert stored.user_handle == USER_HANDLE
    (held,) = await authenticator.credentials()
    assert held["isResidentCredential"] is True
    assert base64.b64decode(held["credentialId"]) == stored.credential_id
    assert base64.b64decode(held["userHandle"]) == USER_HANDLE
    assert held["rpId"] == "localhost"
    registered_count = stored.sign_count

    await page.click("#login")
    await expect(status).to_have_text("Đã đăng nhập")
    assert "allowCredentials" not in memory.options["login"]
    (sign_in,) = memory.sign_ins
    assert sign_in["user_handle"] == websafe_encode(USER_HANDLE)
    assert sign_in["sign_count"] > registered_count
    assert memory.passkeys[stored.credential_id].sign_count == sign_in["sign_count"]
    (held,) = await authenticator.credentials()
    assert held["signCount"] == sign_in["sign_count"]
    await shot(page, "passkeys-register-and-sign-in")

    # A second sign-in advances the counter again; a replayed state is gone.
    await page.click("#login")
    await expect(status).to_have_text("Đã đăng nhập")
    assert memory.sign_ins[1]["sign_count"] > sign_in["sign_count"]
    assert not memory.states


async def test_chromium_refuses_a_second_passkey_for_the_same_account(
    live_server: LiveServer, page: Page, authenticator: VirtualAuthenticator
) -> None:
    """excludeCredentials reaches the authenticator, which then declines to register again."""
    settings = Settings(environment="test", public_url=live_server.url)
    memory = Relying()
    live_server.start(passkey_app(PasskeyServer(settings), memory))
    await page.goto(live_server.url + "/")
    status = page.locator("#status")
    await page.click("#register")
    await expect(status).to_have_text("Đã tạo khóa")

    await page.click("#register")
    await expect(status).to_contain_text("InvalidStateError")
    assert len(memory.passkeys) == 1
    assert len(await authenticator.credentials()) == 1


async def test_a_refused_ceremony_reaches_the_page_as_passkey_invalid(
    live_server: LiveServer, page: Page, authenticator: VirtualAuthenticator
) -> None:
    """The page's origin is not the configured one: the server refuses with passkey-invalid."""
    settings = Settings(
        environment="test",
        public_url=live_server.url,
        webauthn_origins=["https://portal.example"],
    )
    memory = Relying()
    live_server.start(passkey_app(PasskeyServer(settings), memory))
    await page.goto(live_server.url + "/")
    await page.click("#register")
    await expect(page.locator("#status")).to_have_text(
        "Lỗi: Error: passkey-invalid: "
        "Passkey verification failed: Invalid origin in CollectedClientData."
    )
    assert not memory.passkeys
    await shot(page, "passkeys-refused-origin")


def test_missing_chromium_skips_on_a_workstation_and_fails_in_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(browser_harness, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("REGISTRY_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception):
        browser_harness.require_chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        browser_harness.require_chromium()
