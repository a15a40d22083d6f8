"""Captures in link types the reader does not read (IEEE 802.11, radiotap, Bluetooth): named, never
taken for frames without IPv6.

fama-analyze counted such frames as "not IPv6" and, with nothing else in the capture, said "no
findings" with exit 0: a false all-clear for a capture it never read. The captures here are
written by hand with struct (pcap and pcapng field layouts from their specifications, the
802.11 data header and LLC/SNAP from IEEE 802.11 and RFC 1042), the mixed one around the frames
of a real ns-3 handover from ``../shared/pcaps`` (SOURCES.md); tshark, which reads 802.11 too,
says how many frames each interface holds and which frame is the BU and the BA.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from scapy_fama import schemas
from scapy_fama.analysis.reader import CaptureReader
from scapy_fama.cli.analyze import main
from tests.analysis.test_analysis_reader import block, pcap
from tests.corpus import TSHARK, TSHARK_MISSING, run_tshark

ROOT = Path(__file__).resolve().parents[2]
NS3 = ROOT.parent / "shared" / "pcaps" / "ns3mipv6_prefix1-n3-i1.pcap"  # Raw IP: RS/RA, BU, BA, tunnelled UDP
READS = "which scapy-fama does not read (it reads IPv6 over raw IP, Ethernet, Linux SLL/SLL2 and BSD loopback)"
MAC_MN, MAC_AP = bytes.fromhex("020000000009"), bytes.fromhex("020000000007")


def records(path: Path) -> list[tuple[int, int, bytes]]:
    """(seconds, microseconds, bytes) of each record of a little-endian microsecond pcap, read with struct."""
    whole = path.read_bytes()
    assert whole[:4] == b"\xd4\xc3\xb2\xa1"
    out, at = [], 24
    while at < len(whole):
        sec, usec, caplen, _ = struct.unpack_from("<IIII", whole, at)
        out.append((sec, usec, whole[at + 16 : at + 16 + caplen]))
        at += 16 + caplen
    return out


def ethernet(ip: bytes) -> bytes:
    """Ethernet II: destination, source, EtherType 0x86DD (IPv6)."""
    return MAC_AP + MAC_MN + b"\x86\xdd" + ip


def dot11(ip: bytes, sequence: int) -> bytes:
    """An IEEE 802.11 data frame (From DS) carrying IPv6 behind LLC/SNAP: what a Wi-Fi capture of a
    mobile node's link holds (frame control 0x0208, duration, three addresses, sequence control)."""
    header = struct.pack("<HH", 0x0208, 0) + MAC_MN + MAC_AP + MAC_AP + struct.pack("<H", sequence << 4)
    return header + bytes.fromhex("aaaa03000000") + b"\x86\xdd" + ip


def idb(linktype: int, name: str) -> bytes:
    """An Interface Description Block: link type, reserved, snap length, if_name, opt_endofopt."""
    raw = name.encode()
    return block(1, struct.pack("<HHI", linktype, 0, 0) + struct.pack("<HH", 2, len(raw)) + raw
                 + bytes(-len(raw) % 4) + struct.pack("<HH", 0, 0))


def epb(interface: int, sec: int, usec: int, data: bytes) -> bytes:
    """An Enhanced Packet Block, the timestamp in microseconds (no if_tsresol)."""
    ticks = sec * 1_000_000 + usec
    return block(6, struct.pack("<IIIII", interface, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)) + data)


def shb() -> bytes:
    return block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """eth0 (Ethernet): the ns-3 handover, every frame; wlan0 (802.11): three frames carrying the
    RAs of it again, stamped between them. Only eth0 is read."""
    if not NS3.is_file():
        pytest.skip(f"{NS3} not found")
    ns3 = records(NS3)
    blocks = [shb(), idb(1, "eth0"), idb(105, "wlan0")]
    radio = {1: 0, 3: 1, 7: 2}  # ns-3 frames 2, 4, 8 (RAs) seen again on the radio, 1 µs later
    for i, (sec, usec, ip) in enumerate(ns3):
        blocks.append(epb(0, sec, usec, ethernet(ip)))
        if i in radio:
            blocks.append(epb(1, sec, usec + 1, dot11(ip, radio[i])))
    path = tmp_path / "mixed.pcapng"
    path.write_bytes(b"".join(blocks))
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("linktype", "said"), [(105, "105 (IEEE 802.11)"), (127, "127 (IEEE 802.11 with radiotap header)"),
                                                 (187, "187 (Bluetooth HCI H4)"), (147, "147")])
@pytest.mark.parametrize("json_out", [False, True])
def test_a_capture_in_a_link_type_not_read_is_one_error_line_not_no_findings(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, linktype: int, said: str, json_out: bool
) -> None:
    """Three frames in a link type the reader does not read, nothing else: nothing was analysed.
    Exit 2 (bad input, as a file that is no capture), one line naming the link type and the frames,
    no report and no JSON document; 147 (LINKTYPE_USER0) has no name, its number says it."""
    path = tmp_path / "radio.pcap"
    ip = bytes([0x60]) + bytes(39)
    path.write_bytes(pcap([(1.0 + i, dot11(ip, i)) for i in range(3)], linktype=linktype))
    code, out, err = run(capsys, path, *(["--json"] if json_out else []))
    assert (code, out) == (2, "")
    assert err == f"fama-analyze: error: nothing analysed: radio.pcap: link type {said}, {READS}: its 3 frames were left unread\n"


def test_a_pcapng_of_interfaces_none_of_them_read_names_each(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """802.11 on wlan0 (two frames), Bluetooth HCI H4 with pseudo-header on hci0 (one), an empty
    interface in radiotap: each named in the one line, with its frames."""
    path = tmp_path / "radios.pcapng"
    ip = bytes([0x60]) + bytes(39)
    path.write_bytes(shb() + idb(105, "wlan0") + idb(201, "hci0") + idb(127, "mon0") + epb(0, 10, 0, dot11(ip, 0))
                     + epb(1, 10, 5, bytes.fromhex("00000001" "02" "2000")) + epb(0, 11, 0, dot11(ip, 1)))
    code, out, err = run(capsys, path)
    assert (code, out) == (2, "")
    assert err == (
        f"fama-analyze: error: nothing analysed: radios.pcapng: interface 'wlan0' has link type 105 (IEEE 802.11), "
        f"{READS}: its 2 frames were left unread; radios.pcapng: interface 'hci0' has link type 201 (Bluetooth HCI H4 "
        f"with pseudo-header), {READS}: its 1 frame was left unread; radios.pcapng: interface 'mon0' has link type "
        f"127 (IEEE 802.11 with radiotap header), {READS}: it holds no frame\n")


def test_an_ethernet_capture_beside_an_802_11_one_is_analysed_and_the_other_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Two files: the 802.11 one cannot stop the analysis of the Ethernet one (exit 1, as for a
    file cut short: the report holds what was read), and is named in the report."""
    if not NS3.is_file():
        pytest.skip(f"{NS3} not found")
    ether = tmp_path / "eth.pcap"
    ether.write_bytes(pcap([(sec + usec / 1e6, ethernet(ip)) for sec, usec, ip in records(NS3)], linktype=1))
    radio = tmp_path / "wifi.pcap"
    radio.write_bytes(pcap([(0.5, dot11(bytes([0x60]) + bytes(39), 0))], linktype=105))
    code, out, err = run(capsys, ether, radio, "--json")
    doc = json.loads(out)
    assert code == 1
    assert [f["capture_points"] for f in doc["files"]] == [[{"name": "eth", "linktype": 1, "read": True, "skipped": 0}],
                                                         [{"name": "wifi", "linktype": 105, "read": False, "skipped": 1}]]
    sentence = f"wifi.pcap: link type 105 (IEEE 802.11), {READS}: its 1 frame was left unread"
    assert doc["warnings"] == [sentence] and err == f"warning: {sentence}\n"
    assert doc["signalling"]["BU"] == doc["signalling"]["BA"] == 1


@pytest.mark.skipif(TSHARK is None, reason=TSHARK_MISSING)
def test_the_ethernet_interface_of_a_mixed_pcapng_is_analysed_and_the_802_11_one_named(
    capsys: pytest.CaptureFixture[str], mixed: Path
) -> None:
    """tshark's frames per interface, and its BU and BA (mip6.mhtype 5 and 6, BA status): the BU
    on eth0 is paired with its BA; wlan0 is named in the report (one line) and in the JSON (read
    false, its frames skipped), with a link-type-not-read finding; exit 1."""
    fields = [line.split("\t") for line in run_tshark(mixed, "-T", "fields", "-e", "frame.number", "-e",
                                                      "frame.interface_id", "-e", "mip6.mhtype", "-e",
                                                      "mip6.ba.status").splitlines()]
    per_interface = {i: sum(f[1] == str(i) for f in fields) for i in (0, 1)}
    bu = [int(f[0]) for f in fields if f[2] == "5"]
    ba = [(int(f[0]), int(f[3])) for f in fields if f[2] == "6"]
    radio_bu = [f for f in fields if f[1] == "1" and f[2]]
    assert per_interface == {0: 11, 1: 3} and len(bu) == len(ba) == 1 and not radio_bu
    sentence = f"mixed.pcapng: interface 'wlan0' has link type 105 (IEEE 802.11), {READS}: its 3 frames were left unread"

    code, out, err = run(capsys, mixed, "--json")
    assert code == 1
    doc = json.loads(out)
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator(schemas.load("fama-analyze/1")).validate(doc)
    (f,) = doc["files"]
    assert f["capture_points"] == [{"name": "eth0", "linktype": 1, "read": True, "skipped": 0},
                                   {"name": "wlan0", "linktype": 105, "read": False, "skipped": per_interface[1]}]
    totals = doc["totals"]  # the 802.11 frames carry IPv6: not read, never "not IPv6"
    assert (totals["frames"], totals["ipv6"], totals["other"], totals["unread"]) == (len(fields), 11, 0, per_interface[1])
    (mn,) = doc["mns"]
    (binding,) = mn["bindings"]
    (exchange,) = binding["exchanges"]
    assert (exchange["bu"], exchange["ba"], exchange["status"]) == ([0, bu[0]], [0, ba[0][0]], ba[0][1])
    assert doc["warnings"] == [sentence] and err == f"warning: {sentence}\n"
    assert [(x["kind"], x["severity"], x["message"]) for x in doc["findings"] if x["kind"] == "link-type-not-read"] == [
        ("link-type-not-read", "warning", sentence)]

    code, out, err = run(capsys, mixed)
    assert code == 1 and err == ""
    assert f"warning: {sentence}\n" in out  # one line, whatever the terminal's width
    assert "no findings" not in out


def test_shards_carry_what_was_not_read_to_the_merge(capsys: pytest.CaptureFixture[str], mixed: Path, tmp_path: Path) -> None:
    """--shard-out warns of wlan0 as the report does (exit 1), and --merge of the shard, and --jobs
    with another file, report it as one run does."""
    _, out, _ = run(capsys, mixed, "--json")
    one = json.loads(out)
    shards = tmp_path / "shards"
    code, _, err = run(capsys, mixed, "--shard-out", shards)
    sentence = one["warnings"][0]
    assert code == 1 and err.splitlines() == [f"shard written to {shards / 'mixed.pcapng.shard.json'}", f"warning: {sentence}"]
    code, out, _ = run(capsys, "--merge", shards, "--json")
    assert code == 1 and json.loads(out) == one
    other = tmp_path / "other.pcap"
    other.write_bytes(pcap([(0.5, bytes([0x60]) + bytes(39))]))
    code, out, _ = run(capsys, mixed, other, "--json")
    alone = json.loads(out)
    code, out, _ = run(capsys, mixed, other, "--json", "--jobs", "2")
    assert code == 1 and json.loads(out) == alone and alone["warnings"] == [sentence]


def test_a_shard_of_the_previous_format_is_refused(capsys: pytest.CaptureFixture[str], mixed: Path, tmp_path: Path) -> None:
    """fama-analyze-shard/2 held no frames per capture point: merged, its Ethernet interface would
    look empty and its capture taken for one with nothing read."""
    run(capsys, mixed, "--shard-out", tmp_path)
    shard = tmp_path / "mixed.pcapng.shard.json"
    doc = json.loads(shard.read_text())
    doc["schema"] = "fama-analyze-shard/2"
    shard.write_text(json.dumps(doc))
    code, out, err = run(capsys, "--merge", shard)
    assert (code, out, err) == (2, "", f"fama-analyze: error: {shard}: not a fama-analyze-shard/3 document\n")


def test_each_capture_point_counts_its_frames(tmp_path: Path) -> None:
    """pcapng: per interface, Enhanced and Simple Packet Blocks alike; pcap: the file's, also when cut short."""
    ip = bytes([0x60]) + bytes(39)
    spb = block(3, struct.pack("<I", len(ip)) + ip)  # a Simple Packet Block: interface 0
    path = tmp_path / "two.pcapng"
    path.write_bytes(shb() + idb(1, "eth0") + idb(105, "wlan0") + epb(1, 1, 0, dot11(ip, 0)) + spb
                     + epb(0, 2, 0, ethernet(ip)) + epb(1, 3, 0, dot11(ip, 1)))
    with CaptureReader(path) as reader:
        assert len(list(reader)) == 4
    assert [(p.name, p.frames, p.read) for p in reader.interfaces] == [("eth0", 2, True), ("wlan0", 2, False)]
    whole = pcap([(i, dot11(ip, i)) for i in range(5)], linktype=105)
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(whole[:-3])
    with CaptureReader(cut) as reader:
        assert len(list(reader)) == 4 and reader.truncated is not None
    assert [(p.frames, p.read) for p in reader.interfaces] == [(4, False)]
