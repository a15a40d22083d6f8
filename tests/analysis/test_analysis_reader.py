"""The streamed capture reader: pcap and pcapng framing, link layers, broken files.

The test writes its own captures with struct (the formats' field layouts, from the pcap and
pcapng specifications), so the reader is checked against an independent writer.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from scapy_fama.analysis.reader import BLOCK, CaptureError, CaptureReader, ipv6_of
from tests.corpus import tshark_env

IP = bytes([0x60]) + bytes(39) + b"payload"  # the reader does not look inside: any bytes do


def pcap(records: list[tuple[float, bytes]], *, linktype: int = 101, order: str = "<", nano: bool = False) -> bytes:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)
    for when, data in records:
        frac = round((when % 1) * (1e9 if nano else 1e6))
        out += struct.pack(order + "IIII", int(when), frac, len(data), len(data)) + data
    return out


def block(btype: int, body: bytes) -> bytes:
    body += bytes(-len(body) % 4)
    return struct.pack("<II", btype, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))


def pcapng(interfaces: list[tuple[int, str, int]], packets: list[tuple[int, int, bytes]]) -> bytes:
    """``interfaces``: (linktype, name, tsresol exponent); ``packets``: (interface, ticks, data)."""
    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    for linktype, name, resolution in interfaces:
        raw = name.encode()
        options = struct.pack("<HH", 2, len(raw)) + raw + bytes(-len(raw) % 4)
        options += struct.pack("<HHB3x", 9, 1, resolution) + struct.pack("<HH", 0, 0)
        out += block(1, struct.pack("<HHI", linktype, 0, 0) + options)
    out += block(5, b"statistics, skipped")
    for iface, ticks, data in packets:
        out += block(6, struct.pack("<IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)) + data)
    return out


def frames(path: Path) -> tuple[list[tuple], CaptureReader]:
    with CaptureReader(path) as reader:
        return list(reader), reader


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
def test_pcap_both_byte_orders_and_resolutions(tmp_path: Path, order: str, nano: bool) -> None:
    path = tmp_path / "a.pcap"
    path.write_bytes(pcap([(1.5, IP), (2.25, IP + b"x")], order=order, nano=nano))
    got, reader = frames(path)
    assert [(n, t, ip) for n, t, ip, _, _ in got] == [(1, 1.5, IP), (2, 2.25, IP + b"x")]
    assert reader.truncated is None and reader.interfaces[0].linktype == 101


def test_pcap_larger_than_a_block_streams(tmp_path: Path) -> None:
    big = IP + bytes(3000)
    count = 3 * BLOCK // len(big)
    path = tmp_path / "big.pcap"
    path.write_bytes(pcap([(i, big) for i in range(count)]))
    got, reader = frames(path)
    assert len(got) == count and all(ip == big for _, _, ip, _, _ in got)
    assert reader.position == reader.size


def test_link_layers() -> None:
    eth = bytes(12) + b"\x86\xdd" + IP
    vlan = bytes(12) + b"\x81\x00\x00\x05\x86\xdd" + IP
    sll = bytes(14) + b"\x86\xdd" + IP
    sll2 = b"\x86\xdd" + bytes(18) + IP
    loop = struct.pack(">I", 28) + IP
    null = struct.pack("<I", 30) + IP
    assert [ipv6_of(1, eth), ipv6_of(1, vlan), ipv6_of(113, sll), ipv6_of(276, sll2)] == [IP] * 4
    assert [ipv6_of(108, loop), ipv6_of(0, null), ipv6_of(229, IP), ipv6_of(101, IP)] == [IP] * 4
    assert ipv6_of(1, bytes(12) + b"\x08\x00" + bytes(20)) is None  # IPv4
    assert ipv6_of(147, IP) is None  # a link type the reader does not know


def test_pcap_link_type_fcs_bits_are_masked(tmp_path: Path) -> None:
    path = tmp_path / "fcs.pcap"
    path.write_bytes(pcap([(0, IP)], linktype=0x300000E5))  # LINKTYPE_IPV6 with FCS bits, as in a tcpdump test
    got, reader = frames(path)
    assert reader.interfaces[0].linktype == 229 and got[0][2] == IP


def test_pcapng_interfaces_are_capture_points(tmp_path: Path) -> None:
    path = tmp_path / "a.pcapng"
    eth = bytes(12) + b"\x86\xdd" + IP
    path.write_bytes(pcapng([(101, "backbone", 6), (1, "dar1", 9)], [(0, 1_500_000, IP), (1, 2_000_000_000, eth)]))
    got, reader = frames(path)
    assert [i.name for i in reader.interfaces] == ["backbone", "dar1"]
    assert [(n, t, ip, vantage) for n, t, ip, vantage, _ in got] == [(1, 1.5, IP, 0), (2, 2.0, IP, 1)]


@pytest.mark.parametrize("cut", [10, 30, 60])
def test_truncated_pcap_gives_the_frames_before_the_break(tmp_path: Path, cut: int) -> None:
    whole = pcap([(1, IP), (2, IP)])
    path = tmp_path / "cut.pcap"
    path.write_bytes(whole[: len(whole) - cut])
    got, reader = frames(path)
    assert len(got) == 1 and reader.truncated is not None and "frame 2" in reader.truncated


def test_truncated_pcapng(tmp_path: Path) -> None:
    whole = pcapng([(101, "x", 6)], [(0, 1, IP), (0, 2, IP)])
    path = tmp_path / "cut.pcapng"
    path.write_bytes(whole[:-10])
    got, reader = frames(path)
    assert len(got) == 1 and reader.truncated is not None


@pytest.mark.parametrize("content", [b"", b"\xd4\xc3", b"hello, this is not a capture", pcap([])[:20]])
def test_not_a_capture(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.pcap"
    path.write_bytes(content)
    with pytest.raises(CaptureError), CaptureReader(path) as reader:
        list(reader)


ECHO = bytes.fromhex("6000000000083a40" "20010db8000000000000000000000001" "20010db8000000000000000000000002"
                     "8000f7ff00000000")  # an ICMPv6 echo request, 48 bytes: tshark reads it as one
HEAD = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)) + block(1, struct.pack("<HHI", 101, 0, 0))
EPB = 12 + 20 + len(ECHO)  # each EPB of the file below: 80 bytes


def three_echoes() -> bytearray:
    return bytearray(HEAD + b"".join(block(6, struct.pack("<IIIII", 0, 0, t, len(ECHO), len(ECHO)) + ECHO)
                                     for t in (1_000_000, 2_000_000, 3_000_000)))


def caplen_past_the_block(data: bytearray) -> None:
    struct.pack_into("<I", data, len(HEAD) + EPB + 20, 65535)  # the second EPB's captured length


def trailing_length_differs(data: bytearray) -> None:
    struct.pack_into("<I", data, len(HEAD) + 2 * EPB - 4, 84)  # the second EPB's last Block Total Length


@pytest.mark.parametrize("damage, says", [(caplen_past_the_block, "needs 65555"),
                                          (trailing_length_differs, "total lengths differ (80 first, 84 last)")])
def test_a_damaged_pcapng_block_is_a_break_not_lost_silently(tmp_path: Path, damage: Callable[[bytearray], None],
                                                               says: str) -> None:
    """Both passed silently (exit 0, no finding, the frames after it read from garbage or not at all)."""
    path = tmp_path / "damaged.pcapng"
    data = three_echoes()
    path.write_bytes(data)
    assert [n for n, *_ in frames(path)[0]] == [1, 2, 3] and frames(path)[1].truncated is None
    damage(data)
    path.write_bytes(data)
    got, reader = frames(path)
    assert [ip for _, _, ip, _, _ in got] == [ECHO]
    assert str(reader.truncated).startswith(f"damaged.pcapng: damaged block at byte {len(HEAD) + EPB} (frame 2): ")
    assert says in str(reader.truncated)
    with CaptureReader(path) as again:
        assert [r[0] for r in again.records()] == [1] and again.truncated == reader.truncated
    if shutil.which("tshark"):  # the independent reading: one frame, then "damaged or corrupt"
        done = subprocess.run(["tshark", "-r", str(path)], capture_output=True, text=True, timeout=60, env=tshark_env())
        assert "damaged or corrupt" in done.stderr and len(done.stdout.splitlines()) == 1
    cli = subprocess.run([sys.executable, "-m", "scapy_fama.cli.analyze", str(path), "--json"], capture_output=True,
                         text=True, timeout=120)
    assert cli.returncode == 1, cli.stderr
    report = json.loads(cli.stdout)
    assert [f["kind"] for f in report["findings"]] == ["capture-truncated"] and report["totals"]["frames"] == 1


GARBAGE = 64 << 20  # bytes after the damaged header: what the reader must not hold


def _peak_while_reading(path: Path, records: bool) -> tuple[list[int], str | None, int]:
    """Frame numbers read, the break, and the peak of Python allocations while reading."""
    tracemalloc.start()
    try:
        with CaptureReader(path) as reader:
            numbers = [item[0] for item in (reader.records() if records else reader)]
        return numbers, reader.truncated, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _damaged_pcap(path: Path) -> int:
    """Two echoes, then a record header claiming 4294967280 captured bytes, then 64 MiB."""
    data = bytearray(pcap([(1.0, ECHO), (2.0, ECHO), (3.0, ECHO)]))
    third = 24 + 2 * (16 + len(ECHO))  # the pcap header, two records of header and data
    struct.pack_into("<I", data, third + 8, 0xFFFFFFF0)
    path.write_bytes(bytes(data) + bytes(GARBAGE))
    return third


def _damaged_pcapng(path: Path) -> int:
    """An echo, then an EPB whose Block Total Length claims 2147483632 bytes, then 64 MiB."""
    data = three_echoes()
    struct.pack_into("<I", data, len(HEAD) + EPB + 4, 0x7FFFFFF0)
    path.write_bytes(bytes(data) + bytes(GARBAGE))
    return len(HEAD) + EPB


@pytest.mark.parametrize("records", [False, True], ids=["frames", "records"])
@pytest.mark.parametrize("make, before, says, tshark_says", [
    (_damaged_pcap, [1, 2], "damaged record header at byte {at} (frame 3): a captured length of 4294967280 bytes, "
                            "more than 262144", None),
    (_damaged_pcapng, [1], "cut short in a block of frame 2 at byte {size}", "is too large"),
], ids=["pcap", "pcapng"])
def test_a_length_beyond_the_file_is_not_read_in(tmp_path: Path, make: Callable[[Path], int], before: list[int],
                                                 says: str, tshark_says: str | None, records: bool) -> None:
    """A damaged record header (pcap captured length) or block length (pcapng) made the reader
    read the rest of the file into memory, twice over (816 MiB of RSS for a 394 MB capture),
    before it said "cut short ... at byte <the file's size>". The pcapng one's frames before the
    break are tshark's; the pcap one's byte is computed by hand (tshark 4.0 takes that file for
    another pcap variant and reads 2,796,204 frames of zeros from it)."""
    path = tmp_path / f"damaged.{make.__name__.rsplit('_', 1)[1]}"
    at = make(path)
    numbers, truncated, peak = _peak_while_reading(path, records)
    assert numbers == before and peak < GARBAGE // 8, peak
    assert truncated == f"{path.name}: " + says.format(at=at, size=path.stat().st_size)
    if tshark_says is not None and shutil.which("tshark"):
        done = subprocess.run(["tshark", "-r", str(path)], capture_output=True, text=True, timeout=120, env=tshark_env())
        assert tshark_says in done.stderr and len(done.stdout.splitlines()) == len(before)


def test_an_obsolete_packet_block_is_a_frame_as_tshark_counts_it(tmp_path: Path) -> None:
    """pcapng's obsolete Packet Block (type 2: a 16-bit interface ID and drops count, then the
    EPB's fields), as Wireshark 1.0 wrote: it was skipped, its packet lost and every later frame
    number one less than tshark's, so a finding's #frame named the wrong packet in Wireshark."""
    packet_block = block(2, struct.pack("<HHIIII", 0, 7, 0, 2_000_000, len(ECHO), len(ECHO)) + ECHO)
    data = bytes(three_echoes())
    path = tmp_path / "old.pcapng"
    path.write_bytes(data[: len(HEAD) + EPB] + packet_block + data[len(HEAD) + EPB :])
    got, reader = frames(path)
    assert [(n, when, ip) for n, when, ip, _, _ in got] == [(1, 1.0, ECHO), (2, 2.0, ECHO), (3, 2.0, ECHO),
                                                            (4, 3.0, ECHO)]
    assert reader.truncated is None
    with CaptureReader(path) as again:
        assert [(r[0], r[2], r[3]) for r in again.records()] == [(1, 1_000_000, ECHO), (2, 2_000_000, ECHO),
                                                                 (3, 2_000_000, ECHO), (4, 3_000_000, ECHO)]
    if shutil.which("tshark"):
        done = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "frame.number", "-e",
                               "frame.time_epoch", "-e", "frame.len"], capture_output=True, text=True, timeout=60, env=tshark_env())
        rows = [line.split("\t") for line in done.stdout.splitlines()]
        assert [(int(n), float(t), int(size)) for n, t, size in rows] == [(n, when, len(ECHO)) for n, when, _, _, _ in got]


def test_stacked_vlan_tags_are_read_through_as_tshark_does(tmp_path: Path) -> None:
    """Ethernet frames with 802.1ad + 802.1Q (QinQ), two 802.1Q and 0x9100 + 802.1Q tags were
    'not IPv6': a provider network's capture lost all its signalling. tshark reads IPv6 in each."""
    tags = [b"", b"\x81\x00\x00\x05", b"\x88\xa8\x00\x64\x81\x00\x00\x05", b"\x81\x00\x00\x64\x81\x00\x00\x05",
            b"\x91\x00\x00\x64\x81\x00\x00\x05"]
    path = tmp_path / "vlan.pcap"
    path.write_bytes(pcap([(float(i), bytes(12) + tag + b"\x86\xdd" + ECHO) for i, tag in enumerate(tags)],
                          linktype=1))
    got, _ = frames(path)
    assert [ip for _, _, ip, _, _ in got] == [ECHO] * len(tags)
    assert ipv6_of(1, bytes(12) + b"\x88\xa8\x00\x64\x08\x00" + bytes(20)) is None  # IPv4 behind a tag
    if shutil.which("tshark"):
        done = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "ipv6.src"], capture_output=True,
                              text=True, timeout=60, env=tshark_env())
        assert done.stdout.split() == ["2001:db8::1"] * len(tags)


class _CountingReads:
    """A file whose read() calls are counted."""

    def __init__(self, file: object) -> None:
        self.file, self.reads = file, 0

    def read(self, size: int = -1) -> bytes:
        self.reads += 1
        return self.file.read(size)  # type: ignore[attr-defined]

    def close(self) -> None:
        self.file.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize("suffix", ["pcap", "pcapng"])
def test_frames_are_cut_from_blocks_of_the_file_not_read_one_by_one(tmp_path: Path, suffix: str) -> None:
    """A pcapng file is read as a pcap file is, BLOCK bytes at a time (it took three reads of the
    file a block, each a call through the buffered file: four times a pcap frame's cost). The frames
    straddle the BLOCK boundaries; each comes whole, in order, with its time."""
    count, eth = 3 * BLOCK // 90, bytes(12) + b"\x86\xdd" + IP
    path = tmp_path / f"many.{suffix}"
    if suffix == "pcap":
        path.write_bytes(pcap([(i / 1000, eth + bytes(i % 7)) for i in range(count)], linktype=1))
    else:
        path.write_bytes(pcapng([(1, "eth0", 3)], [(0, i, eth + bytes(i % 7)) for i in range(count)]))
    with CaptureReader(path) as reader:
        counted = reader._file = _CountingReads(reader._file)  # type: ignore[assignment]
        got = list(reader)
    assert [(n, round(t * 1000), ip) for n, t, ip, _, _ in got] == [(i + 1, i, IP + bytes(i % 7)) for i in range(count)]
    assert reader.truncated is None and reader.position == reader.size
    assert counted.reads <= reader.size // BLOCK + 3


def test_the_frames_of_a_pcapng_file_are_its_records_read_through_the_link_layer(tmp_path: Path) -> None:
    """Frames (the fast path of Enhanced Packet Blocks) and records (every block read in full)
    agree on a file of two sections, the second big-endian, with Simple and obsolete Packet
    Blocks, comments, Ethernet and raw IPv6, and a frame larger than BLOCK."""
    big = IP + bytes(BLOCK + 100)
    first = pcapng([(101, "raw", 6), (1, "eth", 9)], [(0, 5, IP), (1, 7, bytes(12) + b"\x86\xdd" + big)])
    comment = struct.pack("<HH", 1, 5) + b"hello" + bytes(3) + struct.pack("<HH", 0, 0)
    first += block(6, struct.pack("<IIIII", 0, 0, 9, len(IP), len(IP)) + IP + bytes(-len(IP) % 4) + comment)
    first += block(3, struct.pack("<I", len(IP)) + IP)  # Simple Packet Block: interface 0
    first += block(2, struct.pack("<HHIIII", 0, 0, 0, 11, len(IP), len(IP)) + IP)  # obsolete Packet Block

    def be_block(btype: int, body: bytes) -> bytes:
        body += bytes(-len(body) % 4)
        return struct.pack(">II", btype, 12 + len(body)) + body + struct.pack(">I", 12 + len(body))

    second = be_block(0x0A0D0D0A, struct.pack(">IHHq", 0x1A2B3C4D, 1, 0, -1)) + be_block(1, struct.pack(">HHI", 101, 0, 0))
    second += be_block(6, struct.pack(">IIIII", 0, 0, 13, len(IP), len(IP)) + IP)
    path = tmp_path / "mixed.pcapng"
    path.write_bytes(first + second)
    got, reader = frames(path)
    assert [n for n, _, _, _, _ in got] == [2, 1, 3, 4, 5, 6]  # by time: 7 ns (interface 1) before 5 µs
    got.sort()
    with CaptureReader(path) as again:
        records = list(again.records())
    links = {0: 101, 1: 1, 2: 101}
    resolution = {0: 1e-6, 1: 1e-9, 2: 1e-6}
    times = [ticks * resolution[i] for _, i, ticks, _, _, _, _ in records]
    times[3] = times[2]  # the Simple Packet Block has no timestamp (tshark shows none): the frame's before it
    assert got == [(n, when, ipv6_of(links[i], data), i, 0) for (n, i, _, data, _, _, _), when in zip(records, times)]
    assert [(n, ip) for n, _, ip, _, _ in got] == [(1, IP), (2, big), (3, IP), (4, IP), (5, IP), (6, IP)]
    assert records[2][5] == ("hello",) and reader.truncated is None
