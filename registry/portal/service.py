"""What the portal shows, read through the registry and audit rules (no HTTP here).

Every page that shows personal data records its view as an audit event whose subject is the
citizen (the citizen viewing their own record too): door 3 of invariant 3 (docs/architecture.md).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from audit import proofs, recording, views
from audit.checkpoint import Verifier
from core.auth import Principal
from core.clock import VIETNAM_TIME, utcnow
from core.errors import Conflict, Forbidden, NotFound
from core.text import ID_NUMBER_RE
from identity import accounts, passkeys, selfservice, signin
from identity.accounts import Account, IdentityContext
from identity.oidc import clients
from registry import repository as registry_repo
from registry.agency import admin as agency_admin
from registry.agency import repository as agency_repo
from registry.schemas import RECORD_FIELDS

if TYPE_CHECKING:
    from registry.portal.session import PortalUser

# The record's fields as the citizen sees them, in the order of the national database.
SHOWN_FIELDS = tuple(f for f in RECORD_FIELDS if f not in ("replaced_by",))


async def record_view(
    session: AsyncSession,
    principal: Principal,
    *,
    page: str,
    subject: str | None,
    fields: Iterable[str] = (),
    refused: str | None = None,
) -> None:
    """The audit event of a page view that shows personal data; ``refused``: why its gate
    refused it (the wrong kind of account, role or sign-in), recorded as denied."""
    await recording.record(
        session,
        actor=principal,
        action="portal.view",
        outcome="granted" if refused is None else "denied",
        subject=subject,
        fields=fields,
        detail={"page": page} if refused is None else {"page": page, "reason": refused},
    )


@dataclass(frozen=True)
class MyRecord:
    """The citizen's record as stored (codes and dates) and the day each field last changed."""

    values: dict[str, Any]
    changed: dict[str, date]


async def my_record(session: AsyncSession, principal: Principal) -> MyRecord:
    """Each field of the citizen's record with the date it last changed (the view recorded)."""
    citizen_id = principal.actor_id
    row = await registry_repo.get_citizen(session, citizen_id)
    if row is None:
        raise NotFound("Your record was not found.")
    versions = await registry_repo.versions(session, citizen_id)
    changed: dict[str, date] = {}
    for version in versions:  # newest first: the first mention is the last change
        for name in json.loads(version["changed_fields"] or "[]"):
            changed.setdefault(name, version["valid_from"].astimezone(VIETNAM_TIME).date())
    created = row.get("created_at")
    values = {name: row.get(name) for name in SHOWN_FIELDS if name != "version"}
    values["birth_date_precision"] = row.get("birth_date_precision")
    if created is not None:
        for name in values:
            changed.setdefault(name, created.astimezone(VIETNAM_TIME).date())
    await record_view(
        session,
        principal,
        page="record",
        subject=citizen_id,
        fields=[n for n in SHOWN_FIELDS if n != "version" and values.get(n) not in (None, "")],
    )
    return MyRecord(values=values, changed=changed)


# ------------------------------------------------------------------------------ citizen pages
# Who accessed my data, security (passkeys, sign-ins, lock), alias IDs and consents. Each read
# of a page that shows personal data records its portal.view event in the same unit of work.

ACCESS_PAGE_SIZE = 50
SIGN_IN_HISTORY = 20
ALIAS_SCAN_LIMIT = 20_000  # agency events scanned for alias use (a citizen's own log)


def _me(principal: Principal) -> str:
    if principal.actor_type != "citizen" or not ID_NUMBER_RE.fullmatch(principal.actor_id):
        raise Forbidden("These pages are only for citizens signed in with their ID number.")
    return principal.actor_id


@dataclass(frozen=True)
class AccessFilters:
    """Filters of the access log: one agency (its client id) and local dates, both inclusive."""

    agency: str | None = None
    since: date | None = None
    until: date | None = None

    def where(self, citizen_id: str) -> views.EventFilter:
        """The audit search these filters mean (local Vietnamese days, as UTC instants)."""
        since = datetime.combine(self.since, time(), VIETNAM_TIME) if self.since else None
        until = (
            datetime.combine(self.until + timedelta(days=1), time(), VIETNAM_TIME)
            if self.until
            else None
        )
        return views.EventFilter(
            subject=citizen_id,
            actor_id=self.agency,
            actor_type="agency" if self.agency else None,
            since=since,
            until=until,
        )


async def client_names(session: AsyncSession, client_ids: Iterable[str]) -> dict[str, str]:
    """OAuth client names by client id (the id itself when the client is gone)."""
    wanted = list(dict.fromkeys(client_ids))
    known = await clients.client_summaries(session, wanted)
    return {c: known[c].name if c in known else c for c in wanted}


def _detail(row: Any) -> dict[str, Any]:
    try:
        loaded = json.loads(row.detail) if row.detail else {}
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


STAFF_ACTORS = ("official", "auditor", "administrator")


def _actor_name(
    row: Any, agencies: dict[str, str], staff: dict[str, accounts.StaffCard]
) -> tuple[str | None, str | None]:
    """An actor's name (an agency's, a staff member's) and a staff member's office."""
    if row.actor_type == "agency":
        return agencies.get(row.actor_id), None
    card = staff.get(row.actor_id) if row.actor_type in STAFF_ACTORS else None
    return (card.display_name, card.office) if card is not None else (None, None)


async def _events(session: AsyncSession, rows: Sequence[Any]) -> list[dict[str, Any]]:
    names = await client_names(session, [r.actor_id for r in rows if r.actor_type == "agency"])
    staff = await accounts.staff_cards(
        session, [r.actor_id for r in rows if r.actor_type in STAFF_ACTORS]
    )
    return [
        {
            "event_uid": row.event_uid,
            "id": int(row.id),
            "occurred_at": row.occurred_at,
            "actor_type": row.actor_type,
            "actor_id": row.actor_id,
            "actor_name": _actor_name(row, names, staff)[0],
            "actor_office": _actor_name(row, names, staff)[1],
            "on_behalf_of": row.on_behalf_of,
            "action": row.action,
            "fields": list(json.loads(row.fields or "[]")),
            "purpose": row.purpose,
            "outcome": row.outcome,
            "detail": _detail(row),
            "leaf_index": None if row.leaf_index is None else int(row.leaf_index),
        }
        for row in rows
    ]


async def agencies(session: AsyncSession) -> list[tuple[str, str]]:
    """(client id, name) of every client, by name: the access log's filter. Relying parties act
    as ``agency`` actors in the trail too (oidc.token, oidc.userinfo), so both kinds are listed."""
    return [(c.client_id, c.name) for c in await clients.list_clients(session)]


async def access_log(
    session: AsyncSession,
    principal: Principal,
    *,
    filters: AccessFilters,
    cursor: str | None,
    limit: int = ACCESS_PAGE_SIZE,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of every event about the citizen (bulk accesses included), newest first,
    and the cursor of the next page; the view is recorded."""
    me = _me(principal)
    before = None if cursor is None else views.decode_cursor(cursor)
    # One row more than shown tells whether another page follows.
    rows = await views.events(session, filters.where(me), before_id=before, limit=limit + 1)
    shown = rows[:limit]
    following = views.encode_cursor(int(shown[-1].id)) if len(rows) > limit else None
    events = await _events(session, shown)
    await record_view(session, principal, page="access", subject=me)
    return events, following


async def access_export(
    session: AsyncSession, principal: Principal, *, filters: AccessFilters
) -> list[dict[str, Any]]:
    """Every event about the citizen matching the filters, newest first (the CSV download)."""
    me = _me(principal)
    rows: list[Any] = []
    async with aclosing(views.stream_events(session, filters.where(me))) as chunks:
        async for chunk in chunks:
            rows.extend(chunk)
    events = await _events(session, rows)
    await record_view(session, principal, page="access_csv", subject=me)
    return events


async def access_proof(
    session: AsyncSession,
    principal: Principal,
    *,
    event_uid: str,
    verifier: Verifier,
    origin: str,
) -> dict[str, Any]:
    """One event about the citizen with its inclusion proof against the newest checkpoint,
    checked here; ``status`` is verified, failed, unsequenced or uncovered. NotFound for an
    event that is not about the citizen (recorded as a refusal)."""
    me = _me(principal)
    try:
        proof: dict[str, Any] | None = (
            await views.citizen_inclusion_proof(session, citizen=principal, event_uid=event_uid)
        ).model_dump()
    except Conflict:  # ownership was checked first: the event is the citizen's, not yet proven
        proof = None
    row = await views.event_with_leaf(session, event_uid)
    if row is None or row.subject != me:  # pragma: no cover - the proof call refused it
        raise NotFound("No audit event with this id in your access log.")
    (event,) = await _events(session, [row])
    out: dict[str, Any] = {"event": event, "proof": proof, "reason": None}
    if proof is None:
        out["status"] = "unsequenced" if event["leaf_index"] is None else "uncovered"
    else:
        try:
            checkpoint = proofs.check_inclusion(proof, verifier, origin=origin)
        except proofs.ProofError as exc:
            out.update(status="failed", reason=str(exc))
        else:
            out.update(
                status="verified", root=base64.b64encode(checkpoint.root_hash).decode("ascii")
            )
    await record_view(session, principal, page="access_proof", subject=me)
    return out


async def access_event(
    session: AsyncSession, principal: Principal, *, event_uid: str
) -> dict[str, Any]:
    """One access to the citizen's data by someone else (the page to question it); NotFound
    for any other event. The view is recorded."""
    me = _me(principal)
    row = await views.event_with_leaf(session, event_uid)
    if row is None or row.subject != me or (row.actor_type == "citizen" and row.actor_id == me):
        raise NotFound("No access by someone else with this id in your access log.")
    (event,) = await _events(session, [row])
    await record_view(session, principal, page="access_question", subject=me)
    return event


# The changes to the citizen's means of signing in that the security page lists.
SECURITY_CHANGES = (
    "identity.enrol",
    "identity.activate",
    "identity.password.change",
    "identity.password.recover",
    "identity.sessions.end",
    "identity.lock",
    "identity.unlock",
    "identity.passkey.add",
    "identity.passkey.remove",
)


async def security_overview(
    session: AsyncSession,
    principal: Principal,
    account: Account,
    *,
    current_grant: str | None = None,
) -> dict[str, Any]:
    """Passkeys (created, last used), recent sign-ins (method, outcome), recent changes to how
    the citizen signs in, the sessions signed in (``current_grant``'s first), the lock state."""
    me = _me(principal)
    listed = [
        {"id": p.id, "name": p.name, "created_at": p.created_at, "last_used_at": p.last_used_at}
        for p in await passkeys.passkeys_of(session, account)
    ]
    rows = await views.events(
        session,
        views.EventFilter(subject=me, action="identity.login"),
        before_id=None,
        limit=SIGN_IN_HISTORY,
    )
    sign_ins = [
        {
            "occurred_at": e["occurred_at"],
            "outcome": e["outcome"],
            "method": str(e["detail"].get("method") or ""),
            "reason": str(e["detail"].get("reason") or ""),
        }
        for e in await _events(session, rows)
    ]
    changes = await views.events(
        session,
        views.EventFilter(subject=me, actions=SECURITY_CHANGES),
        before_id=None,
        limit=SIGN_IN_HISTORY,
    )
    grant = await accounts.grant_state(session, current_grant) if current_grant else None
    sessions = await selfservice.sessions_of(
        session, account, current_sid=grant.session_sid if grant else None
    )
    await record_view(session, principal, page="security", subject=me)
    return {
        "status": account.status,
        "passkeys": listed,
        "sign_ins": sign_ins,
        "changes": [
            {
                "occurred_at": e["occurred_at"],
                "action": e["action"],
                "outcome": e["outcome"],
                "method": str(e["detail"].get("method") or ""),
                "reason": str(e["detail"].get("reason") or ""),
            }
            for e in await _events(session, changes)
        ],
        "sessions": sessions,
    }


async def rename_passkey(
    session: AsyncSession, account: Account, *, passkey_id: str, name: str
) -> None:
    """Give one of the citizen's passkeys a new name."""
    await passkeys.rename(session, account, passkey_id, name)


async def remove_passkey(session: AsyncSession, user: PortalUser, *, passkey_id: str) -> None:
    """Remove one of the citizen's passkeys (with a passkey sign-in once they hold one)."""
    await passkeys.remove(
        session, user.account, passkey_id, auth_methods=user.principal.auth_methods
    )


async def lock_identity(session: AsyncSession, account: Account) -> None:
    """Lock the electronic identity: every sign-in session ends and every grant is revoked (so
    the portal session ends too), services get nothing, agencies only statutory purposes."""
    await accounts.lock(session, account)


async def unlock_identity(
    session: AsyncSession,
    ctx: IdentityContext,
    *,
    login: str,
    password: str,
    client_ip: str | None,
) -> Account:
    """Unlock an identity the citizen locked, with their ID number and password."""
    return await signin.unlock(session, ctx, login=login, password=password, client_ip=client_ip)


async def aliases_overview(session: AsyncSession, principal: Principal) -> list[dict[str, Any]]:
    """The citizen's aliases, each with the agencies that used it (newest use first)."""
    me = _me(principal)
    rows = await agency_repo.aliases_of(session, me)
    used: dict[str, dict[str, datetime]] = {row.alias: {} for row in rows}
    if rows:
        seen = 0
        where = views.EventFilter(subject=me, actor_type="agency")
        async with aclosing(views.stream_events(session, where)) as chunks:
            async for chunk in chunks:
                for event in chunk:
                    alias = _detail(event).get("alias")
                    if isinstance(alias, str) and alias in used:
                        used[alias].setdefault(event.actor_id, event.occurred_at)
                seen += len(chunk)
                if seen >= ALIAS_SCAN_LIMIT:
                    break
    names = await client_names(session, [a for uses in used.values() for a in uses])
    now = utcnow()
    out: list[dict[str, Any]] = []
    for row in rows:
        expired = row.expires_at is not None and row.expires_at <= now
        out.append(
            {
                "alias": row.alias,
                "label": row.label,
                "created_at": row.created_at,
                "expires_at": row.expires_at,
                "revoked_at": row.revoked_at,
                "state": "revoked" if row.revoked_at else "expired" if expired else "active",
                "used_by": [
                    {"name": names[a], "last_used_at": when} for a, when in used[row.alias].items()
                ],
            }
        )
    await record_view(session, principal, page="aliases", subject=me)
    return out


async def create_alias(
    session: AsyncSession, principal: Principal, *, label: str | None, valid_days: int | None
) -> str:
    """A new alias of the citizen; the alias."""
    row = await agency_admin.create_alias(
        session, actor=principal, citizen_id=_me(principal), label=label, valid_days=valid_days
    )
    return row.alias


async def revoke_alias(session: AsyncSession, principal: Principal, *, alias: str) -> None:
    """Revoke one of the citizen's aliases."""
    me = _me(principal)
    await agency_admin.revoke_alias(session, actor=principal, alias=alias, citizen_id=me)


async def consents_overview(
    session: AsyncSession, principal: Principal, account: Account
) -> list[dict[str, Any]]:
    """The services the citizen consented to: name, scopes, when, and whether revoked."""
    me = _me(principal)
    out = [
        {
            "client_id": c.client_id,
            "client_name": c.client_name,
            "scopes": c.scope.split(),
            "granted_at": c.granted_at,
            "revoked_at": c.revoked_at,
        }
        for c in await accounts.consents_of(session, account)
    ]
    await record_view(session, principal, page="consents", subject=me)
    return out


async def revoke_consent(session: AsyncSession, account: Account, *, client_id: str) -> None:
    """Withdraw consent from one service (its grants and refresh tokens are revoked too)."""
    await accounts.revoke_consent(session, account, client_id)
