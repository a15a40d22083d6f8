"""MN cases: attachment, as the revised profile makes it fast (profile §2 steps 1 and 3, §7).

Theory of operation
-------------------
A mobile node that knows it moved solicits at once (RFC 4861 §6.3.7 lets it
skip the random delay) and, by default, uses its new address while DAD runs
(an Optimistic Address, RFC 4429), so that its BUs leave without waiting::

    link up --RS at once--> tester (played DAR)           MN-RS-001: three link-ups, each RS
                                                          within SLACK
    RA --> CoA, optimistic --BU at once--> DAR 1          MN-BU-003 (mn_cases.py); MN-BU-005:
                                                          with optimistic off, after DAD
    another node claims the CoA while DAD runs            MN-DAD-001: a new CoA (the next
      (tester: Executor.claim, an NA for it)              collision count), the BU again from it
    back home: de-registration to DAR 1, never answered   MN-HOME-002: the BU to DAR 2 leaves
                                                          at once all the same (profile §7)

Times are the profile's (``DAD_TIME`` is RetransTimer x DupAddrDetectTransmits,
1 s); ``SLACK`` allows for an MN that ticks on a real interface. An MN that
delays its first RS at random (RFC 4861's up to 1 s) may meet one link-up in
time by chance, hardly three. An RS lost on the link makes the MN's next one
late (RFC 4861 §6.3.7: RTR_SOLICITATION_INTERVAL later), so a late or missing
RS fails MN-RS-001 only where the link is not seen to lose packets: the MN
then makes a handover, and Neighbour Solicitations for the CoA its BU comes
from probe the link (:mod:`scapy_fama.conformance.patience`).
"""

from __future__ import annotations

from scapy_fama.codec import decode
from scapy_fama.conformance.case import Fail, Inconclusive, case
from scapy_fama.conformance.executor import Setup
from scapy_fama.conformance.mn_cases import KEEP_ALL
from scapy_fama.conformance.mn_tester import DAD_TIME, RS_WAIT, SLACK, MnTester, describe
from scapy_fama.proto import KeepPolicy, MnConfig
from scapy_fama.proto.messages import RouterSolicitation

LINK_UPS = 3
WAITS_FOR_DAD = Setup(mn=MnConfig(keep=KeepPolicy.ALL, sec=0, optimistic=False))


def _untimely(t: MnTester, why: str) -> Fail | Inconclusive:
    """What an RS that came late or not at all (``why``) makes of MN-RS-001: FAIL, unless the
    link is seen to lose packets (a lost RS makes the MN's next one late). The probes need an
    address the MN is seen to use (mn_tester.py), so on a link that may lose packets the MN
    first makes a handover after one more link-up (its BU comes from its CoA); without it, the
    link is not probed."""
    if not t.x.lossless:
        t.x.link_down()
        t.x.link_up()
        try:
            t.handover()
        except Inconclusive as exc:
            return Inconclusive(f"{why}, and the link could not be probed for loss ({exc})")
    return t.missing(why)


@case("MN-RS-001", "On link-up the MN solicits at once, without RFC 4861's random delay", "RFC 4861 §6.3.7 (the delay a host that knows it moved may skip); profile §2 step 1", group="rs", setup=KEEP_ALL)
def rs_at_once(t: MnTester) -> None:
    for n in range(1, LINK_UPS + 1):
        t.x.link_down()
        up = t.x.now()
        t.x.link_up()
        frames = t.x.wait(RS_WAIT, lambda f: isinstance(decode(f.raw), RouterSolicitation))
        if not frames or not isinstance(decode(frames[-1].raw), RouterSolicitation):
            raise _untimely(t, f"no RS within {RS_WAIT:g} s of link-up {n}")
        if frames[-1].time - up > SLACK:
            raise _untimely(t, f"the RS came {frames[-1].time - up:.2f} s after link-up {n} (at once: within {SLACK:g} s)")


@case("MN-BU-005", "With optimistic addresses off, no BU leaves before DAD ends", "RFC 4862 §5.4 (a tentative address is not used); profile §2 step 3 (the policy switch)", group="bu", setup=WAITS_FOR_DAD)
def bu_after_dad(t: MnTester) -> None:
    seen = t.moved_bu()
    if seen.at - t.ra_at < DAD_TIME - SLACK:
        raise Fail(
            f"the BU left {seen.at - t.ra_at:.2f} s after the RA, before DAD ({DAD_TIME:g} s) "
            f"could end, from an address that must stay tentative: {describe(seen.bu)}"
        )


@case("MN-DAD-001", "A DAD collision on the optimistic CoA: a new CoA, and the BU again from it", "RFC 4862 §5.4.4 (an NA for a tentative address); RFC 3972 §4 step 8 (the next collision count); profile §2 step 3", group="dad", setup=KEEP_ALL)
def dad_collision(t: MnTester) -> None:
    first = t.handover()
    if first.at - t.ra_at >= DAD_TIME - SLACK:
        raise Inconclusive("set-up: the BU came after DAD (see MN-BU-003); a collision needs DAD still running")
    old = first.bu.src
    t.x.claim(old)  # another node answers for the CoA while its DAD runs
    again = t.expect_bu(1, DAD_TIME + t.wait, f"a BU to DAR 1 from a new CoA after the collision on {old}")
    if again.bu.src == old or not t.dar(2).owns(again.bu.src):
        raise Fail(f"after the collision on {old} the BU comes from {again.bu.src}, not from a new address of DAR 2's prefix: {describe(again.bu, again.at)}")
    if again.bu.hoa != first.bu.hoa:
        raise Fail(f"the BU after the collision is for {again.bu.hoa}, not for the kept {first.bu.hoa}")


@case("MN-HOME-002", "Back home, a home DAR that never answers does not hold back the BU to another DAR", "profile §7 (BUs to different DARs are independent)", group="home", setup=KEEP_ALL)
def home_silent(t: MnTester) -> None:
    t.register()  # HoA_1 bound at DAR 1 from DAR 2's address, which is kept (keep all)
    t.move(1)  # home: a de-registration to DAR 1, which the tester never answers
    t.expect_bu(1, t.wait + SLACK, "the de-registration from home")
    t.expect_bu(2, t.wait + SLACK, "a BU to DAR 2 while DAR 1 has not answered the de-registration")
