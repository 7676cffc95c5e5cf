"""OAuth 2.0 errors, rendered as RFC 6749 5.2 bodies (never problem+json on OAuth endpoints)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass
class OAuthError(Exception):
    """An OAuth/OIDC error code with a human description (RFC 6749 4.1.2.1, 5.2)."""

    error: str
    description: str = ""
    status: int = 400
    headers: Mapping[str, str] = field(default_factory=dict)
    # The unit of work commits before answering (e.g. a reused code revoked its grant): the
    # same flag, and name, as RegistryError's.
    commit_unit_of_work: bool = False

    def __post_init__(self) -> None:
        super().__init__(f"{self.error}: {self.description}")

    def body(self) -> dict[str, str]:
        """The JSON error body."""
        out = {"error": self.error}
        if self.description:
            out["error_description"] = self.description
        return out


def invalid_client(description: str, *, basic: bool = False) -> OAuthError:
    """RFC 6749 5.2: 401 with WWW-Authenticate when the client tried HTTP Basic."""
    headers = {"WWW-Authenticate": 'Basic realm="registry"'} if basic else {}
    return OAuthError("invalid_client", description, status=401, headers=headers)
