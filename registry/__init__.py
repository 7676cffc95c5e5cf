"""Citizen registry domain, agency API, and the composition root (app factory, CLI)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("national-registry")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
