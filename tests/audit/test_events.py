"""Canonical event bytes are RFC 8785 (checked against the rfc8785 package) and stable."""

from datetime import UTC, datetime, timedelta, timezone
from typing import Literal

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.events import EventData, canonical_json, encode_detail, encode_fields, leaf_bytes

# Text as it reaches the log: any Unicode scalar value (no lone surrogates).
SURROGATES: list[Literal["Cs"]] = ["Cs"]
texts = st.text(st.characters(exclude_categories=SURROGATES), max_size=40)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | texts,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.from_regex(r"[a-z_]{1,12}", fullmatch=True), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_fast_canonical_json_is_rfc8785(value: object) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(
    uid=st.uuids().map(str),
    actor=texts,
    subject=st.none() | st.from_regex(r"[0-9]{12}", fullmatch=True),
    request_id=st.none() | texts,
    fields=st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True), max_size=5),
    detail=st.none()
    | st.dictionaries(
        st.from_regex(r"[a-z]{1,8}", fullmatch=True),
        st.none() | st.integers(-(2**53) + 1, 2**53 - 1) | texts,
        max_size=3,
    ),
    micros=st.integers(0, 10**15),
    index=st.integers(0, 2**40),
)
def test_leaf_bytes_are_rfc8785_of_the_event(
    uid: str,
    actor: str,
    subject: str | None,
    request_id: str | None,
    fields: list[str],
    detail: dict[str, object] | None,
    micros: int,
    index: int,
) -> None:
    when = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    event = EventData(
        event_uid=uid,
        occurred_at=when,
        actor_type="agency",
        actor_id=actor,
        on_behalf_of=None,
        subject=subject,
        action="citizen.lookup",
        fields=encode_fields(fields),
        purpose="kyc",
        outcome="granted",
        request_id=request_id,
        detail=encode_detail(detail),  # type: ignore[arg-type]
    )
    expected = rfc8785.dumps(
        {
            "v": 1,
            "leaf_index": index,
            "event_uid": uid,
            "occurred_at": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "actor": {"type": "agency", "id": actor, "on_behalf_of": None},
            "subject": subject,
            "action": "citizen.lookup",
            "fields": sorted(set(fields)),
            "purpose": "kyc",
            "outcome": "granted",
            "request_id": request_id,
            "detail": detail,  # type: ignore[dict-item]
        }
    )
    assert leaf_bytes(event, index) == expected


def test_the_instant_is_spelled_in_utc_whatever_the_zone() -> None:
    hanoi = timezone(timedelta(hours=7))
    base = dict(
        event_uid="u",
        actor_type="agency",
        actor_id="a",
        on_behalf_of=None,
        subject=None,
        action="x",
        fields="[]",
        purpose=None,
        outcome="granted",
        request_id=None,
        detail=None,
    )
    utc = EventData(occurred_at=datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC), **base)  # type: ignore[arg-type]
    local = EventData(occurred_at=datetime(2026, 1, 2, 10, 4, 5, 6, tzinfo=hanoi), **base)  # type: ignore[arg-type]
    assert leaf_bytes(utc, 0) == leaf_bytes(local, 0)
    assert b'"occurred_at":"2026-01-02T03:04:05.000006Z"' in leaf_bytes(utc, 0)


def test_integers_beyond_the_exact_json_range_are_refused() -> None:
    import pytest

    from audit.events import InvalidEvent

    assert encode_detail({"count": 2**53 - 1}) == '{"count":9007199254740991}'
    with pytest.raises(InvalidEvent, match="exact JSON integer range"):
        encode_detail({"count": 2**53})


def test_event_uids_are_random_uuids_in_their_text_form() -> None:
    import uuid

    from audit.recording import new_event_uid

    seen = {new_event_uid() for _ in range(2000)}
    assert len(seen) == 2000
    for text in seen:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)
