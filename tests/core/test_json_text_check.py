"""``refused_in_json_text`` skips the walk of a document only when its text cannot hold a refused
character: it must give what ``refused_in_json`` gives for every text json.loads reads."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.inputs import refused_in_json, refused_in_json_text

REFUSED = [
    *(chr(c) for c in range(0x20) if chr(c) not in "\t\n\r"),
    *(chr(c) for c in range(0x7F, 0xA0)),
    *(chr(c) for c in (0xD800, 0xDABC, 0xDBFF, 0xDC00, 0xDEAD, 0xDFFF)),  # lone surrogates
]
ENCODINGS = ["utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"]


def texts(document: object) -> Iterator[bytes]:
    """The document as JSON in every form json.loads reads: escaped or raw, in every encoding."""
    for ensure_ascii in (True, False):
        dumped = json.dumps(document, ensure_ascii=ensure_ascii)
        for encoding in ENCODINGS:
            yield dumped.encode(encoding, "surrogatepass")
        yield b"\xef\xbb\xbf" + dumped.encode("utf-8", "surrogatepass")


def same(text: bytes) -> object:
    document = json.loads(text)
    expected = refused_in_json(document)
    assert refused_in_json_text(text, document) == expected
    return expected


@pytest.mark.parametrize("character", REFUSED, ids=lambda c: f"U+{ord(c):04X}")
def test_every_refused_character_is_found_in_every_form(character: str) -> None:
    for document in ({"id": "0123" + character}, {"a" + character: 1}, [["x", character]]):
        for text in texts(document):
            assert same(text) is not None


@settings(max_examples=400, deadline=None)
@given(
    document=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
        max_leaves=6,
    )
)
def test_any_document_in_any_form_gets_the_same_verdict(document: object) -> None:
    for text in texts(document):
        same(text)


def test_plain_text_is_not_walked() -> None:
    text = b'{"id_number":"001099012345","claims":{"full_name":"Tr\xe1\xba\xa7n V\xc4\x83n"}}'
    assert refused_in_json_text(text, object()) is None  # the document is never looked at
