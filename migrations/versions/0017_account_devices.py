"""account devices: where each sign-in session came from, and passkey proofs.

The citizen's "devices and sessions" list shows each sign-in session's browser (its
User-Agent, summarised in words on the page) and address. A passkey proof is a verified
WebAuthn assertion kept, single use and short-lived, for the form it was asked for
(recovery, unlock, changing the password), so webauthn_challenge's purpose admits 'proof'.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add login_session.user_agent and .ip; admit the 'proof' purpose."""
    with op.batch_alter_table("login_session") as batch:
        batch.add_column(sa.Column("user_agent", sa.String(length=256), nullable=True))
        batch.add_column(sa.Column("ip", sa.String(length=45), nullable=True))
    with op.batch_alter_table("webauthn_challenge") as batch:
        batch.drop_constraint(op.f("ck_webauthn_challenge_purpose"), type_="check")
        batch.create_check_constraint(
            op.f("ck_webauthn_challenge_purpose"),
            "purpose IN ('register', 'authenticate', 'proof')",
        )


def downgrade() -> None:
    """Drop the proofs and the columns."""
    op.execute("DELETE FROM webauthn_challenge WHERE purpose = 'proof'")
    with op.batch_alter_table("webauthn_challenge") as batch:
        batch.drop_constraint(op.f("ck_webauthn_challenge_purpose"), type_="check")
        batch.create_check_constraint(
            op.f("ck_webauthn_challenge_purpose"), "purpose IN ('register', 'authenticate')"
        )
    with op.batch_alter_table("login_session") as batch:
        batch.drop_column("ip")
        batch.drop_column("user_agent")
