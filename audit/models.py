"""Audit tables: events (the record), their leaves and subtree hashes, batches, checkpoints.

All of them are append-only: the application's role may INSERT and SELECT, never UPDATE or
DELETE (grants in the migration), and triggers refuse UPDATE/DELETE as a second line.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from audit.events import ACTOR_TYPES, OUTCOMES
from core.models import Base, UTCDateTime, code

# A 64-bit key on PostgreSQL, SQLite's rowid alias there (INTEGER PRIMARY KEY).
BigIntId = BigInteger().with_variant(Integer(), "sqlite")


# The database clock, as the issue requires: now() on PostgreSQL, millisecond UTC on SQLite.
DB_NOW = text("CURRENT_TIMESTAMP")


class AuditEvent(Base):
    """One access to personal data: who, whom, what, which fields, why, outcome, when."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    event_uid: Mapped[str] = mapped_column(String(36), unique=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=DB_NOW)
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(128))
    on_behalf_of: Mapped[str | None] = mapped_column(String(128))
    subject: Mapped[str | None] = mapped_column(code(16))
    action: Mapped[str] = mapped_column(String(64))
    # Field names released, as a canonical JSON array (never values).
    fields: Mapped[str] = mapped_column(Text, server_default="[]")
    purpose: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str | None] = mapped_column(String(128))
    # Non-personal metadata (counts, a file digest), canonical JSON object or NULL.
    detail: Mapped[str | None] = mapped_column(Text)
    # PostgreSQL: the inserting transaction (pg_current_xact_id), so the sequencer can take only
    # events whose transaction has ended. SQLite has one writer at a time and leaves it NULL.
    txid: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        CheckConstraint(
            "outcome IN (" + ", ".join(f"'{o}'" for o in OUTCOMES) + ")", name="outcome"
        ),
        CheckConstraint(
            "actor_type IN (" + ", ".join(f"'{a}'" for a in ACTOR_TYPES) + ")", name="actor_type"
        ),
        Index("ix_audit_event_subject_id", "subject", "id"),
        Index("ix_audit_event_actor_id", "actor_id", "id"),
        Index("ix_audit_event_occurred_at", "occurred_at"),
        Index("ix_audit_event_txid_id", "txid", "id"),
    )


class AuditLeaf(Base):
    """An event's place in the Merkle log: gapless index and leaf hash."""

    __tablename__ = "audit_leaf"

    leaf_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    # No foreign key (migration 0008): audit_event only grows, and verify reports a leaf
    # whose event is missing; the key's check locked each event's row, a write per leaf.
    event_id: Mapped[int] = mapped_column(BigIntId, unique=True)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditNode(Base):
    """The hash of a complete subtree above the leaves: level >= 1, covering 2**level leaves."""

    __tablename__ = "audit_node"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditBatch(Base):
    """One sequencer run: the leaves it appended and the cursor it reached."""

    __tablename__ = "audit_batch"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    first_leaf: Mapped[int] = mapped_column(BigInteger)
    tree_size: Mapped[int] = mapped_column(BigInteger, unique=True)
    cursor_txid: Mapped[int | None] = mapped_column(BigInteger)
    cursor_event: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=DB_NOW)


class AuditCheckpoint(Base):
    """A signed tree head (C2SP tlog-checkpoint note) as published."""

    __tablename__ = "audit_checkpoint"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    tree_size: Mapped[int] = mapped_column(BigInteger, unique=True)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=DB_NOW)


APPEND_ONLY_TABLES = ("audit_event", "audit_leaf", "audit_node", "audit_batch", "audit_checkpoint")
