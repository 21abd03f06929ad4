"""Key rotation: a history of signing keys, each endorsed by the one before, checked from a
pinned first key; a retired key cannot sign past its retirement."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suanli.ledger import Ledger, SignedHead, SigningKey
from suanli.ledger.keyring import (
    Endorsement,
    KeyEntry,
    KeyHistory,
    KeyHistoryError,
    key_id,
    rotation_message,
)

K = [SigningKey.from_seed(bytes([i]) * 32) for i in range(1, 6)]
STRANGER = SigningKey.from_seed(bytes([99]) * 32)


def grown(n: int) -> Ledger:
    ledger = Ledger(K[0])
    for i in range(n):
        ledger.append("placement", float(i), {"job": f"j{i}"})
    return ledger


def head(ledger: Ledger, key: SigningKey, size: int, time: str = "t") -> SignedHead:
    from suanli.ledger.ledger import signed_message

    root = ledger.root(size)
    return SignedHead(size, root, time, key.sign(signed_message(size, root, time)))


def rotated(ledger: Ledger, at: tuple[int, ...]) -> KeyHistory:
    """K[0] rotated to K[1] at tree size at[0], to K[2] at at[1], ..."""
    history = KeyHistory.first(K[0].public_key)
    for i, size in enumerate(at):
        history = history.rotate(K[i], K[i + 1], size, ledger.root(size), f"r{i}")
    return history


def test_after_a_rotation_old_heads_and_new_heads_verify_from_the_pinned_first_key() -> None:
    ledger = grown(30)
    history = rotated(ledger, (10,))
    history.check(pinned=K[0].public_key)
    for size in (0, 5, 10):
        assert (
            history.check_head(head(ledger, K[0], size), key_id(K[0].public_key))
            == (history.keys[0])
        )
        # a head of the first key without a keyId (a suanli-ledger-head/1 head of before)
        assert history.check_head(head(ledger, K[0], size), None) == history.keys[0]
    for size in (10, 11, 30):
        assert (
            history.check_head(head(ledger, K[1], size), key_id(K[1].public_key))
            == (history.keys[1])
        )


def test_a_head_of_the_retired_key_after_its_retirement_is_refused_by_name() -> None:
    ledger = grown(30)
    history = rotated(ledger, (10,))
    old = key_id(K[0].public_key)
    with pytest.raises(KeyHistoryError, match=rf"key {old} was retired at tree size 10"):
        history.check_head(head(ledger, K[0], 11), old)
    # stripping its keyId makes it a first-key head: refused the same way
    with pytest.raises(KeyHistoryError, match="was retired at tree size 10"):
        history.check_head(head(ledger, K[0], 11), None)
    # nor may the new key sign a tree before it took over
    with pytest.raises(KeyHistoryError, match=r"before key .* took over at 10"):
        history.check_head(head(ledger, K[1], 9), key_id(K[1].public_key))


def test_at_the_rotation_size_only_the_endorsed_root_is_accepted() -> None:
    ledger = grown(30)
    history = rotated(ledger, (10,))
    other = grown(30)
    other.append("placement", 99.0, {"job": "forged"})
    forged_root = other.root(11)
    from suanli.ledger.ledger import signed_message

    fork = SignedHead(10, forged_root, "t", K[0].sign(signed_message(10, forged_root, "t")))
    with pytest.raises(KeyHistoryError, match="a fork"):
        history.check_head(fork, key_id(K[0].public_key))


def test_an_endorsement_signed_by_a_key_not_in_the_chain_is_refused() -> None:
    ledger = grown(20)
    history = rotated(ledger, (5,))
    # a stranger hands "K[1]'s" tree over to K[2]: it names K[1] but signs with its own key
    message = rotation_message(key_id(K[1].public_key), K[2].public_key, 8, ledger.root(8), "x")
    forged = Endorsement(
        key_id(K[1].public_key), 8, ledger.root(8), "x", STRANGER.sign(message), K[2].sign(message)
    )
    bad = KeyHistory((*history.keys, KeyEntry(K[2].public_key, 8, forged)))
    with pytest.raises(KeyHistoryError, match=r"keys\[2\].*signature does not verify with the key"):
        bad.check()
    with pytest.raises(KeyHistoryError, match="signature does not verify"):
        bad.check_head(head(ledger, K[2], 9), key_id(K[2].public_key))
    # naming the stranger as the key before is no better: it is not in the chain
    honest = replace(forged, previous_key_id=key_id(STRANGER.public_key))
    bad = KeyHistory((*history.keys, KeyEntry(K[2].public_key, 8, honest)))
    with pytest.raises(KeyHistoryError, match=r"keys\[2\].*not by the key before it"):
        bad.check()


def test_a_history_must_start_at_the_pinned_key_and_every_field_is_checked() -> None:
    ledger = grown(20)
    history = rotated(ledger, (5, 12))
    history.check(K[0].public_key)
    with pytest.raises(KeyHistoryError, match=r"keys\[0\]: the first key .* is not the pinned"):
        history.check(STRANGER.public_key)
    # a whole history made up by someone else, from their own first key
    made_up = KeyHistory.first(STRANGER.public_key).rotate(STRANGER, K[1], 5, ledger.root(5), "r0")
    made_up.check()  # consistent in itself ...
    with pytest.raises(KeyHistoryError, match="not the pinned key"):
        made_up.check(K[0].public_key)  # ... but not from the key pinned out of band
    e = history.keys[2].endorsement
    assert e is not None
    for changed, problem in [
        (replace(e, tree_size=13), "validFrom 12 is not the endorsed tree size 13"),
        (replace(e, root=ledger.root(11)), "signature does not verify"),
        (replace(e, time="later"), "signature does not verify"),
        (replace(e, possession=e.signature), "possession signature does not verify"),
    ]:
        bad = KeyHistory((*history.keys[:2], replace(history.keys[2], endorsement=changed)))
        with pytest.raises(KeyHistoryError, match=problem):
            bad.check()
    with pytest.raises(KeyHistoryError, match="has no endorsement"):
        KeyHistory((*history.keys[:2], replace(history.keys[2], endorsement=None))).check()


def test_rotate_refuses_a_key_that_is_not_current_an_old_key_or_an_earlier_size() -> None:
    ledger = grown(20)
    history = rotated(ledger, (5,))
    with pytest.raises(ValueError, match="is not the current key"):
        history.rotate(K[0], K[2], 6, ledger.root(6), "x")
    with pytest.raises(ValueError, match="already in the history"):
        history.rotate(K[1], K[0], 6, ledger.root(6), "x")
    with pytest.raises(ValueError, match="before the current key's start"):
        history.rotate(K[1], K[2], 4, ledger.root(4), "x")


def test_the_json_form_round_trips_and_names_the_bad_field() -> None:
    ledger = grown(20)
    history = rotated(ledger, (5, 5))
    doc = json.loads(json.dumps(history.to_json()))
    assert KeyHistory.from_json(doc) == history
    doc["keys"][1]["endorsement"]["signature"] = "zz"
    with pytest.raises(ValueError, match=r"keys\[1\]\.endorsement\.signature: must be 128 hex"):
        KeyHistory.from_json(doc)
    doc = history.to_json()
    doc["keys"][2]["keyId"] = "0" * 32
    with pytest.raises(ValueError, match=r"keys\[2\]\.keyId: .* is not the id of its publicKey"):
        KeyHistory.from_json(doc)
    with pytest.raises(ValueError, match=r"keys\[0\]\.publicKey: must be 64 hex digits"):
        KeyHistory.from_json({"format": "suanli-ledger-keys/1", "keys": [{"validFrom": 0}]})
    endorsement = history.to_json()["keys"][1]["endorsement"]
    assert Endorsement.from_json(endorsement) == history.keys[1].endorsement


@settings(max_examples=60, deadline=None)
@given(
    gaps=st.lists(st.integers(0, 6), min_size=0, max_size=4),
    size=st.integers(0, 30),
    signer=st.integers(0, 4),
)
def test_a_head_verifies_exactly_when_its_key_was_valid_at_its_size(
    gaps: list[int], size: int, signer: int
) -> None:
    ledger = grown(30)
    at = tuple(sum(gaps[: i + 1]) for i in range(len(gaps)))
    history = rotated(ledger, at)
    starts = (0, *at)
    ok = (
        signer < len(starts)
        and starts[signer] <= size
        and (signer + 1 >= len(starts) or size <= starts[signer + 1])
    )
    h = head(ledger, K[signer], size)
    if ok:
        assert history.check_head(h, key_id(K[signer].public_key), K[0].public_key)
    else:
        with pytest.raises(KeyHistoryError):
            history.check_head(h, key_id(K[signer].public_key), K[0].public_key)


def test_verify_head_takes_the_documents_of_the_service_and_names_what_fails() -> None:
    from suanli.errors import InputError
    from suanli.ledger import verify_head

    ledger = grown(20)
    history = rotated(ledger, (5,))
    h = head(ledger, K[1], 12, "2026-12-02T08:00:00Z")
    doc = {
        "treeSize": 12,
        "root": h.root.hex(),
        "time": h.time,
        "format": "suanli-ledger-head/1",
        "signature": h.signature.hex(),
        "publicKey": K[1].public_key.hex(),
        "keyId": key_id(K[1].public_key),
    }
    keys = json.loads(json.dumps(history.to_json()))
    assert verify_head(doc, keys, K[0].public_key) == history.keys[1]
    with pytest.raises(KeyHistoryError, match="not the pinned key"):
        verify_head(doc, keys, STRANGER.public_key)
    with pytest.raises(KeyHistoryError, match=r"publicKey .* is not the key"):
        verify_head({**doc, "publicKey": K[0].public_key.hex()}, keys, K[0].public_key)
    with pytest.raises(InputError, match="head: treeSize: missing"):
        verify_head({k: v for k, v in doc.items() if k != "treeSize"}, keys, None)
    with pytest.raises(InputError, match=r"keys: keys\[1\]\.publicKey"):
        verify_head(doc, {**keys, "keys": [keys["keys"][0], {"validFrom": 5}]}, None)
