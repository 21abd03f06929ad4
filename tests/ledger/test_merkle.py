"""Merkle hashing and proofs: small trees checked by hand, every proof pair, round trips."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suanli.ledger.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    ProofError,
    leaf_hash,
    node_hash,
    reference_root,
    verify_consistency,
    verify_inclusion,
)

#: the leaves of the RFC 6962 reference implementation's tests, and its roots per size
RFC_LEAVES = [
    bytes.fromhex(x)
    for x in (
        "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]  # fmt: skip
RFC_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]

L = [leaf_hash(bytes([i])) for i in range(8)]
H = node_hash

#: the tree shapes of RFC 6962 section 2.1.3, written out by hand
HAND_ROOTS = [
    pytest.param(1, L[0], id="n=1 leaf"),
    pytest.param(2, H(L[0], L[1]), id="n=2"),
    pytest.param(3, H(H(L[0], L[1]), L[2]), id="n=3 split at 2"),
    pytest.param(4, H(H(L[0], L[1]), H(L[2], L[3])), id="n=4 complete"),
    pytest.param(5, H(H(H(L[0], L[1]), H(L[2], L[3])), L[4]), id="n=5 split at 4"),
    pytest.param(6, H(H(H(L[0], L[1]), H(L[2], L[3])), H(L[4], L[5])), id="n=6"),
    pytest.param(
        7, H(H(H(L[0], L[1]), H(L[2], L[3])), H(H(L[4], L[5]), L[6])), id="n=7 right split at 2"
    ),
    pytest.param(
        8, H(H(H(L[0], L[1]), H(L[2], L[3])), H(H(L[4], L[5]), H(L[6], L[7]))), id="n=8 complete"
    ),
]


def tree(n: int) -> MerkleTree:
    return MerkleTree(L[:n])


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert (
        node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()
    )
    assert MerkleTree().root() == EMPTY_ROOT == hashlib.sha256(b"").digest()


@pytest.mark.parametrize(("n", "expected"), HAND_ROOTS)
def test_roots_of_small_trees_match_the_hand_written_shapes(n: int, expected: bytes) -> None:
    assert tree(n).root() == expected
    assert reference_root(L[:n]) == expected


@pytest.mark.parametrize("n", range(1, 9), ids=lambda n: f"n={n}")
def test_roots_match_the_rfc_reference_vectors(n: int) -> None:
    t = MerkleTree()
    for leaf in RFC_LEAVES[:n]:
        t.append(leaf)
    assert t.root().hex() == RFC_ROOTS[n - 1]


@pytest.mark.parametrize(
    ("index", "n", "expected"),
    [
        pytest.param(0, 1, [], id="only leaf: empty path"),
        pytest.param(0, 3, [L[1], L[2]], id="leaf 0 of 3"),
        pytest.param(2, 3, [H(L[0], L[1])], id="leaf 2 of 3: one step"),
        pytest.param(3, 7, [L[2], H(L[0], L[1]), H(H(L[4], L[5]), L[6])], id="leaf 3 of 7"),
        pytest.param(6, 7, [H(L[4], L[5]), H(H(L[0], L[1]), H(L[2], L[3]))], id="leaf 6 of 7"),
        pytest.param(
            5, 8, [L[4], H(L[6], L[7]), H(H(L[0], L[1]), H(L[2], L[3]))], id="leaf 5 of 8"
        ),
    ],
)
def test_inclusion_paths_of_small_trees(index: int, n: int, expected: list[bytes]) -> None:
    assert tree(n).inclusion_proof(index) == expected


@pytest.mark.parametrize(
    ("m", "n", "expected"),
    [
        pytest.param(1, 2, [L[1]], id="1 to 2"),
        pytest.param(2, 3, [L[2]], id="2 to 3: old root is a node"),
        pytest.param(3, 7, [L[2], L[3], H(L[0], L[1]), H(H(L[4], L[5]), L[6])], id="3 to 7 (RFC)"),
        pytest.param(4, 7, [H(H(L[4], L[5]), L[6])], id="4 to 7 (RFC)"),
        pytest.param(
            6, 7, [H(L[4], L[5]), L[6], H(H(L[0], L[1]), H(L[2], L[3]))], id="6 to 7 (RFC)"
        ),
        pytest.param(5, 5, [], id="same size: empty"),
    ],
)
def test_consistency_proofs_of_small_trees(m: int, n: int, expected: list[bytes]) -> None:
    assert tree(n).consistency_proof(m) == expected


ALL_LEAVES = [(i, n) for n in range(1, 9) for i in range(n)]
ALL_PAIRS = [(m, n) for n in range(1, 9) for m in range(0, n + 1)]


@pytest.mark.parametrize(("index", "n"), ALL_LEAVES, ids=[f"{i} of {n}" for i, n in ALL_LEAVES])
def test_every_inclusion_proof_up_to_8_leaves_verifies_and_breaks(index: int, n: int) -> None:
    t = tree(n)
    proof = t.inclusion_proof(index)
    verify_inclusion(index, n, L[index], proof, t.root())
    with pytest.raises(ProofError):
        verify_inclusion(index, n, leaf_hash(b"other"), proof, t.root())
    for k in range(len(proof)):
        bad = [*proof[:k], leaf_hash(b"x"), *proof[k + 1 :]]
        with pytest.raises(ProofError):
            verify_inclusion(index, n, L[index], bad, t.root())
    with pytest.raises(ProofError):
        verify_inclusion(index, n, L[index], [*proof, L[0]], t.root())
    if proof:
        with pytest.raises(ProofError):
            verify_inclusion(index, n, L[index], proof[:-1], t.root())


@pytest.mark.parametrize(("m", "n"), ALL_PAIRS, ids=[f"{m} to {n}" for m, n in ALL_PAIRS])
def test_every_consistency_proof_up_to_8_leaves_verifies_and_breaks(m: int, n: int) -> None:
    t = tree(n)
    proof = t.consistency_proof(m)
    verify_consistency(m, n, t.root(m), t.root(), proof)
    if 0 < m < n:
        with pytest.raises(ProofError):
            verify_consistency(m, n, t.root(m), leaf_hash(b"forged"), proof)
        with pytest.raises(ProofError):
            verify_consistency(m, n, leaf_hash(b"forged"), t.root(), proof)
        for k in range(len(proof)):
            bad = [*proof[:k], leaf_hash(b"x"), *proof[k + 1 :]]
            with pytest.raises(ProofError):
                verify_consistency(m, n, t.root(m), t.root(), bad)
        with pytest.raises(ProofError):
            verify_consistency(m, n, t.root(m), t.root(), [])


@pytest.mark.parametrize(
    ("call", "problem"),
    [
        pytest.param(lambda t: t.inclusion_proof(3), "not in a tree of size 3", id="index = size"),
        pytest.param(lambda t: t.root(4), "not in 0..3", id="root past the end"),
        pytest.param(lambda t: t.consistency_proof(4), "not in 0..3", id="old size past new"),
    ],
)
def test_out_of_range_requests_say_so(call: object, problem: str) -> None:
    with pytest.raises(IndexError, match=problem):
        call(tree(3))  # type: ignore[operator]


@given(st.lists(st.binary(max_size=8), min_size=1, max_size=70), st.data())
def test_proofs_round_trip_on_random_trees(entries: list[bytes], data: st.DataObject) -> None:
    t = MerkleTree()
    for e in entries:
        t.append(e)
    n = len(t)
    assert t.root() == reference_root([leaf_hash(e) for e in entries])
    i = data.draw(st.integers(0, n - 1))
    size = data.draw(st.integers(i + 1, n))
    verify_inclusion(i, size, leaf_hash(entries[i]), t.inclusion_proof(i, size), t.root(size))
    m = data.draw(st.integers(0, n))
    verify_consistency(m, n, t.root(m), t.root(), t.consistency_proof(m))


@pytest.mark.parametrize("n", [2**10, 2**10 + 1, 3000, 2**16 + 5], ids=lambda n: f"n={n}")
def test_proofs_grow_as_log_n(n: int) -> None:
    t = MerkleTree([leaf_hash(i.to_bytes(4, "big")) for i in range(n)])
    depth = (n - 1).bit_length()
    assert max(len(t.inclusion_proof(i)) for i in (0, n // 2, n - 1)) <= depth
    assert len(t.consistency_proof(n // 3)) <= 2 * depth
