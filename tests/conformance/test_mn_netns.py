"""The MN cases against a real fama-mn over a veth pair between two network namespaces.

    fama-c-<pid>-t:  this file as a script: IfaceMn on fc-t, MnTester plays the DARs
                       | veth
    fama-c-<pid>-mn: fama-mn --iface fc-mn --keep all --sec 0

The tester must own its end of the link in its namespace, so the test runs
this file again inside it (``python test_mn_netns.py --iface fc-t ...``), which
runs every MN case through :class:`~scapy_fama.conformance.iface_mn.IfaceMn`
and prints the outcomes as JSON. The MN's carrier follows the tester's end
(down, up). Cases that cannot run on an interface must come back inconclusive
with their reason (data: fama-mn takes no commands; other keep policies than
the one fama-mn runs; longer than the patience given); every other case must
pass. A second fama-mn with ``--keep none`` runs the keep-none case. Everything
is named ``fama-c-<pid>-*`` and deleted by name, also when the test fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.netns
START_WAIT = 20.0  # seconds for fama-mn to come up (it imports Scapy)
PATIENCE = 20.0  # seconds a case may take on the link; the give-up case needs about 110
RUN_WAIT = 170.0  # seconds for one run of the suite through the link


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

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.tag = f"fama-c-{os.getpid()}"
        self.tester, self.mn = f"{self.tag}-t", f"{self.tag}-mn"
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

    def start_mn(self, keep: str) -> None:
        self.stop_mn()
        log = self.tmp / f"mn-{keep}.json"
        command = [
            "ip", "netns", "exec", self.mn, sys.executable, "-m", "scapy_fama.cli.mn",
            "--iface", "fc-mn", "--keep", keep, "--sec", "0", "--json-log", str(log),
            "--log", str(self.tmp / f"mn-{keep}.log"),
        ]  # fmt: skip
        with open(self.tmp / f"mn-{keep}.err", "wb") as err:
            self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + START_WAIT
        while not (log.exists() and '"link-up"' in log.read_text()):
            assert self.process.poll() is None, (self.tmp / f"mn-{keep}.err").read_text()
            assert time.monotonic() < deadline, f"fama-mn did not come up in {START_WAIT:g} s"
            time.sleep(0.1)

    def stop_mn(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(START_WAIT)

    def suite(self, keep: str, *patterns: str) -> list[dict[str, str]]:
        """This file as a script in the tester's namespace: the outcomes of the MN cases."""
        out = self.tmp / f"outcomes-{keep}.json"
        command = [
            "ip", "netns", "exec", self.tester, sys.executable, __file__, "--iface", "fc-t",
            "--keep", keep, "--patience", str(PATIENCE), "--out", str(out), *patterns,
        ]  # fmt: skip
        done = subprocess.run(
            command, check=False, capture_output=True, text=True, timeout=RUN_WAIT
        )
        assert done.returncode == 0, done.stderr
        return list(json.loads(out.read_text()))

    def teardown(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for ns in (self.tester, self.mn):  # deleting a namespace deletes its links
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)


@pytest.fixture
def link(tmp_path: Path) -> Iterator[Link]:
    reason = _unusable()
    if reason is not None:
        pytest.skip(reason)
    built = Link(tmp_path)
    try:
        built.build()
        yield built
    finally:
        built.teardown()


def test_every_mn_case_passes_or_says_why_not_against_fama_mn_on_a_veth(link: Link) -> None:
    from scapy_fama.conformance import mn_cases  # noqa: F401  (registers the cases)
    from scapy_fama.conformance.case import select

    link.start_mn("all")
    outcomes = {o["id"]: o for o in link.suite("all")}
    print(json.dumps(list(outcomes.values()), indent=1))
    cases = select("mn")
    assert set(outcomes) == {c.id for c in cases}
    not_here = {c.id for c in cases if c.group == "data" or c.setup.mn.keep != "all"}
    not_here.add("MN-RETX-004")  # the whole back-off and the silence after it: about 110 s
    for case_id, o in outcomes.items():
        if case_id in not_here:
            assert o["verdict"] == "inconclusive" and o["reason"], o
        else:
            assert o["verdict"] == "pass", o
    passed = sum(o["verdict"] == "pass" for o in outcomes.values())
    assert passed >= len(cases) - len(not_here) >= 15

    link.start_mn("none")  # the keep-none case needs an MN that runs that policy
    (keep_none,) = link.suite("none", "MN-KEEP-001")
    assert keep_none["verdict"] == "pass", keep_none


def main(argv: list[str] | None = None) -> int:
    """Inside the tester's namespace: run the MN cases through IfaceMn, write the outcomes."""
    from scapy_fama.conformance import mn_cases  # noqa: F401  (registers the cases)
    from scapy_fama.conformance.case import select
    from scapy_fama.conformance.iface_mn import IfaceMn
    from scapy_fama.conformance.mn_tester import MnTester
    from scapy_fama.conformance.runner import run_all

    ap = argparse.ArgumentParser()
    ap.add_argument("cases", nargs="*")
    ap.add_argument("--iface", required=True)
    ap.add_argument("--keep", required=True)
    ap.add_argument("--patience", type=float, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    executor = IfaceMn(args.iface)
    try:
        tester = MnTester(executor, keep=args.keep, patience=args.patience)
        outcomes = run_all(select("mn", args.cases or None), tester)
    finally:
        executor.close()
    rows = [
        {"id": o.case.id, "verdict": o.verdict.value, "reason": o.reason, "wall": round(o.wall, 2)}
        for o in outcomes
    ]
    args.out.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
