"""Faults (profile §7): lost BUs and BAs (back-off, a new sequence number every time), and a
DAR that restarts and forgets its PHKTs (BA 147, then a CGA-signed BU again)."""

from __future__ import annotations

from itertools import pairwise

import pytest
from sim_world import DELAY, arrived, bas_from, bus_to, notice_times, world

from scapy_fama.crypto import KeyPair
from scapy_fama.net.sim_events import Change, Undelivered
from scapy_fama.proto.messages import BindingAck, BindingUpdate


def test_lost_bus_and_ba_back_off_with_new_sequence_numbers(mn_key: KeyPair) -> None:
    w = world(mn_key)
    net, dar1, mn = w.net, w.dars[0], w.mn
    hoa1 = w.visit(1)
    net.flow(w.cn, mn)
    t = net.now
    net.lose(BindingUpdate, 2)  # the first two BUs, on their first hop
    net.lose(BindingAck, 1)  # the BA to the third
    coa2 = w.visit(2, settle=15)

    sent = [h for h in net.hops(BindingUpdate, src=mn, lost=None) if h.time >= t]
    assert [h.lost for h in sent] == ["fault", "fault", None, None]
    times = [h.time for h in sent]
    # RFC 6275 §11.8 / profile §7: 1.5 s for a first registration, then doubling
    assert [b - a for a, b in pairwise(times)] == pytest.approx([1.5, 3.0, 6.0])
    seqs = [h.msg.seq for h in sent]
    assert seqs == [(seqs[0] + i) % 65536 for i in range(4)]  # a new seq every time
    assert all(h.msg.cga_params and h.msg.signature for h in sent)  # no PHKT yet: all CGA

    # DAR1 accepted the third and the fourth; the BA to the third was lost
    assert [(ba.status, ba.seq) for ba in bas_from(net, dar1, t)] == [(0, seqs[2]), (0, seqs[3])]
    assert [h.lost for h in net.hops(BindingAck, src=dar1, lost=None)] == ["fault", None]
    assert notice_times(net, mn, "binding-registered", t) == [pytest.approx(times[3] + 4 * DELAY)]
    record = dar1.record(hoa1)
    assert record is not None and record.last_seq == seqs[3]
    assert record.phkt == mn.bul()[hoa1].phkt  # the PHKT of the BA that arrived
    assert [(b.hoa, b.coa) for b in dar1.bindings()] == [(hoa1, coa2)]


def test_seeded_loss_is_survived_by_retransmission(mn_key: KeyPair) -> None:
    w = world(mn_key, seed=7)  # a seed whose draws lose BUs and a BA
    net, dar1, mn = w.net, w.dars[0], w.mn
    hoa1 = w.visit(1)
    net.flow(w.cn, mn)
    net.link(w.dars[1]).loss = 0.3  # DAR2's access link
    coa2 = w.visit(2, settle=40)
    bus = net.hops(BindingUpdate, src=mn, lost=None)
    assert [h.lost for h in bus if h.lost] != [] and {h.lost for h in bus} == {"loss", None}
    assert len({h.msg.seq for h in bus}) == len(bus)  # every retransmission a new seq
    assert [(b.hoa, b.coa) for b in dar1.bindings()] == [(hoa1, coa2)]
    assert mn.bul()[hoa1].tunnel == coa2


def test_dar_restart_ba_147_then_cga_again(mn_key: KeyPair) -> None:
    w = world(mn_key, binding_lifetime=40)  # refresh 32 s after the BU
    net, dar1, mn = w.net, w.dars[0], w.mn
    hoa1 = w.visit(1)
    flow = net.flow(w.cn, mn)
    coa2 = w.visit(2)
    record = dar1.record(hoa1)
    assert record is not None
    old_phkt = record.phkt
    t = net.now
    net.restart(dar1)
    assert net.events[-1] == Change(t, "dar1", "restart")
    assert dar1.bindings() == [] and dar1.record(hoa1) is None
    net.run(40)

    refresh, again = bus_to(net, dar1, t)
    assert refresh.bad and refresh.cga_params is None  # PHKT-authorised refresh
    assert again.cga_params and again.signature and again.seq == (refresh.seq + 1) % 65536
    ba147, ba0 = arrived(net, BindingAck, mn, t)
    assert (ba147.msg.status, ba147.msg.bad, ba147.msg.phkt_ciphertext) == (147, None, None)
    assert (ba0.msg.status, bool(ba0.msg.phkt_ciphertext)) == (0, True)
    resent = next(h for h in net.hops(BindingUpdate, src=mn) if h.msg.seq == again.seq)
    assert resent.time == ba147.arrival  # at once, not after a back-off (profile §7)

    record = dar1.record(hoa1)
    assert record is not None and record.phkt != old_phkt and record.phkt == mn.bul()[hoa1].phkt
    assert [(b.hoa, b.coa) for b in dar1.bindings()] == [(hoa1, coa2)]
    # data for HoA1 is lost between the restart and the new binding, delivered after it
    (rebound,) = notice_times(net, dar1, "binding-created", t)
    lost = [
        e.time for e in net.events if isinstance(e, Undelivered) and e.node == "dar1" and e.time > t
    ]
    assert lost and max(lost) <= rebound
    end = net.now - 0.1
    assert all(s in flow.down.received for s, at in flow.down.sent.items() if rebound < at < end)
