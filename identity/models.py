"""Tables of the electronic identity: accounts, credentials, sessions, the OIDC provider's state.

Every secret that a client or browser presents (session cookie, authorization code, refresh token,
activation code, client secret) is stored only as its SHA-256, so a copy of the database gives
nobody a usable credential. Signing keys are stored encrypted with the key-encryption key.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TextClause,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.models import Base, UTCDateTime, code

ACCOUNT_KINDS = ("citizen", "staff")
ACCOUNT_STATUSES = ("active", "locked", "closed")
STAFF_ROLES = ("official", "auditor", "administrator")
CLIENT_TYPES = ("rp", "agency")
CLIENT_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")
KEY_ALGS = ("RS256", "ES256")
# standard: the OIDC code flow as the provider has always run it; fapi2: the FAPI 2.0 Security
# Profile (pushed requests, DPoP-bound tokens, private_key_jwt with PS256/ES256).
CLIENT_PROFILES = ("standard", "fapi2")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _now() -> TextClause:
    return text("CURRENT_TIMESTAMP")


class Account(Base):
    """A citizen's electronic identity (one per citizen record) or a staff member's account."""

    __tablename__ = "account"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # uuid4
    kind: Mapped[str] = mapped_column(String(8))
    # Citizens: the personal ID number (one account per record). Staff: NULL.
    citizen_id: Mapped[str | None] = mapped_column(code(12), unique=True)
    # Staff: the sign-in name. Citizens sign in with their ID number.
    username: Mapped[str | None] = mapped_column(String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(100))
    # Staff: the office they work in, as citizens read it in their access log.
    office: Mapped[str | None] = mapped_column(String(200))
    roles: Mapped[str] = mapped_column(String(100), default="")  # space-separated staff roles
    # Enrolment level: 1 = declared data matched the registry, 2 = verified in person.
    level: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(8), default="active")
    password_hash: Mapped[str | None] = mapped_column(String(200))
    # Staff must register a passkey after their first password sign-in.
    passkey_required: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    # Backoff after failures: no password attempt is checked before this instant.
    throttled_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why the account is locked: "citizen" (self-service), "failures", "official"; closed: "death".
    lock_reason: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=_now())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=_now())

    __table_args__ = (
        CheckConstraint(_in("kind", ACCOUNT_KINDS), name="kind"),
        CheckConstraint(_in("status", ACCOUNT_STATUSES), name="status"),
        CheckConstraint("level IN (1, 2)", name="level"),
        CheckConstraint(
            "(kind = 'citizen' AND citizen_id IS NOT NULL AND username IS NULL) OR "
            "(kind = 'staff' AND citizen_id IS NULL AND username IS NOT NULL)",
            name="kind_key",
        ),
    )


class Passkey(Base):
    """One WebAuthn credential of an account (several per account, each with a name)."""

    __tablename__ = "passkey"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(36), ForeignKey("account.id"), index=True)
    credential_id: Mapped[bytes] = mapped_column(LargeBinary(1023), unique=True)
    # fido2 AttestedCredentialData bytes (AAGUID, credential id, COSE public key).
    credential_data: Mapped[bytes] = mapped_column(LargeBinary)
    # The WebAuthn user handle given at registration (discoverable login finds the account by it).
    user_handle: Mapped[bytes] = mapped_column(LargeBinary(64))
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(64))
    transports: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=_now())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebAuthnChallenge(Base):
    """Server-side state of one WebAuthn ceremony (registration or sign-in), single use."""

    __tablename__ = "webauthn_challenge"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the handle
    # register | authenticate | proof (a verified assertion kept for one form: recovery, unlock)
    purpose: Mapped[str] = mapped_column(String(12))
    account_id: Mapped[str | None] = mapped_column(String(36), ForeignKey("account.id"))
    state: Mapped[str] = mapped_column(Text)  # JSON of fido2's state
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint(_in("purpose", ("register", "authenticate", "proof")), name="purpose"),
    )


class LoginSession(Base):
    """A browser's sign-in at the provider (the SSO session), found by the SHA-256 of its cookie."""

    __tablename__ = "login_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 hex of the cookie
    # Public handle of the session (OIDC sid claim, logout); not a credential.
    sid: Mapped[str] = mapped_column(String(36), unique=True)
    account_id: Mapped[str] = mapped_column(String(36), ForeignKey("account.id"), index=True)
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime)
    amr: Mapped[str] = mapped_column(String(40))  # space-separated RFC 8176 values
    acr: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=_now())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)  # absolute timeout
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Where the sign-in came from, for the citizen's list of devices and sessions.
    user_agent: Mapped[str | None] = mapped_column(String(256))
    ip: Mapped[str | None] = mapped_column(String(45))


class LoginThrottle(Base):
    """Failed sign-ins per client address in the current one-minute window."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)  # "ip:" + address
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(Integer, default=0)


class ActivationCode(Base):
    """An in-person activation code (enrolment level 2): single use, short-lived."""

    __tablename__ = "activation_code"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    citizen_id: Mapped[str] = mapped_column(code(12), index=True)
    issued_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=_now())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StaffEnrolmentCode(Base):
    """A staff member's enrolment code (an administrator's reset, handed over in person): one
    per account, a new reset replaces it; single use, short-lived, a few attempts."""

    __tablename__ = "staff_enrolment_code"

    account_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("account.id", ondelete="CASCADE"), primary_key=True
    )
    code_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 hex of the canonical code
    issued_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=_now())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)


class Client(Base):
    """An OAuth client: a relying party (citizen sign-in) or an agency (client_credentials)."""

    __tablename__ = "oauth_client"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(8))
    secret_hash: Mapped[str | None] = mapped_column(String(64))  # SHA-256 hex
    auth_method: Mapped[str] = mapped_column(String(24), default="client_secret_basic")
    jwks: Mapped[str | None] = mapped_column(Text)  # JSON JWK Set, for private_key_jwt
    redirect_uris: Mapped[str] = mapped_column(Text, default="[]")  # JSON array, exact match
    post_logout_redirect_uris: Mapped[str] = mapped_column(Text, default="[]")
    scopes: Mapped[str] = mapped_column(Text, default="openid")  # space-separated, allowed
    # Pairwise sub (OIDC Core 8.1): clients of one sector see the same sub.
    sector_identifier: Mapped[str] = mapped_column(String(200))
    id_token_alg: Mapped[str] = mapped_column(String(8), default="RS256")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # First-party clients (the registry's own portal) skip the consent page.
    first_party: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=_now())
    profile: Mapped[str] = mapped_column(String(8), default="standard", server_default="standard")
    # RFC 9126 6: the client sends its authorization requests only by PAR.
    require_par: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # RFC 9449 5.2 dpop_bound_access_tokens: every token request carries a DPoP proof.
    dpop_bound: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    __table_args__ = (
        CheckConstraint(_in("profile", CLIENT_PROFILES), name="profile"),
        CheckConstraint(_in("type", CLIENT_TYPES), name="type"),
        CheckConstraint(_in("auth_method", CLIENT_AUTH_METHODS), name="auth_method"),
        CheckConstraint(_in("id_token_alg", KEY_ALGS), name="id_token_alg"),
    )


class SigningKey(Base):
    """An OIDC signing key; the private key is encrypted with the key-encryption key."""

    __tablename__ = "signing_key"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)  # RFC 7638 thumbprint
    alg: Mapped[str] = mapped_column(String(8))
    private_key: Mapped[bytes] = mapped_column(LargeBinary)  # AES-256-GCM(nonce || ct) of PKCS#8
    public_jwk: Mapped[str] = mapped_column(Text)  # JSON
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=_now())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Retired keys stay in the JWKS until every token they signed has expired.
    publish_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (CheckConstraint(_in("alg", KEY_ALGS), name="alg"),)


class Grant(Base):
    """What a citizen granted one client in one authorization (the refresh-token family)."""

    __tablename__ = "oauth_grant"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), ForeignKey("oauth_client.client_id"))
    account_id: Mapped[str] = mapped_column(String(36), ForeignKey("account.id"), index=True)
    session_sid: Mapped[str | None] = mapped_column(String(36))
    scope: Mapped[str] = mapped_column(Text)
    claims: Mapped[str | None] = mapped_column(Text)  # JSON claims request (OIDC Core 5.5)
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime)
    acr: Mapped[str] = mapped_column(String(80))
    amr: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=_now())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # RFC 9449 6.1 and 10: the thumbprint of the DPoP key the grant's tokens are bound to.
    dpop_jkt: Mapped[str | None] = mapped_column(String(43))


class AuthorizationCode(Base):
    """An authorization code (RFC 6749 4.1.2): single use within 60 seconds, bound to PKCE."""

    __tablename__ = "authorization_code"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    grant_id: Mapped[str] = mapped_column(String(36), ForeignKey("oauth_grant.id"))
    client_id: Mapped[str] = mapped_column(String(64))
    redirect_uri: Mapped[str] = mapped_column(Text)
    code_challenge: Mapped[str] = mapped_column(String(128))
    nonce: Mapped[str | None] = mapped_column(String(512))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RefreshToken(Base):
    """One refresh token of a grant; using it rotates it, reusing a used one revokes the grant."""

    __tablename__ = "refresh_token"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    grant_id: Mapped[str] = mapped_column(String(36), ForeignKey("oauth_grant.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=_now())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RevokedToken(Base):
    """An access token revoked before its expiry (RFC 7009), by its jti, kept until it expires."""

    __tablename__ = "revoked_token"

    jti: Mapped[str] = mapped_column(String(36), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class PushedRequest(Base):
    """A pushed authorization request (RFC 9126): its validated parameters, used once."""

    __tablename__ = "pushed_request"

    request_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 hex
    client_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("oauth_client.client_id", ondelete="CASCADE")
    )
    params: Mapped[str] = mapped_column(Text)  # JSON object of the request's parameters
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SpentProof(Base):
    """A DPoP proof's jti seen (RFC 9449 11.1), kept until its proof could no longer pass."""

    __tablename__ = "spent_proof"

    proof_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Consent(Base):
    """The scopes a citizen consented to release to one client; revocable from the portal."""

    __tablename__ = "consent"

    account_id: Mapped[str] = mapped_column(String(36), ForeignKey("account.id"), primary_key=True)
    client_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("oauth_client.client_id"), primary_key=True
    )
    scope: Mapped[str] = mapped_column(Text)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


Index("ix_refresh_token_expires_at", RefreshToken.expires_at)
Index("ix_webauthn_challenge_expires_at", WebAuthnChallenge.expires_at)
Index("ix_oauth_grant_client_id", Grant.client_id)
