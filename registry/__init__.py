"""Citizen registry domain, agency API, and the composition root (app factory, CLI)."""

from __future__ import annotations

from functools import cache


@cache
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("national-registry")
    except PackageNotFoundError:  # running from a source tree that was not installed
        return "0.0.0+source"


def __getattr__(name: str) -> str:
    """``__version__``, read from the installed package's metadata when first asked for:
    importlib.metadata would cost every command, the import's workers and its first COPY
    (docs/performance.md, "Import times")."""
    if name == "__version__":
        return _version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
