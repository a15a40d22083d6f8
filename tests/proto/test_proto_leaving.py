"""MnCore.shutdown on a SimNet: every binding at an old DAR de-registered on the way out, the BAs
waited for a bounded time, what stays reported one record each (profile §3, §4; proto/leaving.py).

The de-registration BU's bytes are read here by hand after RFC 6275 §6.1.7 (the BU: lifetime 0 at
MH offset 10), §6.3 (the Home Address option), §6.2.7 and §5.2.5 (the BAD over the HoA as the CoA,
Kbm = SHA1(home token) for a delete) and RFC 2460 §8.1 (the checksum's pseudo-header), with
hashlib and hmac, not the project's crypto.
"""

from __future__ import annotations

import hashlib
import hmac
from ipaddress import IPv6Address

import pytest
from simworld import World
from topology import DAR1, DAR2

from scapy_fama.crypto import KeyPair
from scapy_fama.proto import KeepPolicy, Notify
from scapy_fama.proto.messages import BindingAck, BindingUpdate

WITHIN = 1.0


@pytest.fixture(params=["objects", "bytes"])
def wire(request: pytest.FixtureRequest) -> bool:
    return request.param == "bytes"


def travelled(key: KeyPair, wire: bool) -> tuple[World, str, str, str]:
    """Home at DAR 1, then DAR 2, then DAR 3, keeping all: HoA_1 bound at DAR 1 and HoA_2 at
    DAR 2, both to the CoA from DAR 3. The world, HoA_1, HoA_2, the CoA."""
    world = World(key, wire=wire, sec=0, dad_delay=0.0, keep=KeepPolicy.ALL)
    hoa1, hoa2, coa = world.visit(0), world.visit(1), world.visit(2)
    d1, d2, _ = world.dars
    assert d1.binding(hoa1).coa == coa and d2.binding(hoa2).coa == coa
    return world, hoa1, hoa2, coa


def shutdown(world: World, within: float = WITHIN) -> float:
    """MnCore.shutdown now, its effects carried out; when it was called."""
    start = world.now
    world.call(lambda: world.mn.shutdown(world.now, within))
    return start


def notices(world: World, event: str) -> list[dict[str, object]]:
    return [e.data for e in world.effects(Notify) if e.event == event]


def test_every_binding_at_an_old_dar_is_deregistered_and_the_dars_hold_none(mn_key: KeyPair, wire: bool) -> None:
    world, hoa1, hoa2, coa = travelled(mn_key, wire)
    d1, d2, d3 = world.dars
    start = shutdown(world)
    world.run(2 * WITHIN)

    assert d1.binding(hoa1) is None and d2.binding(hoa2) is None and d3.bindings() == []
    bus = [bu for at, bu in world.bus() if at >= start]
    assert {(bu.home_address, bu.dst, bu.src, bu.lifetime) for bu in bus} == {(hoa1, DAR1, coa, 0), (hoa2, DAR2, coa, 0)}
    assert all(bu.sign_with is None and bu.auth_key is not None for bu in bus)  # PHKT-authorised (profile §4)
    bas = [ba for dar in ("dar1", "dar2") for ba in world.sent(BindingAck, dar) if ba.seq in {bu.seq for bu in bus}]
    assert sorted((ba.src, ba.status, ba.lifetime) for ba in bas) == [(DAR1, 0, 0), (DAR2, 0, 0)]
    released = notices(world, "address-released")
    assert sorted(str(r["address"]) for r in released if r["deregistered"]) == sorted([hoa1, hoa2])
    assert notices(world, "deregistration-abandoned") == []
    assert notices(world, "shutdown-done") == [{"bindings": 2, "deregistered": 2, "abandoned": 0}]
    (done,) = world.notice_times("shutdown-done")
    assert done - start < WITHIN / 10  # the last BA ended it: one round trip, not the deadline
    assert world.mn.leaving and world.mn.addresses() == [coa] and world.mn.next_deadline() is None


def test_a_dar_that_does_not_answer_is_reported_once_at_the_deadline(mn_key: KeyPair, wire: bool) -> None:
    world, hoa1, hoa2, coa = travelled(mn_key, wire)
    world.lose(lambda msg: isinstance(msg, BindingUpdate) and msg.dst == DAR2)
    start = shutdown(world)
    world.run(10 * WITHIN)

    assert world.dars[0].binding(hoa1) is None
    assert world.dars[1].binding(hoa2).coa == coa  # it never heard: the binding stands
    assert notices(world, "deregistration-abandoned") == [{"address": hoa2, "dar": DAR2, "why": "no BA within 1 s"}]
    assert notices(world, "shutdown-done") == [{"bindings": 2, "deregistered": 1, "abandoned": 1}]
    assert world.notice_times("shutdown-done") == [pytest.approx(start + WITHIN)]
    assert [at for at, bu in world.bus(hoa2) if at >= start] == [start]  # given up: no retransmission
    assert world.mn.next_deadline() is None


def test_with_nothing_at_a_dar_the_shutdown_is_done_at_once(mn_key: KeyPair, wire: bool) -> None:
    world = World(mn_key, wire=wire, sec=0, dad_delay=0.0, keep=KeepPolicy.ALL)
    world.visit(0)
    shutdown(world)
    assert notices(world, "shutdown-done") == [{"bindings": 0, "deregistered": 0, "abandoned": 0}]
    assert world.bus() == [] and world.mn.next_deadline() is None
    assert world.call(lambda: world.mn.shutdown(world.now, WITHIN)) == []  # once only


def test_detached_nothing_can_be_sent_and_each_binding_is_reported(mn_key: KeyPair, wire: bool) -> None:
    world, hoa1, hoa2, _ = travelled(mn_key, wire)
    world.detach()
    world.run(0.1)
    before = len(world.bus())
    shutdown(world)
    assert len(world.bus()) == before
    why = "no usable care-of address to send the de-registration from"
    assert notices(world, "deregistration-abandoned") == [
        {"address": hoa1, "dar": DAR1, "why": why},
        {"address": hoa2, "dar": DAR2, "why": why},
    ]
    assert notices(world, "shutdown-done") == [{"bindings": 2, "deregistered": 0, "abandoned": 2}]


def test_the_deregistration_bu_has_the_rfc_layout_and_authenticator(mn_key: KeyPair) -> None:
    world, hoa1, _, coa = travelled(mn_key, wire=True)
    phkt = world.dars[0].record(hoa1).phkt  # the DAR's side of the key
    start = shutdown(world)
    world.run(2 * WITHIN)
    hoa, dar, care_of = (IPv6Address(a).packed for a in (hoa1, DAR1, coa))
    sent = [
        raw for link in world.net.links() for at, raw in link.captures
        if at >= start and raw[8:24] == care_of and raw[24:40] == dar
    ]  # fmt: skip
    assert sent, "no packet from the CoA to DAR 1 after the shutdown"
    ip = sent[0]
    assert ip[6] == 60  # Destination Options (RFC 6275 §6.3)
    assert ip[40:48] == bytes([135, 2, 1, 2, 0, 0, 0xC9, 16]) and ip[48:64] == hoa  # PadN, HAO = HoA_1
    mh = ip[64:]
    assert len(mh) == 8 * (mh[1] + 1) == 32 and mh[0] == 59 and mh[2] == 5  # a BU (§6.1.1)
    assert mh[8:10] == b"\xc0\x00"  # A and H (§6.1.7)
    assert mh[10:12] == b"\x00\x00"  # lifetime 0: a de-registration
    assert mh[12:18] == bytes([4, 4, 0, 0, 0, 0])  # Nonce Indices, home 0, care-of 0 (ignored on delete)
    assert mh[18:20] == bytes([5, 12])  # the BAD, last (§6.2.7)
    kbm = hashlib.sha1(phkt).digest()  # §5.2.5: a delete's Kbm is SHA1(home keygen token)
    covered = mh[:4] + b"\x00\x00" + mh[6:20]
    assert mh[20:32] == hmac.new(kbm, hoa + dar + covered, hashlib.sha1).digest()[:12]  # HoA as the CoA
    pseudo = hoa + dar + len(mh).to_bytes(4, "big") + bytes([0, 0, 0, 135])  # RFC 2460 §8.1, HAO's HoA
    data = pseudo + mh
    total = sum(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    assert total == 0xFFFF  # the checksum in place sums to all ones


def test_a_dar_that_lost_the_phkt_gets_the_deregistration_cga_signed(mn_key: KeyPair, wire: bool) -> None:
    world, hoa1, _, _ = travelled(mn_key, wire)
    world.net.restart(world.dars[0])  # no PHKT, no binding: a PHKT-authorised BU gets 147
    start = shutdown(world)
    world.run(2 * WITHIN)
    to_dar1 = [bu for at, bu in world.bus(hoa1) if at >= start]
    assert [(bu.lifetime, bu.sign_with is not None) for bu in to_dar1] == [(0, False), (0, True)]  # RFC 4866 §4.3
    assert [ba.status for ba in world.sent(BindingAck, "dar1")][-2:] == [147, 0]
    assert notices(world, "shutdown-done") == [{"bindings": 2, "deregistered": 2, "abandoned": 0}]
