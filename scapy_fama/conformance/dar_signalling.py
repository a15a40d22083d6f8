"""DAR cases: Mobility Header processing and Binding Update validation (RFC 6275 §9.2, §9.5.1;
profile §6 steps 1-3 and 5).

Theory of operation
-------------------
Each case plays one or two mobile nodes (:mod:`scapy_fama.conformance.dar_tester`)
and breaks exactly one rule in a packet that is otherwise valid: an edited
packet is re-signed and its checksum recomputed, so that the DAR can only
refuse it for the rule under test. A case that expects a silent drop then
sends the valid packet and expects BA 0, so that silence from a dead or deaf
IUT never passes. Sequence numbers are compared modulo 2^16 with a window of
32768 (RFC 6275 §9.5.1: "less than or equal to the last received ... modulo 2^16").
"""

from __future__ import annotations

from scapy_fama.conformance.case import Fail, case
from scapy_fama.conformance.dar_tester import LIFETIME, DarTester, PlayedMn, mh_offset
from scapy_fama.craft import first_bu
from scapy_fama.proto.messages import Tunnelled
from scapy_fama.proto.seqno import SEQ_MOD
from scapy_fama.wire.checksum import mh_checksum
from scapy_fama.wire.numbers import BU
from scapy_fama.wire.write import mh_bytes, mh_packet

UNKNOWN_MH = 42  # unassigned in the IANA Mobility Header Types registry


def _dropped_then_valid(t: DarTester, mn: PlayedMn, raw: bytes, what: str) -> None:
    """``raw`` is dropped silently; the MN's valid first BU then gets BA 0 (the IUT is alive and
    the MN's state is clean)."""
    t.expect_dropped(mn, raw, what, mn.first_bu())


def _mh_packet(src: str, dst: str, mh: bytes, hoa: str | None = None) -> bytes:
    """IPv6 (+ HAO) / a Mobility Header given as bytes, its checksum filled in (RFC 6275 §6.1.1)."""
    body = bytearray(mh)
    body[4:6] = mh_checksum(bytes(body), hoa or src, dst).to_bytes(2, "big")
    return mh_packet(src, dst, bytes(body), hoa=hoa)


# ---------------------------------------------------------------- MH processing (§9.2)


@case("DAR-MH-001", "A BU with a wrong MH checksum is dropped silently", "RFC 6275 §6.1.1 (checksum), §9.2; profile §6 step 1", group="mh")
def bad_checksum(t: DarTester) -> None:
    mn = t.new_mn()
    raw = bytearray(bytes(mn.first_bu()))
    raw[mh_offset(raw) + 4] ^= 0xFF
    _dropped_then_valid(t, mn, bytes(raw), "a BU with a bad checksum")


@case("DAR-MH-002", "A Header Len beyond the end of the packet is dropped silently", "RFC 6275 §6.1.1 (Header Len), §9.2; profile §6 step 1", group="mh")
def header_len_too_long(t: DarTester) -> None:
    mn = t.new_mn()
    raw = bytearray(bytes(mn.first_bu()))
    off = mh_offset(raw)
    raw[off + 1] += 1  # 8 bytes more than the packet holds
    raw[off + 4 : off + 6] = mh_checksum(bytes(raw[off:]), mn.address, t.iut).to_bytes(2, "big")
    _dropped_then_valid(t, mn, bytes(raw), "a BU whose Header Len runs past the packet")


@case("DAR-MH-003", "A BU shorter than its fixed part (Header Len 0) is dropped silently", "RFC 6275 §9.2 (Header Len below the type's minimum); profile §6 step 1", group="mh")
def header_len_too_short(t: DarTester) -> None:
    mn = t.new_mn()
    seq = mn.next_seq()
    mh = mh_bytes(BU, seq.to_bytes(2, "big"))  # 8 bytes: a BU needs 16
    _dropped_then_valid(t, mn, _mh_packet(mn.coa, t.iut, mh, mn.address), "a BU of 8 bytes")


@case("DAR-MH-004", "A Payload Proto other than 59 is dropped silently", "RFC 6275 §6.1.1 (Payload Proto), §9.2; profile §6 step 1", group="mh")
def payload_proto(t: DarTester) -> None:
    mn = t.new_mn()

    def tcp(raw: bytearray, off: int) -> None:
        raw[off] = 6

    raw = mn.rewrite(mn.first_bu(), tcp, sign=True)  # re-signed: only the proto is wrong
    _dropped_then_valid(t, mn, raw, "a BU with Payload Proto 6")


@case("DAR-MH-005", "An unknown MH type gets a Binding Error with status 2", "RFC 6275 §9.2, §6.1.9 (status 2); profile §6 step 1", group="mh")
def unknown_type(t: DarTester) -> None:
    coa = t.new_coa()
    be = t.expect_be(_mh_packet(coa, t.iut, mh_bytes(UNKNOWN_MH, bytes(10))), coa)
    if be.status != 2:
        raise Fail(f"the Binding Error has status {be.status}, not 2 (unrecognised MH Type)")


# ---------------------------------------------------------------- sequence numbers (§9.5.1)


@case("DAR-BU-001", "A BU repeating the last accepted sequence number gets BA 135 with that number", "RFC 6275 §9.5.1 (status 135); profile §6 step 3", group="bu")
def seq_repeated(t: DarTester) -> None:
    mn = t.new_mn()
    t.register(mn)
    t.send(mn.first_bu(seq=mn.last_seq))
    t.expect_135(mn)


@case("DAR-BU-002", "An older sequence number gets BA 135 with the last accepted one", "RFC 6275 §9.5.1 (status 135); profile §6 step 3", group="bu")
def seq_older(t: DarTester) -> None:
    mn = t.new_mn()
    t.register(mn)
    t.send(mn.first_bu(seq=(mn.last_seq - 10) % SEQ_MOD))
    t.expect_135(mn)


@case("DAR-BU-003", "Sequence numbers wrap: after 65535, 0 is newer and accepted", "RFC 6275 §9.5.1 (modulo 2^16); profile §6 step 3", group="bu")
def seq_wrap(t: DarTester) -> None:
    mn = t.new_mn()
    t.register(mn, seq=SEQ_MOD - 1)
    t.send(mn.phkt_bu(seq=0))
    ba = t.expect_ba(mn, 0)
    if ba.seq != 0:
        raise Fail(f"the BA echoes seq {ba.seq}, not 0")


@case("DAR-BU-004", "A sequence number 32767 ahead is newer and accepted", "RFC 6275 §9.5.1 (window of 2^15); profile §6 step 3", group="bu")
def seq_half_window_minus_one(t: DarTester) -> None:
    mn = t.new_mn()
    t.register(mn)
    t.send(mn.phkt_bu(seq=(mn.last_seq + 32767) % SEQ_MOD))
    t.expect_ba(mn, 0)


@case("DAR-BU-005", "A sequence number 32768 ahead is not newer: BA 135", "RFC 6275 §9.5.1 (window of 2^15); profile §6 step 3", group="bu")
def seq_half_window(t: DarTester) -> None:
    mn = t.new_mn()
    t.register(mn)
    t.send(mn.phkt_bu(seq=(mn.last_seq + 32768) % SEQ_MOD))
    t.expect_135(mn)


# ---------------------------------------------------------------- addresses (§9.5.1, profile §6 step 2)


@case("DAR-BU-006", "A BU from a foreign CoA without a Home Address option is dropped silently", "RFC 6275 §10.3.1 (a Home Address option is required); profile §6 step 2", group="bu")
def missing_hao(t: DarTester) -> None:
    mn = t.new_mn()
    raw = bytes(mn.first_bu())
    off = mh_offset(raw)
    mh = raw[off : off + (raw[off + 1] + 1) * 8]
    _dropped_then_valid(t, mn, _mh_packet(mn.coa, t.iut, mh), "a BU from a CoA without HAO")


@case("DAR-BU-007", "A HoA outside the DAR's prefix gets BA 132", "RFC 6275 §10.3.1 (status 132); profile §6 step 2", group="bu")
def foreign_prefix(t: DarTester) -> None:
    mn = t.new_mn()
    foreign = t.new_coa()  # an address of the tester's prefix, not the IUT's
    t.send(first_bu(mn.coa, foreign, t.iut, mn.next_seq(), LIFETIME, t.key, mn.hoa.params))
    t.expect_ba(mn, 132)


@case("DAR-BU-008", "A BU from a multicast source is dropped silently", "RFC 6275 §9.5.1 (the care-of address is unicast routable), §9.5.4", group="bu")
def multicast_coa(t: DarTester) -> None:
    mn = t.new_mn()
    t.send(mn.first_bu(coa="ff0e::1"))
    t.expect_no_answer(mn, "a BU from a multicast address", to="ff0e::1")
    t.send(mn.first_bu())  # the IUT is alive: its silence was a drop
    t.expect_ba(mn, 0)


@case("DAR-BU-009", "A BU with the A bit clear gets a BA all the same, and binds", "RFC 6275 §10.3.1 (a BA whatever the A bit); profile §6 step 7", group="bu")
def no_ack_flag(t: DarTester) -> None:
    mn = t.new_mn()
    t.register(mn)
    coa2 = t.new_coa()
    if t.secure:
        t.care_of_test(mn, coa2)

    def clear_a(raw: bytearray, off: int) -> None:
        raw[off + 8] &= 0x7F  # A is the top bit of the flags (RFC 6275 §6.1.7)

    t.send(mn.rewrite(mn.phkt_bu(coa=coa2), clear_a, sign=False))
    try:
        ba = t.expect_ba(mn, 0, to=coa2)
    except Fail as exc:
        raise Fail(f"a home agent answers every registration, A=0 or not: {exc}") from None
    t.check_ba_bad(mn, ba)
    t.send(t.datagram(t.cn, mn.address))
    t.expect_tunnelled(mn.address, coa2)


# ---------------------------------------------------------------- de-registration (§9.5.1, profile §6 step 5)


@case("DAR-BU-010", "Lifetime 0 de-registers: BA 0, and the HoA's traffic is no longer tunnelled", "RFC 6275 §9.5.1, §10.3.2; profile §4 (the de-registration key), §6 step 5", group="bu")
def lifetime_zero(t: DarTester) -> None:
    mn = t.new_mn()
    t.register(mn)
    t.send(mn.phkt_bu(lifetime=0))
    ba = t.expect_ba(mn, 0)
    t.check_ba_bad(mn, ba, deregistration=True)
    t.send(t.datagram(t.cn, mn.address))
    t.expect_not_tunnelled(mn.address, mn.coa, "after a de-registration")


@case("DAR-BU-011", "CoA == HoA (sent from home, no HAO) de-registers: BA 0 to the HoA, no RH2", "RFC 6275 §11.5.5, §9.5.4 (no routing header to a BU from the HoA); profile §4, §6 step 5", group="bu")
def from_home(t: DarTester) -> None:
    mn = t.new_mn()
    t.register(mn)
    t.x.hold(mn.address)  # the DAR sends the BA onto its link: the tester answers ND for the HoA
    t.send(mn.phkt_bu(coa=mn.address, lifetime=0))
    ba = t.expect_ba(mn, 0, to=mn.address)
    if ba.hoa is not None:
        raise Fail(f"the BA to a BU without HAO carries a type 2 routing header ({ba.hoa})")
    t.send(t.datagram(t.cn, mn.address))
    t.expect_not_tunnelled(mn.address, mn.coa, "after a de-registration from home")


@case("DAR-BU-012", "De-registering a binding that is gone is answered and tunnels nothing", "RFC 6275 §10.3.2 (status 133); profile §6 step 5", group="bu")
def deregister_unknown(t: DarTester) -> None:
    mn = t.new_mn()
    t.register(mn)
    t.send(mn.phkt_bu(lifetime=0))
    t.expect_ba(mn, 0)
    t.send(mn.phkt_bu(lifetime=0))  # again: the record stands, the binding does not
    ba = t.expect_ba(mn, None)
    if ba.status not in (0, 133):
        raise Fail(f"expected BA 0 (profile §6 step 5) or 133 (RFC 6275 §10.3.2), got {ba.status}")
    t.send(t.datagram(t.cn, mn.address))
    t.expect_not_tunnelled(mn.address, mn.coa, "after de-registering an unknown binding")


@case("DAR-BU-013", "A new CoA moves the tunnel: traffic for the HoA goes to the newest CoA", "RFC 6275 §10.3.1; profile §6 step 6, §8", group="bu")
def move(t: DarTester) -> None:
    mn = t.new_mn()
    t.register(mn)
    coa2 = t.new_coa()
    if t.secure:
        t.care_of_test(mn, coa2)
    t.send(mn.phkt_bu(coa=coa2))
    t.expect_ba(mn, 0, to=coa2)
    t.send(t.datagram(t.cn, mn.address))
    outer = t.expect_tunnelled(mn.address, coa2)
    if isinstance(outer, Tunnelled) and outer.dst == mn.coa:
        raise Fail("traffic still goes to the old CoA")
