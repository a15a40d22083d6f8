"""addresses: one CGA per prefix, the modifier reused unless told otherwise (profile §2)."""

from __future__ import annotations

from collections.abc import Callable

from topology import P1, P2, seeded

from scapy_fama.crypto import KeyPair, cga_verify
from scapy_fama.proto.addresses import CgaSource


def test_later_prefixes_reuse_the_modifier(mn_key: KeyPair, rand: Callable[[int], bytes]) -> None:
    source = CgaSource(mn_key, sec=0, fresh_modifier=False, rand=rand)
    first, second = source.for_prefix(P1), source.for_prefix(P2)
    assert first.address.startswith("2001:db8:1:") and second.address.startswith("2001:db8:2:")
    assert (
        first.modifier == second.modifier and first.collision_count == second.collision_count == 0
    )
    assert cga_verify(first.address, first.params) and cga_verify(second.address, second.params)


def test_the_policy_switch_draws_a_fresh_modifier(
    mn_key: KeyPair, rand: Callable[[int], bytes]
) -> None:
    source = CgaSource(mn_key, sec=0, fresh_modifier=True, rand=rand)
    assert source.for_prefix(P1).modifier != source.for_prefix(P2).modifier


def test_same_seed_same_address(mn_key: KeyPair) -> None:
    a = CgaSource(mn_key, 0, False, seeded(7)).for_prefix(P1)
    b = CgaSource(mn_key, 0, False, seeded(7)).for_prefix(P1)
    assert a == b


def test_sec_1_is_searched_in_process(mn_key: KeyPair) -> None:
    cga = CgaSource(mn_key, 1, False, seeded(3)).for_prefix(P1)
    assert cga.sec == 1 and cga_verify(cga.address, cga.params)
