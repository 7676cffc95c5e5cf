"""Every benchmark runs in its tiny mode (seconds) and ends with its JSON line: the benches
cannot rot. Their figures are not judged here (a tiny run measures nothing), only that each
part ran and its checks held."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

# They start servers, clusters and load generators: one at a time (free ports, but 2 cores).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("bench")]

LINE_KEYS = {"bench", "figures", "peer", "ratio", "targets"}


def run_tiny(name: str) -> dict[str, Any]:
    """``python -m bench NAME --tiny`` as `make bench` runs it; its JSON line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    done = subprocess.run(
        [sys.executable, "-m", "bench", name, "--tiny"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    line: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(line) == LINE_KEYS
    return line


def test_smoke_serves_both_apps_without_errors() -> None:
    line = run_tiny("smoke")
    assert line["bench"] == "smoke"
    assert line["figures"]["errors"] == 0
    assert line["figures"]["rps"] > 0
    assert line["peer"]["rps"] > 0
    assert line["ratio"]["rps"] > 0


def test_import_loads_every_row_and_resumes_exactly() -> None:
    line = run_tiny("import")
    figures = line["figures"]
    assert figures["rows"] > 0
    assert figures["every_row_loaded"]
    assert figures["rerun_adds_nothing"]
    assert figures["kill_then_rerun_exact"]
    assert line["peer"]["rows_per_s"] > 0
    assert set(line["targets"]["met"]) >= {"ratio", "memory_flat"}


def test_audit_logs_are_gapless_and_proofs_check() -> None:
    line = run_tiny("audit")
    figures = line["figures"]
    assert figures["scale"] == "tiny"
    assert figures["logs_gapless_one_leaf_each"]
    assert figures["sequencer_drain_events"] > 0
    assert figures["e2e_events_per_s_1_per_tx"] > 0
    assert figures["record_events_per_s_50_per_tx"] > 0
    assert any(key.startswith("proof_") for key in figures)
    assert any(key.startswith("verify_") and isinstance(v, dict) for key, v in figures.items())
    assert line["peer"]["pgbench_tps_1_insert_per_tx"] > 0
    assert set(line["targets"]) == {"sequencer_events_per_s", "verify_events_per_s", "proof_p99_ms"}


def test_tokens_flows_complete_without_errors() -> None:
    line = run_tiny("tokens")
    figures = line["figures"]
    assert figures["scale"] == "tiny"
    for flow in (
        "client_credentials",
        "client_credentials_dpop",
        "password_login",
        "passkey_login",
    ):
        assert figures[flow]["completed"] > 0, flow
        assert figures[flow]["errors"] == 0, flow
    assert figures["argon2"]["verify_cpu_ms"] > 0
    assert set(line["ratio"]) == {
        "client_credentials_per_core_vs_keycloak",
        "password_logins_per_core_vs_keycloak",
    }


def test_lookup_audits_every_answer() -> None:
    line = run_tiny("lookup")
    figures = line["figures"]
    assert figures["scale"] == "tiny"
    assert figures["lookup_peak_req_per_s"] > 0
    assert figures["verify_peak_req_per_s"] > 0
    assert figures["missing_audit_events"] == 0
    assert figures["extra_audit_events"] == 0
    assert figures["events_without_leaf"] == 0
    for kind in ("lookup_at_80pct", "verify_at_80pct"):
        assert figures[kind]["non_2xx"] == 0, kind
        assert figures[kind]["missing"] == 0, kind
    assert line["peer"]["peak_tps"] > 0
    assert set(line["ratio"]) == {
        "lookup_peak_vs_pgbench_peak",
        "verify_peak_vs_pgbench_peak",
        "cpu_bound_projection_lookup_vs_pgbench",
    }
    assert set(line["targets"]) == {"ratio", "p99_ms_at_80pct", "missing_audit_events"}
