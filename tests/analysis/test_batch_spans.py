"""Capture sets whose files meet in time or not: --jobs counts a file's own stretches in its worker,
ships only what another file may hold a copy of, and still gives the one run's report."""

from __future__ import annotations

import shutil
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from scapy_fama.analysis import reader
from scapy_fama.analysis.analyze import analyze
from scapy_fama.analysis.batch import WHOLE, analyze_set, shard, shard_to_json, shared_spans, time_span
from scapy_fama.analysis.classify import (
    Tunnels,
    TunnelCount,
    count_native,
    count_tunnel,
    fold_native,
    fold_tunnels,
)
from scapy_fama.analysis.report import to_json

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"
LAB = PCAPS / "lab.pcap"  # 155 frames over 10.5 s, one capture point; BU 18521 frame 31, its BA frame 32
SHARED = Path(__file__).resolve().parents[3] / "shared" / "pcaps"


def lab_part(target: Path, shift: float = 0.0, keep: Callable[[int], bool] = lambda n: True,
             swap: int | None = None) -> Path:
    """lab.pcap's frames ``keep(number)`` (1-based), ``shift`` seconds later; ``swap``: that frame and the
    next change places (the file is then out of time order)."""
    data = LAB.read_bytes()
    assert data[:4] == b"\xd4\xc3\xb2\xa1"  # little-endian, microseconds
    records, at = [], 24
    while at < len(data):
        sec, usec, caplen, wire = struct.unpack_from("<IIII", data, at)
        micros = sec * 1_000_000 + usec + round(shift * 1e6)
        records.append(struct.pack("<IIII", micros // 1_000_000, micros % 1_000_000, caplen, wire)
                       + data[at + 16 : at + 16 + caplen])
        at += 16 + caplen
    if swap is not None:
        records[swap - 1], records[swap] = records[swap], records[swap - 1]
    target.write_bytes(data[:24] + b"".join(r for n, r in enumerate(records, 1) if keep(n)))
    return target


def shipped(paths: list[Path]) -> list[tuple[int, int]]:
    """Per file as analyze_set makes its shard: (events shipped, own stretches counted by stage 1)."""
    spans, ordered, points = zip(*(time_span(p) for p in paths))
    out = []
    for path, shared, n in zip(paths, shared_spans(list(spans), all(ordered), list(points)), points):
        events = shard(path, shared=shared, points=n).events
        out.append((sum(e[1] is not None for e in events), sum(e[1] is None for e in events)))
    return out


def same_as_one_run(paths: list[Path]) -> dict:
    one = to_json(analyze(paths))
    assert to_json(analyze_set(paths, 2)) == one
    return one


def test_files_apart_in_time_ship_only_their_signalling(tmp_path: Path) -> None:
    paths = [lab_part(tmp_path / f"day{k}.pcap", 86_400 * k) for k in range(3)]
    report = same_as_one_run(paths)
    assert report["totals"]["frames"] == 3 * 155 and report["totals"]["duplicates"] == 0
    assert shipped(paths) == [(8, 1)] * 3  # the 8 BUs and BAs; the 147 data packets counted in the worker


def test_a_copy_of_a_file_half_a_second_later_is_all_copies(tmp_path: Path) -> None:
    paths = [lab_part(tmp_path / "a.pcap"), lab_part(tmp_path / "b.pcap", 0.5)]
    report = same_as_one_run(paths)
    assert report["totals"]["duplicates"] == 155 and report["totals"]["frames"] == 310
    assert shipped(paths) == [(155, 0), (155, 0)]  # all within the window of the other file


def test_files_overlapping_in_part_count_their_own_ends(tmp_path: Path) -> None:
    """b starts 6 s into a: a's first seconds and b's last are their own; no packet is a copy."""
    paths = [lab_part(tmp_path / "a.pcap"), lab_part(tmp_path / "b.pcap", 6.0)]
    report = same_as_one_run(paths)
    assert report["totals"]["duplicates"] == 0 and report["totals"]["frames"] == 310
    (a_events, a_own), (b_events, b_own) = shipped(paths)
    assert a_own == b_own == 1 and a_events < 155 and b_events < 155


def test_one_file_overlapping_two_others(tmp_path: Path) -> None:
    """The middle file meets the first at its start and the last at its end; only its middle is its own."""
    paths = [lab_part(tmp_path / "a.pcap", -9.0), lab_part(tmp_path / "b.pcap"), lab_part(tmp_path / "c.pcap", 9.0),
             lab_part(tmp_path / "d.pcap", 9.5)]
    report = same_as_one_run(paths)
    assert report["totals"]["frames"] == 4 * 155 and report["totals"]["duplicates"] > 0  # c and d: 0.5 s apart
    assert shipped(paths)[1][1] == 1


@pytest.mark.parametrize("shift", [0.0, 3.0])  # BA 18 ms after its BU (a shared stretch); 3.018 s after (both own)
def test_a_binding_s_bu_and_ba_in_different_files(tmp_path: Path, shift: float) -> None:
    paths = [lab_part(tmp_path / "bu.pcap", keep=lambda n: n <= 31),
             lab_part(tmp_path / "ba.pcap", shift, keep=lambda n: n >= 32)]
    report = same_as_one_run(paths)
    assert report["signalling"]["BU"] == report["signalling"]["BA"] == 4
    counts = shipped(paths)
    assert [own for _, own in counts] == [1, 1]
    if shift:
        assert counts == [(1, 1), (7, 1)]  # only the signalling: BU 18521 alone in bu.pcap


def test_frames_stored_a_few_places_out_of_time_order_are_read_in_time_order(tmp_path: Path) -> None:
    paths = [lab_part(tmp_path / "a.pcap", swap=40), lab_part(tmp_path / "b.pcap", 86_400)]
    assert time_span(paths[0])[1]  # the reader's window puts frame 41 before frame 40
    same_as_one_run(paths)
    assert shipped(paths) == [(8, 1), (8, 1)]


def test_a_file_out_of_time_order_past_the_reader_s_window_ships_every_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reader, "REORDER", 0)  # no frame held: the swapped pair stays as stored
    paths = [lab_part(tmp_path / "a.pcap", swap=40), lab_part(tmp_path / "b.pcap", 86_400)]
    assert not time_span(paths[0])[1]
    same_as_one_run(paths)
    assert shipped(paths) == [(155, 0), (155, 0)]


def test_several_capture_points_alone_in_time_have_their_own_copy_test(tmp_path: Path) -> None:
    """fig2.pcapng (4 capture points, copies among them) far from lab.pcap: counted in its worker;
    fig1 and fig3 meeting in time are shipped whole (a copy may cross them and their points)."""
    paths = [PCAPS / "fig2.pcapng", LAB]
    report = same_as_one_run(paths)
    assert report["totals"]["duplicates"] == to_json(analyze([PCAPS / "fig2.pcapng"]))["totals"]["duplicates"] > 0
    assert shipped(paths)[0][1] == 1
    spans, _, points = zip(*(time_span(p) for p in (PCAPS / "fig1.pcapng", PCAPS / "fig3.pcapng")))
    assert shared_spans(list(spans), True, list(points)) == [WHOLE, WHOLE]


def test_the_project_s_captures_as_a_set() -> None:
    same_as_one_run(sorted(p for p in PCAPS.iterdir() if p.suffix in (".pcap", ".pcapng")))


def test_the_shared_captures_as_a_set() -> None:
    if not SHARED.is_dir():
        pytest.skip("../shared/pcaps not found")
    paths = sorted(SHARED.glob("*.pcap"))
    report = same_as_one_run(paths)
    assert report["totals"]["duplicates"] == 6 and report["signalling"]["BU"] == 15  # as test_batch's CLI run
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark not installed")
    frames = sum(len(subprocess.run([tshark, "-r", str(p), "-T", "fields", "-e", "frame.number"], capture_output=True,
                                    text=True, timeout=120, check=True).stdout.split()) for p in paths)
    assert report["totals"]["frames"] == frames


@pytest.mark.parametrize("gap", [0.05, 0.2, 0.7])  # the later part resumes the stream within RESUME_GAP (0.5 s), or after
def test_folding_a_later_stretch_counts_as_packet_by_packet(gap: float) -> None:
    packets = [(0.1, ("a", "b", "c", "d")), (0.3, ("a", "b", "c", "e")), (1.9, ("a", "b", "c", "d")),
               (1.9 + gap, ("a", "b", "c", "d")), (2.0 + gap, ("a", "b", "c", "f")), (4.5 + gap, ("a", "b", "c", "d"))]
    whole = Tunnels()
    native_whole: dict = {}
    for now, key in packets:
        count_tunnel(whole, key, now, 100, 40)
        count_native(native_whole, key[2], key[3], now, 60)
    earlier = Tunnels()
    native_earlier: dict = {}
    later = Tunnels()
    native_later: dict = {}
    for now, key in packets:
        count_tunnel(earlier if now < 1.9 + gap else later, key, now, 100, 40)
        count_native(native_earlier if now < 1.9 + gap else native_later, key[2], key[3], now, 60)
    fold_tunnels(earlier, later)
    fold_native(native_earlier, native_later)
    assert earlier == whole and list(earlier) == list(whole)
    assert native_earlier == native_whole and list(native_earlier) == list(native_whole)


@pytest.mark.parametrize("cut", [1.05, 1.15, 1.25, 1.35])  # the stretch begins before, in or after the detour
def test_folding_a_later_stretch_counts_a_flow_back_from_a_detour_as_packet_by_packet(cut: float) -> None:
    """A DAR tunnels the flow c -> d to CoA b, to CoA x for 0.2 s, and to b again (an MN back at
    its earlier CoA within RESUME_GAP): b's stream starts again at 1.3, however the packets are
    cut into an earlier and a later stretch."""
    packets = [(t / 10, ("a", "b", "c", "d")) for t in range(10)]
    packets += [(1.1, ("a", "x", "c", "d")), (1.2, ("a", "x", "c", "d"))]
    packets += [(1.3 + t / 10, ("a", "b", "c", "d")) for t in range(3)]
    whole, earlier, later = Tunnels(), Tunnels(), Tunnels()
    for now, key in packets:
        count_tunnel(whole, key, now, 100, 40)
        count_tunnel(earlier if now < cut else later, key, now, 100, 40)
    fold_tunnels(earlier, later)
    assert list(whole["a", "b", "c", "d"].starts) == [0.0, 1.3]
    assert earlier == whole and earlier.carrier == whole.carrier


@pytest.mark.parametrize("seconds", [[5, 9], [9, 10, 12], [2, 3], [30, 31], [7]])
def test_adding_per_second_counts_at_once_is_bumping_second_by_second(seconds: list[int]) -> None:
    """TunnelCount.add_counts against bump: after, before (growing at the front), overlapping, a gap."""
    mine = [5, 6, 9]
    by_bump, at_once, other = TunnelCount(), TunnelCount(), TunnelCount()
    for second in mine:
        by_bump.bump(second)
        at_once.bump(second)
    for second in seconds:
        other.bump(second, 2)
        by_bump.bump(second, 2)
    at_once.add_counts(other.base, other.counts)
    assert (at_once.base, at_once.counts) == (by_bump.base, by_bump.counts)


def test_a_shard_with_own_stretches_does_not_travel() -> None:
    """Its segments hold counts made for one set; a --merge with other files would count wrong."""
    own = shard(LAB, shared=[])
    with pytest.raises(ValueError, match="made for one capture set, not to travel"):
        shard_to_json(own)


def test_per_second_finds_every_second_with_traffic_across_days_of_silence() -> None:
    """per_second skips silent blocks of seconds by their bytes: the seconds at a block's edges count."""
    seconds = {1_700_000_000: 3, 1_700_000_001: 1, 1_700_004_095: 2, 1_700_004_096: 5, 1_700_086_400: 1,
               1_700_086_400 + 4095: 7, 1_700_604_799: 4}
    count = TunnelCount()
    for second, n in seconds.items():
        count.bump(second, n)
    assert count.per_second() == sorted(seconds.items())
