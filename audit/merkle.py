"""RFC 9162 (Certificate Transparency 2.0) Merkle tree primitives, section 2.1.

Pure functions, no I/O. All hashes are 32-byte SHA-256 digests.

Node addressing: a node id is ``(level, index)``; level 0 holds the leaf hashes and
node ``(l, i)`` covers leaves ``[i * 2**l, (i + 1) * 2**l)``. Only *complete*
(perfect) subtrees have stored hashes; the right border of a tree whose size is not a
power of two is made of "ephemeral" nodes that are recomputed from complete ones.

The proof planning functions (:func:`inclusion_nodes`, :func:`consistency_nodes`) are
modelled on the ``proof`` package of Go's ``github.com/transparency-dev/merkle``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "NewNode",
    "NodeID",
    "ProofPlan",
    "append",
    "consistency_nodes",
    "consistency_proof",
    "frontier_ids",
    "frontier_root",
    "inclusion_node_set",
    "inclusion_nodes",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "range_nodes",
    "root",
    "root_from_inclusion",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256

_packed_perfect_root: Callable[[bytes | memoryview], bytes] | None
try:  # the same hashes in C (audit/_native.c), optional at build time
    from audit._native import perfect_root as _packed_perfect_root
except ImportError:  # pragma: no cover - built without a compiler or OpenSSL's headers
    _packed_perfect_root = None

# RFC 9162 2.1.1: MTH({}) = HASH(), the hash of an empty string.
EMPTY_ROOT: bytes = _sha256(b"").digest()

NodeID = tuple[int, int]
"""A node address ``(level, index)``."""


NewNode = tuple[int, int, bytes]
"""A complete node ``(level, index, hash)`` produced by :func:`append`, ready to be stored."""


# --------------------------------------------------------------------------- hashing


def leaf_hash(data: bytes) -> bytes:
    """Return the RFC 9162 leaf hash SHA-256(0x00 || data)."""
    # RFC 9162 2.1.1: MTH({d(0)}) = HASH(0x00 || d(0)).
    return _sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 9162 interior node hash SHA-256(0x01 || left || right)."""
    # RFC 9162 2.1.1: MTH(D[n]) = HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n])).
    return _sha256(_NODE_PREFIX + left + right).digest()


def _is_hash(value: object) -> bool:
    """Return True if value is a 32-byte ``bytes`` object."""
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_uint(value: object) -> bool:
    """Return True if value is a non-negative int (bool excluded)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_hashes(hashes: Sequence[bytes], what: str) -> None:
    """Raise ValueError unless every element is a 32-byte ``bytes`` object."""
    for pos, h in enumerate(hashes):
        if not _is_hash(h):
            raise ValueError(f"{what}[{pos}] is not a {HASH_SIZE}-byte hash")


def _check_uint(value: int, what: str) -> None:
    """Raise ValueError unless value is a non-negative int."""
    if not _is_uint(value):
        raise ValueError(f"{what} must be a non-negative int, got {value!r}")


# ------------------------------------------------------------------------------ root


def _perfect_root(leaf_hashes: Sequence[bytes]) -> bytes:
    """Root of a perfect subtree (a power-of-two count of leaves), hashed level by level."""
    if _packed_perfect_root is not None and len(leaf_hashes) > 1:
        # Callers check that every hash is 32 bytes, so the packed form is unambiguous.
        return _packed_perfect_root(b"".join(leaf_hashes))
    level = list(leaf_hashes)
    sha, prefix = _sha256, _NODE_PREFIX
    while len(level) > 1:
        it = iter(level)
        level = [sha(prefix + a + b).digest() for a, b in zip(it, it, strict=True)]
    return level[0]


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """Return the Merkle Tree Hash (RFC 9162 2.1.1) of a list of leaf hashes in O(n)."""
    # RFC 9162 2.1.1 splits at the largest power of two k < n. Hashing level by level
    # and promoting an unpaired last node unchanged yields exactly the same tree: the
    # left parts are perfect subtrees and the right border is folded the same way.
    _check_hashes(leaf_hashes, "leaf_hashes")
    level = list(leaf_hashes)
    if not level:
        return EMPTY_ROOT
    sha, prefix = _sha256, _NODE_PREFIX
    while len(level) > 1:
        it = iter(level)
        nxt = [sha(prefix + a + b).digest() for a, b in zip(it, it, strict=False)]
        if len(level) & 1:
            nxt.append(level[-1])
        level = nxt
    return level[0]


# ------------------------------------------------------------------- node addressing


def range_nodes(begin: int, end: int) -> tuple[NodeID, ...]:
    """Return the minimal complete node ids covering leaves [begin, end), left to right."""
    _check_uint(begin, "begin")
    _check_uint(end, "end")
    if begin > end:
        raise ValueError(f"begin {begin} > end {end}")
    out: list[NodeID] = []
    while begin < end:
        lvl = (end - begin).bit_length() - 1  # largest block that fits
        if begin:
            lvl = min(lvl, (begin & -begin).bit_length() - 1)  # alignment of begin
        out.append((lvl, begin >> lvl))
        begin += 1 << lvl
    return tuple(out)


def frontier_ids(size: int) -> tuple[NodeID, ...]:
    """Return the ids of the perfect subtrees on the right frontier of a tree, largest first."""
    return range_nodes(0, size)


# ------------------------------------------------------------------------ proof plans


@dataclass(frozen=True, slots=True)
class ProofPlan:
    """Complete node ids to fetch for a proof, and how to turn their hashes into it.

    ``ids[ephem_begin:ephem_end]`` (when longer than one) are the complete nodes making
    up the ephemeral node on the right border, smallest (rightmost) first; they are
    folded into a single proof element by :meth:`assemble`.
    """

    ids: tuple[NodeID, ...]
    ephem_begin: int = 0
    ephem_end: int = 0

    def __post_init__(self) -> None:
        """Validate the ephemeral range."""
        if not 0 <= self.ephem_begin <= self.ephem_end <= len(self.ids):
            raise ValueError("invalid ephemeral range")

    def assemble(self, hashes: Sequence[bytes]) -> list[bytes]:
        """Turn the fetched hashes (in ``ids`` order) into the RFC 9162 proof path."""
        if len(hashes) != len(self.ids):
            raise ValueError(f"expected {len(self.ids)} hashes, got {len(hashes)}")
        _check_hashes(hashes, "hashes")
        begin, end = self.ephem_begin, self.ephem_end
        if end - begin <= 1:
            return list(hashes)
        # Rehash: fold the complete nodes of the ephemeral node, right to left.
        acc = hashes[begin]
        for h in hashes[begin + 1 : end]:
            acc = node_hash(h, acc)
        return [*hashes[:begin], acc, *hashes[end:]]

    def _skip_first(self) -> ProofPlan:
        """Return the plan without its first id (the node the proof is for)."""
        return ProofPlan(self.ids[1:], max(self.ephem_begin - 1, 0), max(self.ephem_end - 1, 0))


def _nodes(index: int, level: int, size: int) -> ProofPlan:
    """Plan the path from node (level, index) to the root of a tree of the given size.

    The first id is the node itself. It is followed by its siblings up to the "fork"
    node (where the path to the node and the path to the right border diverge), then the
    complete nodes forming the fork's ephemeral sibling, then the complete nodes to the
    left of the fork, smallest first.
    """
    # Levels above the node at which the fork and the ephemeral node sit.
    inner = (index ^ (size >> level)).bit_length() - 1
    fork_level = level + inner
    fork_index = index >> inner
    begin = fork_index << fork_level
    end = (fork_index + 1) << fork_level

    ids: list[NodeID] = [(level, index)]
    lvl, idx = level, index
    while lvl < fork_level:
        ids.append((lvl, idx ^ 1))
        lvl += 1
        idx >>= 1
    ephem_begin = len(ids)
    ids.extend(reversed(range_nodes(end, size)))
    ephem_end = len(ids)
    ids.extend(reversed(range_nodes(0, begin)))
    return ProofPlan(tuple(ids), ephem_begin, ephem_end)


def inclusion_nodes(index: int, size: int) -> ProofPlan:
    """Plan the inclusion proof (RFC 9162 2.1.3.1) of leaf ``index`` in a tree of ``size``."""
    _check_uint(index, "index")
    _check_uint(size, "size")
    if index >= size:
        raise ValueError(f"index {index} out of bounds for tree size {size}")
    return _nodes(index, 0, size)._skip_first()


def inclusion_node_set(index: int, size: int) -> frozenset[NodeID]:
    """The ids of :func:`inclusion_nodes` as a closed formula (the rule the database uses).

    The siblings ``(l, (index >> l) ^ 1)`` of the leaf's path that are complete subtrees of the
    tree, and the right-border subtrees ``(l, (size >> l) - 1)`` (one per set bit l of size)
    below the level where the paths to ``index`` and to ``size - 1`` part.
    """
    _check_uint(index, "index")
    _check_uint(size, "size")
    if index >= size:
        raise ValueError(f"index {index} out of bounds for tree size {size}")
    ids = {(lv, (index >> lv) ^ 1) for lv in range(63) if (index >> lv) ^ 1 < size >> lv}
    ids |= {
        (lv, (size >> lv) - 1)
        for lv in range(63)
        if (size >> lv) & 1 and (index ^ size) >> (lv + 1)
    }
    return frozenset(ids)


def consistency_nodes(size1: int, size2: int) -> ProofPlan:
    """Plan the consistency proof (RFC 9162 2.1.4.1) between tree sizes size1 <= size2."""
    _check_uint(size1, "size1")
    _check_uint(size2, "size2")
    if size1 > size2:
        raise ValueError(f"tree size {size1} > {size2}")
    if size1 == size2 or size1 == 0:
        return ProofPlan(())
    # The last perfect subtree of the old tree; its inclusion path in the new tree,
    # preceded by the node itself, is the proof. When size1 is a power of two that node
    # is the old root, which the verifier already has, so it is omitted.
    level = (size1 & -size1).bit_length() - 1
    index = (size1 - 1) >> level
    plan = _nodes(index, level, size2)
    return plan._skip_first() if index == 0 else plan


def _fetch(plan: ProofPlan, get_node: Callable[[int, int], bytes]) -> list[bytes]:
    """Fetch the hashes of a plan's ids with get_node and assemble the proof."""
    return plan.assemble([get_node(lvl, idx) for lvl, idx in plan.ids])


def inclusion_proof(index: int, size: int, get_node: Callable[[int, int], bytes]) -> list[bytes]:
    """Return the RFC 9162 inclusion path of leaf ``index``, reading complete nodes via get_node."""
    return _fetch(inclusion_nodes(index, size), get_node)


def consistency_proof(size1: int, size2: int, get_node: Callable[[int, int], bytes]) -> list[bytes]:
    """Return the RFC 9162 consistency path from size1 to size2, reading nodes via get_node."""
    return _fetch(consistency_nodes(size1, size2), get_node)


# ----------------------------------------------------------------------- verification


def root_from_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes | None:
    """Return the root implied by an inclusion proof, or None if the proof is malformed."""
    if not (_is_hash(leaf_hash) and _is_uint(index) and _is_uint(size)):
        return None
    try:
        path = list(proof)
    except TypeError:
        return None
    if not all(_is_hash(p) for p in path):
        return None
    # RFC 9162 2.1.3.2 step 1: fail if leaf_index >= tree_size.
    if index >= size:
        return None
    # Step 2: set fn to leaf_index and sn to tree_size - 1. Step 3: set r to hash.
    fn, sn = index, size - 1
    r = leaf_hash
    # Step 4: for each value p in the inclusion_path array:
    for p in path:
        # 4a: if sn is 0, stop and fail.
        if sn == 0:
            return None
        # 4b: if LSB(fn) is set, or if fn is equal to sn, then:
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            # 4b.ii: if LSB(fn) is not set, shift until LSB(fn) is set or fn is 0.
            if not fn & 1:
                while fn != 0 and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        # 4c: right-shift both fn and sn one time.
        fn >>= 1
        sn >>= 1
    # Step 5: sn must be 0 (the caller compares r with root_hash).
    if sn != 0:
        return None
    return r


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Verify an RFC 9162 2.1.3.2 inclusion proof; never raises, returns False if invalid."""
    if not _is_hash(root):
        return False
    computed = root_from_inclusion(leaf_hash, index, size, proof)
    return computed is not None and computed == root


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> bool:
    """Verify an RFC 9162 2.1.4.2 consistency proof; never raises, returns False if invalid."""
    if not (_is_uint(size1) and _is_uint(size2) and _is_hash(root1) and _is_hash(root2)):
        return False
    try:
        path = list(proof)
    except TypeError:
        return False
    if not all(_is_hash(p) for p in path):
        return False
    if size1 > size2:
        return False
    if size1 == size2:
        # Nothing to prove: a tree head is consistent with itself only.
        return not path and root1 == root2
    if size1 == 0:
        # RFC 9162 2.1.4.1: the proof from an empty tree is empty; its root is MTH({}).
        return not path and root1 == EMPTY_ROOT
    # RFC 9162 2.1.4.2 step 1: if consistency_path is empty, fail.
    if not path:
        return False
    # Step 2: if first is an exact power of 2, prepend first_hash.
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    # Step 3: set fn to first - 1 and sn to second - 1.
    fn, sn = size1 - 1, size2 - 1
    # Step 4: if LSB(fn) is set, right-shift both until LSB(fn) is not set.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5: set both fr and sr to the first value in the consistency_path.
    fr = sr = path[0]
    # Step 6: for each subsequent value c in the consistency_path array:
    for c in path[1:]:
        # 6a: if sn is 0, stop and fail.
        if sn == 0:
            return False
        # 6b: if LSB(fn) is set, or if fn is equal to sn, then:
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            # 6b.iii: if LSB(fn) is not set, shift until LSB(fn) is set or fn is 0.
            if not fn & 1:
                while fn != 0 and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        # 6c: right-shift both fn and sn one time.
        fn >>= 1
        sn >>= 1
    # Step 7: fr == first_hash, sr == second_hash and sn == 0.
    return sn == 0 and fr == root1 and sr == root2


# -------------------------------------------------------------------------- appending


def _check_frontier(frontier: Sequence[bytes], size: int) -> None:
    """Raise ValueError unless frontier holds one 32-byte hash per set bit of size."""
    _check_uint(size, "size")
    if len(frontier) != size.bit_count():
        raise ValueError(
            f"frontier has {len(frontier)} hashes, tree size {size} needs {size.bit_count()}"
        )
    _check_hashes(frontier, "frontier")


def frontier_root(frontier: Sequence[bytes]) -> bytes:
    """Return the RFC 9162 root of a tree given its frontier (folded right to left)."""
    _check_hashes(frontier, "frontier")
    if not frontier:
        return EMPTY_ROOT
    # RFC 9162 2.1.1: the right border is MTH(P1 || MTH(P2 || ...)) over perfect subtrees.
    acc = frontier[-1]
    for h in reversed(frontier[:-1]):
        acc = node_hash(h, acc)
    return acc


def append(
    frontier: Sequence[bytes], size: int, leaf_hashes: Iterable[bytes]
) -> tuple[tuple[bytes, ...], int, list[NewNode]]:
    """Append leaf hashes to a tree given by its frontier; return (frontier, size, new nodes).

    ``new nodes`` lists every complete node (leaves included) that became complete,
    in the order they were completed, so a storage layer can insert them.
    """
    _check_frontier(frontier, size)
    stack = list(frontier)
    new_nodes: list[NewNode] = []
    n = size
    for pos, h in enumerate(leaf_hashes):
        if not _is_hash(h):
            raise ValueError(f"leaf_hashes[{pos}] is not a {HASH_SIZE}-byte hash")
        new_nodes.append((0, n, h))
        # Merge with the left siblings on the stack: one per trailing set bit of n.
        lvl, bits = 0, n
        while bits & 1:
            h = node_hash(stack.pop(), h)
            lvl += 1
            bits >>= 1
            new_nodes.append((lvl, n >> lvl, h))
        stack.append(h)
        n += 1
    return tuple(stack), n, new_nodes


@dataclass(frozen=True, slots=True)
class CompactRange:
    """The right frontier of a tree of ``size`` leaves: perfect subtree hashes, largest first."""

    size: int = 0
    hashes: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        """Validate that there is one 32-byte hash per set bit of size."""
        _check_frontier(self.hashes, self.size)

    def append(self, leaf_hashes: Iterable[bytes]) -> tuple[CompactRange, list[NewNode]]:
        """Return the extended range and the complete nodes created by the append."""
        hashes, size, nodes = append(self.hashes, self.size, leaf_hashes)
        return CompactRange(size, hashes), nodes

    def extend(self, leaf_hashes: Sequence[bytes]) -> CompactRange:
        """Return the range extended by ``leaf_hashes``, without listing the new nodes.

        The same result as :meth:`append`, several times faster on long runs: the leaves are
        split into the aligned perfect subtrees that cover them (:func:`range_nodes`), each
        hashed level by level, and only those roots are merged into the frontier.
        """
        # One pass in C rather than _check_hashes' Python loop: this is verify's hot path.
        if leaf_hashes and set(map(len, leaf_hashes)) != {HASH_SIZE}:
            raise ValueError(f"leaf_hashes must all be {HASH_SIZE}-byte hashes")
        return self._merge(len(leaf_hashes), lambda a, b: _perfect_root(leaf_hashes[a:b]))

    def extend_packed(self, packed: bytes | bytearray) -> CompactRange:
        """:meth:`extend` with the leaf hashes packed end to end in one buffer (verify's form)."""
        if len(packed) % HASH_SIZE:
            raise ValueError(f"packed leaf hashes must be a multiple of {HASH_SIZE} bytes")
        view = memoryview(packed)
        if _packed_perfect_root is not None:
            root_of = _packed_perfect_root
            return self._merge(len(view) // HASH_SIZE, lambda a, b: root_of(view[32 * a : 32 * b]))
        hashes = [bytes(view[i : i + HASH_SIZE]) for i in range(0, len(view), HASH_SIZE)]
        return self.extend(hashes)

    def _merge(self, count: int, subtree_root: Callable[[int, int], bytes]) -> CompactRange:
        """Extend by ``count`` leaves; ``subtree_root(a, b)`` hashes leaves a..b-1 of them."""
        stack = list(self.hashes)
        size = self.size
        position = 0
        for level, _ in range_nodes(size, size + count):
            width = 1 << level
            h = subtree_root(position, position + width)
            position += width
            # The subtree starts at ``size``, a multiple of its width: merge it with the left
            # siblings on the stack, one per set bit of size above its level.
            bits = size >> level
            while bits & 1:
                h = node_hash(stack.pop(), h)
                bits >>= 1
            stack.append(h)
            size += width
        return CompactRange(size, tuple(stack))

    def root(self) -> bytes:
        """Return the RFC 9162 root hash of the tree."""
        return frontier_root(self.hashes)

    def ids(self) -> tuple[NodeID, ...]:
        """Return the node ids of the frontier hashes, largest first."""
        return frontier_ids(self.size)
