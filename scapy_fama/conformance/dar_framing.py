"""DAR cases: framing the DAR must check on the bytes before it trusts a packet (profile §6
"Cost before trust" and its BAD rule; RFC 6275 §6.2.7, §9.3.3; RFC 8200 §3, §4.5).

Theory of operation
-------------------
Each case lays out one BU (or one Mobility Header) that is right but for its
framing, with :meth:`PlayedMn.laid_out_phkt_bu` (the lead's writer,
:mod:`scapy_fama.wire.write`: each option aligned, the BAD keyed by the PHKT,
the checksum filled in), so that the framing is the only fault::

    NI | PadN x 61 | PadN(4) | BAD             64 options        accepted: BA 0
    NI | PadN x 62 | PadN(2) | BAD             65 options        dropped silently
    NI | BAD | NI                              BAD not last      dropped silently
    NI | BAD | BAD                             two BADs          dropped silently
    a valid BU whose Payload Length says 8 bytes more than the frame holds: dropped silently
    a CGA-signed BU in two fragments, the HAO before the Fragment header: BA 0, with a PHKT

The BAD that verifies is the first one, which a reader that takes the first
BAD and looks no further would accept. A drop is followed by the valid BU,
which must get BA 0, so that the silence of a dead IUT never passes. An
unknown Mobility Header type behind a Home Address option must get a Binding
Error naming that home address (RFC 6275 §9.3.3), not ``::``.
"""

from __future__ import annotations

from scapy_fama.conformance.case import Fail, case
from scapy_fama.conformance.dar_tester import DarTester, PlayedMn
from scapy_fama.wire.checksum import mh_checksum
from scapy_fama.wire.numbers import AUTHENTICATOR_LEN, BAD, MAX_OPTIONS, NONCE_INDICES, PADN
from scapy_fama.wire.write import mh_bytes, mh_packet

UNKNOWN_MH = 43  # unassigned in the IANA Mobility Header Types registry
PAYLOAD_LENGTH = 4  # byte offset of the IPv6 Payload Length


def _registered(t: DarTester) -> PlayedMn:
    mn = t.new_mn()
    t.register(mn)
    return mn


def _options(mn: PlayedMn, paddings: int, last_pad: int) -> list[tuple[int, bytes]]:
    """NI, ``paddings`` empty PadN options and one of ``last_pad`` data bytes, then the BAD."""
    pads = [(PADN, b"")] * paddings + [(PADN, bytes(last_pad))]
    return [(NONCE_INDICES, mn.nonce_indices()), *pads, (BAD, bytes(AUTHENTICATOR_LEN))]


def _dropped_then_valid(t: DarTester, mn: PlayedMn, raw: bytes, what: str) -> None:
    t.expect_dropped(mn, raw, what, mn.phkt_bu())


@case("DAR-MH-006", "A BU of 64 options (paddings included) is accepted", "profile §6 (a Mobility Header carries at most 64 options)", group="mh")
def options_64(t: DarTester) -> None:
    mn = _registered(t)
    t.send(mn.laid_out_phkt_bu(_options(mn, 61, 4)))  # 1 + 62 + 1, the BAD at 8n+2 without a pad
    try:
        t.expect_ba(mn, 0)
    except Fail as exc:
        raise Fail(f"a BU of {MAX_OPTIONS} options is within the limit: {exc}") from None


@case("DAR-MH-007", "A BU of more than 64 options is dropped silently", "profile §6 (at most 64 options, the framing checked first)", group="mh")
def options_65(t: DarTester) -> None:
    mn = _registered(t)
    raw = mn.laid_out_phkt_bu(_options(mn, 62, 2))  # 1 + 63 + 1
    _dropped_then_valid(t, mn, raw, f"a BU of {MAX_OPTIONS + 1} options")


@case("DAR-MH-008", "A BU whose IPv6 Payload Length runs past the frame is dropped silently", "RFC 8200 §3 (Payload Length); profile §6 (lengths checked first), §6 step 1", group="mh")
def payload_length_past_the_frame(t: DarTester) -> None:
    mn = _registered(t)
    raw = bytearray(bytes(mn.phkt_bu()))
    claimed = int.from_bytes(raw[PAYLOAD_LENGTH : PAYLOAD_LENGTH + 2], "big") + 8
    raw[PAYLOAD_LENGTH : PAYLOAD_LENGTH + 2] = claimed.to_bytes(2, "big")
    _dropped_then_valid(t, mn, bytes(raw), "a BU 8 bytes shorter than its Payload Length")


@case("DAR-PHKT-008", "A BU with a BAD that is not the last option, or with two BADs, is dropped silently", "RFC 6275 §6.2.7 (the BAD is the last option); profile §6 (exactly one BAD, last)", group="phkt")
def bad_not_last(t: DarTester) -> None:
    mn = _registered(t)
    ni, bad = (NONCE_INDICES, mn.nonce_indices()), (BAD, bytes(AUTHENTICATOR_LEN))
    t.send(mn.laid_out_phkt_bu([ni, bad, ni]))
    t.expect_no_answer(mn, "a BU with an option after its BAD")
    _dropped_then_valid(t, mn, mn.laid_out_phkt_bu([ni, bad, bad]), "a BU with two BADs")


@case("DAR-BE-003", "An unknown MH type behind a Home Address option gets a Binding Error naming that address", "RFC 6275 §9.3.3 (the Home Address of the option), §6.1.9 (status 2); profile §6 step 1", group="be")
def be_home_address(t: DarTester) -> None:
    mn = t.new_mn()
    mh = bytearray(mh_bytes(UNKNOWN_MH, bytes(10)))
    mh[4:6] = mh_checksum(bytes(mh), mn.address, t.iut).to_bytes(2, "big")  # pseudo-header: the HoA
    be = t.expect_be(mh_packet(mn.coa, t.iut, bytes(mh), hoa=mn.address), mn.coa)
    if (be.status, be.hoa) != (2, mn.address):
        raise Fail(f"BE status {be.status} for {be.hoa}; expected status 2 for {mn.address}, the Home Address option's")


@case("DAR-MH-009", "A CGA-signed BU in two fragments is reassembled and accepted", "RFC 8200 §4.5 (reassembly); RFC 6275 §6.3 (the Home Address option before the Fragment header); profile §6 step 4", group="mh")
def bu_in_fragments(t: DarTester) -> None:
    mn = t.new_mn()
    first = t.send_in_fragments(mn.first_bu())
    try:
        ba = t.expect_ba(mn, 0)
    except Fail as exc:
        raise Fail(f"a valid CGA-signed BU in two fragments ({first} bytes of it in the first): {exc}") from None
    t.take_phkt(mn, ba)
