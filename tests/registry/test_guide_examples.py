"""The agency quick start's examples work as written: copied from the page into a shell.

The page is read from a live server; its policy command runs the real ``registry`` command on
the test's database, and its curl commands (the real curl) get a token, verify and look up the
citizen of the examples, with nothing filled in but the shell variables the page names.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from core.db import Database
from core.settings import Settings
from registry.app import create_app
from registry.guide.pages import AGENCY_GUIDE
from tests.browser import LiveServer
from tests.identity.factories import make_agency, make_citizen

pytestmark = pytest.mark.postgresql_only  # a live server and a subprocess on one database


def example(page: str, element_id: str) -> str:
    """The text of the page's example ``element_id``, as a copy button copies it."""
    found = re.search(
        rf'<pre class="guide-code" id="{element_id}"><code>(.*?)</code></pre>', page, re.S
    )
    assert found, element_id
    return html.unescape(found.group(1))


def shell(command: str, env: dict[str, str]) -> str:
    """Run ``command`` in bash as a person would paste it; its standard output."""
    done = subprocess.run(
        ["bash", "-c", command], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_the_quick_starts_commands_work_as_written(
    database_url: str, live_server: LiveServer
) -> None:
    if shutil.which("curl") is None:
        pytest.fail("curl is not installed (apt-get install curl)")
    settings = Settings(environment="test", database_url=database_url, public_url=live_server.url)
    seeding = Database(settings)
    try:
        citizen = await make_citizen(seeding)
        client_id, secret = await make_agency(seeding, settings, scopes=["verify", "lookup"])
    finally:
        await seeding.dispose()
    live_server.start(create_app(settings))
    page = httpx.get(live_server.url + AGENCY_GUIDE).text
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "REGISTRY_DATABASE_URL": database_url,
        "REGISTRY_ENVIRONMENT": "test",
        "CLIENT_ID": client_id,
        "CLIENT_SECRET": secret,
    }

    assert "policy of" in shell(example(page, "policy-cli"), env)
    token = json.loads(shell(example(page, "curl-token"), env))
    assert token["token_type"] == "Bearer" and token["scope"] == "verify lookup"
    env["TOKEN"] = token["access_token"]

    verify = example(page, "curl-verify")
    assert citizen in verify
    assert json.loads(shell(verify, env))["match"] is True
    looked = json.loads(shell(example(page, "curl-lookup"), env))
    assert looked["citizen"]["full_name"] == "Nguyễn Thị Minh Anh"
    assert set(looked["citizen"]) == {"full_name", "birth_date", "permanent_address"}
