"""The MN-as-IUT cases: what a mobile node must do after a handover, as the DARs see it.

Theory of operation
-------------------
Each case plays the DARs through :class:`scapy_fama.conformance.mn_tester.MnTester`
and judges the BUs and data the MN sends. Most start from the same handover::

    attach DAR 1 ---> HoA_1      move to DAR 2 ---> CoA      BU(CoA -> DAR 1, HAO HoA_1)
                                                             |  answered (register) or withheld

Times are judged against the profile's numbers written out here (§7: 1.5 s
first, 1 s later, doubling to 32 s; 3 BUs/s; refresh at 80 %), never against
an implementation's constants; ``SLACK`` allows for an MN that ticks on a real
interface. The MN's configuration comes with the case's ``Setup`` (keep
policy; Sec 0 so that a fresh in-process MN costs no CGA search). Groups:
``bu`` (format), ``retx`` (back-off), ``status`` (135, 147, 148, stray BAs),
``secure`` (137 and the care-of test), ``phkt``, ``refresh``, ``home``,
``data``, ``keep``.
"""

from __future__ import annotations

from itertools import pairwise

from scapy_fama.conformance.case import Fail, Inconclusive, case
from scapy_fama.conformance.executor import Setup
from scapy_fama.conformance.mn_tester import (
    CN,
    DAD_TIME,
    SLACK,
    MnTester,
    Sighting,
    describe,
)
from scapy_fama.crypto import ZERO_TOKEN
from scapy_fama.proto import KeepPolicy, MnConfig
from scapy_fama.proto.messages import BindingUpdate, CareOfTest, Datagram, Tunnelled
from scapy_fama.proto.seqno import seq_newer

KEEP_ALL = Setup(mn=MnConfig(keep=KeepPolicy.ALL, sec=0))
FIRST_WAIT, LATER_WAIT, MAX_WAIT = 1.5, 1.0, 32.0  # profile §7, RFC 6275 §12
MAX_RATE = 3  # BUs to one DAR in any second (profile §7, RFC 6275 §13 MAX_UPDATE_RATE)
REFRESH_AT = 0.8  # profile §7: 80 % of the granted lifetime
SHORT = 4  # seconds a refresh case grants (one 4-second unit, RFC 6275 §6.1.7)


def backoff(first: float, count: int) -> list[float]:
    """The first ``count`` waits of profile §7: ``first``, doubling, capped at 32 s."""
    waits = [first]
    while len(waits) < count:
        waits.append(min(2 * waits[-1], MAX_WAIT))
    return waits


def retransmissions(t: MnTester, first: Sighting, i: int, waits: list[float]) -> list[Sighting]:
    """The BUs to DAR ``i`` that follow ``first`` when nothing answers, each expected after
    its wait (FAIL if one is missing or early)."""
    seen = [first]
    for n, wait in enumerate(waits, 1):
        due = seen[-1].at + wait
        nxt = t.expect_bu(
            i, due + SLACK - t.x.now(), f"retransmission {n} of the BU {wait:g} s after the last", rule=True
        )
        if nxt.at < due - SLACK:
            raise Fail(
                f"retransmission {n} came {nxt.at - seen[-1].at:.2f} s after the last BU, "
                f"{wait:g} s expected (profile §7): {describe(nxt.bu, nxt.at)}"
            )
        seen.append(nxt)
    return seen


def judge(bu: BindingUpdate, problems: list[str]) -> None:
    """FAIL naming the BU and every problem found with it, if any."""
    if problems:
        raise Fail(f"{describe(bu)}: " + "; ".join(problems))


def later_bu(t: MnTester) -> Sighting:
    """Set-up: registered at DAR 1 from DAR 2 (a PHKT issued), moved on to DAR 3: the BU
    to DAR 1 from the new CoA, which the PHKT authorises."""
    t.register()
    t.move(3)
    return t.expect_bu(1, DAD_TIME + t.wait, "a BU to DAR 1 after the second handover")


# ---------------------------------------------------------------- BU format


@case(
    "MN-BU-001",
    "After a handover the MN sends a BU for its kept address from the new CoA",
    "RFC 6275 §11.7.1; profile §3, §4",
    group="bu",
    setup=KEEP_ALL,
)
def bu_after_handover(t: MnTester) -> None:
    bu = t.moved_bu().bu
    problems = []
    if not t.dar(2).owns(bu.src):
        problems.append(f"source {bu.src} is not a CoA of DAR 2's prefix {t.dar(2).prefix}")
    if not t.dar(1).owns(bu.hoa):
        problems.append(f"HAO {bu.hoa} is not an address of DAR 1's prefix {t.dar(1).prefix}")
    if not (bu.ack and bu.home):
        problems.append(f"flags A={int(bu.ack)} H={int(bu.home)}, A=1 H=1 expected")
    if bu.lifetime <= 0:
        problems.append("lifetime 0: a de-registration, not a registration")
    judge(bu, problems)


@case(
    "MN-BU-002",
    "The first BU to a DAR carries CGA Parameters and a Signature that verify, and no BAD",
    "RFC 4866 §4.5, §5.1, §5.2; RFC 3972 §5; profile §4",
    group="bu",
    setup=KEEP_ALL,
)
def bu_cga_signed(t: MnTester) -> None:
    bu = t.handover().bu
    problem = t.signature_problem(bu)
    if problem is None and (bu.bad is not None or bu.nonce_indices is not None):
        problem = "it carries Nonce Indices or a BAD though no PHKT exists yet"
    if problem is not None:
        raise Fail(f"the first BU is not properly CGA-signed, {problem}: {describe(bu)}")


@case(
    "MN-BU-003",
    "The first BU leaves at once from the optimistic CoA, before DAD could end",
    "RFC 4429 §3.3 (an Optimistic Address is used at once); profile §2 step 3, §7",
    group="bu",
    setup=KEEP_ALL,
)
def bu_optimistic(t: MnTester) -> None:
    seen = t.moved_bu()
    if seen.at - t.ra_at >= DAD_TIME - SLACK:  # no BU at once: a lost one may have come before
        raise t.missing(
            f"the BU left {seen.at - t.ra_at:.2f} s after the RA, as if it waited for DAD "
            f"({DAD_TIME:g} s); the CoA is optimistic by default and used at once: {describe(seen.bu)}"
        )


@case(
    "MN-BU-004",
    "The requested lifetime does not exceed the home address's remaining valid lifetime",
    "RFC 6275 §11.7.1 (no longer than the home address is valid)",
    group="bu",
    setup=KEEP_ALL,
)
def bu_lifetime_capped(t: MnTester) -> None:
    valid = 40
    bu = t.moved_bu(valid=valid).bu
    if not 0 < bu.lifetime <= valid:
        raise Fail(f"lifetime {bu.lifetime} s for a HoA valid for {valid} s: {describe(bu)}")


# ---------------------------------------------------------------- retransmission


@case(
    "MN-RETX-001",
    "An unanswered first BU is retransmitted after 1.5 s, then 3 s, then 6 s",
    "RFC 6275 §11.8; profile §7",
    group="retx",
    setup=KEEP_ALL,
)
def retx_backoff(t: MnTester) -> None:
    retransmissions(t, t.handover(), 1, backoff(FIRST_WAIT, 3))


@case(
    "MN-RETX-002",
    "Every retransmission carries a new, higher sequence number",
    "RFC 6275 §11.8, §11.7.1 (a greater sequence number); profile §7",
    group="retx",
    setup=KEEP_ALL,
)
def retx_new_seq(t: MnTester) -> None:
    seen = retransmissions(t, t.handover(), 1, [FIRST_WAIT])
    for before, after in pairwise(seen):
        if not seq_newer(after.bu.seq, before.bu.seq):
            raise Fail(
                f"retransmission with seq {after.bu.seq} after seq {before.bu.seq}: "
                f"a new, higher one is required ({describe(after.bu, after.at)})"
            )


@case(
    "MN-RETX-003",
    "A later registration at a DAR starts its back-off at 1 s",
    "RFC 6275 §11.8, §12 (INITIAL_BINDACK_TIMEOUT); profile §7",
    group="retx",
    setup=KEEP_ALL,
)
def retx_later_registration(t: MnTester) -> None:
    retransmissions(t, later_bu(t), 1, [LATER_WAIT])


@case(
    "MN-RETX-004",
    "The MN gives up after the 32 s step: six BUs, then silence",
    "RFC 6275 §11.8 (MAX_BINDACK_TIMEOUT); profile §7",
    group="retx",
    setup=KEEP_ALL,
)
def retx_gives_up(t: MnTester) -> None:
    waits = backoff(FIRST_WAIT, 5)  # 1.5 3 6 12 24: the sixth BU's wait is the 32 s step
    t.needs(sum(waits) + 2 * MAX_WAIT)
    last = retransmissions(t, t.handover(), 1, waits)[-1]
    t.expect_no_bu(
        1, last.at + MAX_WAIT + MAX_WAIT / 2 - t.x.now(), "the 32 s step passed unanswered"
    )


@case(
    "MN-RETX-005",
    "At most 3 BUs a second to one DAR, even when every BU is refused at once",
    "RFC 6275 §11.8, §12 (MAX_UPDATE_RATE); profile §7",
    group="retx",
    setup=KEEP_ALL,
)
def retx_rate_limit(t: MnTester) -> None:
    seen = [t.handover()]
    while len(seen) < 3 * MAX_RATE:  # 135 with the BU's own seq: "resync and resend", at once
        t.answer(seen[-1].bu, 135, seq=seen[-1].bu.seq)
        seen.append(t.expect_bu(1, 2 * t.wait, "a BU resent after BA 135"))
    for n in range(len(seen) - MAX_RATE):
        span = seen[n + MAX_RATE].at - seen[n].at
        if span < 1.0 - SLACK:  # the wire may delay a BU (the MN resolves its router first)
            burst = ", ".join(f"seq {s.bu.seq} at {s.at:.2f} s" for s in seen[n : n + MAX_RATE + 1])
            raise Fail(f"{MAX_RATE + 1} BUs to DAR 1 within {span:.2f} s: {burst}")


# ---------------------------------------------------------------- status codes and stray BAs


@case(
    "MN-STATUS-001",
    "BA 135: the MN resyncs to the DAR's sequence number and resends at once with a newer one",
    "RFC 6275 §11.7.3 (status 135); profile §7",
    group="status",
    setup=KEEP_ALL,
)
def status_135(t: MnTester) -> None:
    first = t.handover()
    last_accepted = (first.bu.seq + 1000) % 65536
    t.answer(first.bu, 135, seq=last_accepted)
    # past the wait only a resynced BU is a slow answer to the 135; an older seq retransmits
    resynced = lambda bu: seq_newer(bu.seq, last_accepted)
    again = t.expect_bu(1, t.wait, "a BU resent at once after BA 135", late=resynced)
    if not seq_newer(again.bu.seq, last_accepted):
        raise Fail(
            f"after BA 135 carrying seq {last_accepted} the MN sent seq {again.bu.seq}, "
            f"not newer than it: {describe(again.bu, again.at)}"
        )


@case(
    "MN-STATUS-002",
    "BA 147: the MN resends the BU signed with its CGA",
    "RFC 4866 §4.4; profile §7",
    group="status",
    setup=KEEP_ALL,
)
def status_147(t: MnTester) -> None:
    t.answer(later_bu(t).bu, 147)
    again = t.expect_bu(1, t.wait, "a BU resent at once after BA 147")
    problem = t.signature_problem(again.bu)
    if problem is not None:
        raise Fail(
            f"the BU after BA 147 is not CGA-signed: {problem} ({describe(again.bu, again.at)})"
        )


@case(
    "MN-STATUS-003",
    "BA 148: the MN reports the failure and does not retry",
    "RFC 4866 §4.4; profile §7",
    group="status",
    setup=KEEP_ALL,
)
def status_148(t: MnTester) -> None:
    t.answer(t.handover().bu, 148)
    t.expect_no_bu(1, 2 * FIRST_WAIT, "BA 148 refused the CGA authorisation")


@case(
    "MN-STATUS-004",
    "A BA whose sequence number matches no BU sent is ignored: the BU is retransmitted",
    "RFC 6275 §11.7.3; profile §7",
    group="status",
    setup=KEEP_ALL,
)
def status_stray_seq(t: MnTester) -> None:
    first = t.handover()
    t.answer(first.bu, 0, seq=first.bu.seq - 7)
    try:
        retransmissions(t, first, 1, [FIRST_WAIT])
    except Fail as exc:
        raise Fail(
            f"the MN took BA 0 with seq {first.bu.seq - 7} for its BU seq {first.bu.seq}: {exc}"
        ) from None


# ---------------------------------------------------------------- secure mode


def care_of_test(t: MnTester) -> CareOfTest:
    """The handover's BU gets BA 137; DAR 1 answers the CoTI that must follow: the CoT."""
    first = t.handover()
    t.answer(first.bu, 137)
    return t.answer_coti(1, first.bu.src)


@case(
    "MN-SEC-001",
    "BA 137: the MN runs the care-of test, a CoTI from its CoA to the DAR",
    "RFC 6275 §11.7.3, §11.6.1; profile §5, §7",
    group="secure",
    setup=KEEP_ALL,
)
def secure_137(t: MnTester) -> None:
    care_of_test(t)


@case(
    "MN-SEC-002",
    "After the CoT the BU is CGA-signed and carries the care-of index and a BAD keyed by the token",
    "RFC 6275 §5.2.5, §6.2.7; profile §4, §5",
    group="secure",
    setup=KEEP_ALL,
)
def secure_bu(t: MnTester) -> None:
    cot = care_of_test(t)
    bu = t.expect_bu(1, t.wait, "a BU after the CoT").bu
    problem = t.signature_problem(bu) or t.bad_problem(bu, 1, phkt=ZERO_TOKEN)
    if problem is None and bu.nonce_indices != (0, cot.index):
        problem = f"Nonce Indices {bu.nonce_indices}, (0, {cot.index}) expected"
    if problem is not None:
        raise Fail(f"the BU after the care-of test {problem}: {describe(bu)}")


# ---------------------------------------------------------------- PHKT


@case(
    "MN-PHKT-001",
    "Later BUs to the DAR carry Nonce Indices and a BAD keyed by the PHKT, no CGA options",
    "RFC 4866 §4.1, §4.8; RFC 6275 §6.2.7; profile §4",
    group="phkt",
    setup=KEEP_ALL,
)
def phkt_later_bu(t: MnTester) -> None:
    bu = later_bu(t).bu
    problem = t.bad_problem(bu, 1)
    if problem is None and bu.cga_params is not None:
        problem = "it is CGA-signed again though the DAR issued a PHKT"
    if problem is None and bu.nonce_indices != (0, 0):
        problem = f"Nonce Indices {bu.nonce_indices}, (0, 0) expected"
    if problem is not None:
        raise Fail(f"the later BU is not PHKT-authorised, {problem}: {describe(bu)}")


@case(
    "MN-PHKT-002",
    "A BA whose BAD does not verify with the PHKT is ignored: the BU is retransmitted",
    "RFC 6275 §11.7.3; profile §7",
    group="phkt",
    setup=KEEP_ALL,
)
def phkt_forged_ba(t: MnTester) -> None:
    later = later_bu(t)
    t.answer(later.bu, 0, forged=True)
    try:
        retransmissions(t, later, 1, [LATER_WAIT])
    except Fail as exc:
        raise Fail(f"the MN took BA 0 with a BAD of another PHKT: {exc}") from None


@case(
    "MN-PHKT-003",
    "An MN that signs again after unanswered PHKT-authorised BUs does it as a first BU is signed, then takes the new PHKT",
    "RFC 4866 §4.4, §4.9; profile §6 step 4, §7",
    group="phkt",
    setup=KEEP_ALL,
)
def phkt_doubted(t: MnTester) -> None:
    """A DAR whose PHKT is not the MN's drops its PHKT-authorised BUs silently (profile §6
    step 4). Whether and when the MN then signs with its CGA key the profile leaves open (it
    asks for it after BA 147 only, §7): an MN that keeps to its PHKT through three
    retransmissions gets an inconclusive verdict, one that signs after the first, second or
    third gets judged on how (a valid CGA signature) and on the PHKT it then uses."""
    seen = [later_bu(t)]
    for wait in (LATER_WAIT, 2 * LATER_WAIT, 4 * LATER_WAIT):
        if seen[-1].bu.cga_params is not None or seen[-1].bu.signature is not None:
            break
        seen += retransmissions(t, seen[-1], 1, [wait])[1:]
    *unsigned, last = seen
    if last.bu.cga_params is None and last.bu.signature is None:
        raise Inconclusive(
            f"the MN kept to its PHKT through {len(unsigned)} unanswered retransmissions; the profile "
            "asks it to sign again only after BA 147 (§7), so this case has nothing to judge"
        )
    for n, sighting in enumerate(unsigned, 1):
        problem = t.bad_problem(sighting.bu, 1)
        if problem is not None:
            raise Fail(f"BU {n} is not PHKT-authorised, {problem}: {describe(sighting.bu)}")
    problem = t.signature_problem(last.bu)
    if problem is not None:
        raise Fail(f"the BU signed again after {len(unsigned)} unanswered: {problem}")
    t.answer(last.bu, 0)  # a new PHKT (profile §4): the next BU must carry its BAD
    t.move(2)
    bu = t.expect_bu(1, DAD_TIME + t.wait, "a BU to DAR 1 after the next handover").bu
    problem = t.bad_problem(bu, 1)
    if problem is None and bu.cga_params is not None:
        problem = "it is CGA-signed again though the DAR issued a new PHKT"
    if problem is not None:
        raise Fail(f"the BU after the CGA-signed one is not PHKT-authorised, {problem}: {describe(bu)}")


# ---------------------------------------------------------------- refresh


def _refreshed(t: MnTester, registered: Sighting, due: float, what: str) -> None:
    """The next BU to DAR 1 comes ``due`` s after the registered one (no earlier than 3/4
    of it, no later than it), is newer and carries the PHKT's BAD."""
    deadline = registered.at + due + SLACK
    seen = t.expect_bu(1, deadline - t.x.now(), f"a refresh BU {what}", rule=True)
    elapsed = seen.at - registered.at
    if elapsed < 0.75 * due:
        raise Fail(f"refreshed {elapsed:.2f} s after the BU, {due:g} s expected ({what})")
    problem = t.bad_problem(seen.bu, 1)
    if problem is None and not seq_newer(seen.bu.seq, registered.bu.seq):
        problem = f"seq {seen.bu.seq} is not newer than {registered.bu.seq}"
    if problem is not None:
        raise Fail(f"refresh {describe(seen.bu, seen.at)}: {problem}")


@case(
    "MN-REFRESH-001",
    "A binding is refreshed when 80 % of the granted lifetime has passed",
    "RFC 6275 §11.7.1; profile §7",
    group="refresh",
    setup=KEEP_ALL,
)
def refresh_at_80(t: MnTester) -> None:
    registered = t.register(lifetime=SHORT)
    _refreshed(t, registered, REFRESH_AT * SHORT, f"at 80 % of the {SHORT} s granted")


@case(
    "MN-REFRESH-002",
    "A Binding Refresh Advice shorter than 80 % of the lifetime sets the refresh time",
    "RFC 6275 §6.2.4, §11.7.3; profile §7",
    group="refresh",
    setup=KEEP_ALL,
)
def refresh_advice(t: MnTester) -> None:
    seen = t.handover()
    t.answer(seen.bu, 0, 10 * SHORT, refresh=SHORT)
    _refreshed(t, seen, SHORT, f"by the advised {SHORT} s (lifetime {10 * SHORT} s)")


# ---------------------------------------------------------------- home


@case(
    "MN-HOME-001",
    "Back on the DAR's link the MN de-registers from home: src HoA, no HAO, lifetime 0, BAD",
    "RFC 6275 §11.5.5; profile §4",
    group="home",
    setup=KEEP_ALL,
)
def home_deregistration(t: MnTester) -> None:
    hoa = t.register().bu.hoa
    t.move(1)
    bu = t.expect_bu(1, t.wait + SLACK, "a de-registration from home").bu
    problems = []
    if (bu.src, bu.hoa, bu.lifetime) != (hoa, None, 0):
        problems.append(f"src HoA {hoa}, no HAO and lifetime 0 expected")
    problems += filter(None, [t.bad_problem(bu, 1)])
    judge(bu, problems)


# ---------------------------------------------------------------- data plane


def expect_data(t: MnTester, src: str, payload: bytes) -> Tunnelled | Datagram:
    """The first data packet the MN sends after :meth:`MnTester.data_from`; FAIL if none
    comes, or if it is not the datagram from ``src`` to CN with ``payload``."""
    _, msg = t.expect(lambda m: isinstance(m, (Tunnelled, Datagram)), f"data from {src}")
    assert isinstance(msg, (Tunnelled, Datagram))
    datagram = msg.inner if isinstance(msg, Tunnelled) else msg
    if not (
        isinstance(datagram, Datagram)
        and (datagram.src, datagram.dst, datagram.payload) == (src, CN, payload)
    ):
        raise Fail(f"expected the datagram {src} -> {CN} with {payload!r}, got {describe(msg)}")
    return msg


@case(
    "MN-DATA-001",
    "Data from a kept address is reverse-tunnelled from the CoA to its DAR",
    "RFC 6275 §11.3.1; RFC 2473 §3.1; profile §8",
    group="data",
    setup=KEEP_ALL,
)
def data_reverse_tunnel(t: MnTester) -> None:
    bu = t.register().bu
    assert bu.hoa is not None
    msg = expect_data(t, bu.hoa, t.data_from(bu.hoa, tunnel=(1, bu.src)))
    if not (isinstance(msg, Tunnelled) and (msg.src, msg.dst) == (bu.src, t.dar(1).address)):
        raise Fail(
            f"expected TUN {bu.src} -> {t.dar(1).address} around {bu.hoa} -> {CN}, got {describe(msg)}"
        )


@case(
    "MN-DATA-002",
    "The address of the current DAR is used natively, not tunnelled",
    "profile §8, §1",
    group="data",
    setup=KEEP_ALL,
)
def data_native(t: MnTester) -> None:
    coa = t.register().bu.src
    msg = expect_data(t, coa, t.data_from(coa))
    if not isinstance(msg, Datagram):
        raise Fail(f"expected DATA {coa} -> {CN} sent natively, got {describe(msg)}")


# ---------------------------------------------------------------- keep policy


@case(
    "MN-KEEP-001",
    "An address the keep policy releases gets no BU (policy none)",
    "profile §3",
    group="keep",
    setup=Setup(mn=MnConfig(keep=KeepPolicy.NONE, sec=0)),
)
def keep_none(t: MnTester) -> None:
    t.attach(1)
    t.move(2)
    t.expect_no_bu(1, DAD_TIME + 2 * FIRST_WAIT, "the address of DAR 1 is released under keep none")


@case(
    "MN-KEEP-002",
    "Single anchor: after a second move the MN anchors at the first DAR only",
    "profile §3; draft-bernardos-dmm-cmip §A.5",
    group="keep",
    setup=Setup(mn=MnConfig(keep=KeepPolicy.SINGLE_ANCHOR, sec=0)),
)
def keep_single_anchor(t: MnTester) -> None:
    t.register()
    t.move(3)
    t.expect_bu(1, DAD_TIME + t.wait, "a BU to the first DAR after the second move")
    t.expect_no_bu(2, 2 * FIRST_WAIT, "single-anchor never anchors at a later DAR")
