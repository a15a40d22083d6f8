"""Secure mode (profile §5): CoTI/CoT before the BU, four messages instead of two, and the
handover signalling time doubles (draft §5), measured on SimNet with link delay d."""

from __future__ import annotations

import pytest
from sim_world import World, arrived, bus_to, exchange, world

from scapy_fama.crypto import KeyPair
from scapy_fama.proto import DarConfig
from scapy_fama.proto.messages import BindingAck, BindingUpdate, CareOfTest, CareOfTestInit

D = 0.02  # one-way delay of every link: MN -> DAR2 -> DAR1 is 2d


def first_handover(key: KeyPair, *, secure_dars: bool, coa_test: bool) -> tuple[World, float]:
    """Attach to DAR1 with a flow, move to DAR2; returns the world and the time the move began."""
    w = world(key, delay=D, dar_config=DarConfig(require_coa_test=secure_dars), coa_test=coa_test)
    w.visit(1)
    w.net.flow(w.cn, w.mn)
    t = w.net.now
    w.visit(2)
    return w, t


def signalling_time(w: World, since: float) -> float:
    """From the MN's first signalling message after ``since`` to the arrival of the last BA."""
    kinds = (CareOfTestInit, BindingUpdate)
    first = min(h.time for h in w.net.hops(kinds, src=w.mn) if h.time >= since)
    return arrived(w.net, BindingAck, w.mn, since)[-1].arrival - first


def test_secure_mode_four_messages_and_twice_the_signalling_time(mn_key: KeyPair) -> None:
    base, t_base = first_handover(mn_key, secure_dars=False, coa_test=False)
    secure, t_secure = first_handover(mn_key, secure_dars=True, coa_test=True)
    dar1 = secure.dars[0]

    assert exchange(base.net, base.dars[0], t_base) == ["BindingUpdate", "BindingAck"]
    assert exchange(secure.net, dar1, t_secure) == [
        "CareOfTestInit",
        "CareOfTest",
        "BindingUpdate",
        "BindingAck",
    ]
    (cot,) = [h.msg for h in arrived(secure.net, CareOfTest, secure.mn)]
    (bu,) = bus_to(secure.net, dar1, t_secure)
    # the BU proves the CoA: Nonce Indices(0, the CoT's index) and a BAD with the care-of token
    assert bu.nonce_indices == (0, cot.index) and bu.bad and bu.cga_params and bu.signature
    assert arrived(secure.net, BindingAck, secure.mn)[-1].msg.status == 0
    assert [b.hoa for b in dar1.bindings()] == [bu.hoa]

    one_rtt = signalling_time(base, t_base)
    two_rtts = signalling_time(secure, t_secure)
    assert one_rtt == pytest.approx(4 * D)  # BU and BA, each over two links
    assert two_rtts == pytest.approx(8 * D)
    assert two_rtts / one_rtt == pytest.approx(2.0)


def test_secure_mode_learnt_from_ba_137(mn_key: KeyPair) -> None:
    """An MN that does not know the DAR's policy pays one more round trip, once per DAR."""
    w, t = first_handover(mn_key, secure_dars=True, coa_test=False)
    dar1 = w.dars[0]
    assert exchange(w.net, dar1, t) == [
        "BindingUpdate",
        "BindingAck",
        "CareOfTestInit",
        "CareOfTest",
        "BindingUpdate",
        "BindingAck",
    ]
    statuses = [h.msg.status for h in arrived(w.net, BindingAck, w.mn, t)]
    assert statuses == [137, 0]
    assert signalling_time(w, t) == pytest.approx(12 * D)
    assert w.net.notices(w.mn, "coa-test-required")

    t = w.net.now  # the next handover: the MN knows DAR1 wants the test
    w.visit(3)
    assert exchange(w.net, dar1, t) == [
        "CareOfTestInit",
        "CareOfTest",
        "BindingUpdate",
        "BindingAck",
    ]
    assert signalling_time(w, t) == pytest.approx(8 * D)
