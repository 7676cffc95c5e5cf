"""What the registry's agency API asks identity about agency clients, their tokens and the
citizens' electronic identities: identity's small public interface for it, so that registry
never reads identity's models or repository (docs/architecture.md, one owner per table).

The SQL fragments are for the agency API's grouped statement (registry/agency/repository.py),
which reads these facts in the statement that records the call."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, FromClause, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from identity.models import Account, Client


@dataclass(frozen=True)
class ClientStatus:
    """An OAuth client as the agency API sees it: its type and whether it is active."""

    client_id: str
    type: str
    active: bool


def status_of(row: object) -> ClientStatus | None:
    """The status of the client row the authenticator kept for this request (None if none)."""
    if not isinstance(row, Client):
        return None
    return ClientStatus(row.client_id, row.type, row.active)


async def client_status(session: AsyncSession, client_id: str) -> ClientStatus | None:
    """The client with this id, in the caller's unit of work."""
    return status_of(await session.get(Client, client_id))


async def set_active(session: AsyncSession, client_id: str, *, active: bool) -> None:
    """Suspend or reinstate a client: its tokens stop (or start again) working at once."""
    await session.execute(update(Client).where(Client.client_id == client_id).values(active=active))


def with_identity_status(
    citizens: FromClause, citizen_id: ColumnElement[str] | InstrumentedAttribute[str]
) -> tuple[FromClause, ColumnElement[str | None]]:
    """``citizens`` joined with the electronic identity of each (if any), and its status
    ("active", "locked", ...; NULL without one)."""
    accounts = Account.__table__
    return citizens.outerjoin(accounts, accounts.c.citizen_id == citizen_id), accounts.c.status


# SQL for a statement of the agency API: each takes the SQL that gives the value compared.
def identity_status_join_sql(citizen_id: str) -> str:
    """A LEFT JOIN that gives ``account.status`` (the identity status) for ``citizen_id``."""
    return f"LEFT OUTER JOIN account ON account.citizen_id = {citizen_id}"


IDENTITY_STATUS_SQL = "account.status"


def active_agency_sql(client_id: str) -> str:
    """True when ``client_id`` is an active agency client."""
    return (
        "EXISTS (SELECT 1 FROM oauth_client "  # noqa: S608 - the caller's SQL, not input
        f"WHERE oauth_client.client_id = {client_id} "
        "AND oauth_client.type = 'agency' AND oauth_client.active)"
    )


def token_live_sql(jti: str) -> str:
    """True when the access token with id ``jti`` was not revoked."""
    return f"NOT EXISTS (SELECT 1 FROM revoked_token WHERE revoked_token.jti = {jti})"  # noqa: S608
