"""Generated populations as import files: CSV with a header, or NDJSON."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Literal

from registry.record import COLUMNS
from registry.synthetic.generator import generate

__all__ = ["Format", "write"]

Format = Literal["csv", "ndjson"]


def write(n: int, *, seed: int, path: str | os.PathLike[str], fmt: Format) -> int:
    """Write ``generate(n, seed=seed)`` to ``path`` as CSV (with a header) or NDJSON; the row count.

    The file appears complete or not at all: rows go to ``<path>.partial``, renamed at the end.
    """
    if fmt not in ("csv", "ndjson"):
        raise ValueError("fmt must be 'csv' or 'ndjson'")
    rows = generate(n, seed=seed)
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    count = 0
    try:
        with partial.open("w", encoding="utf-8", newline="", buffering=1 << 20) as out:
            if fmt == "csv":
                writer = csv.writer(out)
                writer.writerow(COLUMNS)
                for row in rows:
                    writer.writerow(list(row.values()))  # a list is faster than a view
                    count += 1
            else:
                encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
                for row in rows:
                    out.write(encode(row) + "\n")
                    count += 1
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return count
