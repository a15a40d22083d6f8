"""fama-mn against a hostile peer on a veth pair (issue 14 items 4, 7, 18), raw frames only.

The peer plays the MN's routers and DARs: it answers the MN's RSs with RAs laid
out by hand, the NSs for its routers' addresses, and, when a test lets it, the
MN's BUs to DAR 1 with the BAs of a real DarCore (``Dars``); the attacks are the
same BAs edited byte by byte, BAs laid out by hand, RAs with many prefixes,
Binding Errors and ICMPv6 errors. The MN is moved as a real one is: the peer's
end of the veth goes down and up, the MN's carrier with it, and its next RS gets
the other DAR's prefix::

    fama-mn (HoA at DAR 1) --link down/up, RA of DAR 2--> CoA at DAR 2 --BU for HoA--> DAR 1 (played)

What the MN makes of an attack is read from its JSON log (each message it drops
says why) and from what it sends; every wait is for a frame or a record.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostile import (
    ALL_NODES,
    PEER_IF,
    ROLE_IF,
    WAIT,
    Bed,
    Seen,
    a16,
    bed,
    icmp_type,
    ipv6,
    mh,
    neighbour_solicitation,
    router_advertisement,
    run,
    udp,
    unusable,
    until,
    with_checksum,
)

from scapy_fama.codec import decode, encode_bytes
from scapy_fama.proto import DarCore
from scapy_fama.proto.effects import Send
from scapy_fama.proto.messages import BindingAck, BindingUpdate
from scapy_fama.wire.link import group_mac, solicited_node

pytestmark = pytest.mark.netns
DAR1, DAR2 = "2001:db8:1::1", "2001:db8:2::1"
ROUTER1, ROUTER2 = "fe80::d1", "fe80::d2"
FAR = "2001:db8:99::7"  # a correspondent beyond the MN's router


class Dars:
    """The peer as the MN's routers and DARs: RAs on request, a real DarCore for DAR 1's BAs."""

    def __init__(self, b: Bed) -> None:
        assert b.wire is not None
        self.bed, self.wire = b, b.wire
        self.core = DarCore(DAR1, "2001:db8:1::/64", rand=os.urandom)
        self.answering = False  # the MN's BUs to DAR 1 get DarCore's BA
        self.bus: list[tuple[bytes, BindingUpdate]] = []  # every BU to DAR 1, with its packet
        self.bas: list[tuple[bytes, BindingAck]] = []  # every BA DarCore made
        self.seen: list[Seen] = []  # every frame from the MN
        for address in (ROUTER1, ROUTER2, DAR1, DAR2):
            self.wire.answers[address] = self.wire.mac
        self.wire.hooks.append(self._bu)

    def _bu(self, seen: Seen) -> None:
        self.seen.append(seen)
        ip = seen.ip
        if ip[24:40] != a16(DAR1) or ip[8:24] == a16(DAR1):
            return
        msg = decode(ip)
        if not isinstance(msg, BindingUpdate):
            return
        self.bus.append((ip, msg))
        if self.answering:
            self.answer(msg)

    def make(self, bu: BindingUpdate) -> tuple[bytes, BindingAck]:
        """DarCore's BA to ``bu``: its bytes and its message."""
        (ba,) = [e.msg for e in self.core.on_message(bu, time.monotonic()) if isinstance(e, Send)]
        assert isinstance(ba, BindingAck)
        self.bas.append((encode_bytes(ba), ba))
        return self.bas[-1]

    def answer(self, bu: BindingUpdate) -> None:
        self.send(self.make(bu)[0])

    def send(self, packet: bytes) -> None:
        self.wire.to(self.bed.role_mac, packet)

    def advertise(self, router: str, dars: list[str], *, sllao: bool = True) -> None:
        """An RA from ``router`` to all nodes, one PIO per DAR address (after an RS)."""
        ra = router_advertisement(router, ALL_NODES, self.wire.mac if sllao else None, dars)
        self.wire.to(group_mac(ALL_NODES), ra)

    def move(self, router: str, dar: str, *, sllao: bool = True) -> None:
        """The MN's carrier goes and comes back; its RS gets ``dar``'s prefix from ``router``."""
        run("ip", "-n", self.bed.peer_ns, "link", "set", PEER_IF, "down")
        run("ip", "-n", self.bed.peer_ns, "link", "set", PEER_IF, "up")
        self.wire.collect(lambda s: icmp_type(s) == 133)
        self.advertise(router, [dar], sllao=sllao)


@pytest.fixture
def mn(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Bed]:
    """fama-mn on the veth, ready (its first RS came); its options from an indirect parameter."""
    if (why := unusable()) is not None:
        pytest.skip(why)
    with bed(tmp_path) as made:
        made.start_mn(*getattr(request, "param", ()))
        yield made
        assert made.alive(), made.diagnosis()
        assert made.stop() == 0, made.diagnosis()
        assert not [r for r in made.records() if r["dir"] == "error"], made.diagnosis()


def attached(b: Bed) -> tuple[Dars, str]:
    """The MN at DAR 1: its home address."""
    dars = Dars(b)
    dars.advertise(ROUTER1, [DAR1])
    return dars, b.wait(kind="address-optimistic")["address"]


def moved(b: Bed, *, sllao: bool = True) -> tuple[Dars, str, str, BindingUpdate]:
    """The MN at DAR 2 with its HoA from DAR 1 kept: the HoA, the CoA and its first BU to DAR 1."""
    dars, hoa = attached(b)
    dars.move(ROUTER2, DAR2, sllao=sllao)
    dars.wire.collect(lambda s: bool(dars.bus))
    bu = dars.bus[0][1]
    assert bu.hoa == hoa and bu.cga_params is not None
    return dars, hoa, bu.src, bu


def bound(b: Bed) -> tuple[Dars, str, str]:
    dars, hoa, coa, bu = moved(b)
    dars.answering = True
    dars.answer(bu)
    b.wait(dir="state", kind="BOUND")
    return dars, hoa, coa


def rechecksum(packet: bytes) -> bytes:
    """The MH checksum of ``packet`` (a BA behind a type 2 Routing header) made right again:
    its pseudo-header names the home address of the RH2 (RFC 6275 §6.1.1, §6.4)."""
    off = 40 + 8 * (packet[41] + 1)
    home = socket.inet_ntop(socket.AF_INET6, packet[48:64])
    src = socket.inet_ntop(socket.AF_INET6, packet[8:24])
    return packet[:off] + with_checksum(src, home, 135, packet[off:], 4)


def ba_bomb(coa: str, hoa: str, pads: int = 1420) -> bytes:
    """A BA (status 0, seq 1) to the CoA, RH2 = HoA, whose options are Pad1 bytes."""
    fixed = bytes((0, 0)) + (1).to_bytes(2, "big") + (900).to_bytes(2, "big")
    pads += -(6 + len(fixed) + pads) % 8
    rh2 = bytes((135, 2, 2, 1, 0, 0, 0, 0)) + a16(hoa)  # RFC 6275 §6.4: type 2, Segments Left 1
    return ipv6(DAR1, coa, 43, rh2 + mh(6, fixed + bytes(pads), DAR1, hoa))


def drops(b: Bed, since: int = 0) -> list[str]:
    return [r.get("why", "") for r in b.records()[since:] if r["dir"] == "drop" and r["kind"] in ("BA", "??", "BE", "RH2")]


# ---------------------------------------------------------------- item 18: BAs


def test_forged_replayed_misaddressed_and_bombed_bas_change_nothing(mn: Bed) -> None:
    dars, hoa, coa, bu = moved(mn)
    genuine, ba = dars.make(bu)  # not sent yet: the forgeries come first
    flipped = bytearray(genuine)
    flipped[-1] ^= 0x01  # the BAD is the last option: its last byte
    forgeries = {
        "option bomb": ba_bomb(coa, hoa),
        "BAD wrong": rechecksum(bytes(flipped)),
        "another seq": encode_bytes(dataclasses.replace(ba, seq=(ba.seq + 7) % 65536)),
        "another HoA": encode_bytes(dataclasses.replace(ba, hoa="2001:db8:1::bad")),
    }
    since = len(mn.records())
    for packet in forgeries.values():
        dars.send(packet)
    until(lambda: len(drops(mn, since)) >= len(forgeries), "a drop record for each forgery")
    why = drops(mn, since)  # the MN says why it dropped each, in order
    assert "more than 64 options" in why[0]
    assert why[1].startswith("bad-authenticator") or why[1].startswith("phkt")
    assert why[2].startswith("no-outstanding-bu")
    assert why[3] == "rh2-not-mine: 2001:db8:1::bad with Segments Left 1"  # RFC 6275 §6.4
    assert not [r for r in mn.records() if r["kind"] in ("BOUND", "binding-registered")]
    dars.send(genuine)  # the real one still counts
    mn.wait(dir="state", kind="BOUND")
    registered = len([r for r in mn.records() if r["kind"] == "binding-registered"])
    since = len(mn.records())
    dars.send(genuine)  # replayed: nothing happens
    mn.wait(dir="drop", kind="BA", why=f"no-outstanding-bu: seq {ba.seq}")
    assert len([r for r in mn.records() if r["kind"] == "binding-registered"]) == registered
    assert [r["kind"] for r in mn.records()[since:] if r["dir"] == "state"] == []


# ---------------------------------------------------------------- item 18: BEs and ICMPv6 errors


def test_binding_errors_and_icmp_errors_never_drop_the_binding(mn: Bed) -> None:
    dars, hoa, coa = bound(mn)
    be_unknown = mh(7, bytes((1, 0)) + a16(hoa), DAR1, coa)  # status 1 (RFC 6275 §6.1.9)
    be_type = mh(7, bytes((2, 0)) + a16(hoa), DAR1, coa)  # status 2
    be_other = mh(7, bytes((1, 0)) + a16(hoa), DAR2, coa)  # from a DAR that is not HoA's
    bus_before, since = len(dars.bus), len(mn.records())
    for body, src in ((be_unknown, DAR1), (be_type, DAR1), (be_other, DAR2)):
        for _ in range(50):
            dars.send(ipv6(src, coa, 135, body))
    quoted = dars.bus[0][0][:200]
    for kind, code in ((1, 3), (4, 1), (3, 0)):  # unreachable, parameter problem, time exceeded
        error = bytes((kind, code, 0, 0, 0, 0, 0, 0)) + quoted
        dars.send(ipv6(DAR1, coa, 58, with_checksum(DAR1, coa, 58, error, 2)))
    mn.wait(dir="drop", why=f"unknown-binding: Binding Error for {hoa} from {DAR2}")
    while len([w for w in drops(mn, since) if "ICMPv6 error" in w]) < 3:  # RFC 4443 §2.4: no message
        mn.wait(dir="drop", kind="??")
    dars.wire.collect(lambda s: len(dars.bus) > bus_before)  # status 1 from its DAR: one
    bound_again(mn, since)  # registration again (RFC 6275 §11.3.6), answered by the hook
    errors = [r for r in mn.records() if r["kind"] == "binding-error"]
    assert errors and {r["status"] for r in errors} <= {1, 2}
    group = solicited_node(coa)  # a marker: what the MN sent before its NA is all it sent
    dars.wire.to(group_mac(group), neighbour_solicitation(ROUTER2, group, coa, dars.wire.mac))
    dars.wire.collect(lambda s: icmp_type(s) == 136 and s.ip[48:64] == a16(coa))
    assert len(dars.bus) - bus_before == 1  # fifty status 1: one registration
    assert mn.status()["addresses"] == 2


def bound_again(b: Bed, since: int) -> None:
    """Wait until the MN, after its records up to ``since``, left BOUND and came back to it."""
    deadline = time.monotonic() + WAIT
    while [r["kind"] for r in b.records()[since:] if r["dir"] == "state"][-1:] != ["BOUND"]:
        assert b.alive() and time.monotonic() < deadline, b.diagnosis()
        time.sleep(0.05)


# ---------------------------------------------------------------- item 18: RAs


def test_ras_with_many_prefixes_or_a_flood_of_new_ones_cost_one_cga_per_link_up(mn: Bed) -> None:
    dars, hoa = attached(mn)
    for ns, iface in ((mn.role_ns, ROLE_IF), (mn.peer_ns, PEER_IF)):  # room for 100 PIOs
        run("ip", "-n", ns, "link", "set", iface, "mtu", "9000")
    many = [f"2001:db8:{n + 16:x}::1" for n in range(100)]
    dars.advertise(ROUTER1, many)
    for n in range(100):
        dars.advertise(f"fe80::e{n:x}", [f"2001:db8:{n + 256:x}::1"])
    dars.wire.to(group_mac(solicited_node(hoa)), neighbour_solicitation("fe80::d1", solicited_node(hoa), hoa,
                                                                         dars.wire.mac))  # fmt: skip
    dars.wire.collect(lambda s: icmp_type(s) == 136)  # the MN answered: it handled the RAs before
    status = mn.status()
    assert status["addresses"] == 1 and status["routers"] <= 1
    assert len([r for r in mn.records() if r["kind"] == "address-optimistic"]) == 1


def test_rogue_ras_neither_stall_the_attachment_nor_shorten_the_hoa(mn: Bed) -> None:
    """RFC 4862 §5.5.3: a rogue router's RA for a /48 first after the link-up is ignored (it made
    the MN raise and drop its DAR's RA as another prefix until the next link-up); one with
    valid lifetime 0 for the HoA's prefix leaves it two hours (the BU after the move asked for
    lifetime 0, a de-registration); one from a global source does not make its sender the MN's
    router."""
    dars = Dars(mn)
    rogue = "fe80::e1"
    dars.wire.to(group_mac(ALL_NODES), router_advertisement(rogue, ALL_NODES, dars.wire.mac, [DAR1], length=48))
    assert mn.wait(dir="drop", kind="RA")["why"] == "ra-ignored: 2001:db8:1::/48 is not a /64 (RFC 4862 §5.5.3, RFC 3972 §3)"
    dars.advertise(ROUTER1, [DAR1])
    hoa = mn.wait(kind="address-optimistic")["address"]
    dars.wire.to(group_mac(ALL_NODES), router_advertisement(rogue, ALL_NODES, dars.wire.mac, [DAR1], valid=0))
    group = solicited_node(hoa)  # a marker: the MN answered it, so it handled the RA before
    dars.wire.to(group_mac(group), neighbour_solicitation(ROUTER1, group, hoa, dars.wire.mac))
    dars.wire.collect(lambda s: icmp_type(s) == 136 and s.ip[48:64] == a16(hoa))
    dars.move(ROUTER2, DAR2)
    dars.wire.collect(lambda s: bool(dars.bus))
    ip, bu = dars.bus[0]
    assert bu.hoa == hoa and bu.lifetime == 7200
    mh_at = 40 + 24  # IPv6, then the Destination Options header with the HAO (24 bytes)
    assert ip[6] == 60 and ip[mh_at + 2] == 5  # MH type 5, a BU (RFC 6275 §6.1.7)
    assert int.from_bytes(ip[mh_at + 10 : mh_at + 12], "big") * 4 == 7200  # Lifetime, 4 s units
    off_link = "2001:db8:2::66"  # RFC 4861 §6.1.2: an RA from it is invalid, its router not taken
    dars.wire.to(group_mac(ALL_NODES), router_advertisement(off_link, ALL_NODES, bytes.fromhex("020000000066"), [DAR2]))
    mn.wait(dir="drop", kind="RA", why=f"ra-ignored: source {off_link} is not link-local (RFC 4861 §6.1.2)")
    dars.wire.collect(lambda s: len(dars.bus) > 1)  # the BU's retransmission, 1.5 s after it
    assert dars.seen[-1].frame[:6] == dars.wire.mac  # still to ROUTER2


# ---------------------------------------------------------------- RFC 4429 §3.3 on the wire


def test_the_optimistic_coa_sends_no_slla_and_never_overrides(mn: Bed) -> None:
    dars, _hoa, coa, _bu = moved(mn, sllao=False)  # no SLLA in the RA: the MN resolves its router
    solicits = [s for s in dars.seen if icmp_type(s) == 135 and s.ip[8:24] == a16(coa)]
    assert solicits, "the MN resolved its router from its optimistic CoA"
    assert all(len(s.ip) == 40 + 24 for s in solicits)  # RFC 4429 §3.3: without an SLLA option
    group = solicited_node(coa)
    dars.wire.to(group_mac(group), neighbour_solicitation(ROUTER2, group, coa, dars.wire.mac))
    na = dars.wire.collect(lambda s: icmp_type(s) == 136 and s.ip[48:64] == a16(coa))[-1]

    def na_record(r: dict[str, object]) -> bool:
        return (r["dir"], r["kind"], r.get("target")) == ("out", "NA", coa)

    # the MN logs its NA (and its address's DAD end) before sending it; the log's thread writes them
    until(lambda: any(map(na_record, mn.records())), "the MN's record of its NA")
    records = mn.records()
    sent = next(i for i, r in enumerate(records) if na_record(r))
    preferred = next((i for i, r in enumerate(records)
                      if r["kind"] == "address-preferred" and r.get("address") == coa), len(records))  # fmt: skip
    assert bool(na.ip[44] & 0x20) is (preferred < sent)  # the Override flag only once preferred


# ---------------------------------------------------------------- ingress: the MN's own source


@pytest.mark.parametrize("mn", [("--udp-echo",)], indirect=True)
def test_packets_from_the_mns_own_addresses_are_dropped_not_answered(mn: Bed) -> None:
    """UDP Echo requests (RFC 862) to the MN's CoA from its CoA and from its kept HoA, each one of
    the MN's own addresses: nothing answers them (RFC 3704 §2 ingress filtering, as at the DAR);
    one from a correspondent, sent after them, is echoed."""
    dars, hoa, coa, _bu = moved(mn)
    since = len(mn.records())
    for own in (coa, hoa):
        dars.send(udp(own, coa, b"as the MN"))
    dars.send(udp(FAR, coa, b"marker"))
    dars.wire.collect(lambda s: s.ip[6] == 17 and s.ip[24:40] == a16(FAR))  # the marker's echo

    def spoofed() -> list[str]:
        return [r["why"] for r in mn.records()[since:] if r["kind"] == "spoofed-source"]

    until(lambda: len(spoofed()) == 2, "two spoofed-source drops")
    assert sorted(spoofed()) == sorted(f"own-address: {own} is this MN's" for own in (coa, hoa))
    assert not [s for s in dars.seen if s.ip[6] == 17 and s.ip.endswith(b"as the MN")]  # no echo
    assert not [r for r in mn.records()[since:] if r["dir"] == "in" and r["kind"] == "DATA" and r["src"] != FAR]


@pytest.mark.parametrize("mn", [("--udp-echo",)], indirect=True)
def test_a_type_2_routing_header_to_another_address_is_discarded(mn: Bed) -> None:
    """RFC 6275 §6.4: a type 2 Routing header names one of the MN's own addresses with Segments
    Left 1, or the packet is discarded: UDP Echo requests to the CoA behind one naming another
    node, or with Segments Left 0, get no echo (they were echoed from the CoA); one naming the
    HoA, and one without, are echoed."""
    dars, hoa, coa, _bu = moved(mn)

    def rh2(address: str, left: int = 1) -> bytes:
        return bytes((17, 2, 2, left, 0, 0, 0, 0)) + a16(address)

    since = len(mn.records())
    for n, header in enumerate((rh2(FAR), rh2("2001:db8:2::77"), rh2(hoa, left=0))):
        dars.send(udp(FAR, coa, b"refused %d" % n, before=header, first_nh=43))
    dars.send(udp(FAR, coa, b"home", before=rh2(hoa), first_nh=43))
    dars.send(udp(FAR, coa, b"marker"))
    dars.wire.collect(lambda s: s.ip[6] == 17 and s.ip.endswith(b"marker"))

    def refused() -> list[str]:
        return [r["why"] for r in mn.records()[since:] if r["kind"] == "RH2"]

    until(lambda: len(refused()) == 3, "three RH2 drops")
    assert refused() == [f"rh2-not-mine: {FAR} with Segments Left 1", "rh2-not-mine: 2001:db8:2::77 with Segments Left 1",
                         f"rh2-not-mine: {hoa} with Segments Left 0"]  # fmt: skip
    echoed = [s.ip for s in dars.seen if s.ip[6] == 17]
    assert not [ip for ip in echoed if b"refused" in ip]
    assert [ip for ip in echoed if ip.endswith(b"home")]


# ---------------------------------------------------------------- item 4: link events


def test_the_mn_rides_out_admin_down_up_and_its_interface_going_and_coming_back(mn: Bed) -> None:
    dars, _ = attached(mn)
    wire = dars.wire
    run("ip", "-n", mn.role_ns, "link", "set", ROLE_IF, "down")
    mn.wait(kind="link-down", epoch=1)
    run("ip", "-n", mn.role_ns, "link", "set", ROLE_IF, "up")
    mn.wait(kind="link-up", epoch=2)
    wire.collect(lambda s: icmp_type(s) == 133)  # it solicits again
    run("ip", "-n", mn.role_ns, "link", "del", ROLE_IF)
    mn.wait(kind="link-down", epoch=2)
    mn.veth(role_mac="02:00:00:00:00:03")  # created anew
    rs = mn.wire.collect(lambda s: icmp_type(s) == 133)[-1]  # type: ignore[union-attr]
    assert rs.frame[6:12] == bytes.fromhex("020000000003")

    def links() -> list[str]:
        return [r["kind"] for r in mn.records() if r["kind"] in ("link-up", "link-down")]

    until(lambda: len(links()) >= 5, "the link-up line of the new interface")  # the log's thread writes it
    assert links() == ["link-up", "link-down", "link-up", "link-down", "link-up"]  # one line each way
