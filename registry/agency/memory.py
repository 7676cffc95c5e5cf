"""What the agency API keeps between requests, in one object made by the composition root
(registry/app.py, ``app.state.agency_memory``), one per app:

- the policy each active agency was last seen with (as stored and as parsed), by which the
  grouped statement judges a call (registry/agency/grouped.py); at most ``POLICIES_MAX``
  agencies, forgotten all at once when full; an entry lives until the agency is seen with
  another policy (its statement checks that the stored policy is still this one);
- rate-limit leases: tokens a worker took at once from a fast agency's shared bucket and hands
  out from memory, each for at most ``LEASE_SECONDS`` (registry/agency/service.py
  ``rate_limit``), with one lock per agency so that concurrent calls wait for one lease; at most
  ``LEASES_MAX`` agencies, forgotten all at once when full (a forgotten lease's tokens are
  lost: a worker only ever refuses early, never late).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from registry.agency.policy import Policy

POLICIES_MAX = 10_000
LEASES_MAX = 10_000
LEASE_MAX = 64
LEASE_SECONDS = 0.25


@dataclass
class _Lease:
    tokens: int
    until: float


class AgencyMemory:
    """Policies seen and rate-limit leases of one app (see the module's docstring)."""

    def __init__(self) -> None:
        self._policies: dict[str, tuple[str, Policy]] = {}
        self._leases: dict[tuple[str, str], _Lease] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    def saw_policy(self, client_id: str, stored: str, policy: Policy) -> None:
        """Remember the policy an active agency was seen with."""
        if len(self._policies) >= POLICIES_MAX and client_id not in self._policies:
            self._policies.clear()
        self._policies[client_id] = (stored, policy)

    def policy(self, client_id: str) -> tuple[str, Policy] | None:
        """The stored text and parsed form of the policy this agency was last seen with."""
        return self._policies.get(client_id)

    def from_lease(self, key: tuple[str, str]) -> bool:
        """Take one token of this agency's lease, when it has one left in time."""
        lease = self._leases.get(key)
        if lease is not None and lease.tokens > 0 and time.monotonic() < lease.until:
            lease.tokens -= 1
            return True
        return False

    def lease(self, key: tuple[str, str], tokens: int) -> None:
        """Keep ``tokens`` taken from the bucket, for LEASE_SECONDS."""
        if len(self._leases) >= LEASES_MAX and key not in self._leases:
            self._leases.clear()
        self._leases[key] = _Lease(tokens=tokens, until=time.monotonic() + LEASE_SECONDS)

    def lock(self, key: tuple[str, str]) -> asyncio.Lock:
        """The lock under which this agency's calls in this process take a lease."""
        found = self._locks.get(key)
        if found is None:
            if len(self._locks) >= LEASES_MAX:
                self._locks.clear()
            found = self._locks[key] = asyncio.Lock()
        return found


def lease_size(policy: Policy) -> int:
    """Tokens a worker takes at once: what the agency may use in 1/20 s, within the burst."""
    return max(1, min(LEASE_MAX, policy.burst // 8, int(policy.rate_per_second / 20)))
