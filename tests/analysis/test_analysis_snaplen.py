"""Captures cut by the snap length (tcpdump -s N, dumpcap -s N): the reference captures with
every record cut to N bytes by editcap, its length on the wire kept.

* tshark is the truth of which frames are cut (``frame.cap_len < frame.len``) and which carry
  a Mobility Header; each cut signalling frame the analysis reads first is a ``truncated-packet``
  finding (information: the capture is short, not the packet), whether the cut falls in the
  MH or in an extension header before it.
* A BU or BA that is cut is not verified: its signature or BAD covers bytes the capture does
  not hold, so no ``verification-failed`` finding and its verdict is "not checked" (None).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scapy_fama.analysis.analyze import analyze, load_keys
from tests.corpus import TSHARK, TSHARK_MISSING, run_tshark

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"
EDITCAP = shutil.which("editcap")  # Wireshark's, installed with tshark
pytestmark = [pytest.mark.tshark, pytest.mark.skipif(TSHARK is None or EDITCAP is None, reason=TSHARK_MISSING)]


def snapped(source: Path, snaplen: int, out: Path) -> Path:
    """``source`` with every record cut to ``snaplen`` bytes by Wireshark's editcap (its capture
    points, times and lengths on the wire kept)."""
    assert EDITCAP is not None
    subprocess.run([EDITCAP, "-s", str(snaplen), str(source), str(out)], check=True, capture_output=True,
                   timeout=60)
    return out


def cut_signalling(path: Path) -> dict[int, int]:
    """tshark: frame number -> MH type of each frame captured shorter than it was that holds an
    MH type (the cut comes after it) or an IPv6 extension header (the cut may hide one)."""
    out = {}
    for line in run_tshark(path, "-Y", "frame.cap_len < frame.len and (mipv6 or ipv6.dstopts or ipv6.routing)",
                           "-T", "fields", "-e", "frame.number", "-e", "mip6.mhtype").splitlines():
        number, mhtype = line.split("\t")
        out[int(number)] = int(mhtype) if mhtype else -1
    return out


@pytest.mark.parametrize("snaplen", [60, 150, 200, 250])
@pytest.mark.parametrize("name", ["fig1", "fail148"])
def test_cut_signalling_is_truncated_and_not_verified(tmp_path: Path, name: str, snaplen: int) -> None:
    path = snapped(PCAPS / f"{name}.pcapng", snaplen, tmp_path / f"{name}-{snaplen}.pcapng")
    cut = cut_signalling(path)
    assert cut  # every snap length here cuts the CGA-signed BU (400 bytes) at least
    a = analyze([path], keys=load_keys(PCAPS / "keys"))
    kinds = {f.kind for f in a.findings}
    assert "verification-failed" not in kinds and "malformed-packet" not in kinds
    truncated = {ref[1] for f in a.findings if f.kind == "truncated-packet" for ref in f.packets}
    assert truncated and truncated <= set(cut)
    exchanges = [ex for mn in a.mns for b in mn.bindings for ex in b.exchanges]
    for ex in exchanges:
        if ex.bu[1] in cut:
            assert ex.verified is None and ex.verdict is None
        if ex.ba is not None and ex.ba[1] in cut:
            assert ex.ba_verified is None


def test_uncut_forgery_still_fails(tmp_path: Path) -> None:
    """The control: cut past every packet's end, fail148's forged BU still fails its signature."""
    path = snapped(PCAPS / "fail148.pcapng", 65535, tmp_path / "whole.pcapng")
    assert not cut_signalling(path)
    a = analyze([path], keys=load_keys(PCAPS / "keys"))
    assert [f.kind for f in a.findings].count("verification-failed") == 1


def _tunnelled_frames(path: Path) -> tuple[int, int]:
    """tshark: frames it dissects as IPv6 in IPv6, and how many of them were captured short."""
    lines = run_tshark(path, "-Y", "ipv6.nxt == 41", "-T", "fields", "-e", "frame.cap_len", "-e",
                       "frame.len").splitlines()
    return len(lines), sum(int(cap) < int(wire) for cap, wire in (line.split("\t") for line in lines))


def test_a_tunnelled_packet_cut_in_its_inner_header_is_still_tunnelled(tmp_path: Path) -> None:
    """At snap length 79 (60 for the BU's options and the CGA is not enough) the inner header of
    fig1's tunnelled packets is cut: they were counted as native traffic of the DAR and the CoA.
    tshark still dissects them as IPv6 in IPv6; the binding's tunnel counts are those of the
    whole capture. At 60 the BU is cut before its MH too: no binding, the tunnels are 'other'."""
    whole = analyze([PCAPS / "fig1.pcapng"])
    ((binding,),) = [mn.bindings for mn in whole.mns]
    seen, cut = _tunnelled_frames(PCAPS / "fig1.pcapng")
    for snaplen in (79, 60):
        path = snapped(PCAPS / "fig1.pcapng", snaplen, tmp_path / f"fig1-{snaplen}.pcapng")
        assert _tunnelled_frames(path) == (seen, seen) and not cut  # all of them cut now
        a = analyze([path])
        assert a.totals == whole.totals
        if snaplen == 79:
            ((short,),) = [mn.bindings for mn in a.mns]
            for way in ("tunnel_down", "tunnel_up"):
                got, want = getattr(short, way), getattr(binding, way)
                assert (got.packets, got.bytes, got.overhead) == (want.packets, want.bytes, want.overhead) != (0, 0, 0)
            assert not a.other_tunnels
        else:
            assert not a.mns and {(k[2], k[3]) for k, _ in a.other_tunnels} == {("", "")}
            assert sum(c.packets for _, c in a.other_tunnels) == a.totals.tunnelled


def test_the_annotated_capture_says_a_cut_packet_was_not_checked(tmp_path: Path) -> None:
    """--annotate explained a cut CGA BU's missing verdict as 'the binding's PHKT is not known'."""
    path = snapped(PCAPS / "fig1.pcapng", 200, tmp_path / "fig1-200.pcapng")
    out = tmp_path / "annotated.pcapng"
    done = subprocess.run([sys.executable, "-m", "scapy_fama.cli.analyze", str(path), "--keys", str(PCAPS / "keys"),
                           "--annotate", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    cut = cut_signalling(path)
    comments = {}
    for line in run_tshark(out, "-Y", "frame.comment", "-T", "fields", "-e", "frame.number", "-e",
                           "frame.comment").splitlines():
        number, text = line.split("\t", 1)
        comments[int(number)] = text
    first = {n for n in cut if n in comments and "verdict" in comments[n]}
    assert first and all("verdict: none (cut by the snap length" in comments[n] for n in first)
    assert not any("FAIL" in text or "PHKT is not known" in text for text in comments.values())
