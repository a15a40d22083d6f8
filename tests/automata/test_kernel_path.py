"""Kernel mode's pure parts: encapsulation, the decapsulation checks (anti-spoofing), what is
signalling; the first packet of each new tunnel reported once; role-applied link emulation on a fake clock and a seeded RNG; the nftables table."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Callable

import pytest
from memnet import receive
from scapy.layers.inet import TCP
from scapy.layers.inet6 import ICMPv6ND_RA, ICMPv6ND_RS, IPv6, IPv6ExtHdrDestOpt
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from scapy_fama.automata import dataplane
from scapy_fama.automata.dataplane import DAR, MN, Tables, TunnelTable
from scapy_fama.automata.kernel_path import signalling
from scapy_fama.cli import dar, mn
from scapy_fama.craft import coti
from scapy_fama.net.kernel import NFT_TABLE, nft_install, nft_remove
from scapy_fama.net.linkemu import DelayLine, EmulatedPort, LinkEmulation
from scapy_fama.net.vnet import VNET_HEADER
from scapy_fama.net.memlink import MemLink
from scapy_fama.proto.effects import TunnelUp
from scapy_fama.wire import parse
from scapy_fama.wire.read import addr

HOA, COA, DAR1, CN, OTHER = "2001:db8:1::5", "2001:db8:2::7", "2001:db8:1::1", "2001:db8:ff::1", "2001:db8:3::9"
AT_DAR = TunnelTable({HOA: TunnelUp(DAR1, COA, HOA)}, DAR, "2001:db8:1::/64")
AT_MN = TunnelTable({HOA: TunnelUp(COA, DAR1, HOA)}, MN)


def _tcp(src: str, dst: str, hlim: int = 63) -> bytes:
    return bytes(IPv6(src=src, dst=dst, hlim=hlim) / TCP(sport=5001, dport=40000) / Raw(b"data"))


def _tunnelled(src: str, dst: str, inner: bytes) -> bytes:
    return bytes(IPv6(src=src, dst=dst, nh=41) / IPv6(inner))


def _encapsulate(inner: bytes, table: TunnelTable) -> IPv6 | None:
    found = table.outer_header(inner)
    return None if found is None else IPv6(found[0] + inner)


def _decapsulate(outer: bytes, table: TunnelTable) -> tuple[bytes | None, str]:
    info = parse(outer)
    assert info is not None and info.upper is not None
    inner, why = table.decapsulate(outer, info.upper)
    return None if inner is None else bytes(inner), why


def _signalling(raw: bytes) -> bool:
    info = parse(raw)
    assert info is not None
    return signalling(raw, info)


# ---------------------------------------------------------------- encapsulation (RFC 2473, profile §8)


def test_a_dar_tunnels_what_is_for_a_hoa_from_itself_to_the_coa_with_the_inner_bytes_unchanged() -> None:
    inner = _tcp(CN, HOA)
    outer = _encapsulate(inner, AT_DAR)
    assert outer is not None and (outer.src, outer.dst, outer.nh, outer.hlim, outer.plen) == (DAR1, COA, 41, 64, len(inner))
    assert bytes(outer.payload) == inner  # hop limit 63: the kernel took its hop already
    assert AT_DAR.outer_header(inner)[1] == (COA, 0)  # type: ignore[index]  # sent to the CoA


def test_an_mn_tunnels_what_is_from_a_kept_address_from_its_coa_to_the_dar() -> None:
    outer = _encapsulate(_tcp(HOA, CN, 64), AT_MN)
    assert outer is not None and (outer.src, outer.dst, outer.nh) == (COA, DAR1, 41)


@pytest.mark.parametrize(("inner", "table"), [(_tcp(CN, OTHER), AT_DAR), (_tcp(COA, CN), AT_MN), (b"\x60" * 39, AT_DAR)])
def test_nothing_is_tunnelled_without_a_tunnel_so_the_current_address_stays_native(inner: bytes, table: TunnelTable) -> None:
    assert table.outer_header(inner) is None


def test_a_dar_hands_back_only_what_is_for_its_own_link_and_neither_tunnelled_nor_routed_to_its_tun() -> None:
    home = "2001:db8:1::9"
    assert AT_DAR.homeward(_tcp(CN, home))  # the MN came home: the kernel delivers it on the link
    assert not AT_DAR.homeward(_tcp(CN, HOA))  # still tunnelled
    assert not AT_DAR.homeward(_tcp(CN, OTHER))  # not this DAR's link
    assert not AT_MN.homeward(_tcp(CN, home))  # an MN hands nothing back
    routed = TunnelTable({}, DAR, "2001:db8:1::/64", frozenset({home}))
    assert not routed.homeward(_tcp(CN, home))  # its kernel would route it into the TUN again


# ---------------------------------------------------------------- decapsulation (RFC 6275 §10.4.5)


def test_a_dar_takes_back_what_its_registered_coa_sends_from_the_hoa() -> None:
    inner = _tcp(HOA, CN, 64)
    out, why = _decapsulate(_tunnelled(COA, DAR1, inner), AT_DAR)
    assert why == "" and out == inner


def test_a_tunnelled_packet_behind_a_destination_options_header_is_taken_as_well() -> None:
    inner = _tcp(HOA, CN, 64)
    outer = bytes(IPv6(src=COA, dst=DAR1) / IPv6ExtHdrDestOpt(nh=41) / IPv6(inner))
    assert _decapsulate(outer, AT_DAR) == (inner, "")


@pytest.mark.parametrize(
    ("outer", "reason"),
    [
        (_tunnelled(OTHER, DAR1, _tcp(HOA, CN)), "spoofed-tunnel"),  # not the registered CoA
        (_tunnelled(COA, "2001:db8:1::2", _tcp(HOA, CN)), "spoofed-tunnel"),  # not to this DAR
        (_tunnelled(COA, DAR1, _tcp(OTHER, CN)), "no-tunnel"),  # a source without a binding
        (_tunnelled(COA, DAR1, _tcp(HOA, CN))[:-30], "truncated"),  # shorter than its Payload Length
    ],
)
def test_a_dar_refuses_every_other_tunnelled_packet(outer: bytes, reason: str) -> None:
    out, why = AT_DAR.decapsulate(outer)
    assert out is None and why.split(":")[0] == reason


def test_an_mn_takes_what_the_dar_of_a_kept_address_sends_to_its_coa_and_nothing_else() -> None:
    assert _decapsulate(_tunnelled(DAR1, COA, _tcp(CN, HOA)), AT_MN)[1] == ""
    assert _decapsulate(_tunnelled(OTHER, COA, _tcp(CN, HOA)), AT_MN)[1].startswith("spoofed-tunnel")
    assert _decapsulate(_tunnelled(DAR1, COA, _tcp(CN, COA)), AT_MN)[1].startswith("no-tunnel")


def test_the_automaton_takes_the_signalling_and_leaves_the_kernel_the_rest() -> None:
    assert _signalling(bytes(coti(COA, DAR1)))
    assert _signalling(bytes(IPv6() / ICMPv6ND_RS())) and _signalling(bytes(IPv6() / ICMPv6ND_RA()))
    assert not _signalling(_tcp(CN, HOA))
    assert not _signalling(_tunnelled(COA, DAR1, _tcp(HOA, CN)))


# ---------------------------------------------------------------- role-applied link emulation


def _waiting(table: TunnelTable) -> dict[str, set[str]]:
    return {way: {addr(hoa, 0) for hoa in hoas} for way, hoas in table.fresh.items()}


def test_the_first_packet_of_every_new_tunnel_is_awaited_however_tables_follow_one_another() -> None:
    """An MN's handover: link down (its tunnel goes), the BA of HoA1's DAR (HoA1's tunnel from
    the new CoA), the BA of HoA2's (a second tunnel). Published one after the other before the
    data plane's next packet, the table it then takes waits for the first packet of both, each
    way (the lab's demo showed no first packet for a second handover's HoA1)."""
    hoa2, coa3 = "2001:db8:2::5", "2001:db8:3::7"
    tables = Tables(TunnelTable({HOA: TunnelUp(COA, DAR1, HOA)}, MN))
    used = tables.current()
    assert _waiting(used) == {"up": {HOA}, "down": {HOA}}
    used.fresh["up"].clear()
    used.fresh["down"].clear()  # the first packet each way went through
    published: dict[str, TunnelUp] = {HOA: TunnelUp(COA, DAR1, HOA)}
    for tunnels in ({}, {HOA: TunnelUp(coa3, DAR1, HOA)}, {HOA: TunnelUp(coa3, DAR1, HOA), hoa2: TunnelUp(coa3, OTHER, hoa2)}):
        tables.publish(TunnelTable(tunnels, MN, before=published))
        published = tunnels
    assert _waiting(tables.current()) == {"up": {HOA, hoa2}, "down": {HOA, hoa2}}
    # a tunnel that went before the thread used the table waiting for it is not awaited
    tables.publish(TunnelTable({hoa2: TunnelUp(coa3, OTHER, hoa2)}, MN, before=published))
    assert _waiting(tables.current()) == {"up": {hoa2}, "down": {hoa2}}


def test_a_delay_line_holds_each_item_for_its_delay_in_order() -> None:
    line = DelayLine(0.010, 0.0, random.Random(0))
    for n, now in enumerate((0.0, 0.001, 0.001)):
        assert line.push(n, now)
    assert line.next_at() == pytest.approx(0.010)
    assert line.due(0.0099) == []
    assert line.due(0.010) == [0]
    assert line.due(0.5) == [1, 2] and line.next_at() is None


def test_a_delay_line_loses_the_same_items_for_the_same_seed() -> None:
    def lost(seed: int, loss: float) -> list[int]:
        line = DelayLine(0.0, loss, random.Random(seed))
        return [n for n in range(1000) if not line.push(n, 0.0)]

    assert lost(1, 0.3) == lost(1, 0.3) != lost(2, 0.3)
    assert 250 < len(lost(1, 0.3)) < 350
    assert lost(1, 0.0) == [] and len(lost(1, 1.0)) == 1000


@pytest.mark.parametrize(("delay", "loss"), [(-1.0, 0.0), (0.0, 1.5), (0.0, -0.1)])
def test_link_emulation_refuses_a_negative_delay_or_a_loss_outside_0_1(delay: float, loss: float) -> None:
    with pytest.raises(ValueError):
        LinkEmulation(delay, loss)


class _Clock:
    """The data plane's clock (its module's ``time``), moved by the test alone."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def _until(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30.0
    while not done():
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


def test_an_emulating_data_plane_looks_up_a_held_frame_s_tunnel_when_it_is_due(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a link that delays, the BA that opens a tunnel arrives before the packets sent into
    it, and both are held as long by the role's emulation: the BA is handled before they are
    due. The data plane looked them up on arrival instead, found no tunnel, and dropped
    every packet of the delay's length after each handover (the lab with --delay 20)."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the data plane sends on a raw socket")
    clock = _Clock()
    monkeypatch.setattr(dataplane, "time", clock)
    tun, kernel = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)  # the TUN, and what the kernel reads of it
    link, wire = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)  # the packet socket, and the link
    logged: list[dict[str, object]] = []
    plane = dataplane.DataPlane(tun.fileno(), link, TunnelTable({}, MN), lambda *a, **k: logged.append(k), 1500,
                                LinkEmulation(delay_ms=40))  # fmt: skip
    try:
        inner = _tcp(CN, HOA)
        wire.send(_tunnelled(DAR1, COA, inner))  # in flight when the BA came
        _until(lambda: plane._in is not None and plane._in.next_at() is not None, "the frame held")
        plane.publish(AT_MN)  # the BA handled, 20 ms before the frame is due
        clock.now += 0.020
        kernel.settimeout(30.0)
        assert kernel.recv(4096)[VNET_HEADER:] == inner
        _until(lambda: plane.counts["decapsulated"] == 1, "the packet counted")  # counted after its write
        assert not any(k.startswith("dropped") for k in plane.counts)
    finally:
        plane.stop()
        for end in (tun, kernel, link, wire):
            end.close()


def _frame(port_mac: str, n: int) -> Ether:
    return Ether(dst=port_mac) / IPv6(src=CN, dst=HOA) / Raw(bytes([n]))


def test_an_emulated_port_carries_frames_both_ways_in_order_and_keeps_the_port_s_state() -> None:
    link = MemLink("emulated")
    near, far = link.port("near"), link.port("far")
    port = EmulatedPort(near, LinkEmulation(delay_ms=20))
    try:
        assert (port.mac, port.carrier, port.epoch) == (near.mac, near.carrier, near.epoch)
        for n in range(3):
            port.send(_frame(far.mac, n))
            far.send(_frame(near.mac, n))
        assert [bytes(receive(far)[Raw]) for _ in range(3)] == [b"\0", b"\1", b"\2"]  # type: ignore[index]
        assert [bytes(receive(port)[Raw]) for _ in range(3)] == [b"\0", b"\1", b"\2"]  # type: ignore[index]
    finally:
        port.close()


def test_an_emulated_port_with_loss_1_carries_nothing() -> None:
    link = MemLink("lossy")
    near, far = link.port("near"), link.port("far")
    port = EmulatedPort(near, LinkEmulation(loss=1.0))
    try:
        port.send(_frame(far.mac, 0))
        far.send(_frame(near.mac, 0))
        assert receive(far, 0.2) is None and receive(port, 0.2) is None
    finally:
        port.close()


@pytest.mark.parametrize(
    ("command", "argv"), [(dar, ["--prefix", "2001:db8:1::/64", "--address", DAR1]), (mn, ["--sec", "0"])]
)
def test_bad_link_emulation_is_one_line_and_exit_2(
    command: object, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:  # refused by the parser, before the interface is looked at
        command.main(["--iface", "lo", "--link-loss", "2", *argv])  # type: ignore[attr-defined]
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "error: argument --link-loss: must be 0 to 1: '2'" in err and err.count("\n") == 1, err


# ---------------------------------------------------------------- the nftables table


def test_nft_table_installs_once_and_goes() -> None:
    if os.geteuid() != 0 or shutil.which("nft") is None or shutil.which("ip") is None:
        pytest.skip("needs root, nft (apt-get install nftables) and ip")
    namespace = f"fama-k-{os.getpid() % 100000}-nft"
    subprocess.run(["ip", "netns", "add", namespace], check=True)
    try:
        nft_install(namespace)
        nft_install(namespace)  # again: replaced, not doubled

        def tables() -> str:
            listed = ["ip", "netns", "exec", namespace, "nft", "list", "ruleset"]
            return subprocess.run(listed, check=True, capture_output=True, text=True).stdout

        assert tables().count(f"table ip6 {NFT_TABLE}") == 1
        assert "icmpv6 type parameter-problem drop" in tables()
        assert "ip6 nexthdr ipv6 drop" in tables()  # nft lists Next Header 41 by its name
        nft_remove(namespace)
        assert NFT_TABLE not in tables()
    finally:
        subprocess.run(["ip", "netns", "del", namespace], check=False)
