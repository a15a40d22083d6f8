"""The MN cases against a real fama-mn over veth pairs between network namespaces.

    fama-c-<pid>-a-t:  this file as a script: IfaceMn on fc-t, MnTester plays the DARs
                         | veth
    fama-c-<pid>-a-mn: fama-mn --iface fc-mn --keep POLICY [--no-optimistic] --sec 0 --udp-echo
    fama-c-<pid>-b-t, fama-c-<pid>-b-mn: a second such link, working at the same time

The tester must own its end of the link in its namespace, so the test runs
this file again inside it (``python test_mn_netns.py --iface fc-t ...``), which
runs the MN cases it is given through :class:`~scapy_fama.conformance.iface_mn.IfaceMn`
and prints the outcomes as JSON. The MN's carrier follows the tester's end
(down, up). Every MN case must pass, none may be inconclusive: the data cases
through fama-mn's UDP echo service (``--mn-echo``), each case against a
fama-mn started with the keep policy and the address policy the case sets up
(MN-BU-005: ``--no-optimistic``, the tester told so as ``--mn-no-optimistic``
tells fama-conformance), and the give-up case
(MN-RETX-004: the whole back-off and the silence after it, about 110 s of real
time) with the patience it needs.

Each case gets a fama-mn of its own, as each in-process case gets a fresh
MnCore: under keep=all a long-running MN keeps the address of every earlier
case, and its BUs to all those DARs after each move delay the case's own BU by
the time it takes to build them (0.3 s and more on a loaded machine), while its
back-off timer runs from when it decided to send, so the retransmission looks
early on the wire. The two links take the cases from one queue, the long one
first, so the test takes about as long as the longest half.

Everything is named ``fama-c-<pid>-*`` and deleted by name, also when the test fails.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytestmark = pytest.mark.netns
START_WAIT = 20.0  # seconds for fama-mn to come up (it imports Scapy)
PATIENCE = 20.0  # seconds a case may take on the link
SLOW = {"MN-RETX-004": 120.0}  # cases that need more, with their patience (the give-up: ~110 s)
RUN_WAIT = 170.0  # seconds for one run of cases through the link
ECHO = 7  # the UDP echo port of fama-mn (RFC 862)
LOSS_SEED = "1"  # fama-mn --link-seed (what it loses still depends on the timing of what it sends)
LOSSY = (  # how an inconclusive verdict says that the link may have lost a packet
    "Neighbour Solicitations for the MN's address went unanswered: the link loses packets",
    "unless the link lost an earlier one and this is a retransmission",
    "so the link could not be probed (the RA may be lost)",
)

Run = tuple[str, str, bool, float]  # the case, fama-mn's keep policy and optimistic addresses for it, the patience


def _unusable() -> str | None:
    """Why network namespaces cannot be used here, or None."""
    if os.geteuid() != 0:
        return "needs root for network namespaces and veth pairs"
    if shutil.which("ip") is None:
        return "needs the ip command (iproute2)"
    probe = f"fama-c-{os.getpid()}-probe"
    made = subprocess.run(
        ["ip", "netns", "add", probe], check=False, capture_output=True, text=True
    )
    if made.returncode != 0:
        return f"ip netns does not work here: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], check=False, capture_output=True)
    return None


class Link:
    """Two namespaces joined by a veth pair, and the fama-mn running in one of them."""

    def __init__(self, tmp: Path, name: str) -> None:
        self.tmp, self.name = tmp, name
        tag = f"fama-c-{os.getpid()}-{name}"
        self.tester, self.mn = f"{tag}-t", f"{tag}-mn"
        self.process: subprocess.Popen[bytes] | None = None

    def sh(self, *argv: str) -> None:
        done = subprocess.run(argv, check=False, capture_output=True, text=True)
        assert done.returncode == 0, f"{' '.join(argv)}: {done.stderr}"

    def build(self) -> None:
        for ns in (self.tester, self.mn):
            self.sh("ip", "netns", "add", ns)
            self.sh("ip", "-n", ns, "link", "set", "lo", "up")
        self.sh(
            "ip", "-n", self.tester, "link", "add", "fc-t", "type", "veth",
            "peer", "name", "fc-mn", "netns", self.mn,
        )  # fmt: skip
        for ns, iface in ((self.tester, "fc-t"), (self.mn, "fc-mn")):
            for setting in ("accept_ra=0", "router_solicitations=0"):  # no kernel RS/RA noise
                self.sh(
                    "ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{iface}.{setting}"
                )
            self.sh("ip", "-n", ns, "link", "set", iface, "up")

    def file(self, what: str, case: str, suffix: str) -> Path:
        return self.tmp / f"{self.name}-{what}-{case}.{suffix}"

    def start_mn(self, case: str, keep: str, optimistic: bool, *program: str) -> None:
        """fama-mn (or ``program``: a module and its arguments) for ``case``, once it is up."""
        self.stop_mn()
        log, err = self.file("mn", case, "json"), self.file("mn", case, "err")
        command = [
            "ip", "netns", "exec", self.mn, sys.executable, "-m", *(program or ["scapy_fama.cli.mn"]),
            "--iface", "fc-mn", "--keep", keep, "--sec", "0", "--udp-echo", str(ECHO),
            "--json-log", str(log), "--log", str(self.file("mn", case, "log")),
            *([] if optimistic else ["--no-optimistic"]),
        ]  # fmt: skip
        with open(err, "wb") as stderr:
            self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + START_WAIT
        while not (log.exists() and '"link-up"' in log.read_text()):
            assert self.process.poll() is None, err.read_text()
            assert time.monotonic() < deadline, f"fama-mn did not come up in {START_WAIT:g} s"
            time.sleep(0.1)
        # the tester reads its link-local address at start: the kernel adds it once it sees the
        # carrier, which the MN may see first (the last case took the link down and up)
        shown = ["ip", "-n", self.tester, "-6", "-o", "addr", "show", "dev", "fc-t", "scope", "link"]
        while " inet6 fe80:" not in subprocess.run(shown, check=False, capture_output=True, text=True).stdout:
            assert time.monotonic() < deadline, f"fc-t has no link-local address after {START_WAIT:g} s"
            time.sleep(0.1)

    def stop_mn(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(START_WAIT)

    def suite(self, case: str, keep: str, optimistic: bool, patience: float, *more: str) -> list[dict[str, str]]:
        """This file as a script in the tester's namespace: the outcome of ``case`` (and ``more``)."""
        out = self.file("outcomes", case, "json")
        command = [
            "ip", "netns", "exec", self.tester, sys.executable, __file__, "--iface", "fc-t",
            "--keep", keep, "--patience", str(patience), "--echo", str(ECHO), "--out", str(out),
            *([] if optimistic else ["--no-optimistic"]), case, *more,
        ]  # fmt: skip
        done = subprocess.run(
            command, check=False, capture_output=True, text=True, timeout=RUN_WAIT
        )
        assert done.returncode == 0, done.stderr
        return list(json.loads(out.read_text()))

    def runs(self, work: queue.Queue[Run]) -> list[dict[str, str]]:
        """Take runs from ``work`` until none is left, each against a fama-mn of its own."""
        outcomes = []
        while True:
            try:
                case, keep, optimistic, patience = work.get_nowait()
            except queue.Empty:
                return outcomes
            self.start_mn(case, keep, optimistic)
            outcomes += self.suite(case, keep, optimistic, patience)

    def teardown(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for ns in (self.tester, self.mn):  # deleting a namespace deletes its links
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)


@pytest.fixture
def links(tmp_path: Path) -> Iterator[tuple[Link, Link]]:
    reason = _unusable()
    if reason is not None:
        pytest.skip(reason)
    built = (Link(tmp_path, "a"), Link(tmp_path, "b"))
    try:
        for link in built:
            link.build()
        yield built
    finally:
        for link in built:
            link.teardown()


def work() -> queue.Queue[Run]:
    """Every MN case as a run, the SLOW ones first."""
    from scapy_fama.conformance import catalogue
    from scapy_fama.conformance.case import select

    catalogue.load()
    runs = [(c.id, c.setup.mn.keep.value, c.setup.mn.optimistic, SLOW.get(c.id, PATIENCE)) for c in select("mn")]
    pending: queue.Queue[Run] = queue.Queue()
    for run in sorted(runs, key=lambda r: r[0] not in SLOW):
        pending.put(run)
    return pending


def test_every_mn_case_passes_against_fama_mn_on_a_veth(links: tuple[Link, Link]) -> None:
    from scapy_fama.conformance.case import select

    pending = work()
    with ThreadPoolExecutor(len(links)) as pool:
        done = [pool.submit(link.runs, pending) for link in links]
        outcomes = [o for future in done for o in future.result()]
    print(json.dumps(outcomes, indent=1))
    assert sorted(o["id"] for o in outcomes) == sorted(c.id for c in select("mn"))
    not_passed = {o["id"]: o for o in outcomes if o["verdict"] != "pass"}
    assert not not_passed, not_passed
    assert len(outcomes) >= 28


def test_an_mn_slower_than_the_wait_is_inconclusive_not_failed_on_a_veth(links: tuple[Link, Link]) -> None:
    """fama-mn whose core sends everything 1.2 s late (``planted_mn.py slow``), the tester
    waiting 1 s: its answer to a BA 135 or 137 and its echo answer come 1.2 s after the
    tester's packet. No rule sets how soon, so the cases are inconclusive, saying how late."""
    link, cases = links[0], ("MN-STATUS-001", "MN-SEC-001", "MN-DATA-002")
    link.start_mn(cases[0], "all", True, "tests.conformance.planted_mn", "slow")
    outcomes = {o["id"]: o for o in link.suite(cases[0], "all", True, PATIENCE, *cases[1:])}
    assert set(outcomes) == set(cases), outcomes
    for o in outcomes.values():
        assert o["verdict"] == "inconclusive" and "s after the tester's packet, past the wait of 1 s" in o["reason"], o


def test_an_mn_that_crashes_is_probed_once_then_found_dead(links: tuple[Link, Link]) -> None:
    """fama-mn that exits at a BA 148 (``planted_mn.py crash``): MN-STATUS-003 sends one and
    expects silence, which the tester probes with a Neighbour Solicitation for the MN's CoA.
    Unanswered, it moves the MN for the liveness check, which finds it dead: one probe, not
    PROBES (20, and LATE after them), and the runner's check after the case sends nothing again.
    The case fails, saying so; the next one is inconclusive, not run."""
    link, cases = links[0], ("MN-STATUS-003", "MN-STATUS-004")
    link.start_mn(cases[0], "all", True, "tests.conformance.planted_mn", "crash")
    outcomes = {o["id"]: o for o in link.suite(cases[0], "all", True, PATIENCE, *cases[1:])}
    died = outcomes["MN-STATUS-003"]
    assert died["verdict"] == "fail", died
    assert died["reason"].startswith("the IUT stopped answering during this case (no Router Solicitation within "
                                     "10 s of link-up (2 times))"), died  # fmt: skip
    assert died["probes"] == 1, died
    assert outcomes["MN-STATUS-004"]["reason"] == "the IUT stopped answering after MN-STATUS-003"
    assert link.process is not None and link.process.wait(START_WAIT) == 3  # it did crash, as planted


def test_the_dar_suite_pointed_at_an_mn_says_so_in_one_line(links: tuple[Link, Link]) -> None:
    """fama-conformance for a DAR (the default role) on fama-mn's link: nothing answers for the
    DAR's address, and the one line says what to check (the address, and that the IUT is a DAR),
    exit 2, no case run."""
    link = links[0]
    link.start_mn("dar-suite", "all", True)
    command = ["ip", "netns", "exec", link.tester, sys.executable, "-m", "scapy_fama.cli.conformance",
               "--target", "iface", "--iface", "fc-t"]  # fmt: skip
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=RUN_WAIT)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stdout + done.stderr
    assert done.stderr.startswith("fama-conformance: error: 2001:db8:1::1 does not answer Neighbour Solicitations "
                                  "on fc-t: is 2001:db8:1::1 the DAR's address (--iut-address), and the IUT a DAR? "
                                  "(--role mn tests a mobile node)"), done.stderr  # fmt: skip


def test_an_mn_on_a_lossy_link_fails_no_case(links: tuple[Link, Link]) -> None:
    """README: "Neither a slow IUT nor a lossy link decides a case". fama-mn losing a fifth of
    what it sends and receives (--link-loss 0.2, its own emulation, seeded): a lost RS makes
    its next one late, which MN-RS-001 took for an RS not sent at once; a lost RA left the MN
    without an address, and its missing BU failed MN-BU-001; a missing message or a silence
    that the Neighbour Solicitation probes show may be the link's is inconclusive, saying so,
    and so is a BU whose first copy was lost (its retransmission comes past the wait), or one
    that the MN never sent for want of the RA. No case fails (in-process, where the loss does
    not depend on timing, test_mn_patience.py shows each of these)."""
    link, cases = links[0], ("MN-RS-001", "MN-BU-001", "MN-STATUS-003")
    link.start_mn(cases[0], "all", True, "scapy_fama.cli.mn", "--link-loss", "0.2", "--link-seed", LOSS_SEED)
    outcomes = {o["id"]: o for o in link.suite(cases[0], "all", True, PATIENCE, *cases[1:])}
    assert set(outcomes) == set(cases), outcomes
    assert not [o for o in outcomes.values() if o["verdict"] == "fail"], outcomes
    lossy = [o["reason"] for o in outcomes.values() if o["verdict"] == "inconclusive"]
    assert all(any(sign in why for sign in LOSSY) for why in lossy), outcomes


def main(argv: list[str] | None = None) -> int:
    """Inside the tester's namespace: run the MN cases through IfaceMn, write the outcomes."""
    from scapy_fama.conformance import catalogue
    from scapy_fama.conformance.case import select
    from scapy_fama.conformance.executor import TESTER
    from scapy_fama.conformance.iface_mn import IfaceMn
    from scapy_fama.conformance.mn_tester import MnTester, nd_target
    from scapy_fama.conformance.runner import run_all
    from scapy_fama.wire.numbers import NS

    ap = argparse.ArgumentParser()
    ap.add_argument("cases", nargs="*")
    ap.add_argument("--iface", required=True)
    ap.add_argument("--keep", required=True)
    ap.add_argument("--patience", type=float, required=True)
    ap.add_argument("--echo", type=int, required=True)
    ap.add_argument("--no-optimistic", action="store_true")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    catalogue.load()
    executor = IfaceMn(args.iface)
    try:
        tester = MnTester(executor, keep=args.keep, patience=args.patience, echo=args.echo,
                          optimistic=not args.no_optimistic)  # fmt: skip
        outcomes = run_all(select("mn", args.cases or None), tester)
    finally:
        executor.close()
    rows = [
        {"id": o.case.id, "verdict": o.verdict.value, "reason": o.reason, "wall": round(o.wall, 2),
         "probes": sum(1 for f in o.frames if f.direction == TESTER and nd_target(f.raw, NS))}
        for o in outcomes
    ]  # fmt: skip
    args.out.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
