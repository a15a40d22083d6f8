"""Doubted PHKTs (RFC 4866 §4.4, §4.9; profile §6 step 4, §7): when the MN's PHKT is not the
DAR's, the DAR drops every PHKT-authorised BU silently; after the first retransmission's
timeout the MN signs its next BU with its CGA key, which the DAR takes with a new PHKT.

Bound: the CGA-signed BU leaves 1 s + 2 s after the first PHKT-authorised one (profile §7
back-off) and is answered a round trip later, so every binding stands again within FALLBACK
(virtual time) of the first BU; without the fallback the MN retransmits until the 32 s step
passes (63 s) and loses the binding.
"""

from __future__ import annotations

import pytest
from sim_world import World, bas_from, bus_to, held_phkts, holding_phkt_bas, world

from scapy_fama.crypto import KeyPair, kbm
from scapy_fama.proto import DarConfig, KeepPolicy
from scapy_fama.proto.bul import BulState
from scapy_fama.proto.effects import Drop
from scapy_fama.proto.messages import BindingAck, BindingUpdate

LIFETIME = 40  # s: the refresh goes 32 s after the BU
FALLBACK = 5.0  # s of virtual time from the first PHKT-authorised BU to the binding
STALE = bytes.fromhex("5eed5eed5eed5eed")  # a PHKT DAR1 never issued


def kind(bu: BindingUpdate) -> str:
    """How ``bu`` is authorised (profile §4)."""
    if bu.cga_params is not None:
        return "cga"
    return "phkt" if bu.bad is not None else "none"


def bound(w: World, hoa1: str) -> None:
    """The MN at DAR1 (HoA1, kept), registered from DAR2 with DAR1's PHKT."""
    w.visit(2)
    e, record = w.mn.bul()[hoa1], w.dars[0].record(hoa1)
    assert e.state is BulState.BOUND and record is not None and e.phkt == record.phkt


def bad_authenticators(w: World, since: float) -> int:
    """PHKT-authorised BUs DAR1 dropped since ``since`` (profile §6 step 4: a silent drop)."""
    return sum(
        1
        for e in w.net.effects(w.dars[0])
        if e.time >= since and getattr(e.effect, "code", None) == "bad-authenticator"
    )


def noticed(w: World, hoa1: str, event: str, since: float) -> bool:
    """The MN noticed ``event`` about HoA1 at or after ``since``."""
    return any(e.time >= since and e.effect.data["address"] == hoa1 for e in w.net.notices(w.mn, event))  # type: ignore[union-attr]


def first_bu_to_dar1(w: World, since: float) -> float:
    """Run until a BU reaches DAR1 after ``since``; when it left the MN."""
    net, dar1 = w.net, w.dars[0]
    assert net.run_until(lambda: bool(bus_to(net, dar1, since)), LIFETIME)
    (first,) = bus_to(net, dar1, since)
    return min(h.time for h in net.hops(BindingUpdate, src=w.mn) if h.msg.seq == first.seq)


def fallback(w: World, hoa1: str, since: float, event: str) -> list[BindingUpdate]:
    """The MN's next exchange with DAR1 after ``since`` (its PHKT is not DAR1's): two
    PHKT-authorised BUs dropped, the third CGA-signed and accepted with a new PHKT, ``event``
    within FALLBACK of the first BU. Returns the BUs."""
    net, dar1, mn = w.net, w.dars[0], w.mn
    start = first_bu_to_dar1(w, since)
    assert net.run_until(lambda: noticed(w, hoa1, event, start), start + FALLBACK - net.now)
    bus = bus_to(net, dar1, since)
    assert [kind(bu) for bu in bus] == ["phkt", "phkt", "cga"]
    assert [b.seq for b in bus] == [(bus[0].seq + i) % 65536 for i in range(3)]
    assert bad_authenticators(w, since) == 2
    assert [(ba.status, ba.seq, bool(ba.phkt_ciphertext)) for ba in bas_from(net, dar1, since)] == [
        (0, bus[2].seq, True)
    ]
    (doubted,) = net.notices(mn, "phkt-doubted")[-1:]
    assert doubted.time >= since and doubted.effect.data == {"address": hoa1, "dar": dar1.address, "unanswered": 2}  # type: ignore[union-attr]
    assert mn.bul()[hoa1].phkt == dar1.record(hoa1).phkt  # type: ignore[union-attr]
    return bus


def refresh_works(w: World, hoa1: str) -> None:
    """The next refresh is PHKT-authorised again and accepted on its first try."""
    net, dar1 = w.net, w.dars[0]
    t = net.now
    start = first_bu_to_dar1(w, t)
    assert net.run_until(lambda: noticed(w, hoa1, "binding-registered", start), 5)
    assert [kind(bu) for bu in bus_to(net, dar1, t)] == ["phkt"]
    assert [ba.status for ba in bas_from(net, dar1, t)] == [0] and bad_authenticators(w, t) == 0


@pytest.mark.parametrize("secure", [False, True], ids=["plain", "secure"])
def test_a_refresh_with_a_phkt_the_dar_does_not_hold_falls_back_to_cga(
    mn_key: KeyPair, secure: bool
) -> None:
    """The MN's PHKT is replaced by one DAR1 never issued (a DAR that rebuilt its state, any
    divergence): the refresh at 80 % is dropped twice, then CGA-signed (in secure mode with the
    care-of token of its CoT) and accepted; the refresh after it is PHKT-authorised again."""
    w = world(
        mn_key,
        binding_lifetime=LIFETIME,
        keep=KeepPolicy.ALL,
        dar_config=DarConfig(require_coa_test=True) if secure else None,
    )
    hoa1 = w.visit(1)
    bound(w, hoa1)
    w.mn.bul()[hoa1].phkt = STALE
    bus = fallback(w, hoa1, w.net.now, "binding-registered")
    if secure:  # profile §5: every BU carries the care-of token, the CGA-signed one too
        assert all(bu.nonce_indices and bu.nonce_indices[1] for bu in bus)
    assert w.mn.bul()[hoa1].state is BulState.BOUND
    refresh_works(w, hoa1)


def test_a_move_before_the_ba_with_the_dars_newer_phkt_falls_back_to_cga(mn_key: KeyPair) -> None:
    """The late-PHKT scenario (test_sim_late_phkt) with a move: DAR1 took two CGA-signed BUs and
    holds PHKT2; BA 1 binds the MN with PHKT1, and the MN moves on to DAR3 before BA 2 comes
    (it never does). The BU from DAR3, PHKT1-authorised, is dropped twice, then CGA-signed."""
    w = world(mn_key, binding_lifetime=LIFETIME, keep=KeepPolicy.ALL)
    hoa1 = w.visit(1)
    net, dar1 = w.net, w.dars[0]
    ba1, _ba2 = held_phkts(w, 2)
    net.inject(dar1, ba1)
    assert net.run_until(lambda: w.mn.bul()[hoa1].state is BulState.BOUND, 5)
    assert w.mn.bul()[hoa1].phkt != dar1.record(hoa1).phkt  # type: ignore[union-attr]
    t = net.now
    net.handover(w.mn, w.dars[2])
    fallback(w, hoa1, t, "binding-registered")
    refresh_works(w, hoa1)


def test_a_deregistration_from_home_with_a_stale_phkt_falls_back_to_cga(mn_key: KeyPair) -> None:
    """Back on DAR1's link, the de-registration (BAD keyed with SHA1(PHKT), profile §4) is
    dropped twice, then CGA-signed: DAR1 removes the binding and keeps the security record
    with the new PHKT it issued, which the MN holds."""
    w = world(mn_key, binding_lifetime=LIFETIME, keep=KeepPolicy.ALL)
    hoa1 = w.visit(1)
    net, dar1 = w.net, w.dars[0]
    bound(w, hoa1)
    w.mn.bul()[hoa1].phkt = STALE
    t = net.now
    net.handover(w.mn, dar1)
    bus = fallback(w, hoa1, t, "binding-deregistered")
    assert all(bu.lifetime == 0 and bu.src == hoa1 and bu.hoa is None for bu in bus)
    assert dar1.bindings() == [] and dar1.record(hoa1).last_seq == bus[-1].seq  # type: ignore[union-attr]
    assert w.mn.bul()[hoa1].state is BulState.IDLE


def test_a_lossy_link_signs_nothing_before_the_fallback_point(mn_key: KeyPair) -> None:
    """DAR1 holds the MN's PHKT and accepts every BU, but its first two BAs are lost: the
    retransmission is PHKT-authorised (no RSA work at DAR1 for one loss), and only the BU after
    the second timeout is CGA-signed; DAR1 verifies one CGA signature for the whole exchange."""
    w = world(mn_key, binding_lifetime=LIFETIME, keep=KeepPolicy.ALL)
    hoa1 = w.visit(1)
    net, dar1, mn = w.net, w.dars[0], w.mn
    bound(w, hoa1)
    t = net.now
    issued = len(net.notices(dar1, "phkt-issued"))
    net.lose(lambda m: isinstance(m, BindingAck) and m.src == dar1.address, 2)
    start = first_bu_to_dar1(w, t)
    assert net.run_until(lambda: noticed(w, hoa1, "binding-registered", start), start + FALLBACK - net.now)
    bus = bus_to(net, dar1, t)
    assert [kind(bu) for bu in bus] == ["phkt", "phkt", "cga"]
    assert [ba.status for ba in bas_from(net, dar1, t)] == [0, 0, 0] and bad_authenticators(w, t) == 0
    assert len(net.notices(dar1, "phkt-issued")) == issued + 1
    assert mn.bul()[hoa1].phkt == dar1.record(hoa1).phkt  # type: ignore[union-attr]
    refresh_works(w, hoa1)


def test_a_late_phkt_that_comes_after_unanswered_bus_is_used_not_doubted(mn_key: KeyPair) -> None:
    """The late-PHKT scenario (test_sim_late_phkt) with BA 2 held back long: the MN binds with
    PHKT1 while DAR1 holds PHKT2, and its refresh, PHKT1-authorised, is dropped twice. BA 2
    then comes, before the back-off's next timeout, and its BAD verifies with PHKT2: the BUs
    that went unanswered were sent with PHKT1, none yet with PHKT2, which a BA of DAR1 has just
    proved (proto.bul "Doubted PHKTs": BUs sent since a BA last verified). So the next BU is
    authorised with PHKT2 and accepted for one HMAC: DAR1 verifies no CGA signature and issues
    no PHKT for it (profile §6 DoS guard)."""
    w = world(mn_key, binding_lifetime=LIFETIME, keep=KeepPolicy.ALL)
    hoa1 = w.visit(1)
    net, dar1, mn = w.net, w.dars[0], w.mn
    ba1, ba2 = held_phkts(w, 2)
    net.inject(dar1, ba1)
    assert net.run_until(lambda: mn.bul()[hoa1].state is BulState.BOUND, 5)
    issued = len(net.notices(dar1, "phkt-issued"))
    t = first_bu_to_dar1(w, net.now)  # the refresh
    assert net.run_until(lambda: bad_authenticators(w, t) == 2, FALLBACK)
    net.inject(dar1, ba2)
    assert net.run_until(lambda: mn.bul()[hoa1].phkt == dar1.record(hoa1).phkt, 1.0)  # type: ignore[union-attr]
    assert net.run_until(lambda: noticed(w, hoa1, "binding-registered", t), FALLBACK)
    assert [kind(bu) for bu in bus_to(net, dar1, t)] == ["phkt", "phkt", "phkt"]
    assert bad_authenticators(w, t) == 2 and net.notices(mn, "phkt-doubted") == []
    assert len(net.notices(dar1, "phkt-issued")) == issued


def test_a_forged_refusal_to_the_cga_signed_bu_is_dropped_while_the_dar_may_hold_the_phkt(
    mn_key: KeyPair,
) -> None:
    """Profile §7: accept a BA only with a valid BAD when a PHKT exists. Doubting is the MN's
    guess from silence, not news that DAR1 lost the PHKT: here two BAs were lost and DAR1 holds
    the MN's PHKT still, so a refusal to the CGA-signed BU, forged without a BAD or with one
    under another key, is dropped as a refusal to a PHKT-authorised BU is (a 148 would end the
    binding: profile §7 "148 -> report; no retry loop"); DAR1's genuine BA then binds."""
    w = world(mn_key, binding_lifetime=LIFETIME, keep=KeepPolicy.ALL)
    hoa1 = w.visit(1)
    net, dar1, mn = w.net, w.dars[0], w.mn
    bound(w, hoa1)
    t = net.now
    net.lose(lambda m: isinstance(m, BindingAck) and m.src == dar1.address, 2)
    held = holding_phkt_bas(net, dar1)
    assert net.run_until(lambda: bool(held), LIFETIME)
    net.outbox = None
    (genuine,) = held
    signed = bus_to(net, dar1, t)[-1]
    assert signed.cga_params is not None and genuine.seq == signed.seq
    forging = net.now
    for forged in (
        BindingAck(dar1.address, signed.src, hoa1, 148, signed.seq, 0),
        BindingAck(dar1.address, signed.src, hoa1, 148, signed.seq, 0, auth_key=kbm(STALE)),
    ):
        net.inject(dar1, forged)
    net.inject(dar1, genuine)
    assert net.run_until(lambda: noticed(w, hoa1, "binding-registered", t), 5)
    dropped = [e.effect.code for e in net.effects(mn, Drop) if e.time >= forging and isinstance(e.effect.msg, BindingAck)]  # type: ignore[union-attr]
    assert dropped == ["bad-missing", "bad-authenticator"], dropped
    assert net.notices(mn, "bu-refused") == [] and hoa1 in mn.addresses()
    assert mn.bul()[hoa1].phkt == dar1.record(hoa1).phkt  # type: ignore[union-attr]
