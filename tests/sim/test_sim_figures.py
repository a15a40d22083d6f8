"""The draft's figures 1-4 on SimNet: messages, binding caches, tunnels and delivered data.

Figure 1: first handover (DAR1 -> DAR2), one BU to DAR1, a tunnel DAR1 <-> CoA2.
Figure 2: flow 1 through DAR1's tunnel, flow 2 native at DAR2, data delivered both ways.
Figure 3: second handover: BUs to DAR1 (now PHKT-authorised) and DAR2 (CGA) from CoA3.
Figure 4: at one DAR, the first BU is CGA-authorised and brings a PHKT, the next uses it.
"""

from __future__ import annotations

import pytest
from sim_world import DELAY, bas_from, bus_to, exchange, world

from scapy_fama.crypto import KeyPair
from scapy_fama.net.sim_events import Hop
from scapy_fama.proto.bul import BulState
from scapy_fama.proto.effects import Notify, TunnelDown, TunnelUp
from scapy_fama.proto.messages import BindingUpdate, Datagram, Tunnelled

LIFETIME = 86_400  # requested by default, granted by default (profile §6 step 5)


def control(hops: list[Hop]) -> list[tuple[str, str, str]]:
    """(type, from, to) of the non-data hops."""
    return [
        (type(h.msg).__name__, h.src, h.dst)
        for h in hops
        if not isinstance(h.msg, (Datagram, Tunnelled))
    ]


def test_figure1_first_handover(mn_key: KeyPair) -> None:
    w = world(mn_key)
    net, (dar1, dar2, _), mn = w.net, w.dars, w.mn
    hoa1 = w.visit(1)
    net.flow(w.cn, mn)  # keeps HoA1 under the default keep policy (flows)
    net.run(1)
    t = net.now
    coa2 = w.visit(2)

    # on the wire, in order: attachment at DAR2, then one BU to DAR1 and its BA, relayed by DAR2
    assert control([h for h in net.hops() if h.time >= t]) == [
        ("RouterSolicitation", "mn", "dar2"),
        ("RouterAdvertisement", "dar2", "mn"),
        ("BindingUpdate", "mn", "dar2"),
        ("BindingUpdate", "dar2", "dar1"),
        ("BindingAck", "dar1", "dar2"),
        ("BindingAck", "dar2", "mn"),
    ]
    assert exchange(net, dar2, t) == []  # the current address is native: no BU to DAR2
    (bu,) = bus_to(net, dar1, t)
    assert (bu.src, bu.dst, bu.hoa, bu.lifetime, bu.ack, bu.home) == (
        coa2,
        dar1.address,
        hoa1,
        LIFETIME,
        True,
        True,
    )
    # profile §4, first BU: CGA Parameters + Signature, no Nonce Indices, no BAD
    assert bu.cga_params and bu.signature and bu.nonce_indices is None and bu.bad is None
    (ba,) = bas_from(net, dar1, t)
    assert (ba.status, ba.seq, ba.lifetime, ba.dst, ba.hoa) == (0, bu.seq, LIFETIME, coa2, hoa1)
    assert ba.phkt_ciphertext and ba.bad  # PHKT issued, BAD keyed with it

    # binding cache, tunnels at both ends, BUL
    assert [(b.hoa, b.coa, b.lifetime) for b in dar1.bindings()] == [(hoa1, coa2, LIFETIME)]
    assert dar2.bindings() == []
    assert [e.effect for e in net.effects(dar1, TunnelUp)] == [TunnelUp(dar1.address, coa2, hoa1)]
    assert [e.effect for e in net.effects(mn, TunnelUp)] == [TunnelUp(coa2, dar1.address, hoa1)]
    entry = mn.bul()[hoa1]
    assert (entry.state, entry.coa, entry.tunnel) == (BulState.BOUND, coa2, coa2)
    record = dar1.record(hoa1)
    assert record is not None and entry.phkt == record.phkt and record.last_seq == bu.seq


def test_figure2_flow1_tunnelled_flow2_native(mn_key: KeyPair) -> None:
    w = world(mn_key)
    net, (dar1, dar2, _), mn, cn = w.net, w.dars, w.mn, w.cn
    hoa1 = w.visit(1)
    flow1 = net.flow(cn, mn)
    net.run(1)
    coa2 = w.visit(2)  # settled: HoA1 bound at DAR1
    t = net.now
    flow2 = net.flow(cn, mn)
    assert flow2.address == coa2
    net.run(5)
    stop = net.now
    flow1.stop()
    flow2.stop()
    net.run(1)

    # flow 1 down: CN -> DAR1, tunnelled DAR1 -> CoA2 (profile §8), one tunnelled packet a datagram
    down1 = [h.msg for h in net.hops(Tunnelled, src=dar1) if t <= h.time < stop]
    assert down1 and {(m.src, m.dst, m.inner.dst) for m in down1} == {(dar1.address, coa2, hoa1)}
    assert len(down1) == len([s for s, at in flow1.down.sent.items() if t - DELAY <= at < stop])
    # flow 1 up: reverse-tunnelled CoA2 -> DAR1, then natively from HoA1 to the CN
    up1 = [h.msg for h in net.hops(Tunnelled, src=mn) if h.time >= t]
    assert up1 and {(m.src, m.dst, m.inner.src) for m in up1} == {(coa2, dar1.address, hoa1)}
    assert {h.msg.src for h in net.hops(Datagram, src=dar1, dst=cn) if h.time >= t} == {hoa1}
    # flow 2: native both ways, never in a tunnel
    assert all(coa2 not in (m.inner.src, m.inner.dst) for m in (h.msg for h in net.hops(Tunnelled)))
    assert {h.msg.dst for h in net.hops(Datagram, src=dar2, dst=mn)} == {coa2}

    # data: flow 2 whole, flow 1 whole since the binding stood; exact bytes
    for direction in (flow2.down, flow2.up):
        assert direction.missing() == []
        assert direction.bytes_received == direction.bytes_sent == 100 * len(direction.sent)
    for direction in (flow1.down, flow1.up):
        assert [s for s in direction.missing() if direction.sent[s] >= t] == []
    assert len(flow1.down.received) > 50 and len(flow1.up.received) > 50


def test_figure3_second_handover(mn_key: KeyPair) -> None:
    w = world(mn_key)
    net, (dar1, dar2, dar3), mn = w.net, w.dars, w.mn
    hoa1, coa2, _, _ = w.figure2()  # flow 2 keeps HoA2 = CoA2 after the next move
    (first_bu_dar1,) = bus_to(net, dar1)
    t = net.now
    coa3 = w.visit(3)

    assert exchange(net, dar1, t) == ["BindingUpdate", "BindingAck"]
    assert exchange(net, dar2, t) == ["BindingUpdate", "BindingAck"]
    assert exchange(net, dar3, t) == []
    (bu1,), (bu2,) = bus_to(net, dar1, t), bus_to(net, dar2, t)
    assert (bu1.src, bu1.hoa, bu2.src, bu2.hoa) == (coa3, hoa1, coa3, coa2)
    # DAR1 is now PHKT-authorised: Nonce Indices(HNI 0, CNI 0) + BAD, no CGA (profile §4)
    assert bu1.cga_params is None and bu1.signature is None
    assert bu1.nonce_indices == (0, 0) and bu1.bad
    assert bu1.seq == (first_bu_dar1.seq + 1) % 65536
    # DAR2 sees its first BU: CGA-authorised
    assert bu2.cga_params and bu2.signature and bu2.bad is None
    (ba1,), (ba2,) = bas_from(net, dar1, t), bas_from(net, dar2, t)
    assert (ba1.status, ba1.seq, ba1.phkt_ciphertext, bool(ba1.bad)) == (0, bu1.seq, None, True)
    assert (ba2.status, ba2.seq, bool(ba2.phkt_ciphertext)) == (0, bu2.seq, True)

    # caches and tunnels moved to CoA3
    assert [(b.hoa, b.coa) for b in dar1.bindings()] == [(hoa1, coa3)]
    assert [(b.hoa, b.coa) for b in dar2.bindings()] == [(coa2, coa3)]
    assert dar3.bindings() == []
    assert [e.effect for e in net.effects(dar1) if e.time >= t] == [
        TunnelDown(dar1.address, coa2, hoa1),
        TunnelUp(dar1.address, coa3, hoa1),
        Notify("binding-updated", {"hoa": hoa1, "coa": coa3, "lifetime": LIFETIME}),
    ]
    assert [e.effect.event for e in net.notices(dar2) if e.time >= t] == [
        "binding-created",
        "phkt-issued",
    ]
    assert {a: (e.state, e.coa) for a, e in mn.bul().items() if a != coa3} == {
        hoa1: (BulState.BOUND, coa3),
        coa2: (BulState.BOUND, coa3),
    }


def test_figure4_cga_then_phkt(mn_key: KeyPair) -> None:
    w = world(mn_key, binding_lifetime=40)  # refresh at 80 %: 32 s after the BU
    net, dar1, mn = w.net, w.dars[0], w.mn
    hoa1 = w.visit(1)
    net.flow(w.cn, mn)
    w.visit(2)
    net.run(40)

    first, refresh = bus_to(net, dar1)
    assert first.cga_params and first.signature and first.bad is None  # CGA, no PHKT yet
    assert refresh.cga_params is None and refresh.nonce_indices == (0, 0) and refresh.bad
    assert refresh.seq == (first.seq + 1) % 65536
    times = [h.time for h in net.hops(BindingUpdate, src=mn)]
    assert times[1] - times[0] == pytest.approx(32.0)
    ba_first, ba_refresh = bas_from(net, dar1)
    assert ba_first.phkt_ciphertext and ba_first.bad and ba_first.lifetime == 40
    assert ba_refresh.phkt_ciphertext is None and ba_refresh.bad and ba_refresh.status == 0
    assert [e.effect.event for e in net.notices(dar1)].count("phkt-issued") == 1
    record, entry = dar1.record(hoa1), mn.bul()[hoa1]
    assert record is not None and record.phkt == entry.phkt and record.last_seq == refresh.seq
