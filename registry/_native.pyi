"""Bulk import's row check (registry/_native.c)."""

from collections.abc import Callable, Sequence

# What its checks are written against: column orders, code lists, limits (see the C file).
ASSUMES: dict[str, object]

def copy_rows(
    data: bytes,
    tables: bytes,
    today: int,
    first_year: int,
    tail: bytes,
    judge: Callable[[int, bytes], bytes | None],
    max_line: int,
    /,
) -> tuple[bytes, bytes, bytes, bytes, int] | None:
    """COPY lines of a CSV chunk's rows; rows not certainly valid go to ``judge``."""

def sort_lines(parts: Sequence[bytes], /) -> bytes:
    """The lines of ``parts`` in the order of their first 12 bytes, ties in the order given."""

def binary_copy(text: bytes, kinds: bytes, /) -> bytes:
    """COPY text-format lines as COPY binary-format tuples (no header or trailer); ``kinds``:
    one letter per column, t text, d date, i int4, l int8."""

def sorted_binary(parts: Sequence[bytes], kinds: bytes, /) -> bytes:
    """binary_copy(sort_lines(parts), kinds) in one pass."""
