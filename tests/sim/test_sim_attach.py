"""Fast attachment on SimNet (profile §2 steps 1 and 3, §7): RS at once, RA at once or rate-
limited, optimistic DAD and the RFCs' conservative switches, a DAD collision during optimistic
use, and BUs to different DARs that never wait for each other.

Times are the net's virtual clock: each link is 5 ms one way, so a round trip MN <-> its DAR
is 10 ms and MN <-> another DAR (over the backbone) 20 ms.
"""

from __future__ import annotations

import pytest
from sim_world import DELAY, arrived, bas_from, bus_to, notice_times, world

from scapy_fama.crypto import KeyPair, cga_with_prefix
from scapy_fama.proto import DarConfig, KeepPolicy
from scapy_fama.proto.bul import BulState
from scapy_fama.proto.messages import (
    BindingAck,
    BindingUpdate,
    CareOfTest,
    CareOfTestInit,
    RouterAdvertisement,
    RouterSolicitation,
    Tunnelled,
)
from scapy_fama.proto.dar import nesting
from scapy_fama.proto.mn import HOME_RTTS


def link_up_time(w, dar) -> float:  # type: ignore[no-untyped-def]
    (change,) = [
        e for e in w.net.events
        if getattr(e, "what", None) == "link-up" and e.link == dar.name
    ][-1:]  # fmt: skip
    return change.time


def test_rs_on_link_up_and_the_ra_at_once(mn_key: KeyPair) -> None:
    """Profile §2 step 1: the RS leaves with the link, the DAR answers it on arrival."""
    w = world(mn_key)
    w.net.run(1.0)  # past the DARs' first unsolicited RAs
    w.visit(1, settle=1.0)
    up = link_up_time(w, w.dars[0])
    (rs,) = w.net.hops(RouterSolicitation, src=w.mn)
    (ra,) = [h for h in w.net.hops(RouterAdvertisement, src=w.dars[0]) if h.time > up]
    assert (rs.time, ra.time) == (up, pytest.approx(up + DELAY))
    assert notice_times(w.net, w.mn, "address-configured") == [pytest.approx(up + 2 * DELAY)]


def test_the_rfcs_random_rs_and_ra_delays_are_switches(mn_key: KeyPair) -> None:
    """rs_delay 1 s (RFC 4861 §6.3.7) and ra_delay 0.5 s (§6.2.6) bring the waits back."""
    w = world(mn_key, dar_config=DarConfig(ra_delay=0.5), rs_delay=1.0)
    w.net.run(1.0)
    w.visit(1, settle=3.0)
    up = link_up_time(w, w.dars[0])
    (rs,) = w.net.hops(RouterSolicitation, src=w.mn)
    (ra,) = [h for h in w.net.hops(RouterAdvertisement, src=w.dars[0]) if h.time > up]
    assert up < rs.time < up + 1.0
    assert rs.arrival <= ra.time < rs.arrival + 0.5


@pytest.mark.parametrize(("limit", "expected"), [(3.0, 1), (0.03, 20)])
def test_multicast_ras_to_an_rs_flood_are_rate_limited(
    mn_key: KeyPair, limit: float, expected: int
) -> None:
    """Twenty RSs from :: in a second on DAR1's link: at most one multicast RA per
    min_delay_between_ras (RFC 4861 §6.2.6: 3 s; RFC 6275 §7.5: 30 ms, the profile's)."""
    w = world(mn_key, dar_config=DarConfig(min_delay_between_ras=limit))
    w.net.run(10.0)
    eve = w.net.add_cn("eve", "2001:db8:1::e", on=w.dars[0])
    t = w.net.now
    for i in range(20):
        w.net.at(t + i * 0.05, lambda: w.net.inject(eve, RouterSolicitation("::")))
    w.net.run(0.999)
    ras = [h for h in w.net.hops(RouterAdvertisement, src=w.dars[0]) if h.time >= t]
    assert len(ras) == expected and all(h.msg.dst == "ff02::1" for h in ras)


@pytest.mark.parametrize("optimistic", [True, False])
def test_the_bu_leaves_as_soon_as_the_coa_is_usable(mn_key: KeyPair, optimistic: bool) -> None:
    """Profile §2 step 3: optimistic by default; optimistic=False waits the 1 s DAD out."""
    w = world(mn_key, optimistic=optimistic)
    hoa1, coa2, flow1, _ = w.figure2()
    up = link_up_time(w, w.dars[1])
    ((bu, sent),) = [(h.msg, h.time) for h in w.net.hops(BindingUpdate, src=w.mn)]
    usable = up + 2 * DELAY + (0.0 if optimistic else 1.0)
    assert (bu.src, bu.hoa, sent) == (coa2, hoa1, pytest.approx(usable))
    (registered,) = notice_times(w.net, w.mn, "binding-registered")
    assert registered == pytest.approx(usable + 4 * DELAY)  # MN -> DAR2 -> DAR1 and back
    assert w.dars[0].binding(hoa1).coa == coa2
    gap = [s for s in flow1.down.missing() if flow1.down.sent[s] < registered]
    assert len(gap) == (1 if optimistic else 11)  # 0.1 s apart: 30 ms or 1.03 s without a binding


def test_a_dad_collision_on_the_optimistic_coa_re_registers_every_binding_from_it(
    mn_key: KeyPair,
) -> None:
    """Profile §2 step 3: a twin already holds the MN's CGA on DAR2's link."""
    w = world(mn_key, keep=KeepPolicy.ALL)
    net, (dar1, dar2, _), mn = w.net, w.dars, w.mn
    hoa1 = w.visit(1)
    twin = cga_with_prefix(mn.core.record(hoa1).cga, dar2.prefix).address
    net.add_cn("twin", twin, on=dar2)
    coa2 = w.visit(2)
    assert coa2 != twin and mn.core.record(coa2).cga.collision_count == 1
    (collision,) = [e for e in net.events if getattr(e, "what", None) == "dad-collision"]
    up = link_up_time(w, dar2)
    assert collision.time == pytest.approx(up + 4 * DELAY)  # RS, RA, the probe and its answer
    bus = bus_to(net, dar1)
    assert [(bu.src, bu.hoa) for bu in bus] == [(twin, hoa1), (coa2, hoa1)]
    assert dar1.binding(hoa1).coa == coa2 and mn.core.record(hoa1).bul.state is BulState.BOUND
    assert [e.effect.data["address"] for e in net.notices(mn, "address-duplicate")] == [twin]


def home_again(mn_key: KeyPair, **mn_config: object) -> tuple:  # type: ignore[type-arg]
    """HoA1 at DAR1 and HoA2 at DAR2 kept, the MN at DAR3, then back on DAR1's link."""
    w = world(mn_key, keep=KeepPolicy.ALL, **mn_config)
    hoa1, hoa2 = w.visit(1), w.visit(2)
    w.visit(3)
    assert {b.coa for d in w.dars[:2] for b in d.bindings()} == {w.mn.current_address}
    return w, hoa1, hoa2


@pytest.mark.parametrize("lost", ["BUs to DAR1", "BAs from DAR1"])
def test_a_home_dar_that_never_answers_delays_no_other_dar(mn_key: KeyPair, lost: str) -> None:
    """Profile §7: the home de-registration waits for its BA alone."""
    w, hoa1, hoa2 = home_again(mn_key)
    net, (dar1, dar2, _) = w.net, w.dars
    if lost == "BUs to DAR1":
        net.lose(lambda m: isinstance(m, BindingUpdate) and m.dst == dar1.address, 100)
    else:
        net.lose(lambda m: isinstance(m, BindingAck) and m.src == dar1.address, 100)
    t = net.now
    w.visit(1, settle=0.1)
    up = link_up_time(w, dar1)
    sent = net.hops(BindingUpdate, src=w.mn, lost=None)
    first = {h.msg.dst: h for h in reversed(sent) if h.time >= t}
    dereg, rebind = first[dar1.address], first[dar2.address]
    assert (dereg.msg.hoa, dereg.msg.lifetime, rebind.msg.hoa) == (None, 0, hoa2)
    assert dereg.time == rebind.time == pytest.approx(up + 2 * DELAY)  # as soon as the RA is in
    assert dar2.binding(hoa2).coa == hoa1
    if lost == "BAs from DAR1":  # DAR1 took the de-registration: DAR2's answer gets through
        assert w.mn.core.record(hoa2).bul.state is BulState.BOUND
    net.run(100.0)
    assert notice_times(net, w.mn, "deregistration-failed", t)
    assert dar2.binding(hoa2).coa == hoa1
    # DAR1 still tunnels HoA1 to CoA3, which DAR3 tunnels to HoA1: RFC 2473 §4.1 ends the loop
    assert max((nesting(h.msg) for h in net.hops(Tunnelled) if h.time >= t), default=0) <= 4


@pytest.mark.parametrize("secure", [False, True])
def test_back_home_every_answer_arrives_in_one_round(mn_key: KeyPair, secure: bool) -> None:
    """The de-registration reaches DAR1 before any answer to the other signalling passes it
    back (both leave the MN together, de-registration first), so DAR1 no longer tunnels the
    HoA's traffic to the old CoA when those answers come: nothing is retransmitted."""
    w, hoa1, hoa2 = home_again(mn_key, coa_test=secure)
    net, (dar1, dar2, _) = w.net, w.dars
    t = net.now
    w.visit(1, settle=2.0)
    to_dar2 = [h.msg for h in net.hops(src=w.mn) if h.time >= t and h.msg.dst == dar2.address]
    kinds = ["CoTI", "BU"] if secure else ["BU"]
    assert [{CareOfTestInit: "CoTI", BindingUpdate: "BU"}[type(m)] for m in to_dar2] == kinds
    assert [ba.status for ba in bas_from(net, dar2, t)] == [0]
    assert arrived(net, BindingAck, w.mn, t) and w.mn.core.record(hoa2).bul.state is BulState.BOUND
    assert dar1.bindings() == [] and dar2.binding(hoa2).coa == hoa1


@pytest.mark.parametrize("secure", [False, True])
def test_back_home_an_answer_tunnelled_to_the_old_coa_is_asked_for_again_soon(mn_key: KeyPair, secure: bool) -> None:
    """A home DAR that forwards in a fast path beside the one that takes the de-registration (the
    lab's kernel route) may tunnel DAR2's first answer to the old CoA: here it is lost. The home
    BA brings the retransmission forward, to HOME_RTTS home round trips after it (here a
    PHKT-authorised BU or a CoTI: no HOME_FLOOR, which is for CGA-signed BUs), instead of
    INITIAL_BINDACK_TIMEOUT (1 s) after it."""
    w, hoa1, hoa2 = home_again(mn_key, coa_test=secure)
    net, (dar1, dar2, _) = w.net, w.dars
    answer, question = (CareOfTest, CareOfTestInit) if secure else (BindingAck, BindingUpdate)
    net.lose(lambda m: isinstance(m, answer) and m.src == dar2.address)
    t = net.now
    w.visit(1, settle=2.0)
    dereg = next(h for h in net.hops(BindingUpdate, src=w.mn) if h.time >= t and h.msg.dst == dar1.address)
    home_ba = next(h for h in net.hops(BindingAck, dst=w.mn) if h.time >= t and h.msg.src == dar1.address)
    asked = [h.time for h in net.hops(question, src=w.mn) if h.time >= t and h.msg.dst == dar2.address]
    home_rtt = home_ba.arrival - dereg.time
    assert len(asked) == 2 and asked[0] == pytest.approx(dereg.time)
    question_asked = [h.msg for h in net.hops(question, src=w.mn) if h.time >= t and h.msg.dst == dar2.address]
    assert not any(getattr(q, "cga_params", None) for q in question_asked)  # DAR2 issued HoA2's PHKT before
    assert asked[1] == pytest.approx(home_ba.arrival + HOME_RTTS * home_rtt) and asked[1] - asked[0] < 0.5
    assert w.mn.core.record(hoa2).bul.state is BulState.BOUND and dar2.binding(hoa2).coa == hoa1


def test_back_home_a_slow_answer_to_a_cga_signed_bu_is_not_asked_for_twice(mn_key: KeyPair) -> None:
    """The home BA comes back fast; the other DARs' answers come later than HOME_RTTS home round
    trips (the backbone is slow). DAR3's, to the first (CGA-signed) BU for HoA3: HOME_FLOOR
    keeps the MN from signing a second BU, which would cost DAR3 a second CGA check and PHKT.
    DAR2's, to a PHKT-authorised BU for HoA2: asked for again, which costs DAR2 an HMAC."""
    w, hoa1, hoa2 = home_again(mn_key)
    net, (_, dar2, dar3) = w.net, w.dars
    t = net.now
    net.link().delay = 0.05  # the backbone: DAR2 and DAR3 are two of its hops away, DAR1 none
    w.visit(1, settle=2.0)
    to = {dar.address: [h.msg for h in net.hops(BindingUpdate, src=w.mn) if h.time >= t and h.msg.dst == dar.address]
          for dar in (dar2, dar3)}  # fmt: skip
    assert [bool(bu.cga_params) for bu in to[dar3.address]] == [True]
    assert [bool(bu.cga_params) for bu in to[dar2.address]] == [False, False]
    assert [ba.status for ba in bas_from(net, dar3, t)] == [0] and [ba.status for ba in bas_from(net, dar2, t)] == [0, 0]
    assert w.mn.core.record(hoa2).bul.state is BulState.BOUND and dar2.binding(hoa2).coa == hoa1
