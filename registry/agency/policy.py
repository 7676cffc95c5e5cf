"""Agency policies and purpose codes: what each agency may ask, for which purposes, how often.

A policy is stored on the agency's OAuth client (identity keeps it as opaque JSON); its meaning
lives here, next to the record fields it names.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from functools import cache, lru_cache
from importlib import resources
from typing import Any, Literal

from core.errors import FieldError, ValidationFailed
from registry.schemas import RECORD_FIELDS

Action = Literal["verify", "verify_batch", "lookup"]
ACTIONS: tuple[Action, ...] = ("verify", "verify_batch", "lookup")
NameMatch = Literal["exact", "folded"]
# What a verification may compare (claimed attributes).
VERIFY_ATTRIBUTES = ("full_name", "birth_date", "gender", "nationality", "card_number")
# What a lookup may release: the record's fields, never the internal version or timestamps.
LOOKUP_FIELDS = tuple(f for f in RECORD_FIELDS if f != "version")


@dataclass(frozen=True)
class Purpose:
    """A purpose code from the bundled list (registry/data/purposes.csv)."""

    code: str
    name_vi: str
    name_en: str
    # Statutory purposes (investigation, court order, emergency care, electoral roll) still see
    # a citizen who locked their electronic identity.
    overrides_lock: bool
    # Purposes that concern the deceased (inheritance, pensions, tax, health insurance).
    deceased_allowed: bool


@cache
def purposes() -> Mapping[str, Purpose]:
    """The purpose codes agencies must state."""
    text = resources.files("registry").joinpath("data/purposes.csv").read_text("utf-8")
    out: dict[str, Purpose] = {}
    for row in csv.DictReader(text.splitlines()):
        out[row["code"]] = Purpose(
            code=row["code"],
            name_vi=row["name_vi"],
            name_en=row["name_en"],
            overrides_lock=row["overrides_lock"] == "1",
            deceased_allowed=row["deceased_allowed"] == "1",
        )
    return out


@dataclass(frozen=True)
class Policy:
    """What one agency may do. The default is nothing at all."""

    actions: tuple[Action, ...] = ()
    fields: tuple[str, ...] = ()
    purposes: tuple[str, ...] = ()
    # Per-attribute verification results (otherwise only the overall yes/no).
    attribute_results: bool = False
    # Name rule of verification: exact after normalisation, or folded (case and diacritics).
    name_match: NameMatch = "exact"
    rate_per_second: float = 10.0
    burst: int = 20
    batch_max: int = 1000
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """The stored form."""
        data = asdict(self)
        data.pop("extra")
        return json.dumps(data, sort_keys=True)


@lru_cache(maxsize=4096)
def stored_policy(raw: str | None) -> Policy:
    """The policy stored with a client, parsed once per process (every agency request reads
    it; a changed policy is a different string)."""
    return parse_policy(raw)


def parse_policy(raw: Mapping[str, Any] | str | None) -> Policy:
    """Validate a policy given by an official (or stored); ValidationFailed names each problem."""
    if raw is None:
        return Policy()
    data: Any = json.loads(raw) if isinstance(raw, str) else dict(raw)
    if not isinstance(data, dict):
        raise ValidationFailed("A policy is a JSON object.")
    problems: list[FieldError] = []

    def strings(name: str, allowed: Iterable[str]) -> tuple[str, ...]:
        value = data.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            problems.append(FieldError("must be an array of strings", pointer=f"#/{name}"))
            return ()
        allowed_set = set(allowed)
        for index, item in enumerate(value):
            if item not in allowed_set:
                problems.append(FieldError(f"unknown value {item!r}", pointer=f"#/{name}/{index}"))
        return tuple(dict.fromkeys(v for v in value if v in allowed_set))

    actions = strings("actions", ACTIONS)
    fields = strings("fields", LOOKUP_FIELDS)
    purpose_codes = strings("purposes", purposes())
    attribute_results = data.get("attribute_results", False)
    if not isinstance(attribute_results, bool):
        problems.append(FieldError("must be true or false", pointer="#/attribute_results"))
    name_match = data.get("name_match", "exact")
    if name_match not in ("exact", "folded"):
        problems.append(FieldError("must be exact or folded", pointer="#/name_match"))
    rate = data.get("rate_per_second", 10.0)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate <= 100_000:
        problems.append(FieldError("must be a number in (0, 100000]", pointer="#/rate_per_second"))
    burst = data.get("burst", 20)
    if isinstance(burst, bool) or not isinstance(burst, int) or not 1 <= burst <= 1_000_000:
        problems.append(FieldError("must be an integer in [1, 1000000]", pointer="#/burst"))
    batch_max = data.get("batch_max", 1000)
    if isinstance(batch_max, bool) or not isinstance(batch_max, int) or not 1 <= batch_max <= 1000:
        problems.append(FieldError("must be an integer in [1, 1000]", pointer="#/batch_max"))
    unknown = sorted(
        set(data)
        - {
            "actions",
            "fields",
            "purposes",
            "attribute_results",
            "name_match",
            "rate_per_second",
            "burst",
            "batch_max",
        }
    )
    for name in unknown:
        problems.append(FieldError("is not a policy member", pointer=f"#/{name}"))
    if problems:
        raise ValidationFailed("The agency policy is invalid.", errors=problems)
    return Policy(
        actions=actions,  # type: ignore[arg-type]
        fields=fields,
        purposes=purpose_codes,
        attribute_results=bool(attribute_results),
        name_match=name_match,
        rate_per_second=float(rate),
        burst=int(burst),
        batch_max=int(batch_max),
    )
