"""``python -m bench [NAME [OPTIONS...]]``: run one benchmark with its options, or all of them.

Every benchmark takes ``--quick`` (minutes) and ``--tiny`` (seconds: it runs, it measures
nothing; tests/bench runs them so); ``python -m bench NAME --help`` lists its options.
"""

from __future__ import annotations

import importlib
import sys

# Benchmark name -> module under bench/ ("import" is a Python keyword, hence the module name).
BENCHES = {
    "smoke": "smoke",
    "audit": "audit",
    "import": "importing",
    "tokens": "tokens",
    "lookup": "lookup",
}


def main(argv: list[str]) -> None:
    """Run the named benchmark with the remaining arguments, or every benchmark with defaults."""
    if not argv:
        for module in BENCHES.values():
            importlib.import_module(f"bench.{module}").main([])
        return
    name, options = argv[0], argv[1:]
    if name in ("-h", "--help"):
        sys.stdout.write(f"{__doc__}\nbenchmarks: {', '.join(BENCHES)}\n")
        return
    if name not in BENCHES:
        raise SystemExit(f"unknown benchmark {name!r}; known: {', '.join(BENCHES)}")
    importlib.import_module(f"bench.{BENCHES[name]}").main(options)


if __name__ == "__main__":
    main(sys.argv[1:])
