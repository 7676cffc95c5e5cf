"""The Principal: who is calling. Apart from core.auth (the web's side of authentication) so
that what records actions without serving requests (the audit log, `registry import`) does not
import the web framework, which is slow to import (docs/performance.md, "Import times")."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

ActorType = Literal["agency", "citizen", "official", "auditor", "administrator", "system"]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: what kind of actor, which one, and what it may do."""

    actor_type: ActorType
    actor_id: str
    roles: frozenset[str] = field(default_factory=frozenset)
    scopes: frozenset[str] = field(default_factory=frozenset)
    # The official acting inside an agency, when the agency tells us (for the audit trail).
    on_behalf_of: str | None = None
    # How the caller authenticated (RFC 8176 amr values, e.g. "pwd", "hwk").
    auth_methods: tuple[str, ...] = ()

    def has_any_role(self, roles: Iterable[str]) -> bool:
        """True when the principal holds at least one of ``roles``."""
        return not self.roles.isdisjoint(roles)
