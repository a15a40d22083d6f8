"""fama-dar and fama-mn against a hostile peer on a veth pair (issue 14), raw frames only.

Each test starts the role as a process in its namespace and attacks it from the
other end of the veth (``hostile.py``: the bed, and every attack laid out byte
by byte). What a role must not do is shown against a marker: after the attack
the test sends something the role must answer (an NS for the DAR's address, an
RS), and everything the role sent before that answer is what it made of the
attack; the role handles its frames in order, cheap ones first, and the marker
is as cheap as any. No fixed sleep: every wait is for a frame, a log record or a state the
kernel shows (a stopped process, an address no longer tentative).
"""

from __future__ import annotations

import itertools
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hostile import (
    ALL_NODES,
    DAR,
    DAR_LL,
    PEER_LL,
    ROLE_IF,
    Bed,
    Identity,
    Record,
    Seen,
    a16,
    ba_fields,
    bed,
    dst_of,
    flooding,
    fragments,
    icmp_type,
    ipv6,
    is_ba,
    is_ra,
    kernel_echo,
    mh,
    neighbour_advertisement,
    neighbour_solicitation,
    option_bomb,
    router_solicitation,
    run,
    udp,
    unauthorised_bus,
    until,
    unusable,
)

from scapy_fama.codec import encode_bytes
from scapy_fama.crypto import KeyPair
from scapy_fama.proto.messages import BindingUpdate
from scapy_fama.wire.link import group_mac, solicited_node

pytestmark = pytest.mark.netns
COA = "2001:db8:ca::5"  # an MN's care-of address off the DAR's link (its BAs go upstream, to us)
FAR = "2001:db8:99::7"  # a correspondent beyond the DAR's default route (us again)
SPOOFED = "2001:db8:66::9"
MARK = "2001:db8:99::1"  # where the upstream marker goes
FLOODER = "2001:db8:f000::"  # the care-of addresses of hostile.unauthorised_bus are in 2001:db8:f000::/40
FLOOD_RATE = 16000.0  # BUs a second: more than fama-dar answers (about 11,000 of those on 2 cores, 2026-12-07)
SATURATED = 20_000  # flood BAs seen before the refreshes start: the flood has run for seconds, and the
# kernel's buffer (4 MiB, about 9,000 of its frames) filled at FLOOD_RATE less the DAR's rate before
VOLLEYS = 5
REFRESH_WAIT = 10.0  # seconds: a refresh is answered in about a millisecond (a second behind the flood before)


@pytest.fixture
def dar(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Bed]:
    """fama-dar on the veth, ready (its first RA came); its options from an indirect parameter."""
    if (why := unusable()) is not None:
        pytest.skip(why)
    with bed(tmp_path) as made:
        made.start_dar(*getattr(request, "param", ()))
        yield made
        assert made.alive(), made.diagnosis()
        assert made.stop() == 0, made.diagnosis()
        assert not [r for r in made.records() if r["dir"] == "error" and r["kind"] != "log-write"], made.diagnosis()


def marker(b: Bed, attacked: list[bytes]) -> list[Seen]:
    """Send the ``attacked`` frames, then two markers the DAR must answer: an NS for its address
    (answered on the link) and a datagram to a correspondent beyond it (routed on upstream,
    through its namespace's kernel, to us). What the DAR sent up to both is what it made of the
    attack, whichever way its answers went."""
    wire = b.wire
    assert wire is not None
    for frame in attacked:
        wire.send(frame)
    group = solicited_node(DAR)
    wire.to(group_mac(group), neighbour_solicitation(PEER_LL, group, DAR, wire.mac))
    wire.to(b.role_mac, udp(SPOOFED, MARK, b"marker"))
    pending = {"na", "routed"}

    def both(s: Seen) -> bool:
        if icmp_type(s) == 136 and s.ip[48:64] == a16(DAR) and s.ip[24:40] == a16(PEER_LL):
            pending.discard("na")
        if is_marker(s):
            pending.discard("routed")
        return not pending

    return wire.collect(both)


def is_marker(s: Seen) -> bool:
    return s.ip[6] == 17 and s.ip[24:40] == a16(MARK)


def to_dar(b: Bed, packet: bytes) -> bytes:
    assert b.wire is not None
    return b.role_mac + b.wire.mac + b"\x86\xdd" + packet


def answers(seen: list[Seen]) -> list[Seen]:
    """What the DAR itself sent (from its addresses), but for ND, RAs and the markers' answers."""
    return [s for s in seen if s.ip[8:24] in (a16(DAR), a16(DAR_LL)) and icmp_type(s) not in (134, 135, 136)]


# ---------------------------------------------------------------- item 1: option bombs


@pytest.mark.parametrize("dst", [DAR, ALL_NODES])
@pytest.mark.parametrize("good_checksum", [True, False])
def test_an_option_bomb_is_dropped_unanswered_and_a_flood_of_them_is_summarised(
    dar: Bed, dst: str, good_checksum: bool
) -> None:
    bomb = option_bomb(COA, dst, good_checksum=good_checksum)
    assert len(bomb) > 1400 + 40 + 12
    frame = to_dar(dar, bomb) if dst == DAR else bytes(group_mac(ALL_NODES)) + dar.wire.mac + b"\x86\xdd" + bomb  # type: ignore[union-attr]
    assert answers(marker(dar, [frame])) == []
    assert answers(marker(dar, [frame] * 500)) == []
    drops = [r for r in dar.records() if r["dir"] == "drop" and "more than 64 options" in r.get("why", "")]
    span = drops[-1]["t"] - drops[0]["t"]
    assert 1 <= len(drops) <= 20 + 2 * span + 1  # a burst, then 2 lines/s (profile §6, issue 14 item 3)
    summary = dar.wait(kind="log-suppressed", of="drop/??/undecodable")
    assert summary["count"] >= 501 - len(drops) - 20  # the rest, counted


# ---------------------------------------------------------------- item 2: a burst of first BUs


def bind_eight(b: Bed) -> list[tuple[Identity, str]]:
    """Eight MNs with a binding and a PHKT at the DAR, each with its care-of address."""
    bound = [(Identity.make(KeyPair.generate(1024)), f"2001:db8:c{n}::5") for n in range(8)]  # a /64 each,
    wire = b.wire  # as the CGA budget is per source /64
    assert wire is not None
    for mn, coa in bound:
        wire.to(b.role_mac, mn.first_bu(coa))
        assert mn.take(wire.collect(lambda s: is_ba(s.ip))[-1].ip).status == 0 and mn.phkt is not None
    return bound


def burst_and_refreshes(b: Bed, bound: list[tuple[Identity, str]]) -> tuple[list[bytes], set[tuple[str, int]]]:
    """2,000 CGA-signed first BUs of one flooder, then a PHKT refresh of each bound MN, as frames;
    and the (CoA, seq) of every BA they must get."""
    flooder = Identity.make(KeyPair.generate(1024))
    burst = [to_dar(b, flooder.first_bu(COA, seq)) for seq in range(1, 2001)]
    refreshes = [to_dar(b, mn.refresh(coa)) for mn, coa in bound]
    return burst + refreshes, {(COA, seq) for seq in range(1, 2001)} | {(coa, mn.seq) for mn, coa in bound}


def answered(b: Bed, expected: set[tuple[str, int]]) -> list[tuple[str, int]]:
    """The (CoA, seq) of each BA, in the order they came, until every one ``expected`` came."""
    assert b.wire is not None
    got: list[tuple[str, int]] = []

    def all_answered(s: Seen) -> bool:
        if is_ba(s.ip):
            got.append((dst_of(s), ba_fields(s.ip)[1]))
        return set(got) >= expected

    b.wire.collect(all_answered, timeout=120.0)
    assert len(got) == len(expected)  # nothing lost, nothing answered twice
    return got


def test_a_burst_of_cga_bus_is_all_answered_and_phkt_refreshes_overtake_it(dar: Bed) -> None:
    bound = bind_eight(dar)
    frames, expected = burst_and_refreshes(dar, bound)
    for frame in frames:  # 2,008 frames back to back
        dar.wire.send(frame)  # type: ignore[union-attr]
    got = answered(dar, expected)
    refreshed = [got.index((coa, mn.seq)) for mn, coa in bound]
    assert max(refreshed) < 1000, refreshed  # sent after 2,000 CGA BUs, answered ahead of most


def test_refreshes_queued_in_the_kernel_behind_a_burst_of_cga_bus_are_answered_before_all_of_it(dar: Bed) -> None:
    """The DAR stopped (SIGSTOP) while the burst and then the refreshes reach its sockets, so that
    all of them wait in the kernel when it goes on: the refreshes are read ahead of the burst
    already at the socket (profile §6 DoS guard: PHKT-authorised BUs are never queued behind CGA
    work), not once the burst's 2,000 frames have been read and classified (issue 14 item 2)."""
    bound = bind_eight(dar)
    frames, expected = burst_and_refreshes(dar, bound)
    with stopped(dar):
        for frame in frames:
            dar.wire.send(frame)  # type: ignore[union-attr]
        kernel_echo(dar)  # sent after them: they are in the DAR's sockets
    got = answered(dar, expected)
    refreshed = {(coa, mn.seq) for mn, coa in bound}
    assert set(got[:8]) == refreshed, [got.index(r) for r in refreshed]


def test_a_flood_of_unauthorised_short_bus_leaves_the_bound_mns_refreshes_answered(dar: Bed) -> None:
    """Short BUs that no PHKT authorises (hostile.unauthorised_bus: a foreign home address, no
    authorisation, a BAD with no PHKT), from 64 sources at FLOOD_RATE a second, more than the
    DAR answers, while eight bound MNs refresh, VOLLEYS times all at once: every refresh gets
    its BA 0 (profile §6: a flood leaves the DAR serving the MNs it already serves). The kernel
    sorts the flood into the priority socket with the refreshes; read from it in order, a
    refresh waited behind its full buffer or was dropped at its tail."""
    wire = dar.wire
    assert wire is not None
    bound = bind_eight(dar)
    lost: list[tuple[str, int]] = []
    with flooding(dar, unauthorised_bus(dar.role_mac, wire.mac, 3000, 64), FLOOD_RATE):
        flood_answers = [0]

        def saturated(s: Seen) -> bool:  # answered for long enough to fill the kernel's buffer before
            flood_answers[0] += is_ba(s.ip) and s.ip[24:29] == a16(FLOODER)[:5]
            return flood_answers[0] >= SATURATED

        wire.collect(saturated, timeout=60.0)
        for _ in range(VOLLEYS):
            for mn, coa in bound:
                wire.to(dar.role_mac, mn.refresh(coa))
            waited = {(coa, mn.seq) for mn, coa in bound}

            def all_answered(s: Seen, waited: set[tuple[str, int]] = waited) -> bool:
                if is_ba(s.ip) and ba_fields(s.ip)[0] == 0:
                    waited.discard((dst_of(s), ba_fields(s.ip)[1]))
                return not waited

            try:
                wire.collect(all_answered, timeout=REFRESH_WAIT)
            except AssertionError:  # not all within REFRESH_WAIT: the rest are lost
                lost += waited
    assert lost == []


def test_a_flood_of_one_source_waiting_in_the_kernel_is_shed_at_its_queue_and_counted(dar: Bed) -> None:
    """README "Bounded state": the short BUs read from the priority socket wait in the intake,
    256 a source at most, beyond which a source's oldest is dropped and counted in ``intake_shed``
    of the status record. 600 unauthorised short BUs of one source reach the DAR's priority
    socket while it is stopped, then a bound MN's refresh: once the DAR goes on, the refresh is
    answered, at least 256 of the flood too, and every flood BU is answered or counted shed."""
    wire = dar.wire
    assert wire is not None
    mn, coa = bind_eight(dar)[0]
    shed_before = dar.status()["intake_shed"]
    flood = unauthorised_bus(dar.role_mac, wire.mac, 600, 1)  # one care-of address: one queue
    with stopped(dar):
        for frame in flood:
            wire.send(frame)
        wire.to(dar.role_mac, mn.refresh(coa))
        kernel_echo(dar)  # sent after them: they are in the DAR's sockets
    flood_answers, refreshed = [0], [False]

    def count(s: Seen) -> None:  # the wire's socket keeps what comes between two collects
        if is_ba(s.ip):
            flood_answers[0] += s.ip[24:29] == a16(FLOODER)[:5]
            refreshed[0] |= dst_of(s) == coa and ba_fields(s.ip) == (0, mn.seq)

    wire.hooks.append(count)
    try:
        wire.collect(lambda s: refreshed[0], timeout=REFRESH_WAIT)
        until(lambda: dar.status()["intake"] == 0, "the intake emptied")
        shed = dar.status()["intake_shed"] - shed_before
        if flood_answers[0] + shed < len(flood):  # the BAs to the flood not all in yet
            wire.collect(lambda s: flood_answers[0] + shed >= len(flood), timeout=REFRESH_WAIT)
    finally:
        wire.hooks.remove(count)
    assert 0 < shed <= len(flood) - 256 and flood_answers[0] == len(flood) - shed


@contextmanager
def stopped(b: Bed) -> Iterator[None]:
    """The role's process stopped (every thread of it), then continued."""
    assert b.process is not None
    pid = b.process.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        until(lambda: all(state(task) == "T" for task in Path(f"/proc/{pid}/task").iterdir()), "the role stopped")
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def state(task: Path) -> str:
    """A thread's state letter in /proc/PID/task/TID/stat (after the parenthesised name)."""
    return (task / "stat").read_text().rsplit(")", 1)[1].split()[0]


# ---------------------------------------------------------------- item 3: logging


def test_a_log_on_a_full_disk_is_said_once_and_the_dar_carries_on(tmp_path: Path) -> None:
    if (why := unusable()) is not None:
        pytest.skip(why)
    with bed(tmp_path) as b:
        b.start_dar(json_log="/dev/full")  # every write: ENOSPC
        for _ in range(3):
            assert answers(marker(b, [to_dar(b, udp(FAR, DAR, b"garbage" * 10))] * 50)) == []
        assert b.alive()
        assert b.err.splitlines() == [
            "log: cannot write to /dev/full (OSError: [Errno 28] No space left on device); its lines are counted, not written"
        ]
        text = (tmp_path / "dar.log").read_text()
        assert "!! log-write stream=/dev/full why=OSError: [Errno 28] No space left on device" in text
        assert b.stop() == 0


# ---------------------------------------------------------------- item 4: link events


def test_the_dar_rides_out_admin_down_up_and_its_interface_going_and_coming_back(dar: Bed) -> None:
    run("ip", "-n", dar.role_ns, "link", "set", ROLE_IF, "down")
    down = dar.wait(kind="link-down", epoch=1)  # the carrier's loss or the socket's ENETDOWN, first seen
    assert down.get("why") in (None, "[Errno 100] Network is down"), down
    run("ip", "-n", dar.role_ns, "link", "set", ROLE_IF, "up")
    dar.wait(kind="link-up", epoch=2)
    dar.route()  # the kernel dropped the default route with the link: operations put it back
    assert answers(marker(dar, [])) == []  # answers again

    run("ip", "-n", dar.role_ns, "link", "del", ROLE_IF)
    dar.wait(kind="link-down", epoch=2)
    dar.veth(role_mac="02:00:00:00:00:02")  # created anew: another ifindex, another MAC
    up = [r for r in dar.records() if r["kind"] == "link-up"]
    while len(up) < 3:
        dar.wait(kind="link-up", epoch=1)
        up = [r for r in dar.records() if r["kind"] == "link-up"]
    seen = marker(dar, [])
    assert seen[-1].frame[6:12] == bytes.fromhex("020000000002")  # the NA from the new MAC
    links = [r["kind"] for r in dar.records() if r["kind"] in ("link-up", "link-down")]
    assert links == ["link-up", "link-down", "link-up", "link-down", "link-up"]  # one line each way


# ---------------------------------------------------------------- item 6: nothing kept unbounded


def test_datagrams_for_the_dar_are_not_kept_and_spoofed_floods_leave_bounded_tables(dar: Bed) -> None:
    wire = dar.wire
    assert wire is not None
    datagrams = [to_dar(dar, udp(FAR, DAR, b"x" * 1000)) for _ in range(200)]
    assert answers(marker(dar, datagrams)) == []
    assert dar.wait(dir="drop", kind="DATA")["why"] == "no-application: UDP port 7 of the DAR"
    group = solicited_node(DAR)
    spoofed = [
        bytes(group_mac(group)) + wire.mac + b"\x86\xdd"
        + neighbour_solicitation(f"2001:db8:1::{n + 2:x}", group, DAR, bytes.fromhex(f"02{n:010x}"))
        for n in range(3000)
    ]  # fmt: skip
    marker(dar, spoofed)
    status = dar.status()
    assert status["received"] == 0 and status["neighbours"] == 1024  # RFC 4861 §7.2.3, bounded
    assert status["backlog"] == 0 and status["fragments"] == 0


# ---------------------------------------------------------------- ingress: the DAR's own source


@pytest.mark.parametrize("own", [DAR, DAR_LL])
def test_packets_from_the_dars_own_address_are_dropped_not_answered_nor_forwarded(dar: Bed, own: str) -> None:
    """A BU (HAO for an address of the prefix, so that it would get BA 148), a CoTI (RFC 6275
    §6.1.3, type 1) and a datagram for a correspondent beyond the DAR, each from one of the
    DAR's own addresses: nothing answers them, no NS for its own address, nothing forwarded
    (RFC 3704 §2 ingress filtering; profile §6 strictness)."""
    assert dar.wire is not None
    bu = encode_bytes(BindingUpdate(own, DAR, "2001:db8:1::4242", 1, 3600))
    coti = ipv6(own, DAR, 135, mh(1, bytes(2) + b"cookie!!", own, DAR))
    spoofed = udp(own, FAR, b"as the DAR")
    seen = marker(dar, [to_dar(dar, p) for p in (bu, coti, spoofed)])
    assert answers(seen) == []
    assert not [s for s in seen if icmp_type(s) == 135 and s.ip[48:64] == a16(DAR)]  # no NS for itself
    assert not [s for s in seen if s.ip[6] == 17 and not is_marker(s)]  # not forwarded
    assert [r["why"] for r in dar.records() if r["kind"] == "spoofed-source"] == [f"own-address: {own} is this DAR's"] * 3


# ---------------------------------------------------------------- Mobility Headers to a group


@pytest.mark.parametrize("dar", [(), ("--kernel",)], indirect=True, ids=["user", "kernel"])
def test_mobility_headers_to_the_all_nodes_or_all_routers_group_are_dropped_unanswered(dar: Bed) -> None:
    """A BU (CGA-signed, from a CoA off the link, for an address of the prefix: BA 148 it got),
    a CoTI and an MH of an unknown type (a Binding Error it got), each to ff02::1 and to ff02::2
    in the group's frame: nothing answers them, nothing is stored (RFC 6275 §6.1.7)."""
    wire = dar.wire
    assert wire is not None
    if dar.process is not None and "--kernel" in dar.process.args:  # its kernel routes the marker
        run("ip", "netns", "exec", dar.role_ns, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
    mn = Identity.make(KeyPair.generate(1024))
    frames = []
    for group in (ALL_NODES, "ff02::2"):
        bu = encode_bytes(BindingUpdate(COA, group, mn.hoa, 1, 3600, cga_params=mn.params, sign_with=mn.key))
        coti = ipv6(COA, group, 135, mh(2, bytes(2) + b"cookie!!", COA, group))
        unknown = ipv6(COA, group, 135, mh(42, bytes(2), COA, group))
        frames += [bytes(group_mac(group)) + wire.mac + b"\x86\xdd" + p for p in (bu, coti, unknown)]
    seen = marker(dar, frames)

    def dropped() -> list[Record]:
        return [r for r in dar.records() if r["dir"] == "drop" and r.get("why", "").startswith("multicast-destination")]

    until(lambda: len(dropped()) >= 6, "six drops")  # in kernel mode the kernel answers the marker
    seen += marker(dar, [])  # whatever the DAR sent for them came before this
    assert [s for s in answers(seen) if s.ip[24:40] != a16("ff02::16")] == []  # not MLD: the kernel joining ff02::2
    drops = dropped()
    got = sorted((r["kind"], r["dst"]) for r in drops)  # cheap frames are read first (no order)
    assert got == sorted((kind, g) for g in (ALL_NODES, "ff02::2") for kind in ("BU", "CoTI", "MH"))
    assert {r["src"] for r in drops} == {COA}
    assert (dar.status()["bindings"], dar.status()["records"]) == (0, 0)


# ---------------------------------------------------------------- item 7: neighbour cache poisoning


def test_neither_an_ns_for_another_target_nor_an_unsolicited_na_poisons_the_cache(dar: Bed) -> None:
    wire = dar.wire
    assert wire is not None
    victim, victim_mac = "2001:db8:1::77", bytes.fromhex("020000000077")
    group = solicited_node(victim)
    ns_for_victim = neighbour_solicitation(SPOOFED, group, victim, wire.mac)  # "victim is at my MAC"
    na_unsolicited = neighbour_advertisement(victim, ALL_NODES, victim, wire.mac, 0x20)  # O=1, S=0
    marker(dar, [bytes(group_mac(group)) + wire.mac + b"\x86\xdd" + ns_for_victim,
                 bytes(group_mac(ALL_NODES)) + wire.mac + b"\x86\xdd" + na_unsolicited])  # fmt: skip
    wire.to(dar.role_mac, udp(FAR, victim, b"for the victim"))
    seen = wire.collect(lambda s: icmp_type(s) == 135 and s.ip[48:64] == a16(victim))
    assert seen[-1].frame[:6] == bytes(group_mac(group))  # resolved by NS (§7.2.2), not sent to us
    assert not [s for s in seen if s.ip[6] == 17]
    # the victim answers; then an NA without O and with our MAC must not take its place (§7.2.5)
    wire.to(dar.role_mac, neighbour_advertisement(victim, DAR_LL, victim, victim_mac, 0x60))
    first = wire.collect(lambda s: s.ip[6] == 17)[-1]
    assert first.frame[:6] == victim_mac
    wire.to(dar.role_mac, neighbour_advertisement(victim, DAR_LL, victim, wire.mac, 0x40))  # S=1, O=0
    wire.to(dar.role_mac, udp(FAR, victim, b"again"))
    again = wire.collect(lambda s: s.ip[6] == 17)[-1]
    assert again.frame[:6] == victim_mac


# ---------------------------------------------------------------- items 13-15


def test_an_unrecognised_destination_option_gets_a_parameter_problem_as_its_action_bits_say(dar: Bed) -> None:
    wire = dar.wire
    assert wire is not None

    def with_option(otype: int, dst: str) -> bytes:
        opts = bytes((17, 0, otype, 2, 0, 0, 1, 0))  # Next Header UDP, len 0; the option; PadN(0)
        return udp(FAR, dst, b"probe", before=opts, first_nh=60)

    for otype, dst, reported in ((0x9E, DAR, True), (0xDE, DAR, True), (0x5E, DAR, False),
                                 (0x9E, ALL_NODES, True), (0xDE, ALL_NODES, False)):  # fmt: skip
        packet = with_option(otype, dst)
        frame = to_dar(dar, packet) if dst == DAR else bytes(group_mac(dst)) + wire.mac + b"\x86\xdd" + packet
        errors = [s for s in answers(marker(dar, [frame])) if icmp_type(s) == 4]  # not the kernel's
        if not reported:
            assert errors == [], hex(otype)
            continue
        (error,) = errors  # RFC 4443 §3.4: code 2, the pointer at the option type, the packet quoted
        assert error.ip[24:40] == a16(FAR) and error.ip[8:24] == a16(DAR)
        assert error.ip[41] == 2 and int.from_bytes(error.ip[44:48], "big") == 42 and error.ip[48:] == packet


def test_a_bu_in_two_fragments_is_reassembled_and_answered(dar: Bed) -> None:
    wire = dar.wire
    assert wire is not None
    mn = Identity.make(KeyPair.generate(1024))
    bu = mn.first_bu(COA)
    assert len(bu) > 256 + 40
    for piece in fragments(bu, 0x1234, 256)[::-1]:  # the last first: any order
        wire.to(dar.role_mac, piece)
    ba = wire.collect(lambda s: is_ba(s.ip))[-1]
    assert mn.take(ba.ip).status == 0 and dst_of(ba) == COA


def test_hop_limits_in_transit(dar: Bed) -> None:
    wire = dar.wire
    assert wire is not None
    for hlim, forwarded in ((2, True), (1, False), (0, False)):
        packet = udp(FAR, "2001:db8:42::1", b"transit", hlim=hlim)
        seen = marker(dar, [to_dar(dar, packet)])
        routed = [s for s in seen if s.ip[6] == 17 and not is_marker(s)]
        exceeded = [s for s in seen if icmp_type(s) == 3]
        if forwarded:
            assert [s.ip[7] for s in routed] == [1] and exceeded == []
            continue
        assert routed == []  # never sent on with 0 hops left, nor with 255 (hlim 0 wrapped)
        (error,) = exceeded  # RFC 4443 §3.3: code 0, to the source, the packet quoted
        assert error.ip[41] == 0 and error.ip[24:40] == a16(FAR) and error.ip[48:] == packet
    assert not [r for r in dar.records() if r["dir"] == "error"]


# ---------------------------------------------------------------- items 9, 10, 16: strictness proved


def test_framing_that_profile_6_refuses_is_dropped_silently(dar: Bed) -> None:
    mn = Identity.make(KeyPair.generate(1024))
    wire = dar.wire
    assert wire is not None
    wire.to(dar.role_mac, mn.first_bu(COA))
    mn.take(wire.collect(lambda s: is_ba(s.ip))[-1].ip)
    good = mn.refresh(COA)
    mh_at = 40 + 8 * (good[41] + 1)  # behind the HAO's Destination Options header
    second_bad = bytearray(good[:mh_at]) + bytearray(good[mh_at:])
    body = bytes(second_bad[mh_at + 6 :]) + bytes((5, 12)) + bytes(12) + bytes(2)  # a BAD more, last, 8n
    second_bad = bytearray(good[:mh_at]) + mh(5, body, COA, DAR)
    second_bad[4:6] = (len(second_bad) - 40).to_bytes(2, "big")
    second_bad[mh_at + 1] = (len(second_bad) - mh_at) // 8 - 1
    long_plen = bytearray(good)
    long_plen[4:6] = (len(good) - 40 + 64).to_bytes(2, "big")  # 64 bytes beyond the frame
    short_hlen = bytearray(good)
    short_hlen[mh_at + 1] -= 1  # Header Len shorter than its options
    for attack in (bytes(second_bad), bytes(long_plen), bytes(short_hlen)):
        assert answers(marker(dar, [to_dar(dar, attack)])) == []
    wire.to(dar.role_mac, good)  # the refresh itself is answered
    status, _ = ba_fields(wire.collect(lambda s: is_ba(s.ip))[-1].ip)
    assert status == 0


def test_invalid_rss_are_ignored_and_multicast_ras_are_rate_limited(dar: Bed) -> None:
    wire = dar.wire
    assert wire is not None
    me, routers = "fe80::5", bytes(group_mac("ff02::2"))
    for bad in (router_solicitation(me, hlim=254), router_solicitation(me, good_checksum=False)):
        seen = marker(dar, [routers + wire.mac + b"\x86\xdd" + bad])
        assert not [s for s in seen if is_ra(s) and s.ip[24:40] == a16(me)]  # RFC 4861 §6.1.1
    burst = [routers + wire.mac + b"\x86\xdd" + router_solicitation("::")] * 20
    for frame in burst:
        wire.send(frame)
    seen = wire.collect(lambda s: is_ra(s) and s.ip[24:40] == a16(ALL_NODES))  # the RA they get
    seen += marker(dar, [])
    ras = [s for s in seen if is_ra(s) and s.ip[24:40] == a16(ALL_NODES)]
    assert 1 <= len(ras) <= 3  # one, maybe the next one 30 ms on, maybe an unsolicited one
    gaps = [b.at - a.at for a, b in itertools.pairwise(ras)]  # kernel receive times
    assert all(gap >= 0.03 - 0.005 for gap in gaps), gaps  # profile §2 step 1: MinDelayBetweenRAs



@pytest.mark.parametrize(("src", "dst"), [("fe80::5", FAR), ("::", FAR), (SPOOFED, "ff0e::101")])
def test_what_may_not_leave_the_link_is_not_forwarded(dar: Bed, src: str, dst: str) -> None:
    """RFC 4291: a router forwards no link-local source to another link (§2.5.6), no
    unspecified source (§2.5.2) and, not a multicast router, no multicast (§2.7)."""
    seen = marker(dar, [to_dar(dar, udp(src, dst, b"stays on the link"))])
    assert not [s for s in seen if s.ip[6] == 17 and not is_marker(s)]
    assert dar.wait(dir="drop", kind="DATA", src=src)["why"] == f"not-routable: {src} -> {dst} may not leave the link"
