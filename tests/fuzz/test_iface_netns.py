"""fama-fuzz --target iface for real: our fama-dar in one network namespace, the fuzzer in another.

    fama-z-<id>-d: fama-dar on fama-zd (2001:db8:1::1/64)  ==veth==  fama-z-<id>-f: fama-zf (fe80::fe)
                   default route via fe80::fe                        fama-fuzz --coa 2001:db8:2::100

The DAR answers the CoA through its kernel's default route, so its BAs come back
on the fuzzer's veth. Everything is named ``fama-z-<id>-*`` and deleted by name.
"""

from __future__ import annotations

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
TAG = f"fama-z-{os.getpid() % 100000}"
DAR_NS, FUZZ_NS = f"{TAG}-d", f"{TAG}-f"


def _unusable() -> str | None:
    if os.geteuid() != 0:
        return "needs root for network namespaces"
    if shutil.which("ip") is None:
        return "needs the ip command (iproute2)"
    made = subprocess.run(["ip", "netns", "add", f"{TAG}-probe"], capture_output=True, text=True)
    if made.returncode != 0:
        return f"ip netns does not work here: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", f"{TAG}-probe"], capture_output=True)
    return None


def _ip(*argv: str) -> None:
    done = subprocess.run(["ip", *argv], capture_output=True, text=True)
    assert done.returncode == 0, f"ip {' '.join(argv)}: {done.stderr}"


def _wait_link_local(ns: str, dev: str, timeout: float = 30.0) -> None:
    """Until the kernel's own link-local address of ``dev`` has passed DAD: the DAR hands its
    BAs to the kernel's routing, whose neighbour solicitation for the default router needs
    that address (a fast start sent the setup BA more than 1.5 s late, after DAD)."""
    deadline = time.monotonic() + timeout
    while True:
        shown = subprocess.run(["ip", "-n", ns, "-6", "addr", "show", "dev", dev, "scope", "link"],
                               capture_output=True, text=True).stdout  # fmt: skip
        if "inet6 fe80::" in shown and "tentative" not in shown:
            return
        assert time.monotonic() < deadline, f"{dev} in {ns} has no usable link-local address: {shown}"
        time.sleep(0.05)


@pytest.fixture
def dar(tmp_path: Path) -> Iterator[Path]:
    reason = _unusable()
    if reason is not None:
        pytest.skip(reason)
    process = None
    try:
        for ns in (DAR_NS, FUZZ_NS):
            _ip("netns", "add", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
        _ip("link", "add", "fama-zd", "netns", DAR_NS, "type", "veth", "peer", "name", "fama-zf", "netns", FUZZ_NS)
        _ip("-n", FUZZ_NS, "addr", "add", "fe80::fe/64", "dev", "fama-zf", "nodad")
        for ns, dev in ((DAR_NS, "fama-zd"), (FUZZ_NS, "fama-zf")):
            _ip("-n", ns, "link", "set", dev, "up")
        _ip("-n", DAR_NS, "-6", "route", "add", "default", "via", "fe80::fe", "dev", "fama-zd")
        _wait_link_local(DAR_NS, "fama-zd")
        log = tmp_path / "dar.json"
        command = ["ip", "netns", "exec", DAR_NS, sys.executable, "-m", "scapy_fama.cli.dar", "--iface", "fama-zd",
                   "--prefix", "2001:db8:1::/64", "--address", "2001:db8:1::1", "--json-log", str(log),
                   "--log", str(tmp_path / "dar.log")]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):  # its first RA says it is up
            if log.exists() and '"kind": "RA"' in log.read_text():
                break
            assert process.poll() is None, (tmp_path / "dar.log").read_text()
            time.sleep(0.1)
        yield tmp_path
    finally:
        if process is not None:
            process.terminate()
            process.wait(20)
        for ns in (DAR_NS, FUZZ_NS):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_fuzzing_fama_dar_over_a_veth(dar: Path) -> None:
    out = dar / "findings"
    command = ["ip", "netns", "exec", FUZZ_NS, sys.executable, "-m", "scapy_fama.cli.fuzz", "--target", "iface",
               "--iface", "fama-zf", "--iut-address", "2001:db8:1::1", "--prefix", "2001:db8:1::/64",
               "--coa", "2001:db8:2::100", "--cases", "120", "--liveness-every", "40", "--keep-valid",
               "--wait", "0.03", "--out", str(out), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["cases"] == 120 and summary["findings"] == [] and summary["stopped"] == "cases"
    outcomes = set().union(*(set(f["outcomes"]) for f in summary["coverage"]["by_family"].values()))
    assert any(o.startswith("BA ") for o in outcomes), outcomes  # the DAR answered mutants over the wire
    assert "silent" in outcomes  # and dropped others
