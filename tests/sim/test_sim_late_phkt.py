"""Late PHKTs (RFC 4866 §4.9, profile §6 step 3, §7): without a PHKT the MN signs every BU with
its CGA key, retransmissions included, and the DAR issues a new PHKT for each one it accepts,
which replaces the one before. When BA(s) comes after BU(s+1) has left, the MN binds with PHKT(s)
and must take PHKT(s+1) from the BA that follows, bound by then, or its next PHKT-authorised BU
(the refresh, the de-registration) fails the DAR's BAD check until the back-off gives up.

Every scenario ends the same way: the refresh at 80 % of a 40 s lifetime and the de-registration
from home, both PHKT-authorised, are accepted by DAR1 on their first try.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from sim_world import (
    DELAY,
    World,
    arrived,
    bas_from,
    bus_to,
    held_phkts,
    notice_times,
    world,
)

from scapy_fama.crypto import KeyPair, encrypt_phkt, kbm
from scapy_fama.net.sim_events import NodeEffect
from scapy_fama.proto import KeepPolicy
from scapy_fama.proto.bul import BulState
from scapy_fama.proto.effects import Drop, Effect, Notify
from scapy_fama.proto.messages import BindingAck, BindingUpdate

LIFETIME = 40  # s: the refresh goes 32 s after the BU


def journey(key: KeyPair) -> tuple[World, str]:
    """The MN at DAR1 (HoA1, kept), about to move to DAR2."""
    w = world(key, binding_lifetime=LIFETIME, keep=KeepPolicy.ALL)
    return w, w.visit(1)


def did(w: World, since: int) -> list[Effect]:
    """What the MN did about BAs after the net's first ``since`` events: the PHKTs it stored and
    the BAs it dropped."""
    return [
        e.effect
        for e in w.net.events[since:]
        if isinstance(e, NodeEffect)
        and e.node == w.mn.name
        and (
            (isinstance(e.effect, Notify) and e.effect.event == "phkt-stored")
            or (isinstance(e.effect, Drop) and isinstance(e.effect.msg, BindingAck))
        )
    ]


def stored(w: World, hoa1: str, *, late: bool) -> Notify:
    """The MN's notice that it stored a PHKT for HoA1 (``late``: from a BA it was not waiting for)."""
    return Notify("phkt-stored", {"address": hoa1, "dar": w.dars[0].address} | ({"late": True} if late else {}))


def view(w: World, hoa1: str) -> tuple[object, ...]:
    """What a BA that does not verify must not change in the BUL entry of HoA1."""
    e = w.mn.bul()[hoa1]
    return (e.state, e.phkt, e.phkt_seq, e.timer, e.due, e.bound_until, e.tunnel)


def refresh_then_home(w: World, hoa1: str) -> None:
    """The MN holds DAR1's PHKT: its refresh and its de-registration from home go through."""
    net, dar1, mn = w.net, w.dars[0], w.mn
    assert mn.bul()[hoa1].phkt == dar1.record(hoa1).phkt  # type: ignore[union-attr]
    t = net.now
    assert net.run_until(lambda: bool(notice_times(net, mn, "binding-registered", t)), LIFETIME)
    (refresh,) = bus_to(net, dar1, t)
    assert refresh.bad and refresh.cga_params is None  # PHKT-authorised (profile §4)
    assert [(ba.status, ba.seq) for ba in bas_from(net, dar1, t)] == [(0, refresh.seq)]
    t = net.now
    net.handover(mn, dar1)
    assert net.run_until(lambda: bool(notice_times(net, mn, "binding-deregistered", t)), 10)
    (dereg,) = bus_to(net, dar1, t)
    assert (dereg.lifetime, dereg.bad is not None, dereg.cga_params) == (0, True, None)
    assert dar1.bindings() == [] and dar1.record(hoa1).last_seq == dereg.seq  # type: ignore[union-attr]
    assert [e for e in net.effects(dar1, Drop) if e.effect.code == "bad-authenticator"] == []  # type: ignore[union-attr]


def test_a_slow_link_the_ba_to_the_retransmission_brings_the_dars_phkt(mn_key: KeyPair) -> None:
    """A 0.8 s backbone makes MN <-> DAR1 a 1.61 s round trip, longer than the first
    registration's 1.5 s timeout: two CGA-signed BUs, two PHKTs, both BAs in order."""
    w, hoa1 = journey(mn_key)
    net, (dar1, dar2, _), mn = w.net, w.dars, w.mn
    net.link().delay = 0.8
    t, since = net.now, len(net.events)
    net.handover(mn, dar2)
    assert net.run_until(lambda: len(did(w, since)) == 2, 10)
    first, second = bus_to(net, dar1, t)
    assert first.cga_params and second.cga_params and second.seq == (first.seq + 1) % 65536
    bas = arrived(net, BindingAck, mn, t)
    assert [(h.msg.status, h.msg.seq, bool(h.msg.phkt_ciphertext)) for h in bas] == [
        (0, first.seq, True),
        (0, second.seq, True),
    ]
    (resent,) = [h.time for h in net.hops(BindingUpdate, src=mn) if h.msg.seq == second.seq]
    assert resent < bas[0].arrival  # BU(s+1) left before BA(s) came
    assert [e.effect.event for e in net.notices(dar1, "phkt-issued")] == ["phkt-issued"] * 2
    assert did(w, since) == [stored(w, hoa1, late=False), stored(w, hoa1, late=True)]
    assert mn.bul()[hoa1].state is BulState.BOUND and mn.bul()[hoa1].phkt_seq == second.seq
    net.link().delay = DELAY
    refresh_then_home(w, hoa1)


def deliver(w: World, ba: BindingAck) -> list[Effect]:
    """Send ``ba`` on from DAR1, wait until the MN has stored its PHKT or dropped it, return
    what the MN did."""
    since = len(w.net.events)
    w.net.inject(w.dars[0], ba)
    assert w.net.run_until(lambda: bool(did(w, since)), 5)
    return did(w, since)


def test_bas_reordered_the_newest_phkt_is_kept_and_an_older_one_then_ignored(
    mn_key: KeyPair,
) -> None:
    """Three CGA-signed BUs, DAR1 holds PHKT3; the BAs come 1, 3, 2: the MN binds with PHKT1,
    takes PHKT3, and drops the BA with PHKT2, which the DAR replaced before it took BU 3."""
    w, hoa1 = journey(mn_key)
    entry = w.mn.bul()[hoa1]
    ba1, ba2, ba3 = held_phkts(w, 3)
    assert deliver(w, ba1) == [stored(w, hoa1, late=False)]
    assert entry.state is BulState.BOUND and entry.phkt_seq == ba1.seq
    assert deliver(w, ba3) == [stored(w, hoa1, late=True)]
    assert entry.phkt_seq == ba3.seq
    before = view(w, hoa1)
    assert [d.code for d in deliver(w, ba2)] == ["no-outstanding-bu"]  # type: ignore[union-attr]
    assert view(w, hoa1) == before
    refresh_then_home(w, hoa1)


@pytest.mark.parametrize("forged", ["PHKT", "BAD"])
def test_a_late_ba_that_does_not_verify_changes_nothing(mn_key: KeyPair, forged: str) -> None:
    """A copy of BA 2 with another PHKT (encrypted to the MN's key, so that only the BAD can
    tell), or with a BAD under another key, comes before the genuine one: dropped, the PHKT
    stays PHKT1; the genuine BA 2 then brings PHKT2."""
    w, hoa1 = journey(mn_key)
    ba1, ba2 = held_phkts(w, 2)
    assert deliver(w, ba1) == [stored(w, hoa1, late=False)]
    before = view(w, hoa1)
    if forged == "PHKT":
        copy = replace(ba2, phkt_ciphertext=encrypt_phkt(mn_key.public_der, bytes(8)))
    else:
        copy = replace(ba2, auth_key=kbm(bytes(8)))
    assert [d.code for d in deliver(w, copy)] == ["bad-authenticator"]  # type: ignore[union-attr]
    assert view(w, hoa1) == before
    assert deliver(w, ba2) == [stored(w, hoa1, late=True)]
    refresh_then_home(w, hoa1)
