"""Inclusion and consistency proofs (RFC 9162 section 2.1) from the stored subtree hashes,
and the offline check of an inclusion proof. No HTTP here."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from audit import merkle
from audit import repository as repo
from audit import tree_repository as tree_repo
from audit.checkpoint import Checkpoint, CheckpointError, Verifier, open_checkpoint
from audit.events import leaf_bytes
from core.errors import Conflict, NotFound


def b64(raw: bytes) -> str:
    """Standard base64, as in checkpoints."""
    return base64.b64encode(raw).decode("ascii")


async def inclusion_proof(session: AsyncSession, event_uid: str) -> dict[str, Any]:
    """An inclusion proof of one event against the newest checkpoint, checkable offline."""
    # One query on PostgreSQL (the proof's nodes come with the event); two on SQLite.
    target = await repo.proof_target(session, event_uid)
    if target is None:
        raise NotFound("No audit event with this id.")
    if target.leaf_index is None or target.leaf_hash is None:
        raise Conflict("The event is recorded but not yet sequenced; try again shortly.")
    index, leaf_hash = target.leaf_index, bytes(target.leaf_hash)
    if target.tree_size is None or target.note is None or target.tree_size <= index:
        raise Conflict("The event is not yet covered by a signed checkpoint; try again shortly.")
    tree_size, note = target.tree_size, target.note
    plan = merkle.inclusion_nodes(index, tree_size)
    path = _path(plan, target.nodes if target.nodes is not None else await _nodes(session, plan))
    return {
        "event_uid": event_uid,
        "leaf_index": index,
        "tree_size": tree_size,
        "leaf_data": b64(leaf_bytes(target.event, index)),
        "leaf_hash": b64(leaf_hash),
        "proof": [b64(h) for h in path],
        "checkpoint": note,
    }


async def consistency_proof(session: AsyncSession, size1: int, size2: int) -> dict[str, Any]:
    """A consistency proof between two signed checkpoints (RFC 9162 section 2.1.4)."""
    if not 0 <= size1 <= size2:
        raise Conflict("Sizes must satisfy 0 <= first <= second.")
    first = await repo.checkpoint_at(session, size1)
    second = await repo.checkpoint_at(session, size2)
    if first is None or second is None:
        raise NotFound("Both sizes must be sizes of signed checkpoints.")
    path = await _assemble(session, merkle.consistency_nodes(size1, size2)) if size1 else []
    return {
        "first": {"tree_size": size1, "checkpoint": first.note},
        "second": {"tree_size": size2, "checkpoint": second.note},
        "proof": [b64(h) for h in path],
    }


async def _assemble(session: AsyncSession, plan: merkle.ProofPlan) -> list[bytes]:
    return _path(plan, await _nodes(session, plan))


async def _nodes(session: AsyncSession, plan: merkle.ProofPlan) -> dict[merkle.NodeID, bytes]:
    return await tree_repo.fetch_nodes(session, plan.ids)


def _path(plan: merkle.ProofPlan, found: Mapping[merkle.NodeID, bytes]) -> list[bytes]:
    missing = [i for i in plan.ids if i not in found]
    if missing:
        raise Conflict(f"The log is missing {len(missing)} stored subtree hashes; run verify.")
    return plan.assemble([found[i] for i in plan.ids])


def check_inclusion(proof: Mapping[str, Any], verifier: Verifier, *, origin: str) -> Checkpoint:
    """Verify an inclusion proof offline: signature, leaf data, path. Raises ProofError."""
    try:
        checkpoint = open_checkpoint(str(proof["checkpoint"]), verifier, origin=origin)
        index = int(proof["leaf_index"])
        data = base64.b64decode(str(proof["leaf_data"]), validate=True)
        path = [base64.b64decode(str(h), validate=True) for h in proof["proof"]]
        claimed_size = int(proof.get("tree_size", checkpoint.size))
    except CheckpointError as exc:
        raise ProofError(f"checkpoint rejected: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise ProofError(f"malformed proof: {exc}") from None
    if not isinstance(proof["proof"], list):
        raise ProofError("malformed proof: 'proof' must be a list of hashes")
    if claimed_size != checkpoint.size:
        raise ProofError("the proof's tree size is not the checkpoint's")
    leaf = merkle.leaf_hash(data)
    if not merkle.verify_inclusion(leaf, index, checkpoint.size, path, checkpoint.root_hash):
        raise ProofError("the inclusion proof does not lead to the checkpoint's root")
    return checkpoint


class ProofError(ValueError):
    """A proof that does not verify."""
