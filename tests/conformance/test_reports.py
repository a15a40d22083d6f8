"""fama-conformance's reports: outputs checked before the run, reports that survive a capture
that cannot be written, real timestamps in the pcaps, one meaning of seconds, the matrix."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from scapy.utils import RawPcapReader

from scapy_fama.conformance import catalogue
from scapy_fama.conformance.case import CATALOGUE, Verdict
from scapy_fama.conformance.executor import IUT, TESTER, Frame
from scapy_fama.conformance.report import pcaps
from scapy_fama.conformance.runner import Outcome

catalogue.load()


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scapy_fama.cli.conformance", *args],
        cwd=cwd, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--junit", "/nonexistent/r.xml"), "--junit /nonexistent/r.xml: no such directory /nonexistent"),
        (("--json", "/nonexistent/r.json"), "--json /nonexistent/r.json: no such directory /nonexistent"),
        (("--pcap", "/nonexistent/cases"), "--pcap /nonexistent/cases: no such directory /nonexistent"),
        (("--json", "."), "--json .: is a directory"),
        (("--pcap", "r.json"), "--pcap r.json: not a directory"),
    ],
)
def test_an_output_that_cannot_be_written_stops_the_run_before_any_case(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    (tmp_path / "r.json").write_text("{}")
    done = _cli("DAR-DATA-005", *args, cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.strip() == f"fama-conformance: error: {message}"
    assert "DAR-DATA-005" not in done.stdout  # no case ran


def test_a_pcap_that_cannot_be_written_costs_neither_report(tmp_path: Path) -> None:
    (tmp_path / "cases" / "DAR-BU-001.pcap").mkdir(parents=True)  # where the pcap file must go
    done = _cli("DAR-BU-00[12]", "--junit", "r.xml", "--json", "r.json", "--pcap", "cases", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("fama-conformance: error: --pcap cases: cannot write it (")
    assert len(done.stderr.strip().splitlines()) == 1
    report = json.loads((tmp_path / "r.json").read_text())
    assert [c["verdict"] for c in report["cases"]] == ["pass", "pass"]
    assert ET.parse(tmp_path / "r.xml").getroot().find("testsuite") is not None


def _pcap_times(path: Path) -> list[float]:
    return [meta.sec + meta.usec / 1e6 for _, meta in RawPcapReader(str(path))]


def test_pcaps_carry_real_dates_on_the_runs_virtual_timeline(tmp_path: Path) -> None:
    started = time.time()
    done = _cli("DAR-BU-001", "DAR-DATA-005", "--json", "r.json", "--pcap", "cases", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    first, expiry = (_pcap_times(tmp_path / "cases" / f"{i}.pcap") for i in ("DAR-BU-001", "DAR-DATA-005"))
    assert started - 1 <= first[0] <= time.time()  # a date of this run, not 1970
    assert first[-1] <= expiry[0]  # the second case follows the first on one timeline
    # DAR-DATA-005 binds for 8 s and checks the tunnel again after the lifetime and 1 s more:
    # the last datagram sits 9 virtual seconds after the first packet, in a run of milliseconds
    report = json.loads((tmp_path / "r.json").read_text())
    seconds = {c["id"]: c["seconds"] for c in report["cases"]}
    assert expiry[-1] - expiry[0] == pytest.approx(9.0, abs=1e-6)
    assert seconds["DAR-DATA-005"] >= 9.0 and report["clock"] == "virtual"


def test_junit_time_and_json_seconds_are_the_same_seconds(tmp_path: Path) -> None:
    done = _cli("DAR-DATA-005", "DAR-BU-00[12]", "--junit", "r.xml", "--json", "r.json", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    suite = ET.parse(tmp_path / "r.xml").getroot().find("testsuite")
    assert suite is not None
    clock = {p.get("name"): p.get("value") for p in suite.findall("properties/property")}
    assert clock["clock"] == report["clock"] == "virtual"
    times = {tc.get("name", "").split()[0]: float(tc.get("time", "")) for tc in suite.iter("testcase")}
    assert times == {c["id"]: pytest.approx(c["seconds"], abs=1e-3) for c in report["cases"]}
    assert times["DAR-DATA-005"] >= 9.0  # virtual seconds (the lifetime of 8 s and 1 s more)



def test_the_grace_is_in_the_report_and_a_grace_of_zero_is_refused(tmp_path: Path) -> None:
    done = _cli("DAR-BU-001", "--grace", "2.5", "--json", "r.json", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    run = json.loads((tmp_path / "r.json").read_text())["run"]
    assert (run["wait"], run["grace"]) == (1.0, 2.5)
    refused = _cli("DAR-BU-001", "--grace", "0", cwd=tmp_path)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines()[-1].startswith("fama-conformance: error: argument --grace"), refused.stderr

def test_the_matrix_is_in_the_json_the_junit_and_on_the_console(tmp_path: Path) -> None:
    done = _cli("DAR-BU-011", "DAR-BA-001", "--junit", "r.xml", "--json", "r.json", "--matrix", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["requirements"]["RFC 6275 §9.5.4"] == {"DAR-BA-001": "pass", "DAR-BU-011": "pass"}
    assert report["requirements"]["RFC 6275 §11.5.5"] == {"DAR-BU-011": "pass"}
    suite = ET.parse(tmp_path / "r.xml").getroot().find("testsuite")
    assert suite is not None
    cited = {
        tc.get("name", "").split()[0]: [p.get("value") for p in tc.findall("properties/property")]
        for tc in suite.iter("testcase")
    }
    assert cited["DAR-BU-011"] == ["RFC 6275 §11.5.5", "RFC 6275 §9.5.4", "profile §4", "profile §6 step 5"]
    assert "requirements -> cases" in done.stdout and "RFC 6275 §11.5.5" in done.stdout
    listed = _cli("--list", "--matrix", "--role", "dar", cwd=tmp_path)
    assert listed.returncode == 0 and "profile §6 step 3" in listed.stdout and "MN-" not in listed.stdout


def test_a_pcap_frame_is_at_its_cases_start_plus_its_time(tmp_path: Path) -> None:
    epoch = 1_700_000_000.25
    raw = bytes.fromhex("6000000000003b40") + bytes(32)  # an empty IPv6 packet, no next header
    frames = [Frame(0.0, TESTER, raw), Frame(0.5, IUT, raw), Frame(2.000001, IUT, raw)]
    pcaps([Outcome(CATALOGUE["DAR-BU-001"], Verdict.PASS, frames=frames, epoch=epoch)], tmp_path)
    assert _pcap_times(tmp_path / "DAR-BU-001.pcap") == pytest.approx(
        [epoch, epoch + 0.5, epoch + 2.000001], abs=1e-6
    )
