"""The reference captures of pcaps/ against the ground truth of their scenarios, and tshark.

The truth (``<name>.truth.json``) was written by scripts/make_pcaps.py from SimNet's event
log while the scenario ran; the analyser never wrote it. For each capture:

* frames equal the truth's and tshark's, and tshark reads the file cleanly;
* every BU sent is one exchange (HoA, DAR, seq, CoA, authorisation), BA statuses equal;
* handovers: each new CoA and the addresses it kept;
* verification: each CGA-signed BU verifies unless the scenario forged it; with the MN's
  test key (pcaps/keys) every PHKT-authorised BU and every BA with a BAD verifies too;
* tunnel packets and bytes per binding, both ways; PHKTs issued; secure-mode exchanges;
* BU and BA sightings (copies at several capture points included) equal tshark's counts.

And the generator reproduces a capture: frames, times and lengths, and the truth.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from scapy_fama.analysis.analyze import Analysis, analyze, load_keys
from scapy_fama.analysis.reader import CaptureReader
from scapy_fama.analysis.reconstruct import Exchange
from tests.corpus import TSHARK, TSHARK_MISSING, run_tshark, tshark_env

ROOT = Path(__file__).resolve().parents[2]
PCAPS = ROOT / "pcaps"
NAMES = sorted(p.name.removesuffix(".pcapng") for p in PCAPS.glob("*.pcapng"))
tshark_needed = pytest.mark.skipif(TSHARK is None, reason=TSHARK_MISSING)


@cache
def analysed(name: str) -> Analysis:
    return analyze([PCAPS / f"{name}.pcapng"], keys=load_keys(PCAPS / "keys"))


@cache
def truth(name: str) -> dict[str, Any]:
    return json.loads((PCAPS / f"{name}.truth.json").read_text())


def exchanges(a: Analysis) -> list[Exchange]:
    return sorted((ex for m in a.mns for b in m.bindings for ex in b.exchanges), key=lambda ex: ex.time)


def test_every_scenario_has_a_capture_and_a_readme_line() -> None:
    readme = (PCAPS / "README.md").read_text()
    assert set(NAMES) == {"fig1", "fig2", "fig3", "fig4", "secure", "fail132", "fail135", "fail147",
                          "fail148", "multianchor"}
    for name in NAMES:
        assert f"`{name}.pcapng`" in readme and f"--only {name}`" in readme
        assert (PCAPS / f"{name}.pcapng").stat().st_size < 200_000  # kilobytes, not megabytes


@pytest.mark.parametrize("name", NAMES)
def test_exchanges_and_statuses(name: str) -> None:
    a, t = analysed(name), truth(name)
    assert a.totals.frames == t["frames"]
    ours = [{"hoa": ex.hoa, "dar": ex.dar, "seq": ex.seq, "coa": ex.coa, "auth": ex.auth,
             "deregistration": ex.deregistration} for ex in exchanges(a)]
    theirs = [{k: bu[k] for k in ("hoa", "dar", "seq", "coa", "auth", "deregistration")} for bu in t["bus"]]
    assert ours == theirs
    statuses = Counter(str(ex.status) for ex in exchanges(a) if ex.status is not None)
    assert statuses == Counter(t["statuses"])
    assert sum(len(b.phkt_issued) for m in a.mns for b in m.bindings) == t["phkt_issued"]
    assert sum(not test.home for m in a.mns for test in m.tests) == t["coti"]
    assert sum(len(m.deregistrations) for m in a.mns) == t["deregistrations"]


@pytest.mark.parametrize("name", NAMES)
def test_handovers_and_kept_addresses(name: str) -> None:
    a, t = analysed(name), truth(name)
    mn = a.mns[0]  # the scenario's MN is the first to sign a BU
    assert [{"coa": h.coa, "kept": sorted(h.kept)} for h in mn.handovers] == t["handovers"]
    for h in mn.handovers:
        assert h.attachment is not None and h.duration is not None and h.duration > h.signalling > 0


@pytest.mark.parametrize("name", NAMES)
def test_verification_verdicts(name: str) -> None:
    a, t = analysed(name), truth(name)
    for ex, bu in zip(exchanges(a), t["bus"]):
        if bu["auth"] == "cga":
            assert ex.verified is (not bu["forged"]), (ex.bu, ex.verdict)
        elif bu["auth"] == "phkt" and ex.status != 147:
            assert ex.verified is True, (ex.bu, ex.verdict)  # the PHKT came from the MN's test key
        if ex.ba is not None and ex.accepted:
            assert ex.ba_verified is True, (ex.ba, ex.ba_verdict)
    failed = [f for f in a.findings if f.kind == "verification-failed"]
    assert len(failed) == sum(bu["forged"] for bu in t["bus"])


def test_without_keys_phkt_verdicts_are_not_checked() -> None:
    a = analyze([PCAPS / "fig3.pcapng"])
    verdicts = [(ex.auth, ex.verified, ex.ba_verified) for ex in exchanges(a)]
    assert verdicts == [("cga", True, None), ("phkt", None, None), ("cga", True, None)]


@pytest.mark.parametrize("name", NAMES)
def test_tunnel_counts(name: str) -> None:
    a, t = analysed(name), truth(name)
    ours = {f"{b.hoa} {b.dar}": {"down_packets": b.tunnel_down.packets, "down_bytes": b.tunnel_down.bytes,
                                 "up_packets": b.tunnel_up.packets, "up_bytes": b.tunnel_up.bytes}
            for m in a.mns for b in m.bindings if b.tunnel_down.packets or b.tunnel_up.packets}
    assert ours == t["tunnels"]
    for m in a.mns:
        for b in m.bindings:
            assert b.tunnel_down.overhead == 40 * b.tunnel_down.packets  # one outer IPv6 header each


def test_failure_findings() -> None:
    assert [f.kind for f in analysed("fail135").findings if f.severity == "error"] == ["replay"]
    assert [f.kind for f in analysed("fail148").findings if f.severity == "error"] == ["verification-failed"]
    for name, status in (("fail132", 132), ("fail135", 135), ("fail147", 147), ("fail148", 148)):
        assert any(f"status {status}" in f.message for f in analysed(name).findings if f.kind == "error-status")
    attacker = analysed("fail132").mns[1]  # the attacker's own CGA and address: a binding refused
    assert [b.state for b in attacker.bindings] == ["refused"]
    assert [(h.kept, h.failed) for h in attacker.handovers] == [([], [attacker.bindings[0].hoa])]
    victim = analysed("fail148").mns  # the forged BU's source does not join the MN
    assert len(victim) == 1 and "2001:db8:ee::1" not in victim[0].addresses


@tshark_needed
@pytest.mark.tshark
@pytest.mark.parametrize("name", NAMES)
def test_tshark_reads_cleanly_and_counts_alike(name: str) -> None:
    path = PCAPS / f"{name}.pcapng"
    done = subprocess.run([TSHARK, "-r", str(path), "-T", "fields", "-e", "mip6.mhtype", "-e", "_ws.malformed",
                           "-e", "_ws.expert.severity"], capture_output=True, text=True, check=True, env=tshark_env())
    lines = done.stdout.splitlines()
    assert len(lines) == truth(name)["frames"]
    assert not [line for line in lines if line.split("\t")[1]], "malformed packets"
    assert not [line for line in lines if line.split("\t")[2]], "expert warnings or notes"
    types = Counter(line.split("\t")[0] for line in lines)
    a = analysed(name)
    assert (a.sightings.get("BU", 0), a.sightings.get("BA", 0)) == (types["5"], types["6"])
    assert a.signalling.get("CoTI", 0) * 2 == types["2"]  # MN link and backbone


@tshark_needed
@pytest.mark.tshark
def test_tshark_sees_the_links_as_interfaces() -> None:
    out = run_tshark(PCAPS / "fig1.pcapng", "-T", "fields", "-e", "frame.interface_name")
    assert set(out.split()) == {"backbone", "dar1", "dar2", "dar3"}  # dar3: its unsolicited RAs


def test_generator_reproduces_a_capture(tmp_path: Path) -> None:
    shutil.copytree(PCAPS / "keys", tmp_path / "keys")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_pcaps.py"), str(tmp_path), "--only", "fig3", "secure"],
                   check=True, capture_output=True)
    for name in ("fig3", "secure"):
        assert json.loads((tmp_path / f"{name}.truth.json").read_text()) == truth(name)
        with CaptureReader(tmp_path / f"{name}.pcapng") as new, CaptureReader(PCAPS / f"{name}.pcapng") as old:
            again, before = list(new), list(old)
        assert [(n, t, len(ip or b""), v) for n, t, ip, v, _ in again] == [(n, t, len(ip or b""), v) for n, t, ip, v, _ in before]
        same = sum(x[2] == y[2] for x, y in zip(again, before))
        assert same >= len(before) - 4 * truth(name)["phkt_issued"]  # PHKT ciphertexts are randomised
