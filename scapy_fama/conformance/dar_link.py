"""DAR cases: router discovery on the access link (profile §2 step 1; RFC 4861 §6.1.1, §6.2.6).

Theory of operation
-------------------
The tester solicits as a mobile node would, from its own link-local address or
from ``::``, and reads what comes back and when::

    tester --RS from fe80::tester-------------> DAR   a unicast RA to fe80::tester, at once,
                                                      with the prefix and the DAR's address (R=1)
    tester --RS from :: (a burst of five)-----> DAR   multicast RAs, no two closer than
                                                      MinDelayBetweenRAs
    tester --a valid RS, then one with hop limit 254 or a wrong checksum--> DAR   an RA to
                                                      the first within the wait, none to the
                                                      second (an invalid RS is discarded)

Every configuration the profile allows must pass: the rate limit is judged
against the smallest MinDelayBetweenRAs a DAR may use (RFC 6275 §7.5: 30 ms),
and an answer is awaited for as long as the slowest allowed one may take (RFC
4861 §6.2.6: MAX_RA_DELAY_TIME 0.5 s for a solicited RA, and 3 s of
MIN_DELAY_BETWEEN_RAS before a multicast one). ``SLACK`` allows for an IUT on
a real link; the gap between two RAs is read from the kernel's receive times.
"""

from __future__ import annotations

from collections.abc import Callable

from scapy_fama.codec import encode_bytes
from scapy_fama.conformance.case import Fail, Inconclusive, case
from scapy_fama.conformance.dar_tester import DarTester
from scapy_fama.proto.messages import Message, RouterAdvertisement, RouterSolicitation

MAX_RA_DELAY_TIME = 0.5  # RFC 4861 §6.2.6 / §10
MIN_DELAY_BETWEEN_RAS = 3.0  # RFC 4861 §6.2.6 / §10: the longest a multicast RA may wait
MOBILE_MIN_DELAY = 0.03  # RFC 6275 §7.5 (MinDelayBetweenRAs): the shortest gap allowed
GAP_TOLERANCE = 0.01  # seconds two RAs' receive times may differ from their send times
SLACK = 0.3  # seconds of timing tolerance for an IUT on a real link
BURST = 5  # RSs from :: sent back to back
HOP_LIMIT, ICMP_CHECKSUM = 7, 42  # byte offsets in an RS: IPv6 hop limit, ICMPv6 checksum


def _rs(src: str) -> bytes:
    return encode_bytes(RouterSolicitation(src))


def _to(dst: str) -> Callable[[Message], bool]:
    return lambda m: isinstance(m, RouterAdvertisement) and m.dst == dst


def _solicit(t: DarTester, raw: bytes, seconds: float) -> list[tuple[float, Message]]:
    """Send the RS ``raw`` from the tester's link-local address; the RAs to that address within
    ``seconds`` (the first ends the wait)."""
    me, mark = t.x.link_local, len(t.x.frames)  # before sending: an answer may beat send()'s return
    t.x.send(raw)
    t.watch(seconds, _to(me))
    return t.seen_since(mark, _to(me))


@case("DAR-RA-001", "An RS from a unicast source gets a unicast RA at once, with the prefix and the DAR's address", "RFC 4861 §6.2.6 (unicast to the solicitor); profile §2 step 1, §1", group="ra")
def rs_unicast(t: DarTester) -> None:
    me, window = t.x.link_local, MAX_RA_DELAY_TIME + SLACK
    answers = _solicit(t, _rs(me), window)
    if not answers:
        raise t.missing(f"no RA to {me} within {window:g} s of its RS (RFC 4861 §6.2.6: MAX_RA_DELAY_TIME 0.5 s)")
    ra = answers[0][1]
    assert isinstance(ra, RouterAdvertisement)
    if (ra.prefix, ra.dar_address) != (t.prefix, t.iut):
        raise Fail(f"the RA advertises {ra.prefix} with the address {ra.dar_address}, not {t.prefix} with {t.iut} (profile §1)")


@case("DAR-RA-002", "RSs from :: get multicast RAs, never two within 30 ms", "RFC 4861 §6.2.6 (MIN_DELAY_BETWEEN_RAS); RFC 6275 §7.5 (MinDelayBetweenRAs); profile §2 step 1", group="ra")
def rs_unspecified(t: DarTester) -> None:
    started, mark = t.x.now(), len(t.x.frames)
    window = MIN_DELAY_BETWEEN_RAS + MAX_RA_DELAY_TIME + t.wait
    for _ in range(BURST):
        t.x.send(_rs("::"))
    t.watch(window)
    times = [at for at, _ in t.seen_since(mark, _to("ff02::1"))]
    if not times:
        raise t.missing(f"{BURST} RSs from :: got no multicast RA within {window:g} s")
    gaps = [b - a for a, b in zip(times, times[1:])]
    if gaps and min(gaps) < MOBILE_MIN_DELAY - GAP_TOLERANCE:
        listed = ", ".join(f"{at - started:.3f}" for at in times)
        raise Fail(
            f"{len(times)} multicast RAs for {BURST} RSs from ::, as little as {min(gaps) * 1000:.1f} ms "
            f"apart (at {listed} s); at most one per {MOBILE_MIN_DELAY * 1000:g} ms"
        )


def _ignored(t: DarTester, raw: bytes, what: str) -> None:
    """A valid RS is answered, and no slower than the wait; then ``raw`` (an RS from the
    tester's link-local address) gets no RA within the wait. An RA carries nothing that says
    which RS it answers, so the silence is evidence only after an answer that came within it:
    a DAR slower than the wait leaves the case inconclusive, and so does a link seen to lose
    packets (:meth:`DarTester.link_loss`)."""
    sent = t.x.now()
    answers = _solicit(t, _rs(t.x.link_local), t.wait + t.grace)
    if not answers:
        raise t.missing(
            f"a valid RS got no RA within {t.wait + t.grace:g} s, so the silence to an RS with {what} proves nothing"
        )
    delay = answers[0][0] - sent
    if delay > t.wait:
        raise Inconclusive(
            f"the RA to a valid RS came {delay:.1f} s after it, past the wait of {t.wait:g} s: a silence "
            f"that short to an RS with {what} proves nothing (run again with a --wait above {delay:.1f})"
        )
    if _solicit(t, raw, t.wait):
        raise Fail(f"an RS with {what} must be discarded (RFC 4861 §6.1.1), yet an RA came to {t.x.link_local}")
    if (loss := t.link_loss()) is not None:
        raise Inconclusive(f"an RS with {what} got no RA, but {loss}: the silence proves nothing")


@case("DAR-RA-003", "An RS with a hop limit other than 255 is ignored", "RFC 4861 §6.1.1 (hop limit 255); profile §2 step 1", group="ra")
def rs_hop_limit(t: DarTester) -> None:
    raw = bytearray(_rs(t.x.link_local))
    raw[HOP_LIMIT] = 254  # not in the ICMPv6 pseudo-header: the checksum still holds
    _ignored(t, bytes(raw), "hop limit 254")


@case("DAR-RA-004", "An RS with a wrong ICMPv6 checksum is ignored", "RFC 4861 §6.1.1 (valid checksum); profile §2 step 1", group="ra")
def rs_checksum(t: DarTester) -> None:
    raw = bytearray(_rs(t.x.link_local))
    raw[ICMP_CHECKSUM] ^= 0xFF
    _ignored(t, bytes(raw), "a wrong checksum")
