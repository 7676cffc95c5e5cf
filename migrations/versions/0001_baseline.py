"""Baseline: the root of the one linear history (tables arrive with the domain revisions).

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing to create: the kernel has no tables of its own."""


def downgrade() -> None:
    """Nothing to drop."""
