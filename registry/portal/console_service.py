"""The auditor console's rules (no HTTP here): who may use it, search filters typed into a form,
event proofs checked against the newest signed checkpoint, checkpoint consistency, CSV export,
and accesses per agency per day as a server-rendered SVG chart.

The auditor's queries go through ``audit.views``, which records each of them (search, event
view, proof, consistency, export) in the request's unit of work; this module adds an event only
where that does not happen (a refused console visit).
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from audit import merkle, proofs, views
from audit.checkpoint import CheckpointError, Verifier, open_checkpoint
from audit.events import ACTOR_TYPES, OUTCOMES
from audit.schemas import EventFilters, EventPage, EventView
from core.auth import Principal
from core.clock import VIETNAM_TIME, date_text, time_text
from core.db import Database
from core.errors import Conflict, NotFound
from core.text import ID_NUMBER_RE, csv_cell
from identity.oidc import clients
from registry.portal.session import PortalUser

# The same offset as written into SQL (a constant there, so GROUP BY matches SELECT).
_VIETNAM_HOURS = VIETNAM_TIME.utcoffset(None) // timedelta(hours=1)
PAGE_SIZE = 50
CHECKPOINTS_PER_PAGE = 10
CHART_DAYS_DEFAULT = 14
CHART_DAYS_MAX = 90
CHART_SERIES_MAX = 7  # agencies drawn on their own; the rest share one "others" colour

FILTER_NAMES = (
    "subject",
    "actor_id",
    "actor_type",
    "action",
    "purpose",
    "outcome",
    "since",
    "until",
)
_TEXT_RE = re.compile(r"^[A-Za-z0-9._@:\-]+$")
_TEXT_LIMITS = {"actor_id": 128, "action": 64, "purpose": 64}
_DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_DATETIME_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2})?$")


# ------------------------------------------------------------------------------ who may enter

Access = Literal["ok", "login", "passkey", "forbidden"]


def access(user: PortalUser | None) -> Access:
    """The console is for staff holding the auditor role, signed in with a passkey.

    A staff password session carries only ``staff_enrolment`` (see session.current_user): it
    may register a passkey, nothing more.
    """
    if user is None:
        return "login"
    if user.account.kind != "staff":
        return "forbidden"
    if "auditor" in user.principal.roles:
        return "ok"
    if "staff_enrolment" in user.principal.roles:
        return "passkey"
    return "forbidden"


# ------------------------------------------------------------------------------ the search form


@dataclass
class SearchForm:
    """The filters as typed (to fill the form again), the parsed filters, and the errors by
    field (message keys, localised by the page)."""

    values: dict[str, str]
    # True when the query string carried the form (an empty form searches everything).
    submitted: bool = False
    filters: EventFilters | None = None
    errors: dict[str, str] = field(default_factory=dict)

    def query(self) -> dict[str, str]:
        """The non-empty filters, for links (next page, exports, language switch)."""
        return {k: v for k, v in self.values.items() if v}


def _local_instant(value: str, *, end: bool) -> datetime | None:
    """A date (the whole day) or a datetime-local value, in Vietnam time, as UTC."""
    try:
        if _DATE_RE.fullmatch(value):
            day = date.fromisoformat(value)
            if end:  # "until 2024-05-01" includes that day
                day += timedelta(days=1)
            return datetime.combine(day, time(), VIETNAM_TIME).astimezone(UTC)
        if _DATETIME_RE.fullmatch(value):
            return datetime.fromisoformat(value).replace(tzinfo=VIETNAM_TIME).astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return None


def parse_form(query: Mapping[str, str]) -> SearchForm:
    """Search filters from the console's form; each bad field gets an error key."""
    values = {name: (query.get(name) or "").strip()[:200] for name in FILTER_NAMES}
    submitted = any(name in query for name in (*FILTER_NAMES, "cursor"))
    form = SearchForm(values=values, submitted=submitted)
    given = {k: v for k, v in values.items() if v}
    parsed: dict[str, Any] = {}
    for name, value in given.items():
        if name == "subject":
            if ID_NUMBER_RE.fullmatch(value):
                parsed[name] = value
            else:
                form.errors[name] = "err_subject"
        elif name == "actor_type":
            if value in ACTOR_TYPES:
                parsed[name] = value
            else:
                form.errors[name] = "err_choice"
        elif name == "outcome":
            if value in OUTCOMES:
                parsed[name] = value
            else:
                form.errors[name] = "err_choice"
        elif name in _TEXT_LIMITS:
            if len(value) <= _TEXT_LIMITS[name] and _TEXT_RE.fullmatch(value):
                parsed[name] = value
            else:
                form.errors[name] = "err_text"
        else:  # since, until
            instant = _local_instant(value, end=name == "until")
            if instant is None:
                form.errors[name] = "err_time"
            else:
                parsed[name] = instant
    since, until = parsed.get("since"), parsed.get("until")
    if since is not None and until is not None and since > until:
        form.errors["until"] = "err_order"
    if form.errors:
        return form
    try:
        form.filters = EventFilters.model_validate(parsed)
    except ValidationError as exc:  # a rule of the API model the form checks above missed
        for problem in exc.errors():
            name = str(problem["loc"][0]) if problem["loc"] else "subject"
            form.errors[name] = "err_text"
    return form


async def search(
    session: AsyncSession, auditor: Principal, filters: EventFilters, cursor: str | None
) -> EventPage:
    """One page of matching events, newest first (audit.views records the search)."""
    return await views.search_events(
        session, auditor=auditor, filters=filters, cursor=cursor, limit=PAGE_SIZE
    )


def local_time(value: datetime) -> str:
    """An instant as Vietnam time, to the second: dd/mm/yyyy HH:MM:SS."""
    return time_text(value, seconds=True)


# ------------------------------------------------------------------------------ event detail

ProofState = Literal["verified", "failed", "unsequenced", "uncovered"]


@dataclass
class ProofCheck:
    """What the page says about an event's inclusion in the log."""

    state: ProofState
    leaf_index: int | None = None
    tree_size: int | None = None
    root_hex: str | None = None
    root_b64: str | None = None
    note: str | None = None
    reason: str | None = None


async def event_detail(
    session: AsyncSession, auditor: Principal, event_uid: str, *, verifier: Verifier, origin: str
) -> tuple[EventView, ProofCheck]:
    """The event (recorded as audit.event_view) and its inclusion proof checked here against
    the newest signed checkpoint (recorded as audit.proof). NotFound when there is no such
    event (the refusal is recorded and must be committed)."""
    view = await views.view_event(session, auditor=auditor, event_uid=event_uid)
    if view.leaf_index is None:
        return view, ProofCheck(state="unsequenced")
    try:
        proof = await views.auditor_inclusion_proof(session, auditor=auditor, event_uid=event_uid)
    except Conflict as exc:
        size = await views.latest_checkpoint_size(session)
        if size is None or size <= view.leaf_index:
            return view, ProofCheck(state="uncovered", leaf_index=view.leaf_index)
        return view, ProofCheck(state="failed", leaf_index=view.leaf_index, reason=exc.detail)
    try:
        checkpoint = proofs.check_inclusion(proof.model_dump(), verifier, origin=origin)
    except proofs.ProofError as exc:
        return view, ProofCheck(
            state="failed",
            leaf_index=proof.leaf_index,
            tree_size=proof.tree_size,
            note=proof.checkpoint,
            reason=str(exc),
        )
    return view, ProofCheck(
        state="verified",
        leaf_index=proof.leaf_index,
        tree_size=checkpoint.size,
        root_hex=checkpoint.root_hash.hex(),
        root_b64=proofs.b64(checkpoint.root_hash),
        note=proof.checkpoint,
    )


# ------------------------------------------------------------------------------ checkpoints


@dataclass
class CheckpointRow:
    """One signed checkpoint and how it relates to the one before it."""

    tree_size: int
    created: str
    root_b64: str
    signature_ok: bool
    previous_size: int | None = None
    consistency: Literal["verified", "failed"] | None = None
    reason: str | None = None


@dataclass
class CheckpointPage:
    """Newest first; ``older`` is the ``before`` of the next page, if there is one."""

    rows: list[CheckpointRow]
    older: int | None


def _open(note: str, verifier: Verifier, origin: str) -> bytes | None:
    try:
        return open_checkpoint(note, verifier, origin=origin).root_hash
    except CheckpointError:
        return None


async def checkpoint_page(
    session: AsyncSession,
    auditor: Principal,
    *,
    verifier: Verifier,
    origin: str,
    before: int | None,
) -> CheckpointPage:
    """Signed checkpoints, newest first, each signature checked and each consecutive pair's
    consistency proof (audit.views records each as audit.consistency) verified here."""
    # One more than shown: the oldest shown checkpoint is checked against its predecessor too.
    found = await views.checkpoints_before(session, before, CHECKPOINTS_PER_PAGE + 1)
    shown = found[:CHECKPOINTS_PER_PAGE]
    rows: list[CheckpointRow] = []
    for position, stored in enumerate(shown):
        root = _open(stored.note, verifier, origin)
        row = CheckpointRow(
            tree_size=stored.tree_size,
            created=local_time(stored.created_at),
            root_b64=proofs.b64(stored.root_hash),
            signature_ok=root is not None,
        )
        if root is not None and root != stored.root_hash:
            row.signature_ok = False  # the stored root column disagrees with the signed note
        if position + 1 < len(found):
            older = found[position + 1]
            row.previous_size = older.tree_size
            row.consistency, row.reason = await _consistency(
                session, auditor, row.previous_size, row.tree_size, verifier, origin
            )
        rows.append(row)
    more = len(found) > CHECKPOINTS_PER_PAGE
    return CheckpointPage(rows=rows, older=rows[-1].tree_size if more and rows else None)


async def _consistency(
    session: AsyncSession,
    auditor: Principal,
    first: int,
    second: int,
    verifier: Verifier,
    origin: str,
) -> tuple[Literal["verified", "failed"], str | None]:
    # RFC 9162 2.1.4.2, checked as an outside auditor would: the roots come from the signed
    # notes the proof carries, not from the database.
    try:
        proof = await views.auditor_consistency_proof(
            session, auditor=auditor, first=first, second=second
        )
    except (Conflict, NotFound) as exc:
        return "failed", exc.detail
    root1 = _open(proof.first.checkpoint, verifier, origin)
    root2 = _open(proof.second.checkpoint, verifier, origin)
    if root1 is None or root2 is None:
        return "failed", "a checkpoint signature does not verify"
    try:
        path = [base64.b64decode(h, validate=True) for h in proof.proof]
    except ValueError:
        return "failed", "the proof is not base64"
    if merkle.verify_consistency(first, second, root1, root2, path):
        return "verified", None
    return "failed", "the consistency proof does not lead from the first root to the second"


# ------------------------------------------------------------------------------ exports

CSV_COLUMNS = (
    "event_uid",
    "occurred_at",
    "actor_type",
    "actor_id",
    "on_behalf_of",
    "subject",
    "action",
    "fields",
    "purpose",
    "outcome",
    "request_id",
    "leaf_index",
)


async def export(
    session: AsyncSession, auditor: Principal, filters: EventFilters, database: Database
) -> AsyncIterator[bytes]:
    """The NDJSON body of an export; audit.views records the export in this unit of work,
    which the caller commits before the body is read."""
    return await views.start_export(session, auditor=auditor, filters=filters, database=database)


def csv_row(item: Mapping[str, Any]) -> list[str]:
    """One exported event as CSV cells (field names joined by spaces)."""
    actor = item["actor"]
    values = {
        **item,
        "actor_type": actor["type"],
        "actor_id": actor["id"],
        "on_behalf_of": actor["on_behalf_of"],
        "fields": " ".join(item["fields"]),
    }
    return [csv_cell(values.get(name)) for name in CSV_COLUMNS]


async def as_csv(ndjson: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The export's NDJSON chunks as CSV (RFC 4180, a header row first)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    yield out.getvalue().encode()
    try:
        async for chunk in ndjson:
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\r\n")
            for line in chunk.splitlines():
                if line.strip():
                    writer.writerow(csv_row(json.loads(line)))
            yield out.getvalue().encode()
    finally:
        close = getattr(ndjson, "aclose", None)
        if close is not None:  # end the export's read session even when the client leaves
            await close()


# ------------------------------------------------------------------------------ the chart


@dataclass(frozen=True)
class DailyCount:
    """How many events one agency caused on one Vietnam-time day."""

    actor_id: str
    name: str | None  # the agency's registered name (None when its client row is gone)
    day: str  # YYYY-MM-DD
    count: int


async def agency_daily_counts(session: AsyncSession, *, since: datetime) -> list[DailyCount]:
    """Events of agencies at or after ``since``, grouped by agency and Vietnam-time day.

    Relying parties are recorded as agency actors too (their token and consent events); only
    actors that are agency clients, or whose client is gone, are counted.
    """
    counts = await views.daily_counts(
        session, actor_type="agency", since=since, utc_offset_hours=_VIETNAM_HOURS
    )
    known = await clients.client_summaries(session, {c.actor_id for c in counts})
    out: list[DailyCount] = []
    for c in counts:
        client = known.get(c.actor_id)
        if client is None or client.type == "agency":
            out.append(DailyCount(c.actor_id, client.name if client else None, c.day, c.count))
    return out


@dataclass
class Series:
    """One agency's (or the others') counts per day, oldest day first."""

    label: str
    counts: list[int]

    @property
    def total(self) -> int:
        """Accesses over the whole period."""
        return sum(self.counts)


@dataclass
class ChartData:
    """The days shown and the stacked series."""

    days: list[date]
    series: list[Series]


def chart_days(days: int, now: datetime) -> list[date]:
    """The last ``days`` Vietnam-time days, ending today."""
    today = now.astimezone(VIETNAM_TIME).date()
    return [today - timedelta(days=offset) for offset in range(days - 1, -1, -1)]


async def chart_data(
    session: AsyncSession, *, days: int, now: datetime, others_label: str
) -> ChartData:
    """Accesses per agency per day over the last ``days`` days (no personal data: counts)."""
    shown_days = chart_days(days, now)
    since = datetime.combine(shown_days[0], time(), VIETNAM_TIME)
    counts = await agency_daily_counts(session, since=since)
    names = {c.actor_id: c.name or c.actor_id for c in counts}
    index = {d.isoformat(): i for i, d in enumerate(shown_days)}
    per_agency: dict[str, list[int]] = {}
    for item in counts:
        if item.day in index:
            per_agency.setdefault(item.actor_id, [0] * days)[index[item.day]] += item.count
    ranked = sorted(per_agency.items(), key=lambda kv: (-sum(kv[1]), kv[0]))
    series = [Series(names[a], c) for a, c in ranked[:CHART_SERIES_MAX]]
    rest = ranked[CHART_SERIES_MAX:]
    if rest:
        series.append(Series(others_label, [sum(c[i] for _, c in rest) for i in range(days)]))
    return ChartData(days=shown_days, series=series)


PALETTE = ("#b71c1c", "#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f", "#5d4037", "#757575")


def _nice_step(top: int) -> int:
    """A round gridline step giving about four lines up to ``top``."""
    raw = max(top / 4, 1)
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return int(factor * power)
    return int(10 * power)


def chart_svg(data: ChartData, *, title: str, empty: str, total_label: str) -> str:
    """A stacked bar chart (one bar per day, one colour per agency) with a legend, as SVG."""
    esc = html.escape
    width, left, right, top, plot_h, axis_h = 760, 52, 16, 36, 220, 40
    plot_w = width - left - right
    legend_top = top + plot_h + axis_h
    legend_rows = max(len(data.series), 1)
    height = legend_top + legend_rows * 22 + 12
    totals = [sum(s.counts[i] for s in data.series) for i in range(len(data.days))]
    step = _nice_step(max(totals, default=0))
    peak = max(step, math.ceil(max(totals, default=0) / step) * step)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(title)}" '
        'font-family="system-ui, sans-serif" font-size="12">',
        f"<title>{esc(title)}</title>",
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{left}" y="20" font-size="14" font-weight="600">{esc(title)}</text>',
    ]
    for value in range(0, peak + 1, step):
        y = top + plot_h - value / peak * plot_h
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#dddddd"/>'
        )
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{value}</text>')
    slot = plot_w / max(len(data.days), 1)
    bar = max(slot * 0.7, 1.0)
    label_every = max(1, math.ceil(len(data.days) / 15))
    for i, day in enumerate(data.days):
        x = left + i * slot + (slot - bar) / 2
        base = float(top + plot_h)
        for number, series in enumerate(data.series):
            colour = PALETTE[number % len(PALETTE)]
            value = series.counts[i]
            if not value:
                continue
            h = value / peak * plot_h
            base -= h
            out.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{colour}"><title>{esc(series.label)} · {date_text(day)}: '
                f"{value}</title></rect>"
            )
        if i % label_every == 0 or i == len(data.days) - 1:
            out.append(
                f'<text x="{left + (i + 0.5) * slot:.1f}" y="{top + plot_h + 16}" '
                f'text-anchor="middle">{day.strftime("%d/%m")}</text>'
            )
    out.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" '
        'stroke="#555555"/>'
    )
    if not data.series:
        out.append(
            f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h / 2:.1f}" '
            f'text-anchor="middle" fill="#555555">{esc(empty)}</text>'
        )
    for row, series in enumerate(data.series):
        y = legend_top + row * 22
        colour = PALETTE[row % len(PALETTE)]
        out.append(f'<rect x="{left}" y="{y}" width="14" height="14" fill="{colour}"/>')
        out.append(
            f'<text x="{left + 22}" y="{y + 11}">{esc(series.label)} '
            f"({total_label}: {series.total})</text>"
        )
    out.append("</svg>")
    return "\n".join(out)
