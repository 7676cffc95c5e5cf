"""Structured JSON logs that carry the request id and never personal data or secrets.

Only the message (a fixed event name) and the explicit ``fields`` mapping are written. Exception
messages are dropped (they can quote input); the exception type and code locations are kept.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from contextvars import ContextVar
from typing import Any

from core.clock import utcnow

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

_SAFE_SCALARS = (str, int, float, bool, type(None))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, event, request_id, fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": utcnow().isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            # The message template only: arguments are never interpolated, since a third-party
            # logger may pass anything (a URL with an ID number, a row) as an argument.
            "event": record.msg if isinstance(record.msg, str) else type(record.msg).__name__,
        }
        # Set explicitly on records that may be formatted after the request ended.
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry["fields"] = {
                str(k): v if isinstance(v, _SAFE_SCALARS) else repr(type(v).__name__)
                for k, v in fields.items()
            }
        if record.exc_info and record.exc_info[0] is not None:
            exc_type, _exc, tb = record.exc_info
            entry["exc"] = {
                "type": f"{exc_type.__module__}.{exc_type.__qualname__}",
                "frames": [
                    f"{frame.filename}:{frame.lineno}:{frame.name}"
                    for frame in traceback.extract_tb(tb)[-12:]
                ],
            }
        return json.dumps(entry, ensure_ascii=False, separators=(",", ":"))


def configure_logging(level: str = "INFO") -> None:
    """Send every logger through one JSON handler on stderr; silence raw access logs."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # Uvicorn's access log writes raw paths and query strings, which may hold ID numbers.
    access = logging.getLogger("uvicorn.access")
    access.handlers[:] = []
    access.propagate = False
    access.disabled = True


def get_logger(name: str) -> logging.Logger:
    """A logger whose records should be written as ``log.info("event.name", extra=fields(...))``."""
    return logging.getLogger(name)


def fields(**values: str | int | float | bool | None) -> dict[str, Any]:
    """Structured, non-personal fields for one log record (with the current request id)."""
    return {"fields": values, "request_id": request_id_var.get()}
