"""The citizen's portal pages in-process, on both backends: who accessed my data (filters, pages,
CSV, inclusion proofs), security (passkeys, sign-ins, lock and the public unlock page), alias
IDs, consents; CSRF on every form, page views recorded, Vietnamese by default and English."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from audit.models import AuditEvent
from audit.worker import AuditWorker
from core.clock import VIETNAM_TIME, utcnow
from core.db import Database
from core.settings import Settings
from identity import repository as identity_repo
from registry.agency import repository as agency_repo
from registry.agency.policy import parse_policy
from tests.identity.authenticator import SoftAuthenticator
from tests.identity.factories import (
    CITIZEN_ID,
    PASSWORD,
    STAFF_PASSWORD,
    STAFF_USERNAME,
    add_passkey,
    authorization_code,
    form_field,
    make_account,
    make_agency,
    make_citizen,
    make_rp,
    make_staff,
    sign_in,
)
from tests.registry.portal_sessions import browser, portal_sign_in, session_cookie

OTHER_ID = "001303009876"
AGENCY_NAME = "Ngân hàng Thương mại Cổ phần Thử nghiệm"
ORDINARY = "kyc.account_opening"
PAGES = ("/portal/access", "/portal/security", "/portal/aliases", "/portal/consents")
SECURITY_HEADERS = {
    "cache-control": "no-store",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


@dataclass
class Env:
    """A signed-in portal browser, the app and its database."""

    app: FastAPI
    settings: Settings
    database: Database
    web: httpx.AsyncClient
    account_id: str


@pytest.fixture
async def env(app: FastAPI, settings: Settings, database: Database) -> AsyncIterator[Env]:
    """The citizen (with an electronic identity) signed in to the portal."""
    await make_citizen(database)
    await make_citizen(database, id_number=OTHER_ID, full_name="Trần Văn Bình", card_number=None)
    account_id = await make_account(database, settings)
    async with browser(app, settings) as web:
        signed_in = await portal_sign_in(web)
        assert signed_in.status_code == 200, signed_in.text
        yield Env(app, settings, database, web, account_id)


async def csrf_of(web: httpx.AsyncClient, path: str) -> str:
    """The CSRF token of a page's forms."""
    response = await web.get(path)
    assert response.status_code == 200, response.text
    return form_field(response.text, "csrf")


async def post(env: Env, path: str, page: str, **data: str) -> httpx.Response:
    """Submit a form of ``page`` like a browser (with its CSRF token)."""
    return await env.web.post(path, data={"csrf": await csrf_of(env.web, page), **data})


async def events(database: Database, action: str | None = None) -> list[AuditEvent]:
    """Audit events in insertion order (of one action when given)."""
    stmt = select(AuditEvent).order_by(AuditEvent.id)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    async with database.unit_of_work() as session:
        return list((await session.execute(stmt)).scalars())


async def agency_token(
    env: Env, *, actions: Sequence[str] = ("verify", "verify_batch", "lookup")
) -> tuple[str, dict[str, str]]:
    """An agency whose policy allows names and dates for account opening; (id, bearer header)."""
    client_id, secret = await make_agency(
        env.database, env.settings, name=AGENCY_NAME, scopes=list(actions)
    )
    policy = parse_policy(
        {
            "actions": list(actions),
            "fields": ["full_name", "birth_date", "permanent_address"],
            "purposes": [ORDINARY],
            "rate_per_second": 1000,
            "burst": 1000,
        }
    )
    async with env.database.unit_of_work() as session:
        await agency_repo.set_policy(session, client_id, policy.to_json())
    response = await env.web.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": " ".join(actions)},
        auth=(client_id, secret),
    )
    assert response.status_code == 200, response.text
    return client_id, {"Authorization": "Bearer " + response.json()["access_token"]}


async def seal(env: Env) -> None:
    """Sequence every committed event and sign a checkpoint (the app's worker, run once)."""
    worker = AuditWorker(env.database, env.app.state.audit_signer, origin=env.settings.audit_origin)
    await worker.sequence_pending()
    assert await worker.checkpoint() is not None


def rows_of(html: str, table: str) -> list[str]:
    """The <tr> bodies of one table of a page (header row excluded)."""
    match = re.search(rf'<table id="{table}".*?</table>', html, re.S)
    assert match, f"no table {table}"
    return re.findall(r"<tr data-[a-z]+=.*?</tr>", match.group(0), re.S)


# ------------------------------------------------------------------------------ every page


async def test_portal_pages_send_a_visitor_to_sign_in_and_back(
    app: FastAPI, settings: Settings, database: Database
) -> None:
    await make_citizen(database)
    await make_account(database, settings)
    async with browser(app, settings) as web:
        for path in (*PAGES, "/portal/access.csv", "/portal/access/x/proof"):
            response = await web.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/portal/login?next=%2Fportal")
        posted = await web.post("/portal/aliases", data={"csrf": "x"})
        assert posted.headers["location"] == "/portal/login?next=%2Fportal%2Faliases"


async def test_the_unlock_page_is_public(app: FastAPI, settings: Settings) -> None:
    # A locked identity cannot sign in to reach the portal: the provider's page unlocks it.
    async with browser(app, settings) as web:
        moved = await web.get("/portal/unlock")
        assert moved.status_code == 303 and moved.headers["location"] == "/unlock"
        public = await web.get("/unlock")
        assert public.status_code == 200
        assert 'action="/unlock"' in public.text and 'action="/unlock/passkey"' in public.text


async def test_portal_pages_send_the_page_headers_in_vietnamese(env: Env) -> None:
    for path in PAGES:
        page = await env.web.get(path)
        assert page.status_code == 200, page.text
        for name, value in SECURITY_HEADERS.items():
            assert page.headers[name] == value, (path, name)
        csp = page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert '<html lang="vi">' in page.text
        assert 'name="csrf"' in page.text


async def test_the_portals_language_switch_sticks_until_switched_back(env: Env) -> None:
    english = await env.web.get("/portal/security", params={"lang": "en"})
    assert '<html lang="en">' in english.text
    assert "Lock my electronic identity" in english.text and "Sign-in history" in english.text
    assert "registry_lang=en" in english.headers["set-cookie"]
    assert "Who accessed my data" in (await env.web.get("/portal/access")).text
    back = await env.web.get("/portal/aliases", params={"lang": "vi"})
    assert "Mã định danh thay thế" in back.text


async def test_staff_signed_in_to_the_portal_get_a_refusal_not_a_sign_in_loop(
    app: FastAPI, settings: Settings, database: Database
) -> None:
    # The console's way in is the portal's sign-in: a staff password leads to the passkey
    # step first, never into the citizen's pages.
    staff_id = await make_staff(database, settings)
    async with browser(app, settings) as web:
        start = await web.get("/portal/login", params={"next": "/portal/access"})
        step = await sign_in(
            web, start.headers["location"], login=STAFF_USERNAME, password=STAFF_PASSWORD
        )
        assert step.status_code == 200 and 'id="passkey-enrol"' in step.text
        # Signed in with a passkey (the session the callback makes): refused, no loop.
        web.cookies.set("registry_portal", await session_cookie(database, settings, staff_id))
        staff = await web.get("/portal/access")
        assert staff.status_code == 403 and "dành cho công dân" in staff.text
        assert (await web.get("/portal/security")).status_code == 403


async def test_each_portal_page_view_is_recorded_about_the_citizen(env: Env) -> None:
    for path in PAGES:
        assert (await env.web.get(path)).status_code == 200, path
    views = [
        (e.subject, json.loads(e.detail or "{}")["page"])
        for e in await events(env.database, "portal.view")
    ]
    for name in ("access", "security", "aliases", "consents"):
        assert (CITIZEN_ID, name) in views


async def test_forms_without_their_csrf_token_are_refused(env: Env) -> None:
    account = env.account_id
    forms = {
        "/portal/aliases": {"label": "x", "valid_days": "30"},
        "/portal/aliases/1234567890123452/revoke": {},
        "/portal/consents/some-client/revoke": {},
        "/portal/security/passkeys/p1/rename": {"name": "x"},
        "/portal/security/passkeys/p1/remove": {},
        "/portal/security/lock": {"confirm": "yes"},
        "/portal/security/password": {"current_password": PASSWORD, "new_password": "x"},
        "/portal/security/sessions/end-all": {},
        "/unlock": {"id_number": CITIZEN_ID, "password": PASSWORD},
    }
    for path, data in forms.items():
        for token in (None, "forged"):
            sent = {**data, **({"csrf": token} if token else {})}
            response = await env.web.post(path, data=sent)
            assert response.status_code == 403, (path, response.status_code)
            assert "Biểu mẫu đã hết hạn" in response.text
    async with env.database.unit_of_work() as session:
        found = await identity_repo.account_by_id(session, account)
        assert found is not None and found.status == "active"
        assert not await agency_repo.aliases_of(session, CITIZEN_ID)
    assert (await env.web.get("/portal/security")).status_code == 200  # still signed in


# ------------------------------------------------------------------------------ who accessed


async def looked_up(env: Env) -> tuple[str, dict[str, str], AuditEvent]:
    """An agency looked up the citizen's name and birth date for account opening; the agency's
    id, its bearer header, and the lookup's event."""
    client_id, bearer = await agency_token(env)
    looked = await env.web.get(
        f"/api/v1/citizens/{CITIZEN_ID}",
        params={"fields": "full_name,birth_date", "purpose": ORDINARY},
        headers=bearer,
    )
    assert looked.status_code == 200, looked.text
    lookup = (await events(env.database, "agency.lookup"))[0]
    return client_id, bearer, lookup


async def test_an_agency_lookup_shows_with_its_name_fields_and_purpose(env: Env) -> None:
    _, _, lookup = await looked_up(env)
    page = await env.web.get("/portal/access")
    assert page.status_code == 200
    (row, *_) = rows_of(page.text, "access")  # newest first: the lookup (before this view)
    assert AGENCY_NAME in row and "Tra cứu thông tin" in row
    assert "Họ, chữ đệm và tên, Ngày sinh" in row
    assert "Mở tài khoản (định danh khách hàng)" in row and "Được phép" in row
    assert "giờ Việt Nam, UTC+7" in page.text
    assert "Xem trên cổng thông tin: Hồ sơ của tôi" in page.text  # the sign-in landed there
    assert f'data-event="{lookup.event_uid}"' in row
    assert lookup.occurred_at.astimezone(VIETNAM_TIME).strftime("%d/%m/%Y %H:%M") in row


async def test_an_agency_lookup_shows_in_english_when_asked(env: Env) -> None:
    _, _, lookup = await looked_up(env)
    english = await env.web.get("/portal/access", params={"lang": "en"})
    (row_en,) = [r for r in rows_of(english.text, "access") if lookup.event_uid in r]
    assert "Full name, Date of birth" in row_en and "Opening an account" in row_en
    await env.web.get("/portal/access", params={"lang": "vi"})


async def test_the_access_log_filters_by_agency_and_local_dates(env: Env) -> None:
    client_id, _, _ = await looked_up(env)
    today = utcnow().astimezone(VIETNAM_TIME).date()
    mine = await env.web.get("/portal/access", params={"agency": client_id})
    assert len(rows_of(mine.text, "access")) == 1
    assert f'<option value="{client_id}" selected>{AGENCY_NAME}</option>' in mine.text
    assert f"agency={client_id}" in mine.text  # the CSV link and the language switch keep it
    other = await env.web.get("/portal/access", params={"agency": "registry-portal"})
    assert AGENCY_NAME not in "".join(rows_of(other.text, "access"))
    yesterday = (today - timedelta(days=1)).isoformat()
    old = await env.web.get("/portal/access", params={"until": yesterday})
    assert 'id="no-events"' in old.text
    dated = await env.web.get(
        "/portal/access",
        params={"agency": client_id, "since": today.isoformat(), "until": today.isoformat()},
    )
    assert len(rows_of(dated.text, "access")) == 1


async def test_an_impossible_date_filter_is_a_400_that_says_so(env: Env) -> None:
    await looked_up(env)
    bad = await env.web.get("/portal/access", params={"since": "2025-02-30"})
    assert bad.status_code == 400 and 'id="bad-filter"' in bad.text


async def test_the_access_log_downloads_as_csv_with_the_same_filters(env: Env) -> None:
    client_id, _, lookup = await looked_up(env)
    download = await env.web.get("/portal/access.csv", params={"agency": client_id})
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    assert download.headers["content-disposition"] == 'attachment; filename="access-log.csv"'
    assert download.headers["cache-control"] == "no-store"
    table = list(csv.DictReader(io.StringIO(download.text.lstrip("\ufeff"))))
    assert [(r["actor_name"], r["action"], r["fields"], r["purpose"]) for r in table] == [
        (AGENCY_NAME, "agency.lookup", "birth_date full_name", ORDINARY)
    ]
    assert table[0]["event_uid"] == lookup.event_uid


async def test_the_proof_of_an_access_waits_for_sequencing_then_verifies(env: Env) -> None:
    _, _, lookup = await looked_up(env)
    proof_url = f"/portal/access/{lookup.event_uid}/proof"
    waiting = await env.web.get(proof_url)
    assert waiting.status_code == 200
    assert "chưa được đưa vào cây Merkle" in waiting.text and "đã xác minh" not in waiting.text
    await seal(env)
    proven = await env.web.get(proof_url)
    assert "✓ đã xác minh" in proven.text, proven.text
    assert AGENCY_NAME in proven.text
    leaf = re.search(r'id="leaf-index">(\d+)<', proven.text)
    size = re.search(r'id="tree-size">(\d+)<', proven.text)
    assert leaf and size and int(leaf.group(1)) < int(size.group(1))
    checkpoint = re.search(
        r'<pre id="checkpoint" class="checkpoint">(.*?)</pre>', proven.text, re.S
    )
    assert checkpoint and checkpoint.group(1).startswith(env.settings.audit_origin + "\n")
    assert re.search(r'id="root-hash">[A-Za-z0-9+/=]{44}<', proven.text)
    assert "verified" in (await env.web.get(proof_url, params={"lang": "en"})).text


async def test_the_proof_of_another_citizens_access_is_a_recorded_404(env: Env) -> None:
    _, bearer, _ = await looked_up(env)
    bearer_lookup = await env.web.get(
        f"/api/v1/citizens/{OTHER_ID}",
        params={"fields": "full_name", "purpose": ORDINARY},
        headers=bearer,
    )
    assert bearer_lookup.status_code == 200
    theirs = [e for e in await events(env.database, "agency.lookup") if e.subject == OTHER_ID]
    refused = await env.web.get(f"/portal/access/{theirs[0].event_uid}/proof")
    assert refused.status_code == 404 and OTHER_ID not in refused.text
    assert (await events(env.database, "audit.proof"))[-1].outcome == "not_found"


async def test_viewing_the_access_log_its_csv_and_a_proof_is_recorded(env: Env) -> None:
    _, _, lookup = await looked_up(env)
    assert (await env.web.get("/portal/access")).status_code == 200
    assert (await env.web.get("/portal/access.csv")).status_code == 200
    proof = await env.web.get(f"/portal/access/{lookup.event_uid}/proof")
    assert proof.status_code == 200
    views = [
        json.loads(e.detail or "{}")["page"] for e in await events(env.database, "portal.view")
    ]
    assert {"access", "access_csv", "access_proof"} <= set(views)


async def checked_in_bulk(env: Env) -> None:
    """An agency checked the citizen's name sixty times in one batch."""
    _, bearer = await agency_token(env, actions=("verify_batch",))
    items = [{"id_number": CITIZEN_ID, "claims": {"full_name": "Nguyễn Thị Minh Anh"}}] * 60
    response = await env.web.post(
        "/api/v1/verify/batch", json={"purpose": ORDINARY, "items": items}, headers=bearer
    )
    assert response.status_code == 200, response.text


async def test_bulk_checks_are_included_in_the_access_log(env: Env) -> None:
    await checked_in_bulk(env)
    first = await env.web.get("/portal/access")
    rows = rows_of(first.text, "access")
    assert len(rows) == 50
    assert all(AGENCY_NAME in r and "Xác minh thông tin" in r for r in rows)


async def test_the_access_log_comes_in_pages_linked_by_a_cursor(env: Env) -> None:
    await checked_in_bulk(env)
    first = await env.web.get("/portal/access")
    rows = rows_of(first.text, "access")
    more = re.search(r'<a href="\?cursor=([^"]+)" id="more">', first.text)
    assert more, "a link to older accesses"
    second = await env.web.get("/portal/access", params={"cursor": more.group(1)})
    older = rows_of(second.text, "access")
    assert sum(AGENCY_NAME in r for r in older) == 10  # the rest of the batch, then sign-in
    assert not set(rows) & set(older)


async def test_an_unknown_access_log_cursor_starts_from_the_newest(env: Env) -> None:
    junk = await env.web.get("/portal/access", params={"cursor": "not-a-cursor"})
    assert junk.status_code == 200


# ------------------------------------------------------------------------------ security


async def old_phone(env: Env) -> str:
    """The citizen's passkey named "Điện thoại cũ" (never used); its id."""
    return await add_passkey(
        env.database, env.settings, env.account_id, SoftAuthenticator(), name="Điện thoại cũ"
    )


async def test_the_security_page_lists_passkeys_sign_ins_and_statutory_purposes(
    env: Env,
) -> None:
    await old_phone(env)
    page = await env.web.get("/portal/security")
    assert page.status_code == 200
    (passkey,) = rows_of(page.text, "passkeys")
    assert "Điện thoại cũ" in passkey and 'class="last-used">—<' in passkey
    assert 'id="passkey-register"' in page.text and "/static/identity.js" in page.text
    (sign_in,) = rows_of(page.text, "sign-ins")
    assert "Mật khẩu" in sign_in and "Được phép" in sign_in
    assert "Điều tra hình sự" in page.text and "Cấp cứu" in page.text  # statutory purposes
    assert "Lập danh sách cử tri" in page.text and "Thi hành quyết định của tòa án" in page.text


async def rename(env: Env, passkey_id: str, name: str) -> httpx.Response:
    return await post(
        env, f"/portal/security/passkeys/{passkey_id}/rename", "/portal/security", name=name
    )


async def remove(env: Env, passkey_id: str) -> httpx.Response:
    return await post(env, f"/portal/security/passkeys/{passkey_id}/remove", "/portal/security")


async def test_a_passkey_is_renamed_on_the_security_page(env: Env) -> None:
    renamed = await rename(env, await old_phone(env), "Điện thoại mới")
    assert renamed.status_code == 303
    assert renamed.headers["location"] == "/portal/security?done=renamed"
    after = await env.web.get(renamed.headers["location"])
    assert "Điện thoại mới" in after.text and "Đã đổi tên khóa truy cập." in after.text


async def test_a_blank_passkey_name_is_refused(env: Env) -> None:
    blank = await rename(env, await old_phone(env), "  ")
    assert blank.headers["location"] == "/portal/security?error=passkey_name"


async def signed_in_with_a_passkey(env: Env) -> None:
    """The portal session of a passkey sign-in: only such a sign-in removes a passkey."""
    env.web.cookies.set(
        "registry_portal", await session_cookie(env.database, env.settings, env.account_id)
    )


async def test_a_removed_passkey_leaves_the_security_page(env: Env) -> None:
    passkey_id = await old_phone(env)
    await signed_in_with_a_passkey(env)
    removed = await remove(env, passkey_id)
    assert removed.headers["location"] == "/portal/security?done=removed"
    assert 'id="no-passkeys"' in (await env.web.get("/portal/security")).text


async def test_adding_renaming_and_removing_a_passkey_are_each_recorded(env: Env) -> None:
    passkey_id = await old_phone(env)
    await signed_in_with_a_passkey(env)
    await rename(env, passkey_id, "Điện thoại mới")
    await remove(env, passkey_id)
    assert [e.action for e in await events(env.database) if "passkey" in e.action] == [
        "identity.passkey.add",
        "identity.passkey.rename",
        "identity.passkey.remove",
    ]


async def test_locking_from_the_portal_needs_the_confirmation_box(env: Env) -> None:
    unconfirmed = await post(env, "/portal/security/lock", "/portal/security")
    assert unconfirmed.headers["location"] == "/portal/security?error=lock_confirm"


VERIFY_BODY = {
    "id_number": CITIZEN_ID,
    "purpose": ORDINARY,
    "claims": {"full_name": "Nguyễn Thị Minh Anh"},
}


async def locked_from_the_portal(env: Env) -> tuple[httpx.Response, dict[str, str]]:
    """An agency allowed to verify, then the citizen's confirmed lock; the answer to the lock
    and the agency's bearer header."""
    _, bearer = await agency_token(env, actions=("verify",))
    locked = await post(env, "/portal/security/lock", "/portal/security", confirm="yes")
    return locked, bearer


async def test_locking_from_the_portal_ends_every_session_the_portals_too(env: Env) -> None:
    locked, _ = await locked_from_the_portal(env)
    assert locked.status_code == 303
    assert locked.headers["location"] == "/unlock?locked=1"
    assert "registry_portal=" in locked.headers["set-cookie"]  # deleted
    notice = await env.web.get(locked.headers["location"])
    assert "đã bị khóa và bạn đã được đăng xuất" in notice.text
    for path in PAGES:
        assert (await env.web.get(path)).headers["location"].startswith("/portal/login")


async def test_a_locked_identity_refuses_agency_checks(env: Env) -> None:
    _, bearer = await locked_from_the_portal(env)
    refused = await env.web.post("/api/v1/verify", json=VERIFY_BODY, headers=bearer)
    assert refused.status_code == 403 and refused.json()["code"] == "identity-locked"


async def unlock_with(env: Env, password: str) -> httpx.Response:
    """Submit the public unlock page with the citizen's ID number and ``password``."""
    return await post(env, "/unlock", "/unlock", id_number=CITIZEN_ID, password=password)


async def test_the_unlock_page_refuses_a_wrong_password(env: Env) -> None:
    await locked_from_the_portal(env)
    wrong = await unlock_with(env, "wrong password")
    assert wrong.status_code == 401 and "không đúng" in wrong.text


async def test_after_a_wrong_password_the_right_one_unlocks_and_agencies_are_answered(
    env: Env,
) -> None:
    # A wrong password is counted as a failed sign-in; the right one unlocks.
    _, bearer = await locked_from_the_portal(env)
    await unlock_with(env, "wrong password")
    unlocked = await unlock_with(env, PASSWORD)
    assert unlocked.status_code == 303, unlocked.text
    assert unlocked.headers["location"] == "/login?notice=unlocked"
    done = await env.web.get(unlocked.headers["location"])
    assert "đã được mở khóa" in done.text and 'action="/login"' in done.text
    answered = await env.web.post("/api/v1/verify", json=VERIFY_BODY, headers=bearer)
    assert answered.status_code == 200
    actions = [e.action for e in await events(env.database) if e.action.startswith("identity.")]
    assert actions[-3:] == ["identity.lock", "identity.login", "identity.unlock"]


async def test_after_an_unlock_the_citizen_signs_in_to_the_portal_again(env: Env) -> None:
    await locked_from_the_portal(env)
    unlocked = await unlock_with(env, PASSWORD)
    assert unlocked.status_code == 303, unlocked.text
    assert (await env.web.get("/portal/security")).status_code == 303  # sign in again first
    assert (await portal_sign_in(env.web, "/portal/security")).status_code == 200


# ------------------------------------------------------------------------------ aliases


async def made_alias(env: Env) -> str:
    """An alias labelled "ngân hàng", valid for 30 days, made on the aliases page; the alias."""
    created = await post(
        env, "/portal/aliases", "/portal/aliases", label="ngân hàng", valid_days="30"
    )
    assert created.headers["location"] == "/portal/aliases?done=alias_created"
    (row,) = rows_of((await env.web.get(created.headers["location"])).text, "aliases")
    alias = re.search(r'class="alias-copy" readonly value="([0-9]{16})"', row)
    assert alias, row
    return alias.group(1)


async def verify_by_alias(env: Env, alias: str, bearer: dict[str, str]) -> httpx.Response:
    """An agency's check of the citizen's name, naming the citizen by ``alias``."""
    body = {"id_number": alias, "purpose": ORDINARY, "claims": {"full_name": "Nguyễn Thị Minh Anh"}}
    return await env.web.post("/api/v1/verify", json=body, headers=bearer)


async def test_a_new_alias_is_listed_usable_and_not_yet_used(env: Env) -> None:
    await made_alias(env)
    (row,) = rows_of((await env.web.get("/portal/aliases")).text, "aliases")
    assert "ngân hàng" in row and "Đang dùng được" in row and "Chưa cơ quan nào dùng" in row


async def test_an_agency_using_an_alias_is_named_beside_it(env: Env) -> None:
    alias = await made_alias(env)
    _, bearer = await agency_token(env, actions=("verify",))
    verified = await verify_by_alias(env, alias, bearer)
    assert verified.status_code == 200 and verified.json()["match"] is True
    (used,) = rows_of((await env.web.get("/portal/aliases")).text, "aliases")
    assert AGENCY_NAME in used


async def test_an_alias_validity_out_of_range_is_sent_back_with_the_range(env: Env) -> None:
    invalid = await post(env, "/portal/aliases", "/portal/aliases", valid_days="9999")
    assert invalid.headers["location"] == "/portal/aliases?error=alias"
    assert (
        "Thời hạn phải từ 1 đến 3650 ngày" in (await env.web.get(invalid.headers["location"])).text
    )


async def test_a_revoked_alias_is_shown_revoked_and_refused_to_agencies(env: Env) -> None:
    alias = await made_alias(env)
    _, bearer = await agency_token(env, actions=("verify",))
    revoked = await post(env, f"/portal/aliases/{alias}/revoke", "/portal/aliases")
    assert revoked.headers["location"] == "/portal/aliases?done=alias_revoked"
    (gone,) = rows_of((await env.web.get("/portal/aliases")).text, "aliases")
    assert "Đã thu hồi" in gone and "revoke-alias" not in gone
    again = await verify_by_alias(env, alias, bearer)
    assert again.status_code == 403 and again.json()["code"] == "alias-invalid"


async def test_revoking_an_unknown_alias_fails(env: Env) -> None:
    unknown = await post(env, "/portal/aliases/0000000000000000/revoke", "/portal/aliases")
    assert unknown.headers["location"] == "/portal/aliases?error=failed"


@pytest.mark.parametrize("days", ["\u00b2", "\u0661\u0662", "\uff13\uff10", "+30", " 3 0"])
async def test_an_alias_validity_in_other_than_ascii_digits_is_sent_back_as_invalid(
    env: Env, days: str
) -> None:
    refused = await post(env, "/portal/aliases", "/portal/aliases", valid_days=days)
    assert refused.headers["location"] == "/portal/aliases?error=alias"
    assert "alias-copy" not in (await env.web.get("/portal/aliases")).text  # none was made


# ------------------------------------------------------------------------------ consents


async def test_with_no_relying_party_allowed_the_consents_page_says_so(env: Env) -> None:
    assert 'id="no-consents"' in (await env.web.get("/portal/consents")).text


async def consented(env: Env) -> str:
    """The citizen allowed a relying party their name and birth date; its client_id."""
    client_id, _ = await make_rp(env.database, env.settings, name="Cổng dịch vụ công")
    # The identity sign-in of the portal is still live: only the consent page is shown.
    await authorization_code(env.web, client_id, scope="openid profile birthdate")
    return client_id


async def test_a_consent_is_listed_with_what_it_allows(env: Env) -> None:
    await consented(env)
    page = await env.web.get("/portal/consents")
    (row,) = rows_of(page.text, "consents")
    assert "Cổng dịch vụ công" in row and "Họ và tên, Ngày sinh" in row
    english = await env.web.get("/portal/consents", params={"lang": "en"})
    assert "Full name, Date of birth" in rows_of(english.text, "consents")[0]


async def revoke_consent(env: Env, client_id: str) -> httpx.Response:
    return await post(env, f"/portal/consents/{client_id}/revoke", "/portal/consents")


async def test_a_revoked_consent_is_shown_revoked(env: Env) -> None:
    revoked = await revoke_consent(env, await consented(env))
    assert revoked.headers["location"] == "/portal/consents?done=consent_revoked"
    after = await env.web.get(revoked.headers["location"] + "&lang=vi")
    (row,) = rows_of(after.text, "consents")
    assert "Đã rút lại lúc" in row and "revoke-consent" not in row
    assert "Đã rút lại sự cho phép." in after.text


async def test_a_consent_is_revoked_once_and_recorded_once(env: Env) -> None:
    client_id = await consented(env)
    await revoke_consent(env, client_id)
    twice = await revoke_consent(env, client_id)
    assert twice.headers["location"] == "/portal/consents?error=failed"
    assert [e.action for e in await events(env.database, "identity.consent.revoke")] == [
        "identity.consent.revoke"
    ]
