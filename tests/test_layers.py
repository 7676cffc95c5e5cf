"""The import contracts hold on the real tree, and each one fails on an import it forbids.

The layers (registry -> identity -> audit -> core) and table ownership: no package imports
another's ``models``, ``repository`` or ``tree_repository``. The violations are made in a
copy of the packages, checked with the project's own import-linter configuration.
"""

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "audit", "identity", "registry")
CONTRACTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
    "contracts"
]
AUDIT_TABLES = "Only audit touches audit's tables (models, repository, tree_repository)"
IDENTITY_TABLES = "Only identity touches identity's tables (models, repository)"
REGISTRY_TABLES = "Only registry touches registry's tables (models, repositories)"

# (contract, the module that breaks it, its one import, the forbidden module it reaches);
# each breaking module is written into the copy under its own name.
VIOLATIONS = [
    (
        AUDIT_TABLES,
        "registry.portal.sneaky1",
        "from audit.models import AuditEvent",
        "audit.models",
    ),
    (AUDIT_TABLES, "identity.sneaky2", "from audit import repository", "audit.repository"),
    (AUDIT_TABLES, "registry.sneaky3", "import audit.tree_repository", "audit.tree_repository"),
    (
        IDENTITY_TABLES,
        "registry.portal.sneaky4",
        "from identity.models import Client",
        "identity.models",
    ),
    (IDENTITY_TABLES, "registry.sneaky5", "from identity import repository", "identity.repository"),
    (
        IDENTITY_TABLES,
        "registry.portal.sneaky5b",
        "from identity import staff_repository",
        "identity.staff_repository",
    ),
    (REGISTRY_TABLES, "identity.sneaky6", "from registry.models import Citizen", "registry.models"),
    (REGISTRY_TABLES, "audit.sneaky7", "from registry import repository", "registry.repository"),
    (
        REGISTRY_TABLES,
        "identity.oidc.sneaky8",
        "from registry.portal import models",
        "registry.portal.models",
    ),
    (
        REGISTRY_TABLES,
        "core.sneaky9",
        "import registry.agency.repository",
        "registry.agency.repository",
    ),
]
UPWARD = ("core.upward", "from registry import app", "registry.app")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    lint = Path(sys.executable).parent / "lint-imports"
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [str(lint), "--config", str(cwd / "pyproject.toml"), "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def broken_tree(tmp_path_factory: pytest.TempPathFactory) -> str:
    """import-linter's report on a copy of the packages with every violation above added
    (one run: each contract's report lists the imports it caught)."""
    copy = tmp_path_factory.mktemp("tree")
    skip = shutil.ignore_patterns("__pycache__", "*.so", "static", "templates", "data")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, copy / package, ignore=skip)
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    for module, source in [UPWARD[:2], *((v[1], v[2]) for v in VIOLATIONS)]:
        copy.joinpath(*module.split(".")).with_suffix(".py").write_text(source + "\n")
    result = lint_imports(copy)
    assert result.returncode != 0, result.stdout + result.stderr
    return result.stdout


def section(output: str, contract: str) -> str:
    """The report of one broken contract (up to the next contract's heading)."""
    start = output.index(contract, output.index("Broken contracts"))
    end = min(
        (i for c in CONTRACTS if (i := output.find(c["name"], start + len(contract))) != -1),
        default=len(output),
    )
    return output[start:end]


def test_the_real_tree_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(CONTRACTS)} kept, 0 broken" in result.stdout


def test_every_forbidden_module_has_a_violation_here() -> None:
    forbidden = {
        (c["name"], m)
        for c in CONTRACTS
        if c["type"] == "forbidden"
        for m in c["forbidden_modules"]
    }
    covered = set()
    for contract, _, _, target in VIOLATIONS:
        parts = target.split(".")
        for name, pattern in forbidden:
            wanted = pattern.split(".")
            if (
                name == contract
                and len(wanted) == len(parts)
                and all(w in ("*", p) for w, p in zip(wanted, parts, strict=True))
            ):
                covered.add((name, pattern))
    assert covered == forbidden


def test_an_upward_import_breaks_the_layers(broken_tree: str) -> None:
    module, _, target = UPWARD
    assert f"{CONTRACTS[0]['name']} BROKEN" in broken_tree
    assert f"{module} -> {target}" in section(broken_tree, CONTRACTS[0]["name"])


@pytest.mark.parametrize(("contract", "module", "source", "target"), VIOLATIONS)
def test_a_package_reaching_into_another_s_tables_breaks_its_contract(
    broken_tree: str, contract: str, module: str, source: str, target: str
) -> None:
    assert f"{contract} BROKEN" in broken_tree
    assert f"{module} -> {target}" in section(broken_tree, contract)
