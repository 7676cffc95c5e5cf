"""The agency API's decision (pure): may this agency have this answer about this citizen?

Every path of a call decides here: the full path of a lookup, a verify and each item of a
batch (registry/agency/service.py), and the grouped statement, whose SQL gates are generated
from ``GATES`` (registry/agency/repository.py); tests/registry/test_agency_rules.py proves that
the SQL and ``decide`` agree on every case. The rules, in the order they are applied:

1. action: the token carries its scope and the policy allows it;
2. purpose: a known purpose code, and one of the policy's purposes;
3. identifier: a valid 12-digit ID number or a 16-digit alias with its check digit;
4. what is asked: valid claimed attributes (verify); field names, each in the policy (lookup);
5. alias: an alias that exists, not revoked and not expired;
6. record: a citizen with this ID number;
7. gates (``GATES``): a citizen who locked their electronic identity is seen only by statutory
   purposes (``overrides_lock`` in registry/data/purposes.csv: investigation, court order,
   emergency care, electoral roll), 403 ``identity-locked``; a deceased citizen is looked up
   only for purposes about the deceased (``deceased_allowed``: inheritance, pensions, tax,
   health insurance, investigation, court order), 403 ``citizen-deceased``;
8. verdict: a deceased citizen never verifies (``match`` is false: a dead person's identity must
   not open an account).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, overload

from audit.events import Outcome
from core.errors import FieldError, Forbidden, NotFound, RegistryError, ValidationFailed
from core.text import ID_NUMBER_RE
from registry import idnumber
from registry.agency.matching import InvalidClaim, check_claims, compare
from registry.agency.policy import Action, Policy, Purpose, purposes

ALIAS_RE = re.compile(r"^[0-9]{16}$")


class ActionNotAllowed(Forbidden):
    """The agency's policy (or token) does not allow this action."""

    code = "action-not-allowed"
    title = "Action not allowed"


class PurposeNotAllowed(Forbidden):
    """The purpose is unknown, or not among the agency's purposes."""

    code = "purpose-not-allowed"
    title = "Purpose not allowed"


class FieldNotAllowed(Forbidden):
    """A requested field is outside the agency's policy."""

    code = "field-not-allowed"
    title = "Field not allowed"


class IdentityLocked(Forbidden):
    """The citizen locked their electronic identity; only statutory purposes see them."""

    code = "identity-locked"
    title = "Identity locked"


class CitizenDeceased(Forbidden):
    """The citizen is recorded as deceased; this purpose does not concern the deceased."""

    code = "citizen-deceased"
    title = "Citizen deceased"


class AliasInvalid(Forbidden):
    """The alias was revoked or has expired."""

    code = "alias-invalid"
    title = "Alias revoked or expired"


# ------------------------------------------------------------------------------ gates


@dataclass(frozen=True)
class Gate:
    """A record fact that closes the citizen to a call, unless the purpose opens it."""

    name: str  # the grouped statement's parameter is ``{name}_open``
    column: str  # the fact: a column of the record as read (registry/agency/repository.py)
    closed: str  # the fact's value that closes
    opened_by: str  # the Purpose flag that opens it anyway
    actions: tuple[Action, ...]  # the calls it applies to
    error: type[RegistryError]
    detail: str


GATES = (
    Gate(
        "lock",
        "identity_status",
        "locked",
        "overrides_lock",
        ("lookup", "verify", "verify_batch"),
        IdentityLocked,
        "The citizen has locked their electronic identity; only statutory purposes may see it.",
    ),
    Gate(
        "death",
        "status",
        "deceased",
        "deceased_allowed",
        ("lookup",),
        CitizenDeceased,
        "The citizen is recorded as deceased; this purpose does not apply.",
    ),
)


def gate_open(gate: Gate, purpose: Purpose, action: Action) -> bool:
    """Whether ``gate`` lets this call through whatever the record says."""
    return action not in gate.actions or bool(getattr(purpose, gate.opened_by))


def closed_by(row: Mapping[str, Any], purpose: Purpose, action: Action) -> RegistryError | None:
    """The refusal of the first gate the record closes to this call, or None."""
    for gate in GATES:
        if row.get(gate.column) == gate.closed and not gate_open(gate, purpose, action):
            return gate.error(gate.detail)
    return None


# ------------------------------------------------------------------------------ identifiers


def luhn_ok(digits: str) -> bool:
    """The Luhn check digit (the last of the 16) is right: one mistyped digit is caught."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _where(reason: str, pointer: str, parameter: str | None) -> FieldError:
    if parameter:
        return FieldError(reason, parameter=parameter)
    return FieldError(reason, pointer=pointer)


def check_identifier(value: str, *, pointer: str, parameter: str | None = None) -> str:
    """A syntactically valid ID number (province, century) or alias; 422 otherwise."""
    if ID_NUMBER_RE.fullmatch(value):
        try:
            idnumber.value_of(value)
        except idnumber.InvalidIdNumber as exc:
            where = _where(str(exc), pointer, parameter)
            raise ValidationFailed("The ID number is invalid.", errors=[where]) from None
        return value
    if ALIAS_RE.fullmatch(value) and luhn_ok(value):
        return value
    where = _where("must be a 12-digit ID number or a 16-digit alias", pointer, parameter)
    raise ValidationFailed("The citizen identifier is invalid.", errors=[where])


AliasState = Literal["unknown", "invalid", "ok"]


def alias_state(revoked_at: datetime | None, expires_at: datetime | None, now: datetime) -> str:
    """An existing alias's state: "invalid" once revoked or expired, else "ok"."""
    if revoked_at is not None or (expires_at is not None and expires_at <= now):
        return "invalid"
    return "ok"


def wanted_fields(fields: Sequence[str]) -> list[str]:
    """The requested field names, stripped, each once, in the order asked."""
    return list(dict.fromkeys(f.strip() for f in fields if f.strip()))


# ------------------------------------------------------------------------------ the decision


@dataclass(frozen=True)
class Call:
    """What an agency asks. ``pointer``: where the identifier and claims sit in the request's
    JSON body (``#`` for a verify, ``#/items/3`` for a batch item); None for a lookup, whose
    identifier is the path parameter ``id``."""

    action: Action
    purpose: str
    identifier: str
    fields: Sequence[str] = ()
    claims: Mapping[str, Any] | None = None
    pointer: str | None = None


@dataclass(frozen=True)
class Facts:
    """What the database says about the call's subject: the alias's state (None when the
    identifier is an ID number), the citizen it names, and the record with ``identity_status``."""

    alias: str | None
    citizen_id: str | None
    record: Mapping[str, Any] | None


@dataclass(frozen=True)
class Refusal:
    """A refused call. ``outcome`` None: refused before any rule about the subject, and
    recorded by the agency door with the refusal's code; else recorded as this outcome."""

    error: RegistryError
    outcome: Outcome | None = None
    subject: str | None = None
    alias: str | None = None


@dataclass(frozen=True)
class Admitted:
    """A call that passed every rule that needs no database: read the facts, then decide."""

    purpose: Purpose
    fields: tuple[str, ...] = ()
    claims: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Granted:
    """A granted call: about ``subject`` (through ``alias``), for ``purpose``."""

    purpose: Purpose
    subject: str
    alias: str | None
    fields: tuple[str, ...]
    claims: Mapping[str, Any]
    record: Mapping[str, Any]


@overload
def decide(
    call: Call, *, scopes: frozenset[str], policy: Policy, facts: Facts
) -> Refusal | Granted: ...
@overload
def decide(
    call: Call, *, scopes: frozenset[str], policy: Policy, facts: None = None
) -> Refusal | Admitted: ...
def decide(
    call: Call, *, scopes: frozenset[str], policy: Policy, facts: Facts | None = None
) -> Refusal | Admitted | Granted:
    """The decision on ``call``: without ``facts``, whether to read them (Admitted) or refuse;
    with them, whether to grant or refuse."""
    admitted = _admit(call, scopes, policy)
    if isinstance(admitted, Refusal) or facts is None:
        return admitted
    alias = call.identifier if len(call.identifier) == 16 else None
    if facts.alias == "unknown":
        return Refusal(NotFound("No citizen has this alias."), "not_found")
    if facts.alias == "invalid":
        error = AliasInvalid("The alias was revoked or has expired.")
        return Refusal(error, "denied", facts.citizen_id, alias)
    subject = facts.citizen_id or call.identifier
    if facts.record is None:
        return Refusal(NotFound("No citizen has this ID number."), "not_found", subject, alias)
    closed = closed_by(facts.record, admitted.purpose, call.action)
    if closed is not None:
        return Refusal(closed, "denied", subject, alias)
    return Granted(admitted.purpose, subject, alias, admitted.fields, admitted.claims, facts.record)


def _admit(call: Call, scopes: frozenset[str], policy: Policy) -> Refusal | Admitted:
    action = call.action
    if action not in scopes:
        return Refusal(
            ActionNotAllowed(
                f"The access token lacks the scope {action!r}.",
                headers={
                    "WWW-Authenticate": 'Bearer realm="registry", error="insufficient_scope", '
                    f'scope="{action}"'
                },
            )
        )
    if action not in policy.actions:
        return Refusal(ActionNotAllowed(f"The agency's policy does not allow {action!r}."))
    found = purposes().get(call.purpose)
    if found is None:
        return Refusal(PurposeNotAllowed(f"Unknown purpose code {call.purpose[:64]!r}."))
    if call.purpose not in policy.purposes:
        return Refusal(
            PurposeNotAllowed(f"The agency's policy does not allow the purpose {call.purpose!r}.")
        )
    try:
        if call.pointer is None:
            check_identifier(call.identifier, pointer="", parameter="id")
        else:
            check_identifier(call.identifier, pointer=f"{call.pointer}/id_number")
        if action == "lookup":
            return _fields(call, policy, found)
        return Admitted(found, claims=_claims(call.claims or {}, f"{call.pointer}/claims"))
    except ValidationFailed as exc:
        return Refusal(exc)


def _fields(call: Call, policy: Policy, purpose: Purpose) -> Refusal | Admitted:
    wanted = wanted_fields(call.fields)
    if not wanted:
        raise ValidationFailed(
            "Name the fields you need.", errors=[FieldError("required", parameter="fields")]
        )
    outside = [f for f in wanted if f not in policy.fields]
    if outside:
        error = FieldNotAllowed(
            "The agency's policy does not allow the fields: " + ", ".join(outside) + ".",
            extensions={"fields": outside},
        )
        subject = call.identifier if len(call.identifier) == 12 else None
        return Refusal(error, "denied", subject)
    return Admitted(purpose, fields=tuple(wanted))


def _claims(claims: Mapping[str, Any], pointer: str) -> dict[str, Any]:
    try:
        return check_claims(claims)
    except InvalidClaim as exc:
        where = f"{pointer}/{exc.attribute}" if exc.attribute else pointer
        raise ValidationFailed(
            "A claimed attribute is invalid.", errors=[FieldError(exc.reason, pointer=where)]
        ) from None


def verdict(claims: Mapping[str, Any], row: Mapping[str, Any], policy: Policy) -> dict[str, Any]:
    """A granted verification's answer: the match, and per attribute when the policy says."""
    results = compare(claims, row, name_match=policy.name_match)
    # A deceased citizen never verifies (the gates let the call through).
    match = all(results.values()) and row["status"] != "deceased"
    out: dict[str, Any] = {"match": match}
    if policy.attribute_results:
        out["attributes"] = results
    return out
