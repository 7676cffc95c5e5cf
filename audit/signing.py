"""Checkpoints of this log: its tree head, the origin and key that sign it, and the signed
checkpoints stored. No HTTP here."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from audit import merkle
from audit import repository as repo
from audit import tree_repository as tree_repo
from audit.checkpoint import Checkpoint, Signer, is_key_name
from audit.checkpoint import sign_checkpoint as sign_note
from core.errors import NotFound


async def tree_head(session: AsyncSession) -> tuple[int, bytes]:
    """The sequenced tree's size and root hash, from the stored right frontier."""
    cursor = await tree_repo.current_cursor(session)
    ids = merkle.frontier_ids(cursor.tree_size)
    stored = await tree_repo.fetch_nodes(session, ids)
    return cursor.tree_size, merkle.frontier_root([stored[i] for i in ids])


async def log_origin(session: AsyncSession, *, default: str) -> str:
    """The log's origin (tlog-checkpoint §Note text: it identifies the log): the origin line of
    its first checkpoint, fixed when that was signed; ``default`` (the settings') until then.
    Every tool reads it from there, so none depends on the URL it was started with."""
    note = await repo.first_checkpoint_note(session)
    if note is None:
        return default
    origin = note.split("\n", 1)[0]
    # Not a line this registry signed (the key is named after it): verify names the checkpoint.
    return origin if is_key_name(origin) else default


async def log_signer(session: AsyncSession, key: Signer, *, default_origin: str) -> Signer:
    """The checkpoint signing ``key`` named after the log's origin (see ``log_origin``); its
    ``verifier()`` and ``name`` are what every check of the log's checkpoints expects."""
    return key.named(await log_origin(session, default=default_origin))


async def make_checkpoint(session: AsyncSession, signer: Signer, *, origin: str) -> str | None:
    """Sign and store a checkpoint of the current tree if it grew; returns the note or None.
    ``origin`` is the origin of a log that has no checkpoint yet; afterwards the log's own."""
    size, root = await tree_head(session)
    latest = await repo.latest_checkpoint(session)
    if latest is not None and latest.tree_size >= size:
        return None
    signer = await log_signer(session, signer, default_origin=origin)
    note = sign_note(Checkpoint(origin=signer.name, size=size, root_hash=root), signer)
    await repo.insert_checkpoint(session, size, root, note)
    return note


async def latest_signed(session: AsyncSession) -> str:
    """The newest signed checkpoint note."""
    latest = await repo.latest_checkpoint(session)
    if latest is None:
        raise NotFound("No checkpoint has been signed yet.")
    return latest.note
