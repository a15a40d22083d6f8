"""The MN cases against a real fama-mn over veth pairs between network namespaces.

    fama-c-<pid>-a-t:  this file as a script: IfaceMn on fc-t, MnTester plays the DARs
                         | veth
    fama-c-<pid>-a-mn: fama-mn --iface fc-mn --keep all --sec 0 --udp-echo
    fama-c-<pid>-b-t, fama-c-<pid>-b-mn: a second such link, for the give-up case

The tester must own its end of the link in its namespace, so the test runs
this file again inside it (``python test_mn_netns.py --iface fc-t ...``), which
runs the MN cases it is given through :class:`~scapy_fama.conformance.iface_mn.IfaceMn`
and prints the outcomes as JSON. The MN's carrier follows the tester's end
(down, up). Every MN case must pass, none may be inconclusive:

* link a: every case of the keep-all set-up with the usual patience (the data
  cases through fama-mn's UDP echo service, ``--mn-echo``), then each other
  keep policy's cases against a fama-mn restarted with that policy;
* link b, at the same time: the give-up case (MN-RETX-004), which takes the
  whole back-off and the silence after it, about 110 s of real time, with the
  patience that needs.

Everything is named ``fama-c-<pid>-*`` and deleted by name, also when the test fails.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytestmark = pytest.mark.netns
START_WAIT = 20.0  # seconds for fama-mn to come up (it imports Scapy)
PATIENCE = 20.0  # seconds a case may take on the link
SLOW = {"MN-RETX-004": 120.0}  # cases that need more, with their patience (the give-up: ~110 s)
RUN_WAIT = 170.0  # seconds for one run of cases through the link
ECHO = 7  # the UDP echo port of fama-mn (RFC 862)

Run = tuple[str, list[str], float]  # fama-mn's keep policy, the cases, the patience


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

    def file(self, what: str, keep: str, suffix: str) -> Path:
        return self.tmp / f"{self.name}-{what}-{keep}.{suffix}"

    def start_mn(self, keep: str) -> None:
        self.stop_mn()
        log, err = self.file("mn", keep, "json"), self.file("mn", keep, "err")
        command = [
            "ip", "netns", "exec", self.mn, sys.executable, "-m", "scapy_fama.cli.mn",
            "--iface", "fc-mn", "--keep", keep, "--sec", "0", "--udp-echo", str(ECHO),
            "--json-log", str(log), "--log", str(self.file("mn", keep, "log")),
        ]  # fmt: skip
        with open(err, "wb") as stderr:
            self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + START_WAIT
        while not (log.exists() and '"link-up"' in log.read_text()):
            assert self.process.poll() is None, err.read_text()
            assert time.monotonic() < deadline, f"fama-mn did not come up in {START_WAIT:g} s"
            time.sleep(0.1)

    def stop_mn(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(START_WAIT)

    def suite(self, keep: str, cases: list[str], patience: float) -> list[dict[str, str]]:
        """This file as a script in the tester's namespace: the outcomes of ``cases``."""
        out = self.file("outcomes", keep, "json")
        command = [
            "ip", "netns", "exec", self.tester, sys.executable, __file__, "--iface", "fc-t",
            "--keep", keep, "--patience", str(patience), "--echo", str(ECHO), "--out", str(out),
            *cases,
        ]  # fmt: skip
        done = subprocess.run(
            command, check=False, capture_output=True, text=True, timeout=RUN_WAIT
        )
        assert done.returncode == 0, done.stderr
        return list(json.loads(out.read_text()))

    def runs(self, plan: list[Run]) -> list[dict[str, str]]:
        """Each run of ``plan`` against a fama-mn started with its keep policy."""
        outcomes = []
        for keep, cases, patience in plan:
            self.start_mn(keep)
            outcomes += self.suite(keep, cases, patience)
        return outcomes

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


def plans() -> tuple[list[Run], list[Run]]:
    """Link a: the cases of each keep policy (keep-all first, in ID order); link b: SLOW."""
    from scapy_fama.conformance import mn_cases  # noqa: F401  (registers the cases)
    from scapy_fama.conformance.case import select

    policies: dict[str, list[str]] = {}
    slow: list[Run] = []
    for case in select("mn"):
        keep = case.setup.mn.keep.value
        if case.id in SLOW:
            slow.append((keep, [case.id], SLOW[case.id]))
        else:
            policies.setdefault(keep, []).append(case.id)
    return [(keep, cases, PATIENCE) for keep, cases in policies.items()], slow


def test_every_mn_case_passes_against_fama_mn_on_a_veth(links: tuple[Link, Link]) -> None:
    from scapy_fama.conformance.case import select

    with ThreadPoolExecutor(len(links)) as pool:
        done = [pool.submit(link.runs, plan) for link, plan in zip(links, plans())]
        outcomes = [o for future in done for o in future.result()]
    print(json.dumps(outcomes, indent=1))
    assert sorted(o["id"] for o in outcomes) == sorted(c.id for c in select("mn"))
    assert all(o["verdict"] == "pass" for o in outcomes), [
        o for o in outcomes if o["verdict"] != "pass"
    ]
    assert len(outcomes) >= 24


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
    ap.add_argument("--echo", type=int, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    executor = IfaceMn(args.iface)
    try:
        tester = MnTester(executor, keep=args.keep, patience=args.patience, echo=args.echo)
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
