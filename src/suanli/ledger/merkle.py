"""Merkle tree hashing, proofs and their verification, as in Certificate Transparency.

Hashing (RFC 6962 section 2.1, RFC 9162 section 2.1.1), for leaves ``d[0..n)``::

    MTH({})        = SHA-256()
    MTH({d0})      = SHA-256(0x00 || d0)                      (leaf hash)
    MTH(D[n])      = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))   (node hash)

where ``k`` is the largest power of two smaller than ``n``. Proofs are built with the RFC 6962
``PATH`` (2.1.1) and ``SUBPROOF`` (2.1.2) recursions; they are verified with the iterative
algorithms of RFC 9162 sections 2.1.3.2 (inclusion) and 2.1.4.2 (consistency), which need
nothing but the proof, the sizes and the roots.

`MerkleTree` appends in amortised O(1): it keeps the hash of every complete, aligned subtree
(level ``h`` holds the hashes of leaves ``[i*2^h, (i+1)*2^h)``), so any RFC range is a lookup
or a split of two lookups and a root or a proof costs O(log n) hashes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

Hash = bytes

EMPTY_ROOT: Hash = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof does not verify; the message says which check failed."""


def leaf_hash(entry: bytes) -> Hash:
    """SHA-256(0x00 || entry)."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: Hash, right: Hash) -> Hash:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """An append-only Merkle tree over leaf hashes."""

    def __init__(self, leaves: Sequence[Hash] = ()) -> None:
        #: levels[h][i] = hash of the complete subtree over leaves [i*2^h, (i+1)*2^h)
        self._levels: list[list[Hash]] = [[]]
        for h in leaves:
            self.append_hash(h)

    def __len__(self) -> int:
        return len(self._levels[0])

    def append(self, entry: bytes) -> int:
        """Append an entry (its leaf hash is computed here); returns its index."""
        return self.append_hash(leaf_hash(entry))

    def append_hash(self, h: Hash) -> int:
        """Append a leaf hash; returns its index."""
        levels = self._levels
        index = len(levels[0])
        levels[0].append(h)
        level, i = 0, index
        while i & 1:  # a right child completes its parent
            row = levels[level]
            parent = node_hash(row[i - 1], row[i])
            level += 1
            if level == len(levels):
                levels.append([])
            levels[level].append(parent)
            i >>= 1
        return index

    def leaf(self, index: int) -> Hash:
        return self._levels[0][index]

    def _range(self, lo: int, hi: int) -> Hash:
        """MTH of leaves [lo, hi), 0 <= lo < hi <= len(self)."""
        n = hi - lo
        if n & (n - 1) == 0 and lo % n == 0:
            level = n.bit_length() - 1
            return self._levels[level][lo >> level]
        k = split(n)
        return node_hash(self._range(lo, lo + k), self._range(lo + k, hi))

    def root(self, size: int | None = None) -> Hash:
        """MTH of the first ``size`` leaves (default: all)."""
        size = len(self) if size is None else size
        self._check_size(size)
        return EMPTY_ROOT if size == 0 else self._range(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[Hash]:
        """RFC 6962 PATH(index, D[0:size]): the audit path of leaf ``index``."""
        size = len(self) if size is None else size
        self._check_size(size)
        if not 0 <= index < size:
            raise IndexError(f"leaf index {index} is not in a tree of size {size}")
        path: list[Hash] = []
        lo, hi = 0, size
        while hi - lo > 1:  # walk down; siblings are collected leaf-first below
            k = split(hi - lo)
            if index < lo + k:
                path.append(self._range(lo + k, hi))
                hi = lo + k
            else:
                path.append(self._range(lo, lo + k))
                lo = lo + k
        path.reverse()
        return path

    def consistency_proof(self, old: int, new: int | None = None) -> list[Hash]:
        """RFC 6962 PROOF(old, D[0:new]) via SUBPROOF (section 2.1.2)."""
        new = len(self) if new is None else new
        self._check_size(new)
        if not 0 <= old <= new:
            raise IndexError(f"old size {old} is not in 0..{new}")
        if old in (0, new):
            return []
        return self._subproof(old, 0, new, True)

    def _subproof(self, m: int, lo: int, hi: int, complete: bool) -> list[Hash]:
        n = hi - lo
        if m == n:
            return [] if complete else [self._range(lo, hi)]
        k = split(n)
        if m <= k:
            return [*self._subproof(m, lo, lo + k, complete), self._range(lo + k, hi)]
        return [*self._subproof(m - k, lo + k, hi, False), self._range(lo, lo + k)]

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= len(self):
            raise IndexError(f"tree size {size} is not in 0..{len(self)}")


def verify_inclusion(index: int, size: int, leaf: Hash, proof: Sequence[Hash], root: Hash) -> None:
    """RFC 9162 section 2.1.3.2: raise `ProofError` unless ``leaf`` is at ``index`` of the
    tree of ``size`` leaves whose root is ``root``."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            raise ProofError("proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("proof is shorter than the tree is deep")
    if r != root:
        raise ProofError("root computed from the proof differs from the given root")


def verify_consistency(
    old: int, new: int, old_root: Hash, new_root: Hash, proof: Sequence[Hash]
) -> None:
    """RFC 9162 section 2.1.4.2: raise `ProofError` unless the tree of ``new`` leaves with
    ``new_root`` extends the tree of ``old`` leaves with ``old_root``."""
    if not 0 <= old <= new:
        raise ProofError(f"old size {old} is not in 0..{new}")
    if old == new:
        if proof:
            raise ProofError("a proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError("equal sizes but different roots")
        return
    if old == 0:
        if proof:
            raise ProofError("a proof from the empty tree must be empty")
        return
    if not proof:
        raise ProofError("proof is empty")
    path = list(proof)
    if old & (old - 1) == 0:  # an exact power of two: the old root is a node of the path
        path.insert(0, old_root)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("proof is longer than expected")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("proof is shorter than expected")
    if fr != old_root:
        raise ProofError("old root computed from the proof differs from the given old root")
    if sr != new_root:
        raise ProofError("new root computed from the proof differs from the given new root")


def reference_root(leaves: Sequence[Hash]) -> Hash:
    """MTH straight from the RFC recursion (for tests and for auditors re-deriving a root)."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = split(len(leaves))
    return node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))
