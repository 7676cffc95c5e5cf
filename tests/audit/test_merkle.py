"""Tests for audit.merkle against a naive reference written from RFC 9162 section 2.1."""

# ruff: noqa: S101

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from functools import cache

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from audit import merkle
from audit.merkle import (
    EMPTY_ROOT,
    CompactRange,
    ProofPlan,
    append,
    consistency_nodes,
    consistency_proof,
    frontier_ids,
    frontier_root,
    inclusion_nodes,
    inclusion_proof,
    leaf_hash,
    node_hash,
    range_nodes,
    root,
    root_from_inclusion,
    verify_consistency,
    verify_inclusion,
)

# ----------------------------------------------------------------------------------------
# Naive reference, written directly from the RFC 9162 definitions. It works on index
# ranges [lo, hi) of one fixed data list D, so every sub-list D[lo:hi] is a prefix-free
# slice and MTH can be memoised without changing what it computes.
# ----------------------------------------------------------------------------------------

MAX_SIZE = 2100
DATA: list[bytes] = [f"registry access #{i}".encode() for i in range(MAX_SIZE)]


def sha256(data: bytes) -> bytes:
    """SHA-256, the HASH of RFC 9162 2.1."""
    return hashlib.sha256(data).digest()


def split_point(n: int) -> int:
    """RFC 9162 2.1.1: the largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


@cache
def ref_mth(lo: int, hi: int) -> bytes:
    """RFC 9162 2.1.1: MTH(D[lo:hi]), recursively."""
    n = hi - lo
    if n == 0:
        return sha256(b"")
    if n == 1:
        return sha256(b"\x00" + DATA[lo])
    k = split_point(n)
    return sha256(b"\x01" + ref_mth(lo, lo + k) + ref_mth(lo + k, hi))


def ref_leaf(i: int) -> bytes:
    """Leaf hash of DATA[i]."""
    return ref_mth(i, i + 1)


def ref_root(n: int) -> bytes:
    """MTH(D[0:n])."""
    return ref_mth(0, n)


def ref_path(m: int, lo: int, hi: int) -> list[bytes]:
    """RFC 9162 2.1.3.1: PATH(m, D[lo:hi])."""
    n = hi - lo
    if n == 1:
        return []
    k = split_point(n)
    if m < k:
        return [*ref_path(m, lo, lo + k), ref_mth(lo + k, hi)]
    return [*ref_path(m - k, lo + k, hi), ref_mth(lo, lo + k)]


def ref_subproof(m: int, lo: int, hi: int, b: bool) -> list[bytes]:
    """RFC 9162 2.1.4.1: SUBPROOF(m, D[lo:hi], b)."""
    n = hi - lo
    if m == n:
        return [] if b else [ref_mth(lo, hi)]
    k = split_point(n)
    if m <= k:
        return [*ref_subproof(m, lo, lo + k, b), ref_mth(lo + k, hi)]
    return [*ref_subproof(m - k, lo + k, hi, False), ref_mth(lo, lo + k)]


def ref_proof(m: int, n: int) -> list[bytes]:
    """RFC 9162 2.1.4.1: PROOF(m, D[n]) = SUBPROOF(m, D[n], true); empty if m is 0 or n."""
    if m in (0, n):
        return []
    return ref_subproof(m, 0, n, True)


def ref_path_root(leaf: bytes, m: int, n: int, path: Sequence[bytes]) -> bytes | None:
    """Recompute MTH(D[n]) from a leaf and a path, following the shape of PATH(m, D[n])."""
    if n == 1:
        return leaf if not path else None
    if not path:
        return None
    *rest, top = path
    k = split_point(n)
    if m < k:
        sub = ref_path_root(leaf, m, k, rest)
        return None if sub is None else sha256(b"\x01" + sub + top)
    sub = ref_path_root(leaf, m - k, n - k, rest)
    return None if sub is None else sha256(b"\x01" + top + sub)


def ref_verify_inclusion(
    leaf: bytes, m: int, n: int, path: Sequence[bytes], root_hash: bytes
) -> bool:
    """Reference verifier: a path is valid iff it rebuilds the root along PATH's shape."""
    if not 0 <= m < n:
        return False
    return ref_path_root(leaf, m, n, path) == root_hash


def ref_subproof_roots(
    m: int, n: int, b: bool, proof: Sequence[bytes], first: bytes
) -> tuple[bytes, bytes] | None:
    """Recompute (MTH(D[m]), MTH(D[n])) from SUBPROOF(m, D[n], b), following its shape."""
    if m == n:
        if b:
            return (first, first) if not proof else None
        return (proof[0], proof[0]) if len(proof) == 1 else None
    if not proof:
        return None
    *rest, top = proof
    k = split_point(n)
    if m <= k:
        sub = ref_subproof_roots(m, k, b, rest, first)
        return None if sub is None else (sub[0], sha256(b"\x01" + sub[1] + top))
    sub = ref_subproof_roots(m - k, n - k, False, rest, first)
    if sub is None:
        return None
    return sha256(b"\x01" + top + sub[0]), sha256(b"\x01" + top + sub[1])


def ref_verify_consistency(
    m: int, n: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> bool:
    """Reference verifier: a proof is valid iff it rebuilds both roots along PROOF's shape."""
    if not 0 <= m <= n:
        return False
    if m == n:
        return not proof and root1 == root2
    if m == 0:
        return not proof and root1 == sha256(b"")
    return ref_subproof_roots(m, n, True, proof, root1) == (root1, root2)


def ref_get_node(size: int) -> Callable[[int, int], bytes]:
    """A node store for the tree of `size` leaves that refuses incomplete nodes."""

    def get_node(level: int, index: int) -> bytes:
        lo, hi = index << level, (index + 1) << level
        assert hi <= size, f"plan asked for incomplete node {(level, index)} of size {size}"
        return ref_mth(lo, hi)

    return get_node


def flip(h: bytes, bit: int) -> bytes:
    """Flip one bit of a hash."""
    bit %= len(h) * 8
    out = bytearray(h)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


LEAVES: list[bytes] = [ref_leaf(i) for i in range(MAX_SIZE)]

sizes = st.integers(min_value=1, max_value=MAX_SIZE)
bits = st.integers(min_value=0, max_value=255)


@st.composite
def size_and_index(draw: st.DrawFn) -> tuple[int, int]:
    """A tree size and a leaf index inside it."""
    size = draw(sizes)
    return size, draw(st.integers(min_value=0, max_value=size - 1))


@st.composite
def size_pair(draw: st.DrawFn) -> tuple[int, int]:
    """Two tree sizes 0 <= size1 <= size2 <= MAX_SIZE."""
    size2 = draw(st.integers(min_value=0, max_value=MAX_SIZE))
    return draw(st.integers(min_value=0, max_value=size2)), size2


# ----------------------------------------------------------------------------------------
# Known answers, independent of both the module and the reference above.
# ----------------------------------------------------------------------------------------


def h0(data: bytes) -> bytes:
    """Hand-coded leaf hash."""
    return hashlib.sha256(bytes([0]) + data).digest()


def h1(left: bytes, right: bytes) -> bytes:
    """Hand-coded node hash."""
    return hashlib.sha256(bytes([1]) + left + right).digest()


def test_hash_primitives() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert leaf_hash(b"abc") == h0(b"abc")
    assert node_hash(b"a" * 32, b"b" * 32) == h1(b"a" * 32, b"b" * 32)
    assert root([]) == EMPTY_ROOT
    assert frontier_root([]) == EMPTY_ROOT


class Seven:
    """The tree of the seven leaves a..g, its nodes and roots worked out by hand."""

    def __init__(self) -> None:
        self.data = [b"a", b"b", b"c", b"d", b"e", b"f", b"g"]
        self.lh = lh = [h0(x) for x in self.data]
        self.ab, self.cd, self.ef = h1(lh[0], lh[1]), h1(lh[2], lh[3]), h1(lh[4], lh[5])
        self.abcd = h1(self.ab, self.cd)
        self.efg = h1(self.ef, lh[6])
        self.root3 = h1(self.ab, lh[2])  # split at k = 2
        self.root7 = h1(self.abcd, self.efg)  # split at k = 4, then 2
        self.store = {(0, i): h for i, h in enumerate(lh)}
        self.store |= {(1, 0): self.ab, (1, 1): self.cd, (1, 2): self.ef, (2, 0): self.abcd}

    def get(self, level: int, index: int) -> bytes:
        return self.store[(level, index)]


def test_known_answer_roots_of_three_and_seven_leaves() -> None:
    t = Seven()
    assert [leaf_hash(x) for x in t.data] == t.lh
    assert root(t.lh[:3]) == t.root3
    assert root(t.lh) == t.root7


def test_known_answer_inclusion_proofs_in_seven_leaves() -> None:
    t = Seven()
    lh = t.lh
    # PATH(m, D[7]) by hand.
    assert inclusion_proof(0, 7, t.get) == [lh[1], t.cd, t.efg]
    assert inclusion_proof(2, 3, t.get) == [t.ab]
    assert inclusion_proof(4, 7, t.get) == [lh[5], lh[6], t.abcd]
    assert inclusion_proof(6, 7, t.get) == [t.ef, t.abcd]


def test_known_answer_consistency_proofs_from_three_four_and_six_to_seven_leaves() -> None:
    t = Seven()
    lh = t.lh
    # PROOF(3, D[7]) = [c, d, ab, efg]; PROOF(4, D[7]) = [efg] (4 is a power of two).
    assert consistency_proof(3, 7, t.get) == [lh[2], lh[3], t.ab, t.efg]
    assert consistency_proof(4, 7, t.get) == [t.efg]
    assert consistency_proof(6, 7, t.get) == [t.ef, lh[6], t.abcd]


def test_known_answer_proofs_verify_and_swapped_roots_do_not() -> None:
    t = Seven()
    lh = t.lh
    assert verify_inclusion(lh[4], 4, 7, [lh[5], lh[6], t.abcd], t.root7)
    assert verify_consistency(3, 7, t.root3, t.root7, [lh[2], lh[3], t.ab, t.efg])
    assert not verify_consistency(3, 7, t.root7, t.root3, [lh[2], lh[3], t.ab, t.efg])


def test_known_answer_appending_seven_leaves_gives_their_frontier_and_nodes() -> None:
    t = Seven()
    frontier, size, nodes = append((), 0, t.lh)
    assert size == 7
    assert frontier == (t.abcd, t.ef, t.lh[6])
    assert frontier_root(frontier) == t.root7
    assert {(lvl, idx): h for lvl, idx, h in nodes} == t.store


# RFC 6962 test vectors (the same hashing as RFC 9162), published with the Certificate
# Transparency and transparency-dev/merkle test suites.
CT_DATA = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = [
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]
CT_CONSISTENCY = [
    (
        2,
        8,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]


def test_rfc6962_published_vectors() -> None:
    leaves = [leaf_hash(bytes.fromhex(x)) for x in CT_DATA]
    roots = [bytes.fromhex(x) for x in CT_ROOTS]
    frontier: tuple[bytes, ...] = ()
    store: dict[tuple[int, int], bytes] = {}
    for n in range(len(leaves) + 1):
        assert root(leaves[:n]) == roots[n]
        assert frontier_root(frontier) == roots[n]
        if n < len(leaves):
            frontier, _, nodes = append(frontier, n, [leaves[n]])
            store |= {(lvl, idx): h for lvl, idx, h in nodes}
    get = lambda level, index: store[(level, index)]  # noqa: E731
    for index, size, hexes in CT_INCLUSION:
        expected = [bytes.fromhex(x) for x in hexes]
        assert inclusion_proof(index, size, get) == expected
        assert verify_inclusion(leaves[index], index, size, expected, roots[size])
    for size1, size2, hexes in CT_CONSISTENCY:
        expected = [bytes.fromhex(x) for x in hexes]
        assert consistency_proof(size1, size2, get) == expected
        assert verify_consistency(size1, size2, roots[size1], roots[size2], expected)


# ----------------------------------------------------------------------------------------
# Properties against the reference.
# ----------------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(size=st.integers(min_value=0, max_value=MAX_SIZE))
@example(size=MAX_SIZE).via("boundary")
@example(size=2048).via("power of two")
@example(size=2049).via("power of two plus one")
def test_root_matches_reference(size: int) -> None:
    assert root(LEAVES[:size]) == ref_root(size)


def check_inclusion(size: int, index: int, bit: int) -> None:
    """All inclusion checks for one (size, index)."""
    leaf, root_hash = LEAVES[index], ref_root(size)
    proof = inclusion_proof(index, size, ref_get_node(size))
    assert proof == ref_path(index, 0, size)
    assert verify_inclusion(leaf, index, size, proof, root_hash)
    assert root_from_inclusion(leaf, index, size, proof) == root_hash

    # One flipped bit anywhere: in a proof element, in the leaf or in the root.
    for j in range(len(proof)):
        bad = [*proof[:j], flip(proof[j], bit), *proof[j + 1 :]]
        assert not verify_inclusion(leaf, index, size, bad, root_hash)
    assert not verify_inclusion(flip(leaf, bit), index, size, proof, root_hash)
    assert not verify_inclusion(leaf, index, size, proof, flip(root_hash, bit))

    # Truncated or extended proofs.
    if proof:
        assert not verify_inclusion(leaf, index, size, proof[:-1], root_hash)
        assert not verify_inclusion(leaf, index, size, proof[1:], root_hash)
    assert not verify_inclusion(leaf, index, size, [*proof, root_hash], root_hash)
    assert root_from_inclusion(leaf, index, size, [*proof, root_hash]) is None  # RFC step 4a
    if proof:
        assert root_from_inclusion(leaf, index, size, proof[:-1]) is None  # RFC step 5
    assert not verify_inclusion(leaf, index, size, [leaf, *proof], root_hash)
    assert not verify_inclusion(
        leaf, index, size, [*proof, proof[-1] if proof else leaf], root_hash
    )

    # Wrong index: never valid in the same tree.
    for wrong in {index - 1, index + 1, index ^ 1, index ^ 2, size, size + 1}:
        if wrong != index:
            assert not verify_inclusion(leaf, wrong, size, proof, root_hash)

    # Wrong size: the RFC algorithm only fails when the shape of PATH changes (the size
    # is bound by the signed tree head, not by the proof), so compare with the reference.
    for wrong in {size - 1, size + 1, size * 2, size // 2, index, index + 1, 0}:
        if wrong != size:
            got = verify_inclusion(leaf, index, wrong, proof, root_hash)
            assert got == ref_verify_inclusion(leaf, index, wrong, proof, root_hash)
            if wrong <= index or len(ref_path_ranges(index, 0, wrong)) != len(proof):
                assert not got

    # The root of another tree size.
    if size > 1:
        assert not verify_inclusion(leaf, index, size, proof, ref_root(size - 1))


@settings(max_examples=400, deadline=None)
@given(si=size_and_index(), bit=bits)
@example(si=(MAX_SIZE, MAX_SIZE - 1), bit=0).via("last leaf")
@example(si=(2049, 2048), bit=7).via("lone right leaf")
@example(si=(2048, 1023), bit=255).via("power of two")
def test_inclusion_matches_reference(si: tuple[int, int], bit: int) -> None:
    size, index = si
    check_inclusion(size, index, bit)


def check_consistency(size1: int, size2: int, bit: int) -> None:
    """All consistency checks for one (size1, size2)."""
    root1, root2 = ref_root(size1), ref_root(size2)
    proof = consistency_proof(size1, size2, ref_get_node(size2))
    assert proof == ref_proof(size1, size2)
    assert verify_consistency(size1, size2, root1, root2, proof)
    assert ref_verify_consistency(size1, size2, root1, root2, proof)

    # One flipped bit anywhere (root2 is unconstrained when the old tree is empty).
    for j in range(len(proof)):
        bad = [*proof[:j], flip(proof[j], bit), *proof[j + 1 :]]
        assert not verify_consistency(size1, size2, root1, root2, bad)
    assert not verify_consistency(size1, size2, flip(root1, bit), root2, proof)
    if size1 > 0:
        assert not verify_consistency(size1, size2, root1, flip(root2, bit), proof)

    # Swapped roots.
    if size1 != size2:
        assert not verify_consistency(size1, size2, root2, root1, proof)

    # Truncated or extended proofs.
    if proof:
        assert not verify_consistency(size1, size2, root1, root2, proof[:-1])
        assert not verify_consistency(size1, size2, root1, root2, proof[1:])
    assert not verify_consistency(size1, size2, root1, root2, [*proof, root2])
    assert not verify_consistency(size1, size2, root1, root2, [root1, *proof])

    # Wrong sizes: compare with the reference verifier (see check_inclusion).
    candidates = {
        (size1 - 1, size2),
        (size1 + 1, size2),
        (size1, size2 - 1),
        (size1, size2 + 1),
        (size1, size2 * 2),
        (size1 * 2, size2 * 2),
        (size2, size1),
        (size1 // 2, size2),
    }
    for s1, s2 in candidates - {(size1, size2)}:
        got = verify_consistency(s1, s2, root1, root2, proof)
        assert got == ref_verify_consistency(s1, s2, root1, root2, proof)


@settings(max_examples=400, deadline=None)
@given(sp=size_pair(), bit=bits)
@example(sp=(2048, MAX_SIZE), bit=0).via("power of two old size")
@example(sp=(2047, 2049), bit=1).via("around a power of two")
@example(sp=(1, MAX_SIZE), bit=2).via("one leaf")
@example(sp=(MAX_SIZE - 1, MAX_SIZE), bit=3).via("one new leaf")
def test_consistency_matches_reference(sp: tuple[int, int], bit: int) -> None:
    size1, size2 = sp
    check_consistency(size1, size2, bit)


def test_exhaustive_small_trees() -> None:
    for size in range(1, 65):
        assert root(LEAVES[:size]) == ref_root(size)
        for index in range(size):
            check_inclusion(size, index, bit=(size * 31 + index) % 256)
        for size1 in range(size + 1):
            check_consistency(size1, size, bit=(size * 17 + size1) % 256)


# ----------------------------------------------------------------------------------------
# Appending.
# ----------------------------------------------------------------------------------------


def complete_nodes(size: int) -> dict[tuple[int, int], bytes]:
    """Every complete node of the tree of `size` leaves, with its reference hash."""
    out: dict[tuple[int, int], bytes] = {}
    level = 0
    while (1 << level) <= size:
        for index in range(size >> level):
            out[(level, index)] = ref_mth(index << level, (index + 1) << level)
        level += 1
    return out


@settings(max_examples=100, deadline=None)
@given(batches=st.lists(st.integers(min_value=0, max_value=300), max_size=15))
@example(batches=[1] * 40).via("one at a time")
@example(batches=[0, 1024, 0, 1, 1023, 52]).via("power-of-two boundaries")
def test_append_builds_the_same_tree(batches: list[int]) -> None:
    frontier: tuple[bytes, ...] = ()
    size = 0
    created: dict[tuple[int, int], bytes] = {}
    cr = CompactRange()
    for count in batches:
        count = min(count, MAX_SIZE - size)
        batch = LEAVES[size : size + count]
        frontier, new_size, nodes = append(frontier, size, batch)
        assert new_size == size + count
        for level, index, h in nodes:
            assert (level, index) not in created, "node reported complete twice"
            created[(level, index)] = h
        size = new_size
        assert frontier_root(frontier) == ref_root(size) == root(LEAVES[:size])
        assert list(frontier) == [
            ref_mth(i << lvl, (i + 1) << lvl) for lvl, i in frontier_ids(size)
        ]
        cr, cr_nodes = cr.append(batch)
        assert cr == CompactRange(size, frontier)
        assert cr.root() == ref_root(size)
        assert cr.ids() == frontier_ids(size)
        assert cr_nodes == nodes
    assert created == complete_nodes(size)


def test_append_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="frontier"):
        append([LEAVES[0]], 3, [LEAVES[1]])
    with pytest.raises(ValueError, match="frontier"):
        append([b"short"], 1, [LEAVES[1]])
    with pytest.raises(ValueError, match="leaf_hashes"):
        append([], 0, [b"x" * 31])
    with pytest.raises(ValueError, match="size"):
        append([], -1, [])
    with pytest.raises(ValueError, match="frontier"):
        CompactRange(3, (LEAVES[0],))
    with pytest.raises(ValueError, match="leaf_hashes"):
        root([LEAVES[0], b"x"])


def test_root_splits_a_large_tree_at_the_largest_power_of_two() -> None:
    # RFC 9162 2.1.1: n = 100,000 splits at k = 2**16 (speed is measured in bench/, not here).
    leaves = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(100_000)]
    assert root(leaves) == node_hash(root(leaves[: 1 << 16]), root(leaves[1 << 16 :]))


# ----------------------------------------------------------------------------------------
# Proof plans.
# ----------------------------------------------------------------------------------------


def ref_path_ranges(m: int, lo: int, hi: int) -> list[tuple[int, int]]:
    """The leaf ranges of the elements of PATH(m, D[lo:hi]) (no hashing)."""
    n = hi - lo
    if n == 1:
        return []
    k = split_point(n)
    if m < k:
        return [*ref_path_ranges(m, lo, lo + k), (lo + k, hi)]
    return [*ref_path_ranges(m - k, lo + k, hi), (lo, lo + k)]


def ref_subproof_ranges(m: int, lo: int, hi: int, b: bool) -> list[tuple[int, int]]:
    """The leaf ranges of the elements of SUBPROOF(m, D[lo:hi], b) (no hashing)."""
    n = hi - lo
    if m == n:
        return [] if b else [(lo, hi)]
    k = split_point(n)
    if m <= k:
        return [*ref_subproof_ranges(m, lo, lo + k, b), (lo + k, hi)]
    return [*ref_subproof_ranges(m - k, lo + k, hi, False), (lo, lo + k)]


def plan_ranges(plan: ProofPlan, size: int) -> list[tuple[int, int]]:
    """The leaf range of each element a plan assembles; checks ids are complete nodes."""
    ranges = []
    for level, index in plan.ids:
        lo, hi = index << level, (index + 1) << level
        assert hi <= size, "plan asks for an incomplete node"
        ranges.append((lo, hi))
    b, e = plan.ephem_begin, plan.ephem_end
    if e - b > 1:
        group = ranges[b:e]  # smallest (rightmost) first, contiguous
        assert all(group[i + 1][1] == group[i][0] for i in range(len(group) - 1))
        ranges[b:e] = [(group[-1][0], group[0][1])]
    return ranges


def id_bound(size: int) -> int:
    """2 * ceil(log2(size)) + 2."""
    return 2 * (size - 1).bit_length() + 2


@settings(max_examples=300, deadline=None)
@given(size=st.integers(min_value=1, max_value=2**40), data=st.data())
@example(size=2**40, data=None).via("power of two")
@example(size=2**40 - 1, data=None).via("all bits set")
def test_plans_are_small_and_have_the_right_shape(size: int, data: st.DataObject | None) -> None:
    if data is None:
        index, size1 = size - 1, size // 2 + 1
    else:
        index = data.draw(st.integers(min_value=0, max_value=size - 1))
        size1 = data.draw(st.integers(min_value=0, max_value=size))
    plan = inclusion_nodes(index, size)
    assert len(plan.ids) <= id_bound(size)
    assert len(set(plan.ids)) == len(plan.ids)
    assert plan_ranges(plan, size) == ref_path_ranges(index, 0, size)

    plan = consistency_nodes(size1, size)
    assert len(plan.ids) <= id_bound(size)
    assert len(set(plan.ids)) == len(plan.ids)
    expected = [] if size1 in (0, size) else ref_subproof_ranges(size1, 0, size, True)
    assert plan_ranges(plan, size) == expected


def test_plan_errors() -> None:
    with pytest.raises(ValueError, match="out of bounds"):
        inclusion_nodes(5, 5)
    with pytest.raises(ValueError, match="index"):
        inclusion_nodes(-1, 5)
    with pytest.raises(ValueError, match="size"):
        consistency_nodes(6, 5)
    plan = inclusion_nodes(3, 7)
    with pytest.raises(ValueError, match="expected"):
        plan.assemble([])
    with pytest.raises(ValueError, match="hashes"):
        plan.assemble([b"x"] * len(plan.ids))
    with pytest.raises(ValueError, match="ephemeral"):
        ProofPlan(((0, 0),), 0, 2)
    assert consistency_nodes(0, 5) == ProofPlan(())
    assert consistency_nodes(5, 5) == ProofPlan(())
    assert inclusion_nodes(0, 1) == ProofPlan(())


def test_range_nodes() -> None:
    assert range_nodes(0, 0) == ()
    assert range_nodes(0, 13) == ((3, 0), (2, 2), (0, 12))
    assert range_nodes(3, 13) == ((0, 3), (2, 1), (2, 2), (0, 12))
    assert frontier_ids(8) == ((3, 0),)
    with pytest.raises(ValueError, match="begin"):
        range_nodes(5, 3)


# ----------------------------------------------------------------------------------------
# Verifiers never raise on malformed input.
# ----------------------------------------------------------------------------------------

MALFORMED: list[object] = [None, b"", b"x" * 31, b"x" * 33, "a" * 32, 5, bytearray(32), [b"x"]]


def test_verify_inclusion_rejects_malformed_hashes_and_proof_nodes() -> None:
    size, index = 7, 3
    leaf, r = LEAVES[index], ref_root(size)
    proof = ref_path(index, 0, size)
    any_verify_inclusion: Callable[..., bool] = verify_inclusion
    any_root_from_inclusion: Callable[..., bytes | None] = root_from_inclusion
    assert any_verify_inclusion(leaf, index, size, proof, r)
    for bad in MALFORMED:
        assert not any_verify_inclusion(bad, index, size, proof, r)
        assert not any_verify_inclusion(leaf, index, size, proof, bad)
        assert not any_verify_inclusion(leaf, index, size, [*proof[:-1], bad], r)
        assert any_root_from_inclusion(leaf, index, size, [bad, *proof[1:]]) is None


def test_verify_inclusion_rejects_malformed_indexes_sizes_and_proofs() -> None:
    size, index = 7, 3
    leaf, r = LEAVES[index], ref_root(size)
    proof = ref_path(index, 0, size)
    any_verify_inclusion: Callable[..., bool] = verify_inclusion
    for bad_num in (-1, size, size + 1, None, "3", 3.0, True):
        assert not any_verify_inclusion(leaf, bad_num, size, proof, r)
    for bad_num in (-7, 0, None, "7", 7.0):
        assert not any_verify_inclusion(leaf, index, bad_num, proof, r)
    assert not any_verify_inclusion(leaf, index, size, None, r)
    assert not any_verify_inclusion(leaf, index, size, 42, r)
    assert not verify_inclusion(leaf, index, 2**64 + 7, proof, r)


def test_verify_consistency_rejects_malformed_roots_and_proof_nodes() -> None:
    r3, r7 = ref_root(3), ref_root(7)
    cproof = ref_proof(3, 7)
    any_verify_consistency: Callable[..., bool] = verify_consistency
    assert verify_consistency(3, 7, r3, r7, cproof)
    for bad in MALFORMED:
        assert not any_verify_consistency(3, 7, bad, r7, cproof)
        assert not any_verify_consistency(3, 7, r3, bad, cproof)
        assert not any_verify_consistency(3, 7, r3, r7, [*cproof[:-1], bad])


def test_verify_consistency_rejects_malformed_sizes_and_proofs() -> None:
    r3, r7 = ref_root(3), ref_root(7)
    cproof = ref_proof(3, 7)
    any_verify_consistency: Callable[..., bool] = verify_consistency
    for s1, s2 in ((-1, 7), (3, -7), (None, 7), (3, "7"), (7, 3), (8, 7), (3.0, 7)):
        assert not any_verify_consistency(s1, s2, r3, r7, cproof)
    assert not any_verify_consistency(3, 7, r3, r7, None)
    assert not any_verify_consistency(3, 7, r3, r7, 42)
    assert not verify_consistency(3, 7, r3, r7, [])


def test_consistency_edge_cases() -> None:
    r5 = ref_root(5)
    # Equal sizes: empty proof and identical roots only.
    assert verify_consistency(5, 5, r5, r5, [])
    assert not verify_consistency(5, 5, r5, ref_root(4), [])
    assert not verify_consistency(5, 5, r5, r5, [r5])
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    # From the empty tree: empty proof, and the old root must be MTH({}).
    assert verify_consistency(0, 5, EMPTY_ROOT, r5, [])
    assert not verify_consistency(0, 5, EMPTY_ROOT, r5, [r5])
    assert not verify_consistency(0, 5, r5, r5, [])
    assert consistency_proof(0, 5, ref_get_node(5)) == []
    assert consistency_proof(5, 5, ref_get_node(5)) == []


def test_module_exports() -> None:
    for name in merkle.__all__:
        assert hasattr(merkle, name), name


# ----------------------------------------------------------------- fast paths (verify, proofs)


@settings(max_examples=200, deadline=None)
@given(size=st.integers(1, 3000), data=st.data())
def test_inclusion_node_set_is_the_plans_ids(size: int, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, size - 1))
    assert merkle.inclusion_node_set(index, size) == set(merkle.inclusion_nodes(index, size).ids)


@settings(max_examples=100, deadline=None)
@given(start=st.integers(0, 700), cuts=st.lists(st.integers(0, 300), max_size=4))
def test_extend_equals_append(start: int, cuts: list[int]) -> None:
    leaves = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(start + sum(cuts))]
    base, _ = merkle.CompactRange().append(leaves[:start])
    fast = packed = slow = base
    position = start
    for cut in cuts:
        fast = fast.extend(leaves[position : position + cut])
        packed = packed.extend_packed(b"".join(leaves[position : position + cut]))
        slow, _ = slow.append(leaves[position : position + cut])
        position += cut
        assert fast == packed == slow
    assert fast.root() == merkle.root(leaves)


def test_extend_packed_without_the_c_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    leaves = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(77)]
    monkeypatch.setattr(merkle, "_packed_perfect_root", None)
    assert merkle.CompactRange().extend_packed(b"".join(leaves)).root() == merkle.root(leaves)


def test_extend_refuses_what_is_not_a_hash() -> None:
    with pytest.raises(ValueError, match="32-byte"):
        merkle.CompactRange().extend([b"\x00" * 31])
    with pytest.raises(ValueError, match="multiple of 32"):
        merkle.CompactRange().extend_packed(b"\x00" * 33)
