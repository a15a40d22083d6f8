"""Attacks on a DAR (profile §6): a replayed BU (135), a forged signature (148), a foreign prefix
(132), an attacker with its own key claiming the MN's address (148), a CGA flood during which
the legitimate MN still refreshes with its PHKT (the DoS guard answers the flood with 130), and
an unknown Mobility Header type behind a HAO (a Binding Error naming the HAO)."""

from __future__ import annotations

import ipaddress
from collections import Counter
from dataclasses import replace
from functools import partial

import pytest
from sim_world import DELAY, EVE, World, arrived, bas_from, bus_to, world

from scapy_fama.crypto import Cga, KeyPair, cga_generate
from scapy_fama.net.sim_topology import HostNode
from scapy_fama.proto.effects import Drop
from scapy_fama.proto.messages import BindingAck, BindingError, BindingUpdate

P1 = "2001:db8:1::/64"


@pytest.fixture(scope="module")
def eve_cga(eve_key: KeyPair) -> Cga:
    """The attacker's own, valid CGA on DAR1's prefix."""
    return cga_generate(P1, eve_key, sec=0)


def registered(key: KeyPair, **mn_config: object) -> tuple[World, str, str, BindingUpdate]:
    """The MN moved DAR1 -> DAR2 with a flow on HoA1: (world, HoA1, CoA2, its BU to DAR1)."""
    w = world(key, **mn_config)  # type: ignore[arg-type]
    hoa1 = w.visit(1)
    w.net.flow(w.cn, w.mn)
    coa2 = w.visit(2)
    (bu,) = bus_to(w.net, w.dars[0])
    return w, hoa1, coa2, bu


def refusals(w: World, since: float) -> list[tuple[int, str]]:
    return [
        (e.effect.data["status"], e.effect.data.get("why", ""))
        for e in w.net.notices(w.dars[0], "bu-refused")
        if e.time >= since
    ]


def answers(w: World, eve: HostNode, since: float = 0.0) -> list[BindingAck]:
    return [h.msg for h in arrived(w.net, BindingAck, eve, since)]  # type: ignore[misc]


def test_replayed_bu_gets_135_and_changes_nothing(mn_key: KeyPair) -> None:
    w, hoa1, coa2, bu = registered(mn_key)
    net, dar1 = w.net, w.dars[0]
    eve = net.add_cn("eve", EVE)
    t = net.now
    net.inject(eve, bu)  # the MN's BU as DAR1 got it, its source (CoA2) spoofed
    net.run(1)

    (ba,) = bas_from(net, dar1, t)
    assert (ba.status, ba.seq, ba.dst, ba.hoa) == (135, bu.seq, coa2, hoa1)  # the last seq
    assert [status for status, _ in refusals(w, t)] == [135]
    # the BA goes to the real CoA; the MN has no BU outstanding and drops it
    assert [e.effect.code for e in net.effects(w.mn, Drop) if e.time > t] == ["no-outstanding-bu"]
    record = dar1.record(hoa1)
    assert record is not None and record.last_seq == bu.seq
    assert [(b.hoa, b.coa) for b in dar1.bindings()] == [(hoa1, coa2)]


def test_forged_signature_gets_148(mn_key: KeyPair) -> None:
    w, hoa1, coa2, bu = registered(mn_key)
    net, dar1 = w.net, w.dars[0]
    eve = net.add_cn("eve", EVE)
    assert bu.signature is not None
    forged = replace(  # the MN's own CGA Parameters, a newer seq, a garbage signature
        bu, src=EVE, seq=(bu.seq + 1) % 65536, signature=bytes(len(bu.signature))
    )
    net.inject(eve, forged)
    net.run(1)

    assert [(ba.status, ba.seq) for ba in answers(w, eve)] == [(148, forged.seq)]
    assert refusals(w, 0) == [(148, "RSA signature does not verify")]
    record = dar1.record(hoa1)
    assert record is not None and record.last_seq == bu.seq  # a refusal moves nothing
    assert [(b.hoa, b.coa) for b in dar1.bindings()] == [(hoa1, coa2)]


def test_foreign_prefix_gets_132(mn_key: KeyPair, eve_key: KeyPair, eve_cga: Cga) -> None:
    w, _, _, _ = registered(mn_key)
    net, dar2 = w.net, w.dars[1]
    eve = net.add_cn("eve", EVE)
    bu = BindingUpdate(  # a well-signed BU for an address of DAR1's prefix, sent to DAR2
        EVE, dar2.address, eve_cga.address, 1, 400, cga_params=eve_cga.params, sign_with=eve_key
    )
    net.inject(eve, bu)
    net.run(1)

    (ba,) = answers(w, eve)
    assert (ba.status, ba.seq, ba.phkt_ciphertext, ba.hoa) == (132, 1, None, eve_cga.address)
    assert dar2.bindings() == [] and dar2.record(eve_cga.address) is None


def test_own_key_claiming_the_mns_address_gets_148(
    mn_key: KeyPair, eve_key: KeyPair, eve_cga: Cga
) -> None:
    w = world(mn_key)
    net, dar1, mn = w.net, w.dars[0], w.mn
    eve = net.add_cn("eve", EVE)
    hoa1 = w.visit(1)
    net.flow(w.cn, mn)

    def claim(seq: int) -> None:  # eve's own CGA Parameters and key, the MN's address
        bu = BindingUpdate(
            EVE, dar1.address, hoa1, seq, 400, cga_params=eve_cga.params, sign_with=eve_key
        )
        net.inject(eve, bu)
        net.run(1)

    claim(1)  # no record yet: HoA1 is not a CGA of eve's parameters
    (status, why), *_ = refusals(w, 0)
    assert status == 148 and "not the key" not in why
    moved = net.now
    coa2 = w.visit(2)  # the MN is not disturbed: its first BU is accepted
    (bu,) = bus_to(net, dar1, moved)
    assert [h.msg.status for h in arrived(net, BindingAck, mn)] == [0]

    t = net.now
    claim((bu.seq + 1) % 65536)  # now a record holds the MN's key hash
    assert refusals(w, t) == [(148, "not the key of the security record")]
    assert [ba.status for ba in answers(w, eve)] == [148, 148]
    record = dar1.record(hoa1)
    assert record is not None and record.phkt == mn.bul()[hoa1].phkt
    assert [(b.hoa, b.coa) for b in dar1.bindings()] == [(hoa1, coa2)]


def test_cga_flood_while_the_mn_refreshes_with_its_phkt(
    mn_key: KeyPair, eve_key: KeyPair, eve_cga: Cga
) -> None:
    w, hoa1, coa2, _ = registered(mn_key, binding_lifetime=40)  # refresh 32 s after the BU
    net, dar1, dar3, mn = w.net, w.dars[0], w.dars[2], w.mn
    eve = net.add_cn("eve", "2001:db8:3::e", on=dar3)  # on DAR3's access link
    flood = BindingUpdate(  # cheap for eve: a valid CGA, a garbage signature
        eve.address, dar1.address, eve_cga.address, 1, 400,
        cga_params=eve_cga.params, signature=bytes(128),
    )  # fmt: skip
    sent_at = next(h.time for h in net.hops(BindingUpdate, src=mn))
    start = sent_at + 30.0  # 200 BUs a second from 2 s before the refresh to 3 s after it
    for i in range(1000):
        net.at(start + i / 200, partial(net.inject, eve, flood))
    flow = net.flows[0]
    net.run(start + 6 - net.now)

    # the MN's PHKT refresh is served at once, in the middle of the flood
    (refresh,) = [bu for bu in bus_to(net, dar1, start) if bu.hoa == hoa1]
    assert refresh.bad and refresh.cga_params is None
    (ba,) = arrived(net, BindingAck, mn, start)
    assert ba.msg.status == 0 and ba.msg.seq == refresh.seq
    sent = next(h for h in net.hops(BindingUpdate, src=mn) if h.msg.seq == refresh.seq)
    assert start < sent.time < start + 5 and ba.arrival == pytest.approx(sent.time + 4 * DELAY)
    binding = dar1.binding(hoa1)
    assert binding is not None and binding.coa == coa2 and binding.expires > sent.time + 39

    # the flood: the per-prefix budget (burst 5, then 10/s) verified a few, BA 130 for the rest
    statuses = Counter(ba.status for ba in answers(w, eve))
    assert sum(statuses.values()) == 1000 and set(statuses) == {130, 148}
    assert 5 <= statuses[148] <= 5 + 10 * 5 + 1, statuses
    # and the flow through DAR1's tunnel lost nothing
    during = [s for s, at in flow.down.sent.items() if start <= at < start + 5]
    assert during and all(s in flow.down.received for s in during)


def _ones_complement(data: bytes) -> int:
    data += b"\0" * (len(data) % 2)
    total = sum(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def test_an_unknown_mh_type_with_a_hao_gets_a_binding_error_naming_the_hao(
    mn_key: KeyPair,
) -> None:
    """RFC 6275 §9.3.3: the Binding Error's Home Address is the HAO's. The packet is written out
    byte by byte here (RFC 8200 §3, §4.6; RFC 6275 §6.1, §6.3) and crosses the net as bytes."""
    w = world(mn_key, wire=True)
    eve = w.net.add_cn("eve", EVE)
    hoa = "2001:db8:1::77"
    src, dst = ipaddress.IPv6Address(EVE).packed, ipaddress.IPv6Address(w.dars[0].address).packed
    home = ipaddress.IPv6Address(hoa).packed
    mh = bytearray([59, 0, 42, 0, 0, 0, 0, 0])  # payload proto 59, Header Len 0, MH type 42
    pseudo = home + dst + len(mh).to_bytes(4, "big") + bytes([0, 0, 0, 135])  # the HoA, §6.1.1
    mh[4:6] = _ones_complement(pseudo + bytes(mh)).to_bytes(2, "big")
    destopt = bytes([135, 2, 1, 2, 0, 0, 201, 16]) + home  # PadN(2), then the HAO at 8n+6
    ip = bytes([0x60, 0, 0, 0]) + (len(destopt) + len(mh)).to_bytes(2, "big") + bytes([60, 64])
    w.net.inject(eve, ip + src + dst + destopt + bytes(mh))
    w.net.run(1)
    (error,) = [h.msg for h in arrived(w.net, BindingError, eve)]
    assert (error.src, error.status, error.hoa) == (w.dars[0].address, 2, hoa)


@pytest.mark.parametrize("wire", [False, True])
def test_a_bu_to_the_all_nodes_group_gets_no_ba_and_leaves_no_state(eve_key: KeyPair, eve_cga: Cga, wire: bool) -> None:
    """RFC 6275 §6.1.7 (a registration goes to a router of the HoA's prefix, a unicast address):
    a BU from a host on DAR1's link to ff02::1, signed with the host's own CGA key, and one with
    no authorisation at all: DAR1 drops both silently (it answered each with BA 148)."""
    w = world(eve_key, wire=wire)
    net, dar1 = w.net, w.dars[0]
    eve = net.add_cn("eve", eve_cga.address, on=dar1)
    signed = BindingUpdate(eve_cga.address, "ff02::1", None, 1, 400, cga_params=eve_cga.params, sign_with=eve_key)
    net.inject(eve, signed)
    net.inject(eve, BindingUpdate(eve_cga.address, "ff02::1", None, 2, 400))
    net.run(1)
    assert [h.msg.dst for h in net.hops(BindingUpdate, dst=dar1)] == ["ff02::1"] * 2  # they reached it
    assert bas_from(net, dar1) == [] and answers(w, eve) == []
    assert [e.effect.code for e in net.effects(dar1, Drop)] == ["multicast-destination"] * 2
    assert dar1.core.sizes() == (0, 0)
