"""A SimNet handover step by step (scapy_fama.latency), from its event log and from its capture.

Links of 5 ms each (access and backbone), the MN keeping HoA1 at DAR1 while it moves to
DAR2, a flow of one datagram each way every 10 ms. By hand, from the link-up on DAR2's link
(the MN's clock, net.sim_latency):

    RS 0 (rs_delay 0)          RA 10 (5 ms there, answered at once, 5 ms back)
    CoA 10 (optimistic)        BU to DAR1 10
    BA 30 (DAR2's link 5 + backbone 5, each way)
    down in [30, 40]: DAR1 holds the binding at 20 ms and tunnels the flow's next datagram
    (one every 10 ms), 10 ms on its way; up in [30, 40]: the MN's next datagram after the BA

The capture of DAR2's link stamps a packet as it is put on the link: the same moments,
counted from the RS, less one access-link delay for what travels towards the MN. tshark
gives the capture's own times.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scapy_fama.analysis.analyze import analyze
from scapy_fama.crypto import KeyPair
from scapy_fama.latency import AGAIN, BA, BU, COA, COT, COTI, DOWN, LINK_DOWN, LINK_UP, RA, REFUSAL, RS, UP, Breakdown
from scapy_fama.net.sim_latency import breakdowns
from scapy_fama.proto import DarConfig, MnConfig
from scapy_fama.proto.messages import BindingAck, BindingUpdate
from tests.corpus import TSHARK, TSHARK_MISSING, run_tshark
from tests.sim.sim_world import World, world

ACCESS = 5.0  # ms, every link


def _at(found: Breakdown) -> dict[str, float]:
    return {s.what: round(s.at * 1e3, 6) for s in found.steps}


@pytest.fixture(scope="module")
def moved(mn_key: KeyPair) -> World:
    w = world(mn_key, wire=True)
    w.visit(1)
    w.net.flow(w.cn, w.mn, interval=0.01)
    w.visit(2)
    return w


def test_simnet_says_where_every_millisecond_of_a_handover_went(moved: World) -> None:
    first, second = breakdowns(moved.net.events, "mn")
    assert first is not None and first.origin == LINK_UP and first.link_down is None  # no move before it
    assert second is not None and second.origin == LINK_UP and second.link_down == 0.0  # no gap
    at = _at(second)
    assert {k: at[k] for k in (LINK_UP, RS, RA, COA, BU, BA)} == {LINK_UP: 0, RS: 0, RA: 10, COA: 10, BU: 10, BA: 30}
    assert 30 <= at[DOWN] <= 40 and 30 <= at[UP] <= 40
    hoa1 = moved.mn.addresses()[0]
    assert {(s.hoa, s.dar) for s in second.steps if s.what == BA} == {(hoa1, moved.dars[0].address)}
    phases = {s.what: (s.phase, round(s.since * 1e3, 6) if s.since is not None else None) for s in second.steps}
    assert phases[RA] == ("router discovery", 10) and phases[COA] == ("address configuration", 0)
    assert phases[BA] == ("registration", 20)
    assert second.to_last_ba is not None and round(second.to_last_ba * 1e3, 6) == 30
    assert second.to_data is not None and round(second.to_data * 1e3, 6) == at[DOWN]


@pytest.fixture(scope="module")
def secure_first(mn_key: KeyPair) -> World:
    """As ``moved``, with DARs in secure mode (profile §5) and an MN without ``coa_test``: after
    the move its first BU to DAR1 has no care-of token and is refused 137 (§6 step 4); it runs
    the CoTI/CoT exchange and sends the BU again. By hand, in ms from the link-up: BU 10, BA 137
    30, CoTI 30, CoT 50, BU 50, BA 70."""
    w = world(mn_key, wire=True, dar_config=DarConfig(require_coa_test=True))
    w.visit(1)
    w.net.flow(w.cn, w.mn, interval=0.01)
    w.visit(2)
    return w


TOWARDS_MN = (RA, REFUSAL, COT, BA, DOWN)  # put on the link by DAR2: one access delay before they arrive; the
# others the MN sends: stamped as sent, in its log and in the capture
MH_TYPES = {COTI: "2", COT: "4", BU: "5", AGAIN: "5", REFUSAL: "6", BA: "6"}  # as tshark reads them


@pytest.mark.parametrize("run", ["moved", "secure_first"])
def test_the_capture_of_the_access_link_gives_the_same_steps_one_link_earlier_towards_the_mn(
    run: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """SimNet's breakdown of the move (its log) and fama-analyze's of its capture of DAR2's link
    have the same steps in the same order, with the same statuses and phases; from the RS, those
    the MN sends at the same times and those towards the MN one access delay earlier. The CoA is
    usable when the MN configures it in the log and at its first signalling in the capture: a
    step of both, timed by neither. A first secure-mode move has the BU refused 137 before the
    care-of test in both (SimNet hid it, and had the CoTI "to signal")."""
    w: World = request.getfixturevalue(run)
    found = breakdowns(w.net.events, "mn")[1]
    assert found is not None and found.origin == LINK_UP
    sim = [s for s in found.steps if s.what not in (LINK_DOWN, LINK_UP)]
    rs = next(s.at for s in sim if s.what == RS)
    pcap = w.net.pcaps(tmp_path)["dar2"]
    (node,) = analyze([pcap]).mns
    (handover,) = [h for h in node.handovers if h.breakdown is not None and h.coa == w.mn.current_address]
    assert handover.breakdown is not None and handover.breakdown.origin == "first moment"
    seen = handover.breakdown.steps
    assert [(s.what, s.status, s.hoa, s.dar) for s in seen] == [(s.what, s.status, s.hoa, s.dar) for s in sim]
    assert [s.phase for s in seen[1:]] == [s.phase for s in sim[1:]]  # the capture's first step has none
    for mine, its in zip(sim, seen):
        if mine.what != COA:
            shift = ACCESS if mine.what in TOWARDS_MN else 0.0
            assert round(its.at * 1e3, 6) == round((mine.at - rs) * 1e3 - shift, 6), mine.what
    signalling = [s for s in seen if s.what in MH_TYPES]
    if run == "secure_first":
        assert [(s.what, s.status) for s in signalling] == [(BU, None), (REFUSAL, 137), (COTI, None), (COT, None),
                                                            (BU, None), (BA, 0)]  # fmt: skip
    if TSHARK is None:
        pytest.skip(TSHARK_MISSING)
    rows = [r.split("\t") for r in run_tshark(pcap, "-T", "fields", "-e", "frame.time_relative", "-e", "icmpv6.type",
                                              "-e", "mip6.mhtype", "-e", "mip6.ba.status").splitlines()]  # fmt: skip
    start = max(float(t) for t, icmp, _, _ in rows if icmp == "133")  # the RS of this handover: the last one
    ra = min(float(t) for t, icmp, _, _ in rows if float(t) >= start and icmp == "134")
    assert round((ra - start) * 1e3, 6) == round(next(s.at for s in seen if s.what == RA) * 1e3, 6)
    mobility = [(mh, status, round((float(t) - start) * 1e3, 6)) for t, _, mh, status in rows
                if float(t) >= start and mh][: len(signalling)]  # fmt: skip
    assert mobility == [(MH_TYPES[s.what], "" if s.status is None else str(s.status), round(s.at * 1e3, 6))
                        for s in signalling]  # fmt: skip


def test_a_bu_sent_again_is_a_step_of_its_own_in_the_log_and_in_the_capture(mn_key: KeyPair, tmp_path: Path) -> None:
    """DAR1's first BA after the move is lost on the backbone: the MN sends the BU again when its
    timer runs out. The breakdown shows the first BU, the one the BA answers ("no answer" between
    them) and the BA ("registration" from the second BU), on the MN's clock and in the capture of
    DAR2's link, whose BU times tshark gives."""
    w = world(mn_key, wire=True)
    w.visit(1)
    w.net.flow(w.cn, w.mn, interval=0.01)  # HoA1 in use: kept
    dar1 = w.dars[0]
    t = w.net.now
    w.net.lose(lambda m: isinstance(m, BindingAck) and m.src == dar1.address)
    w.visit(2)
    sent = [h.time for h in w.net.hops(BindingUpdate, src=w.mn) if h.time >= t and h.msg.dst == dar1.address]
    answered = [h.arrival for h in w.net.hops(BindingAck, dst=w.mn, lost=None) if h.time >= t and h.msg.src == dar1.address]
    assert len(sent) == 2 and len(answered) == 1
    second = breakdowns(w.net.events, "mn")[1]
    assert second is not None
    origin = next(e.time for e in w.net.events if getattr(e, "what", None) == "link-up" and e.time >= t)
    at = _at(second)
    assert (at[BU], at[AGAIN], at[BA]) == tuple(round((x - origin) * 1e3, 6) for x in (sent[0], sent[1], answered[0]))
    phases = {s.what: (s.phase, round(s.since * 1e3, 6)) for s in second.steps if s.since is not None}
    assert phases[AGAIN] == ("no answer", round((sent[1] - sent[0]) * 1e3, 6))
    assert phases[BA] == ("registration", round((answered[0] - sent[1]) * 1e3, 6))
    (node,) = analyze([w.net.pcaps(tmp_path)["dar2"]]).mns
    (handover,) = [h for h in node.handovers if h.breakdown is not None and h.coa == w.mn.current_address]
    assert handover.breakdown is not None
    seen = _at(handover.breakdown)
    assert seen[AGAIN] - seen[BU] == at[AGAIN] - at[BU]  # sent by the MN: stamped as sent
    if TSHARK is None:
        pytest.skip(TSHARK_MISSING)
    pcap = w.net.pcaps(tmp_path / "again")["dar2"]
    rows = [r.split("\t") for r in run_tshark(pcap, "-T", "fields", "-e", "frame.time_relative", "-e", "mip6.mhtype",
                                              "-e", "ipv6.dst").splitlines()]  # fmt: skip
    bus = [float(t) for t, mh, dst in rows if mh == "5" and dar1.address in dst.split(",")]
    assert len(bus) >= 2 and round((bus[-1] - bus[-2]) * 1e3, 6) == seen[AGAIN] - seen[BU]


def test_a_bu_refused_and_sent_again_is_a_refusal_then_a_bu_sent_again_in_the_log_and_in_the_capture(
    mn_key: KeyPair, tmp_path: Path
) -> None:
    """DAR1 restarts while the MN is on DAR2's link and forgets the PHKT of HoA1: after the move to
    DAR3 the MN's PHKT-authorised BU to DAR1 is answered 147, and the MN sends it again at once
    with CGA (profile §7), answered 0. The BU was answered, so the time to the BU sent again is
    no "no answer": the breakdown shows the refusal with its status ("registration" from the BU),
    then the BU sent again ("to signal again"), then the BA ("registration" from the BU sent
    again), on the MN's clock and in the capture of DAR3's link, whose times tshark gives."""
    w = world(mn_key, wire=True)
    w.visit(1)
    w.net.flow(w.cn, w.mn, interval=0.01)  # HoA1 in use: kept
    w.visit(2)
    dar1 = w.dars[0]
    w.net.restart(dar1)
    t = w.net.now
    w.visit(3)
    sent = [h.time for h in w.net.hops(BindingUpdate, src=w.mn) if h.time >= t and h.msg.dst == dar1.address]
    answers = [(h.arrival, h.msg.status) for h in w.net.hops(BindingAck, dst=w.mn) if h.time >= t
               and h.msg.src == dar1.address]  # fmt: skip
    assert len(sent) == 2 and [status for _, status in answers] == [147, 0]
    third = breakdowns(w.net.events, "mn")[2]
    assert third is not None
    origin = next(e.time for e in w.net.events if getattr(e, "what", None) == "link-up" and e.time >= t)
    mine = [s for s in third.steps if s.dar == dar1.address]
    assert [(s.what, s.status, s.phase) for s in mine][:4] == [
        (BU, None, "to signal"), (REFUSAL, 147, "registration"), (AGAIN, None, "to signal again"),
        (BA, 0, "registration"),
    ]  # fmt: skip
    expected = [sent[0], answers[0][0], sent[1], answers[1][0]]
    assert [round(s.at * 1e3, 6) for s in mine[:4]] == [round((x - origin) * 1e3, 6) for x in expected]
    assert third.to_last_ba is not None and third.to_last_ba >= answers[1][0] - origin
    pcap = w.net.pcaps(tmp_path)["dar3"]
    (node,) = analyze([pcap]).mns
    (handover,) = [h for h in node.handovers if h.breakdown is not None and h.coa == w.mn.current_address]
    assert handover.breakdown is not None
    seen = [s for s in handover.breakdown.steps if s.dar == dar1.address]
    assert [(s.what, s.status, s.phase) for s in seen][:4] == [(s.what, s.status, s.phase) for s in mine[:4]]
    assert round((seen[2].at - seen[0].at) * 1e3, 6) == round((sent[1] - sent[0]) * 1e3, 6)  # sent by the MN
    if TSHARK is None:
        pytest.skip(TSHARK_MISSING)
    rows = [r.split("\t") for r in run_tshark(pcap, "-T", "fields", "-e", "frame.time_relative", "-e", "mip6.mhtype",
                                              "-e", "ipv6.src", "-e", "ipv6.dst", "-e", "mip6.ba.status").splitlines()]  # fmt: skip
    bus = [float(t) for t, mh, _, dst, _ in rows if mh == "5" and dar1.address in dst.split(",")]
    bas = [(float(t), int(st)) for t, mh, src, _, st in rows if mh == "6" and dar1.address in src.split(",")]
    assert len(bus) == 2 and [st for _, st in bas] == [147, 0]  # DAR3's link: this handover's only
    truth = [round((x - bus[0]) * 1e3, 3) for x in (bus[0], bas[0][0], bus[1], bas[1][0])]
    assert [round((s.at - seen[0].at) * 1e3, 3) for s in seen[:4]] == truth


def test_two_mns_moving_at_once_each_count_from_their_own_rs_in_the_capture(mn_key: KeyPair, tmp_path: Path) -> None:
    """Two MNs move to DAR2's link 1 ms apart. Each solicits from :: (profile §2), and DAR2's one
    multicast RA answers both (RFC 4861 §6.2.6); neither RS names its MN, and the first to solicit
    signals first. In the capture of DAR2's link each MN's breakdown counts from its own RS, at
    the time tshark gives it, and has the steps of its own log (net.sim_latency), less one
    access delay for what travels towards the MN: no MN is given the other's RS, or none."""
    w = world(mn_key, wire=True)
    other = w.net.add_mn("mn2", keypair=KeyPair.generate(1024), config=MnConfig(sec=0))
    w.visit(1)
    w.net.attach(other, w.dars[0])
    w.net.run(3)
    for mn in (w.mn, other):
        w.net.flow(w.cn, mn, interval=0.01)  # the first address in use: kept
    w.net.handover(w.mn, w.dars[1])
    w.net.run(0.001)
    w.net.handover(other, w.dars[1])
    w.net.run(3)
    pcap = w.net.pcaps(tmp_path)["dar2"]
    nodes = analyze([pcap]).mns
    starts = []
    for mn in (w.mn, other):
        sim = _at(breakdowns(w.net.events, mn.name)[1])  # type: ignore[arg-type]
        (handover,) = [h for m in nodes for h in m.handovers if h.coa == mn.current_address]
        assert handover.breakdown is not None and handover.breakdown.origin == "first moment"
        seen = _at(handover.breakdown)
        assert seen[RS] == 0 and seen[BU] == sim[BU] - sim[RS], mn.name  # sent by the MN: stamped as sent
        for towards_mn in (RA, BA, DOWN):
            assert seen[towards_mn] == sim[towards_mn] - sim[RS] - ACCESS, (mn.name, towards_mn)
        starts.append(handover.start)
    if TSHARK is None:
        pytest.skip(TSHARK_MISSING)
    rows = [r.split("\t") for r in run_tshark(pcap, "-T", "fields", "-e", "frame.time_epoch", "-e", "icmpv6.type")
            .splitlines()]  # fmt: skip
    rs = sorted(float(t) for t, icmp in rows if icmp == "133")[-2:]  # the two of the move
    assert [round(x, 6) for x in starts] == [round(x, 6) for x in rs] and round((rs[1] - rs[0]) * 1e3, 6) == 1.0
