"""DAR cases: the Binding Ack on the wire, the data plane, the DoS guard and Binding Errors
(RFC 6275 §6.1.8, §9.3, §9.5.4, §10.4; RFC 2473; profile §6-§8).

Theory of operation
-------------------
Addressing and layout are read from the BA's bytes with
:func:`scapy_fama.wire.parse` and checked against RFC 6275 by hand (the
checksum is recomputed here over the pseudo-header of §6.1.1). Data-plane
cases send UDP as a correspondent (``t.cn``) would, and expect it to come
back from the IUT inside IPv6-in-IPv6 to the CoA; reverse-tunnelled packets
must come out natively with the HoA as source, and those whose outer source
is not the registered CoA must not come out at all::

    CN --UDP to HoA--> IUT ==IPv6-in-IPv6 (IUT -> CoA)==> tester (as the MN)
    tester ==IPv6-in-IPv6 (CoA -> IUT)==> IUT --UDP from HoA--> tester (as the CN)
"""

from __future__ import annotations

import os

from scapy_fama.conformance.case import Fail, Inconclusive, case
from scapy_fama.conformance.dar_tester import DarTester
from scapy_fama.conformance.executor import IUT
from scapy_fama.wire.checksum import mh_checksum
from scapy_fama.proto.messages import BindingAck, BindingError, Datagram, Tunnelled
from scapy_fama.wire import parse
from scapy_fama.wire.numbers import BA as BA_TYPE
from scapy_fama.wire.numbers import BAD as BAD_OPTION
from scapy_fama.wire.numbers import PHKT as PHKT_OPTION

FLOOD = 24  # CGA-signed BUs from one /64 in a burst
OUTER_HOP_LIMIT = 64  # RFC 2473 §6.3 default, profile §8


def _ba_bytes(t: DarTester, dst: str) -> bytes:
    """The raw bytes of the last BA the IUT sent to ``dst`` in this case."""
    for frame in reversed(t.x.frames):
        info = parse(frame.raw) if frame.direction == IUT else None
        if info and info.mh and info.mh.mhtype == BA_TYPE and info.dst == dst:
            return frame.raw
    raise Fail(f"no BA to {dst} among the frames of this case")


@case("DAR-BA-001", "The BA goes to the CoA with a type 2 routing header holding the HoA, seq echoed", "RFC 6275 §9.5.4, §6.4; profile §6 step 7", group="ba")
def ba_addressing(t: DarTester) -> None:
    mn = t.new_mn()
    bu = mn.first_bu()
    t.send(bu)
    ba = t.expect_ba(mn, 0)
    info = parse(_ba_bytes(t, mn.coa))
    assert info is not None and info.mh is not None
    if (info.src, info.dst, info.rh2) != (t.iut, mn.coa, mn.address):
        raise Fail(f"BA {info.src} -> {info.dst} with RH2 {info.rh2}; expected {t.iut} -> {mn.coa} with RH2 {mn.address}")
    if ba.seq != mn.seq:
        raise Fail(f"the BA carries seq {ba.seq}, the BU had {mn.seq}")


@case("DAR-BA-002", "The BA is a well-formed MH: Payload Proto 59, checksum right, PHKT present, BAD last", "RFC 6275 §6.1.1, §6.1.8, §6.2.7 (the BAD is last); RFC 4866 §4.3, §5.3; profile §6 step 7", group="ba")
def ba_layout(t: DarTester) -> None:
    mn = t.new_mn()
    t.send(mn.first_bu())
    t.expect_ba(mn, 0)
    raw = _ba_bytes(t, mn.coa)
    info = parse(raw)
    assert info is not None and info.mh is not None
    mh = info.mh
    body = raw[mh.offset : mh.offset + mh.length]
    if mh.payload_proto != 59:
        raise Fail(f"Payload Proto {mh.payload_proto}, not 59")
    if mh.offset + mh.length != len(raw) or mh.length % 8:
        raise Fail(f"Header Len gives {mh.length} bytes; the MH holds {len(raw) - mh.offset}")
    if mh.checksum != mh_checksum(body, t.iut, mn.address):  # pseudo-header: final dst = HoA
        raise Fail(f"checksum {mh.checksum:#06x} is wrong (RFC 6275 §6.1.1, dst = the HoA of RH2)")
    kinds = [otype for otype, _, _ in mh.options if otype > 1]  # Pad1/PadN aside
    if PHKT_OPTION not in kinds:
        raise Fail(f"no PHKT option (type {PHKT_OPTION}) in a BA issuing a PHKT; options {kinds}")
    if kinds[-1] != BAD_OPTION:
        raise Fail(f"the BAD (type 5) is not the last option; options {kinds}")


@case("DAR-DATA-001", "Traffic for a bound HoA is tunnelled to the CoA: outer IUT -> CoA, inner intact", "RFC 6275 §10.4.1, §10.4.2; RFC 2473 §3.1 (inner hop limit less one), §6.3 (tunnel hop limit); profile §8", group="data")
def data_tunnelled(t: DarTester) -> None:
    mn = t.new_mn()
    t.register(mn)
    payload = os.urandom(24)
    t.send(t.datagram(t.cn, mn.address, payload=payload))
    outer = t.expect_tunnelled(mn.address, mn.coa)
    inner = outer.inner
    if not isinstance(inner, Datagram) or (inner.src, inner.payload) != (t.cn, payload):
        raise Fail(f"the inner packet is not the CN's: {inner}")
    if outer.hlim != OUTER_HOP_LIMIT:
        raise Fail(f"outer hop limit {outer.hlim}, not {OUTER_HOP_LIMIT} (profile §8)")
    if inner.hlim != 63:
        raise Fail(f"inner hop limit {inner.hlim}: the DAR forwards, so 64 becomes 63 (profile §8)")


@case("DAR-DATA-002", "A reverse-tunnelled packet from the registered CoA is decapsulated and forwarded", "RFC 6275 §10.4.5; profile §8", group="data")
def data_reverse(t: DarTester) -> None:
    mn = t.new_mn()
    t.register(mn)
    payload = os.urandom(24)
    t.send(t.tunnel(mn.coa, t.datagram(mn.address, t.cn, payload=payload)))
    out = t.expect(lambda m: isinstance(m, Datagram) and m.dst == t.cn, f"the inner packet forwarded to {t.cn}")
    assert isinstance(out, Datagram)
    if (out.src, out.payload) != (mn.address, payload):
        raise Fail(f"forwarded {out.src} -> {out.dst} with another payload")


def _not_forwarded(t: DarTester, inner_src: str, what: str) -> None:
    forwarded = lambda m: isinstance(m, Datagram) and m.dst == t.cn and m.src == inner_src
    if t.silence(forwarded, f"{what} was not forwarded") is not None:
        raise Fail(f"{what} was decapsulated and forwarded")


@case("DAR-DATA-003", "A reverse-tunnelled packet whose inner source is another HoA is dropped", "RFC 6275 §10.4.5; profile §8", group="data")
def data_spoofed_inner(t: DarTester) -> None:
    mn, victim = t.new_mn(), t.new_mn()
    t.register(mn)
    t.register(victim)
    t.send(t.tunnel(mn.coa, t.datagram(victim.address, t.cn)))
    _not_forwarded(t, victim.address, f"a packet from {victim.address} tunnelled by {mn.coa}")


@case("DAR-DATA-004", "A tunnelled packet from an address that is not the registered CoA is dropped", "RFC 6275 §10.4.5; profile §8", group="data")
def data_wrong_outer(t: DarTester) -> None:
    mn = t.new_mn()
    t.register(mn)
    t.send(t.tunnel(t.new_coa(), t.datagram(mn.address, t.cn)))
    _not_forwarded(t, mn.address, "a packet tunnelled from an unregistered CoA")


@case("DAR-DATA-005", "When the binding expires the DAR stops tunnelling", "RFC 6275 §10.3.1 (the binding's lifetime); profile §6 step 5, §8", group="data")
def data_expiry(t: DarTester) -> None:
    mn = t.new_mn()
    ba = t.register(mn, lifetime=8)
    if ba.lifetime > 8:
        raise Fail(f"granted {ba.lifetime} s for a request of 8 s")
    t.send(t.datagram(t.cn, mn.address))
    t.expect_tunnelled(mn.address, mn.coa)
    t.watch(ba.lifetime + 1.0)  # let the binding run out
    t.send(t.datagram(t.cn, mn.address))
    t.expect_not_tunnelled(mn.address, mn.coa, f"{ba.lifetime + 1:g} s after a {ba.lifetime} s binding")


@case("DAR-DOS-001", "Under a flood of CGA-signed BUs the DAR answers 130 and still serves PHKT BUs", "RFC 4866 §6.6 (resource exhaustion); RFC 6275 §10.3.1 (status 130); profile §6 (DoS guard), §6 step 4", group="dos")
def dos_flood(t: DarTester) -> None:
    mn = t.new_mn()
    t.register(mn)
    flood = [t.new_mn() for _ in range(FLOOD)]
    for other in flood:
        t.x.send(bytes(other.first_bu()))  # unpaced: the point is to exceed the budget
    coas = {other.coa for other in flood}
    seen = t.watch(None)
    statuses = [m.status for m in seen if isinstance(m, BindingAck) and m.dst in coas]
    wrong = sorted(set(statuses) - {0, 1, 130})  # 1: accepted too (RFC 6275 §6.1.8)
    if wrong:
        got = ", ".join(map(str, wrong))
        raise Fail(f"valid CGA-signed BUs in a burst got BA {got}: one the DoS guard refuses gets 130")
    if 130 not in statuses:
        raise Inconclusive(f"{FLOOD} CGA BUs in a burst did not exhaust the IUT's CGA budget (answers {sorted(set(statuses))})")
    t.send(mn.phkt_bu())
    t.expect_ba(mn, 0)


@case("DAR-BE-001", "A packet with a Home Address option for an address without a binding gets BE status 1", "RFC 6275 §9.3.1, §9.3.3 (status 1, the Home Address of the option); profile §6 (Binding Errors)", group="be")
def be_unknown_binding(t: DarTester) -> None:
    mn = t.new_mn()  # never registered
    be = t.expect_be(t.datagram(mn.coa, t.iut, hoa=mn.address), mn.coa)
    if (be.status, be.hoa) != (1, mn.address):
        raise Fail(f"BE status {be.status} for {be.hoa}; expected status 1 for {mn.address}")


@case("DAR-BE-002", "A packet with a Home Address option from the registered CoA is accepted, no BE", "RFC 6275 §9.3.1; profile §6 (Binding Errors)", group="be")
def be_bound(t: DarTester) -> None:
    mn = t.new_mn()
    t.register(mn)
    t.send(t.datagram(mn.coa, t.iut, hoa=mn.address))
    seen = t.watch(None, lambda m: isinstance(m, BindingError))
    errors = [m for m in seen if isinstance(m, BindingError)]
    if errors:
        raise Fail(f"BE status {errors[0].status} for a HAO that has a binding")
    tunnelled = [m for m in seen if isinstance(m, Tunnelled)]
    if tunnelled:
        raise Fail("the packet for the DAR itself came back tunnelled")
