"""The answers of the agency API as the OpenAPI document states them.

The routes send the service's dictionaries as they are; these models only describe them
(``extra="forbid"``: a member the document does not name is a defect), and
tests/registry/test_openapi.py checks the answers against them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from core.openapi import ProblemFieldError
from registry.agency.policy import LOOKUP_FIELDS, VERIFY_ATTRIBUTES


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Attributes(_Answer):
    """Per-attribute results, for the claimed attributes only (when the policy allows)."""

    full_name: bool | None = None
    birth_date: bool | None = None
    gender: bool | None = None
    nationality: bool | None = None
    card_number: bool | None = None


assert set(Attributes.model_fields) == set(VERIFY_ATTRIBUTES)  # noqa: S101 - import-time check


class VerifyAnswer(_Answer):
    """Whether the claims match the record; nothing else unless the policy allows it."""

    match: bool
    attributes: Attributes | None = None
    event_id: str = Field(description="The audit event that recorded this verification.")


class ItemError(_Answer):
    """Why one item of a batch was not verified."""

    code: str
    detail: str
    errors: list[ProblemFieldError] | None = None


class BatchResult(_Answer):
    """One item's result: a verdict, or an error."""

    index: int
    match: bool | None = None
    attributes: Attributes | None = None
    error: ItemError | None = None


class BatchAnswer(_Answer):
    """The results in request order."""

    purpose: str
    results: list[BatchResult]


# Each field a policy may release, as released (dates ISO 8601; a birth date as precise as known).
LookupCitizen: type[BaseModel] = create_model(
    "LookupCitizen",
    __config__=ConfigDict(extra="forbid"),
    **{name: (str | None, None) for name in LOOKUP_FIELDS},  # type: ignore[call-overload]
)


class LookupAnswer(_Answer):
    """Exactly the requested fields."""

    citizen: LookupCitizen
    purpose: str
    event_id: str = Field(description="The audit event that recorded this lookup.")


class PurposeView(_Answer):
    """A purpose code and what it may see."""

    code: str
    name_vi: str
    name_en: str
    overrides_lock: bool
    deceased_allowed: bool


class AliasView(_Answer):
    """An alias as its owner sees it."""

    alias: str
    label: str | None
    created_at: str | None
    expires_at: str | None
    revoked_at: str | None
    active: bool


class PolicyView(_Answer):
    """An agency policy as stored."""

    actions: list[Literal["verify", "verify_batch", "lookup"]]
    fields: list[str]
    purposes: list[str]
    attribute_results: bool
    name_match: Literal["exact", "folded"]
    rate_per_second: float
    burst: int
    batch_max: int
