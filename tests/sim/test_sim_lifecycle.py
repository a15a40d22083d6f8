"""Addresses over a journey (profile §3, §4): return to DAR1's link, release when the last flow
ends, and the single-anchor policy that behaves like legacy Mobile IPv6 (draft A.5)."""

from __future__ import annotations

from sim_world import bas_from, bus_to, exchange, notice_times, world

from scapy_fama.crypto import KeyPair
from scapy_fama.proto import KeepPolicy
from scapy_fama.proto.effects import TunnelDown
from scapy_fama.proto.messages import BindingUpdate, Datagram, Tunnelled


def test_return_to_dar1_deregisters_and_native_delivery_resumes(mn_key: KeyPair) -> None:
    w = world(mn_key)
    net, (dar1, dar2, _), mn = w.net, w.dars, w.mn
    hoa1, coa2, flow1, flow2 = w.figure2()
    net.run(2)
    t = net.now
    assert w.visit(1) == hoa1  # the same address again: no new CGA, no DAD (RFC 6275 §11.5.5)
    net.run(3)

    # de-registration from home: src = HoA1, no HAO, lifetime 0 (profile §4); BA 0
    (dereg,) = bus_to(net, dar1, t)
    assert (dereg.src, dereg.hoa, dereg.lifetime, dereg.deregistration) == (hoa1, None, 0, True)
    assert dereg.bad and dereg.cga_params is None  # PHKT-authorised, Kbm = SHA1(PHKT)
    (ba,) = bas_from(net, dar1, t)
    assert (ba.status, ba.seq, ba.lifetime, ba.dst) == (0, dereg.seq, 0, hoa1)
    assert dar1.bindings() == [] and dar1.record(hoa1) is not None  # the record outlives it
    assert [e.effect for e in net.effects(dar1, TunnelDown)] == [
        TunnelDown(dar1.address, coa2, hoa1)
    ]
    # HoA2 keeps its flow: registered at DAR2 from the CoA that is now HoA1 (CGA: first time)
    (bu2,) = bus_to(net, dar2, t)
    assert (bu2.src, bu2.hoa, bu2.cga_params is not None) == (hoa1, coa2, True)
    assert [(b.hoa, b.coa) for b in dar2.bindings()] == [(coa2, hoa1)]

    # native delivery of flow 1 resumes once DAR1 has removed the binding
    (deleted,) = notice_times(net, dar1, "binding-deleted")
    after = [h for h in net.hops(dst=mn) if h.time > deleted]
    native = [h.msg for h in after if isinstance(h.msg, Datagram) and h.msg.dst == hoa1]
    assert native and all(h.link == "dar1" for h in after)
    tunnelled_to_hoa1 = [
        h for h in net.hops(Tunnelled) if h.time > deleted and h.msg.inner.dst == hoa1
    ]
    assert tunnelled_to_hoa1 == []
    end = net.now - 0.1  # later datagrams are still in flight
    late = [s for s, at in flow1.down.sent.items() if deleted < at < end]
    assert late and all(s in flow1.down.received for s in late)
    assert all(s in flow1.up.received for s, at in flow1.up.sent.items() if deleted < at < end)
    (rebound,) = notice_times(net, mn, "binding-registered", t)  # HoA2, from HoA1
    assert all(s in flow2.down.received for s, at in flow2.down.sent.items() if rebound < at < end)


def test_address_released_when_its_last_flow_ends(mn_key: KeyPair) -> None:
    w = world(mn_key)
    net, (dar1, dar2, dar3), mn, cn = w.net, w.dars, w.mn, w.cn
    hoa1 = w.visit(1)
    flow1 = net.flow(cn, mn)
    coa2 = w.visit(2)
    flow2a, flow2b = net.flow(cn, mn), net.flow(cn, mn)  # two flows on HoA2
    coa3 = w.visit(3)  # no flow on CoA3
    assert {b.hoa for b in dar2.bindings()} == {coa2}

    flow2a.stop()  # HoA2 still has a flow: nothing happens
    net.run(1)
    assert coa2 in mn.addresses() and exchange(net, dar2, flow2a.stopped or 0) == []

    t = net.now
    flow2b.stop()  # the last flow on HoA2: de-register (lifetime 0) from CoA3, then forget it
    net.run(1)
    (dereg,) = bus_to(net, dar2, t)
    assert (dereg.src, dereg.hoa, dereg.lifetime, bool(dereg.bad)) == (coa3, coa2, 0, True)
    assert [(ba.status, ba.seq) for ba in bas_from(net, dar2, t)] == [(0, dereg.seq)]
    assert dar2.bindings() == [] and coa2 not in mn.addresses()
    assert [e.effect.data for e in net.notices(mn, "address-released")] == [
        {"address": coa2, "dar": dar2.address, "deregistered": True}
    ]
    assert [(b.hoa, b.coa) for b in dar1.bindings()] == [(hoa1, coa3)]  # flow 1 still runs

    # CoA3 had no flow: moving on releases it without any signalling (it was never registered)
    t = net.now
    w.visit(1)
    assert coa3 not in mn.addresses() and exchange(net, dar3) == []
    assert net.notices(mn, "address-released")[-1].effect.data == {
        "address": coa3,
        "dar": dar3.address,
        "deregistered": False,
    }
    flow1.stop()  # the current address is native: closing its flow releases nothing
    net.run(1)
    assert mn.addresses() == [hoa1] and bus_to(net, dar1, t + 0.5) == []


def test_single_anchor_behaves_like_legacy_mipv6(mn_key: KeyPair) -> None:
    w = world(mn_key, keep=KeepPolicy.SINGLE_ANCHOR)
    net, (dar1, dar2, dar3), mn, cn = w.net, w.dars, w.mn, w.cn
    hoa1 = w.visit(1)
    coa2 = w.visit(2)  # no flow on HoA1: single-anchor keeps it anyway (the home address)
    net.flow(cn, mn)  # a flow on CoA2 does not make DAR2 an anchor
    coa3 = w.visit(3)
    net.run(2)

    bus = [h.msg for h in net.hops(BindingUpdate, src=mn)]
    assert {bu.dst for bu in bus} == {dar1.address}  # DAR1 is the only home agent
    assert [(bu.src, bu.hoa) for bu in bus] == [(coa2, hoa1), (coa3, hoa1)]
    assert exchange(net, dar2) == [] and exchange(net, dar3) == []
    assert [(b.hoa, b.coa) for b in dar1.bindings()] == [(hoa1, coa3)]
    assert dar2.bindings() == [] and dar3.bindings() == []
    assert mn.addresses() == [hoa1, coa3]  # CoA2 was released on leaving DAR2, flow or not
