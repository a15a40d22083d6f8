"""fama-conformance --target iface against fama-dar on a veth pair (root; skipped otherwise).

    fama-c-<id>-d: fama-dar 2001:db8:1::1 --fama-cd==fama-ct-- fama-c-<id>-t: fama-conformance
                   kernel: fe80::d, default via fe80::2         kernel: fe80::2, default via fe80::d

The DAR's kernel routes what the DAR sends beyond its prefix (BAs and tunnels to
the tester's CoAs, decapsulated packets for the tester's correspondent) back to
the tester, as README's "against another implementation" asks of any IUT. The
first run is a plain DAR (the secure-mode cases are inconclusive, saying why, and so
is DAR-BU-014, which needs a binding cache of a capacity the tester knows),
run twice with every report at once; the third restarts it with
--require-coa-test and runs every case with --secure, so that the tester does the
care-of test first (all pass but DAR-BU-014, inconclusive as before). fama-dar is
ready when its JSON log shows its first RA: the tests wait for that, never for a
fixed time.

Two more beds: one broken on purpose (the DAR namespace's kernel owns the DAR
address and routes the CoAs on-link: fama-dar warns, the tester stops with one
line naming the bed, exit 2), and a DAR that crashes in DAR-MH-005
(``planted_dar.py crash``): that case fails, the ones after it are inconclusive; and a DAR
whose neighbour cache takes every NA's address, Override flag or not (``planted_dar.py
override``): DAR-ND-001 fails, saying where the DAR sent H's packets. Two more planted DARs
run their case family (the whole suite, in-process, is test_dar_inproc's): one silent to an
accepted BU with A=0 fails DAR-BU-009 alone of DAR-BU-*, one that answers every RS from :: with
a multicast RA at once fails DAR-RA-002 alone of DAR-RA-*; one that answers everything 1.5 s late,
the tester waiting 1 s, leaves its cases inconclusive, none failed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import time
import xml.etree.ElementTree as ET

import pytest
from scapy.utils import RawPcapReader

pytestmark = pytest.mark.netns
DAR = "2001:db8:1::1"
TIMEOUT = 300.0
READY_WAIT = 60.0  # seconds for fama-dar to come up (it imports Scapy; the machine may be busy)
PLANTED = Path(__file__).with_name("planted_dar.py")


class Link:
    def __init__(self, tmp: Path) -> None:
        self.tmp, self.tag = tmp, f"fama-c-{os.getpid() % 100000}"
        self.made: list[str] = []
        self.dar: subprocess.Popen[bytes] | None = None

    def ns(self, role: str) -> str:
        return f"{self.tag}-{role}"

    def run(self, *argv: str) -> None:
        done = subprocess.run(argv, check=False, capture_output=True, text=True)
        assert done.returncode == 0, f"{' '.join(argv)}: {done.stderr}"

    def build(self) -> None:
        for role in ("d", "t"):
            self.run("ip", "netns", "add", self.ns(role))
            self.made.append(self.ns(role))
            self.run("ip", "-n", self.ns(role), "link", "set", "lo", "up")
        self.run(
            "ip", "link", "add", "fama-cd", "netns", self.ns("d"), "type", "veth",
            "peer", "name", "fama-ct", "netns", self.ns("t"),
        )  # fmt: skip
        self.run("ip", "netns", "exec", self.ns("t"), "sysctl", "-qw", "net.ipv6.conf.fama-ct.accept_ra=0")
        for role, mine, other in (("d", "fe80::d", "fe80::2"), ("t", "fe80::2", "fe80::d")):
            dev = f"fama-c{role}"
            self.run("ip", "-n", self.ns(role), "addr", "add", f"{mine}/64", "dev", dev, "nodad")
            self.run("ip", "-n", self.ns(role), "link", "set", dev, "up")
            self.run("ip", "-n", self.ns(role), "-6", "route", "add", "default", "via", other, "dev", dev)

    def start_dar(self, *extra: str, program: tuple[str, ...] = ("-m", "scapy_fama.cli.dar")) -> str:
        """Start fama-dar (or ``program``) and wait until it has sent its first RA; its stderr."""
        self.stop_dar()
        log, err = self.tmp / "dar.json", self.tmp / "dar.err"
        log.unlink(missing_ok=True)
        command = [
            "ip", "netns", "exec", self.ns("d"), sys.executable, *program,
            "--iface", "fama-cd", "--prefix", "2001:db8:1::/64", "--address", DAR,
            "--log", str(self.tmp / "dar.log"), "--json-log", str(log), *extra,
        ]  # fmt: skip
        with open(err, "wb") as stderr:
            self.dar = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + READY_WAIT
        while not (log.exists() and any(_first_ra(line) for line in log.read_text().splitlines())):
            assert self.dar.poll() is None, err.read_text()
            assert time.monotonic() < deadline, f"fama-dar sent no RA within {READY_WAIT:g} s"
            time.sleep(0.1)
        return err.read_text()

    def stop_dar(self) -> None:
        if self.dar is not None and self.dar.poll() is None:
            self.dar.kill()
            self.dar.wait()

    def tester(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [
            "ip", "netns", "exec", self.ns("t"), sys.executable, "-m", "scapy_fama.cli.conformance",
            "--target", "iface", "--iface", "fama-ct", "--iut-address", DAR,
            "--prefix", "2001:db8:1::/64", "--wait", "2", *args,
        ]  # fmt: skip
        return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)

    def conformance(self, report: str, *args: str) -> tuple[subprocess.CompletedProcess[str], dict]:  # type: ignore[type-arg]
        path = self.tmp / report
        done = self.tester("--json", str(path), *args)
        assert path.exists(), f"{done.stdout}\n{done.stderr}"
        return done, json.loads(path.read_text())

    def teardown(self) -> None:
        self.stop_dar()
        for namespace in self.made:
            subprocess.run(["ip", "netns", "del", namespace], check=False, capture_output=True)


@pytest.fixture
def link(tmp_path: Path) -> Iterator[Link]:
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    if shutil.which("ip") is None:
        pytest.skip("needs the ip command (iproute2)")
    made = Link(tmp_path)
    try:
        made.build()
        yield made
    finally:
        made.teardown()


def _first_ra(line: str) -> bool:
    record = json.loads(line)
    return bool(record.get("dir") == "out" and record.get("kind") == "RA")


def _verdicts(report: dict) -> dict[str, tuple[str, str]]:  # type: ignore[type-arg]
    return {c["id"]: (c["verdict"], c["reason"]) for c in report["cases"]}


def _pcap_times(path: Path) -> list[float]:
    return [meta.sec + meta.usec / 1e6 for _, meta in RawPcapReader(str(path))]


def test_every_dar_case_on_a_veth_against_fama_dar(link: Link) -> None:
    assert "warning" not in link.start_dar()
    runs = []
    for n in (1, 2):  # the same suite twice against the same fama-dar, every report at once
        started = time.time()
        outputs = ("--junit", str(link.tmp / f"plain{n}.xml"), "--pcap", str(link.tmp / f"cases{n}"))
        done, report = link.conformance(f"plain{n}.json", *outputs)
        runs.append(_verdicts(report))
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        suite = ET.parse(link.tmp / f"plain{n}.xml").getroot().find("testsuite")
        assert suite is not None and suite.get("tests") == str(len(report["cases"]))
        for case in report["cases"]:  # each case's capture holds its own frames only
            times = _pcap_times(Path(case["pcap"]))
            assert len(times) == case["packets"] and all(started <= t <= time.time() for t in times)
        assert report["clock"] == "wall"
    verdicts = runs[0]
    assert {i: v for i, (v, _) in runs[1].items()} == {i: v for i, (v, _) in verdicts.items()}
    not_passed = {i: v for i, v in verdicts.items() if v[0] != "pass"}
    needs_secure = {"DAR-SEC-001", "DAR-SEC-002", "DAR-SEC-003", "DAR-SEC-004", "DAR-PHKT-006"}
    in_process = {"DAR-BU-014": "needs a DAR with cache_capacity=1"}  # a capacity known to the tester
    assert set(not_passed) == needs_secure | set(in_process), (not_passed, done.stdout[-3000:])
    expected = {i: "--secure" for i in needs_secure} | in_process  # what each reason must say
    for case, why in expected.items():
        assert not_passed[case][0] == "inconclusive" and why in not_passed[case][1], not_passed[case]
    assert len(verdicts) >= 40

    link.start_dar("--require-coa-test")  # every case again, as README's "--secure ..." runs them
    done, report = link.conformance("secure.json", "--secure")
    secure = _verdicts(report)
    assert set(secure) == set(verdicts) and done.returncode == 0, done.stdout[-3000:]
    not_passed = {i: v for i, v in secure.items() if v[0] != "pass"}
    assert {i: v for i, (v, _) in not_passed.items()} == {"DAR-BU-014": "inconclusive"}, not_passed
    assert in_process["DAR-BU-014"] in not_passed["DAR-BU-014"][1]


def test_a_broken_test_bed_is_named_not_blamed_on_the_dar(link: Link) -> None:
    """The DAR namespace's kernel owns the DAR address and takes the tester's CoAs for on-link:
    the BAs that fama-dar hands it wait for Neighbour Advertisements nobody sends."""
    link.run("ip", "-n", link.ns("d"), "addr", "add", f"{DAR}/64", "dev", "fama-cd", "nodad")
    link.run("ip", "-n", link.ns("d"), "-6", "route", "add", "2001:db8:ca::/64", "dev", "fama-cd")
    warning = link.start_dar()
    assert warning.startswith(f"fama-dar: warning: the kernel owns {DAR} on fama-cd: ")
    done = link.tester("--json", str(link.tmp / "bed.json"))
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stdout + done.stderr
    assert done.stderr.startswith("fama-conformance: error: the test bed, not the DAR: ")
    assert "2001:db8:ca::/64" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_a_forwarding_namespace_is_named_at_start(link: Link) -> None:
    """Without --kernel the DAR forwards its MNs' packets itself: a kernel that forwards too sent
    each one twice and Redirects for what went to fe80::1, which it does not own."""
    link.run("ip", "netns", "exec", link.ns("d"), "sysctl", "-qw", "net.ipv6.conf.fama-cd.forwarding=1")
    warning = link.start_dar()
    assert warning.startswith("fama-dar: warning: the kernel forwards on fama-cd (net.ipv6.conf.fama-cd.forwarding=1): ")
    assert len(warning.splitlines()) == 1


def test_a_second_role_on_the_dar_s_interface_is_refused_in_one_line(link: Link) -> None:
    """A second fama-dar or fama-mn on an interface a role runs on answered the same NSs and read
    the same frames, silently; it now stops at once, naming the first, and leaves the first's log
    files alone. The same interface name in another namespace (the tester's) is another claim."""
    link.start_dar()
    log = (link.tmp / "dar.json").read_text()
    for role, extra in (("dar", ["--prefix", "2001:db8:1::/64", "--address", DAR]), ("mn", ["--sec", "0"])):
        done = subprocess.run(
            ["ip", "netns", "exec", link.ns("d"), sys.executable, "-m", f"scapy_fama.cli.{role}",
             "--iface", "fama-cd", "--json-log", str(link.tmp / "dar.json"), *extra],
            capture_output=True, text=True, timeout=TIMEOUT,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert done.stderr == (f"fama-{role}: error: --iface fama-cd: fama-dar (pid {link.dar.pid}) runs on it "
                               "already in this network namespace; stop it first\n")  # fmt: skip
    assert (link.tmp / "dar.json").read_text().startswith(log) and link.dar.poll() is None
    link.run("ip", "-n", link.ns("t"), "link", "add", "fama-cd", "type", "veth", "peer", "name", "fama-cx")
    for iface in ("fama-cd", "fama-cx"):
        link.run("ip", "-n", link.ns("t"), "link", "set", iface, "up")
    other = subprocess.Popen(
        ["ip", "netns", "exec", link.ns("t"), sys.executable, "-m", "scapy_fama.cli.dar", "--iface", "fama-cd",
         "--prefix", "2001:db8:2::/64", "--address", "2001:db8:2::1", "--json-log", str(link.tmp / "other.json")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    started = link.tmp / "other.json"
    try:
        deadline = time.monotonic() + READY_WAIT
        while not (started.exists() and '"warm-up"' in started.read_text(errors="replace")):
            assert other.poll() is None, other.stderr.read() if other.stderr else ""
            assert time.monotonic() < deadline, f"fama-dar in the tester's namespace did not start within {READY_WAIT:g} s"
            time.sleep(0.1)
    finally:
        other.terminate()
        other.wait(TIMEOUT)


def test_the_mn_suite_pointed_at_a_dar_says_it_is_a_router_in_one_line(link: Link) -> None:
    """fama-conformance --role mn on fama-dar's link: its namespace's kernel solicits when the link
    comes up, as an MN would, but the DAR answers the tester's RS with an RA; the one line says
    the IUT is a router, exit 2, no case run (it failed the first case, and left 28 inconclusive)."""
    link.start_dar()
    done = link.tester("--role", "mn")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stdout + done.stderr
    assert done.stderr == ("fama-conformance: error: the IUT answers a Router Solicitation with a Router "
                           "Advertisement: a router, not a mobile node (--role dar tests a DAR)\n")  # fmt: skip


def test_a_dar_that_crashes_fails_that_case_and_the_rest_are_inconclusive(link: Link) -> None:
    link.start_dar(program=(str(PLANTED), "crash"))  # a grace of 1 s: a dead DAR answers late no more than never
    done, report = link.conformance("crash.json", "mh", "DAR-PHKT-00[12]", "--grace", "1")
    verdicts = _verdicts(report)
    assert done.returncode == 1, done.stdout + done.stderr
    assert all(verdicts[f"DAR-MH-00{n}"][0] == "pass" for n in range(1, 5)), verdicts
    verdict, why = verdicts["DAR-MH-005"]
    assert verdict == "fail" and why.startswith("the IUT stopped answering during this case (no RA")
    for case in ("DAR-PHKT-001", "DAR-PHKT-002"):
        assert verdicts[case] == ("inconclusive", "the IUT stopped answering after DAR-MH-005")
    assert link.dar is not None and link.dar.wait(READY_WAIT) == 3  # it did crash, as planted


def test_a_dar_whose_neighbour_cache_ignores_the_override_flag_fails_that_case(link: Link) -> None:
    link.start_dar(program=(str(PLANTED), "override"))
    done, report = link.conformance("override.json", "nd", "DAR-RA-001")
    verdicts = _verdicts(report)
    assert done.returncode == 1 and verdicts["DAR-RA-001"][0] == "pass", done.stdout + done.stderr
    verdict, why = verdicts["DAR-ND-001"]
    assert verdict == "fail" and "with O=0 naming 02:00:5e:7e:57:0a, the DAR sends to 02:00:5e:7e:57:0a" in why


def _failed_alone(link: Link, defect: str, family: str) -> dict[str, str]:
    """The cases of ``family`` against fama-dar with ``defect`` planted: the failed cases and their
    reasons (DAR-BU-014 inconclusive as against fama-dar itself). That the defect fails no case of
    another family, test_dar_inproc asserts over the whole suite; a whole suite here is a minute."""
    link.start_dar(program=(str(PLANTED), defect))
    done, report = link.conformance(f"{defect}.json", family)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stdout[-3000:] + done.stderr
    verdicts = _verdicts(report)
    assert not [i for i, (v, _) in verdicts.items() if v == "error"], verdicts
    return {i: why for i, (v, why) in verdicts.items() if v == "fail"}


def test_a_dar_silent_to_an_accepted_a0_bu_fails_that_case_alone(link: Link) -> None:
    failed = _failed_alone(link, "silent-a0", "DAR-BU-*")
    assert set(failed) == {"DAR-BU-009"}, failed
    why = failed["DAR-BU-009"]
    assert why.startswith("a home agent answers every registration, A=0 or not: ") and why.endswith("got nothing")


def test_a_dar_that_ignores_the_ra_rate_limit_fails_that_case_alone(link: Link) -> None:
    failed = _failed_alone(link, "no-ra-limit", "DAR-RA-*")
    assert set(failed) == {"DAR-RA-002"}, failed
    assert "at most one per 30 ms" in failed["DAR-RA-002"]


def test_a_dar_slower_than_the_wait_is_inconclusive_not_failed(link: Link) -> None:
    """fama-dar answering everything 1.5 s late (``planted_dar.py slow``), the tester waiting 1 s:
    the cases are inconclusive, saying how late the answer came; none fails or passes."""
    link.start_dar(program=(str(PLANTED), "slow"))
    done, report = link.conformance("slow.json", "DAR-MH-001", "DAR-BU-001", "DAR-RA-003", "--wait", "1")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stdout[-3000:] + done.stderr
    verdicts = _verdicts(report)
    assert {v for v, _ in verdicts.values()} == {"inconclusive"}, verdicts
    assert all("after" in why and "past the wait of 1 s" in why for _, why in verdicts.values()), verdicts


def test_a_lossy_link_to_fama_dar_makes_cases_inconclusive_never_failed(link: Link) -> None:
    """README: "Neither a slow IUT nor a lossy link decides a case" (in-process in
    test_dar_inproc.py). fama-dar losing a fifth of what it sends and receives (--link-loss 0.2,
    its own emulation): a missing answer or a silence the Router Solicitation probes show may be
    the link's is inconclusive, saying so; no case fails. A grace of 1 s (not 5) past the wait:
    every answer the link loses costs it, and a DAR later than that is probed as a silent one."""
    link.start_dar("--link-loss", "0.2", "--link-seed", "3")
    done, report = link.conformance("lossy.json", "DAR-BU-00*", "DAR-MH-00*", "DAR-BE-*", "--wait", "1", "--grace", "1")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stdout[-3000:] + done.stderr
    verdicts = _verdicts(report)
    assert "fail" not in {v for v, _ in verdicts.values()}, verdicts
    lossy = [why for v, why in verdicts.values() if v == "inconclusive"]
    assert lossy and all("Router Solicitations from the tester's link-local address went unanswered: the link "
                         "loses packets" in why for why in lossy), verdicts  # fmt: skip
