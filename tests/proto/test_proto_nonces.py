"""nonces: care-of keygen tokens (RFC 6275 §5.2.5), regenerated every 30 s, honoured 240 s."""

from __future__ import annotations

from collections.abc import Callable

from scapy_fama.crypto import keygen_token
from scapy_fama.proto.nonces import CareOfNonces

COA, OTHER = "2001:db8:2::a", "2001:db8:2::b"


def test_the_token_is_the_rfc_formula_and_recomputable(rand: Callable[[int], bytes]) -> None:
    nonces = CareOfNonces(rand)
    index, token = nonces.issue(COA, 0.0)
    entry = nonces._nonces[index]
    assert index == 1 and token == keygen_token(entry.kcn, COA, entry.nonce, care_of=True)
    assert len(entry.kcn) == 20 and len(entry.nonce) == 8
    assert nonces.token(index, COA, 100.0) == token
    assert nonces.token(index, OTHER, 100.0) != token  # bound to the CoA
    assert nonces.token(0, COA, 1.0) is None and nonces.token(9, COA, 1.0) is None


def test_a_new_nonce_every_30_s_each_honoured_240_s(rand: Callable[[int], bytes]) -> None:
    nonces = CareOfNonces(rand)
    first, _ = nonces.issue(COA, 0.0)
    assert nonces.issue(COA, 29.9)[0] == first
    second, _ = nonces.issue(COA, 30.0)
    assert second == first + 1
    assert nonces.token(first, COA, 240.0) is not None
    assert nonces.token(first, COA, 240.1) is None  # MAX_NONCE_LIFETIME after its first use
    assert nonces.token(second, COA, 240.1) is not None


def test_index_zero_is_never_issued(rand: Callable[[int], bytes]) -> None:
    nonces = CareOfNonces(rand)
    nonces._current = 0xFFFF
    assert nonces.issue(COA, 0.0)[0] == 1
