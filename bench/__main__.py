"""``python -m bench [NAME ...]``: run the named benchmarks, or all of them."""

from __future__ import annotations

import importlib
import sys

ALL = ["smoke"]


def main(argv: list[str]) -> None:
    """Run each benchmark module's ``main()`` in order."""
    for name in argv or ALL:
        if name not in ALL:
            raise SystemExit(f"unknown benchmark {name!r}; known: {', '.join(ALL)}")
        importlib.import_module(f"bench.{name}").main()


if __name__ == "__main__":
    main(sys.argv[1:])
