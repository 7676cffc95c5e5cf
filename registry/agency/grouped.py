"""The grouped statement: an agency's ordinary lookup or verify in one autocommit statement.

When the agency's token was validated before by this process (the authenticator's
``remembered_agency``) and its policy was seen (``AgencyMemory.policy``), the call is decided by
registry/agency/rules.py ``decide`` as on the full path, one rate-limit token is taken, and ONE
statement (registry/agency/repository.py ``record_and_event``) reads the record and inserts the
granted event, only if the agency is still active with this policy, its token is not revoked
and the record passes the gates of the decision. No unit of work, no BEGIN or COMMIT. Calls
that wait for a connection go to the database together as one statement over arrays
(core.db.StatementPool), each judged and recorded on its own.

Every other case (a refusal of any kind, an alias, a record that is missing, locked or
deceased, a changed policy or client, a revoked token, an empty rate bucket, a database error)
gives no answer before anything was written, and the call then takes the full path
(registry/agency/service.py), which answers and records it; a call whose rate-limit token was
taken here is not charged again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from audit import recording as audit
from core.auth import Principal
from core.db import DRIVER_ERRORS, Database
from core.errors import RateLimited
from registry.agency import repository as repo
from registry.agency.memory import AgencyMemory
from registry.agency.rules import (
    GATES,
    Call,
    Facts,
    Granted,
    decide,
    gate_open,
    verdict,
    wanted_fields,
)
from registry.agency.service import Caller, granted_lookup, rate_limit

# What a verification reads of the record.
VERIFY_COLUMNS = (
    "id_number",
    "full_name",
    "name_folded",
    "birth_date",
    "birth_date_precision",
    "gender",
    "nationality",
    "card_number",
    "status",
)


@dataclass(frozen=True)
class Outcome:
    """What the grouped statement did: the answer, or None when the full path must serve the
    call; and whether the call's rate-limit token was taken (the full path then does not take
    another: every call is charged exactly once)."""

    answer: dict[str, Any] | None
    charged: bool = False


async def _statement(
    database: Database,
    memory: AgencyMemory,
    principal: Principal,
    call: Call,
    *,
    jti: str,
    columns: tuple[str, ...],
) -> tuple[Granted, Caller, dict[str, Any], str] | Outcome:
    remembered = memory.policy(principal.actor_id)
    pool = database.statement_pool()
    if remembered is None or pool is None or len(call.identifier) != 12:
        return Outcome(None)
    policy_text, policy = remembered
    scopes = principal.scopes
    # Decided as if the record passed every gate; the statement applies the gates themselves.
    passing = Facts(None, call.identifier, {})
    decision = decide(call, scopes=scopes, policy=policy, facts=passing)
    if not isinstance(decision, Granted):
        return Outcome(None)
    agency = Caller(principal=principal, policy=policy)
    try:
        await rate_limit(database, None, agency, memory)
    except (RateLimited, SQLAlchemyError, OSError):
        return Outcome(None)  # not charged: the full path refuses (and records) or fails alike
    event = audit.new_event(
        actor=principal,
        action="agency.lookup" if call.action == "lookup" else "agency.verify",
        outcome="granted",
        subject=call.identifier,
        fields=decision.fields or tuple(decision.claims),
        purpose=call.purpose,
    )
    try:
        row = await repo.record_and_event(
            pool,
            columns,
            citizen_id=call.identifier,
            gates_open=tuple(gate_open(g, decision.purpose, call.action) for g in GATES),
            client_id=principal.actor_id,
            policy_text=policy_text,
            jti=jti,
            event=event,
        )
    except DRIVER_ERRORS:
        row = None  # the full path meets the same error and answers it
    if row is None or not row["recorded"]:
        return Outcome(None, charged=True)
    return decision, agency, row, str(event["event_uid"])


async def grouped_lookup(
    database: Database,
    memory: AgencyMemory,
    *,
    principal: Principal,
    jti: str,
    identifier: str,
    purpose: str,
    fields: Sequence[str],
) -> Outcome:
    """``service.lookup`` in one statement, or no answer: the full path must serve the call."""
    call = Call("lookup", purpose, identifier, fields=fields)
    columns = tuple(sorted({*wanted_fields(fields), "birth_date_precision", "status"}))
    done = await _statement(database, memory, principal, call, jti=jti, columns=columns)
    if isinstance(done, Outcome):
        return done
    decision, _agency, row, event_id = done
    return Outcome(granted_lookup(decision.fields, row, purpose, event_id), True)


async def grouped_verify(
    database: Database,
    memory: AgencyMemory,
    *,
    principal: Principal,
    jti: str,
    identifier: str,
    purpose: str,
    claims: Mapping[str, Any],
) -> Outcome:
    """``service.verify`` in one statement, or no answer: the full path must serve the call."""
    call = Call("verify", purpose, identifier, claims=claims, pointer="#")
    done = await _statement(database, memory, principal, call, jti=jti, columns=VERIFY_COLUMNS)
    if isinstance(done, Outcome):
        return done
    decision, agency, row, event_id = done
    answer = verdict(decision.claims, row, agency.policy)
    return Outcome({**answer, "event_id": event_id}, True)
