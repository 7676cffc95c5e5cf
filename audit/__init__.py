"""Append-only access log with an RFC 9162 Merkle tree.

``audit.record(session, actor=..., action=..., outcome=..., ...)`` is the one call every door
to personal data makes, inside its own unit of work.
"""

from audit.recording import record

__all__ = ["record"]
