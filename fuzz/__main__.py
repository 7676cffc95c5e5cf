"""``python -m fuzz [TARGET] [--seconds N]``: run each target under atheris (libFuzzer)."""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

TARGET_NAMES = (
    "checkpoint_note",
    "request_id",
    "inclusion_proof",
    "import_row",
    "idnumber",
    "person_name",
    "import_csv_chunk",
    "jose_decode",
    "jose_header",
    "jwk_set",
    "oidc_scope_and_claims",
    "oidc_sealed_request",
    "oidc_basic_credentials",
    "oidc_dpop_proof",
)


def _run_one(name: str) -> None:
    import atheris

    # Instrument our own packages for coverage as the targets import them.
    with atheris.instrument_imports(include=["audit", "core", "identity", "registry"]):
        from fuzz.targets import TARGETS
    atheris.Setup(sys.argv, TARGETS[name])
    atheris.Fuzz()


def main() -> None:
    """Fuzz each target for a bounded time in its own process; fail on the first crash."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("target", nargs="?", choices=TARGET_NAMES)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.child:
        sys.argv = [sys.argv[0], *rest]
        _run_one(args.target)
        return
    from fuzz.targets import TARGETS, seeds

    assert set(TARGETS) == set(TARGET_NAMES), "keep TARGET_NAMES in step with fuzz/targets.py"  # noqa: S101
    failed = []
    for name in [args.target] if args.target else TARGET_NAMES:
        with tempfile.TemporaryDirectory() as corpus:
            for i, seed in enumerate(seeds()[name]):
                Path(corpus, f"seed{i}").write_bytes(seed)
            print(f"fuzz: {name} for {args.seconds} s")
            code = subprocess.call(  # noqa: S603
                [sys.executable, "-m", "fuzz", name, "--child",
                 f"-max_total_time={args.seconds}", "-rss_limit_mb=2048", corpus]
            )  # fmt: skip
            if code != 0:
                failed.append(name)
    if failed:
        raise SystemExit(f"fuzz: crashes in {', '.join(failed)}")


if __name__ == "__main__":
    main()
