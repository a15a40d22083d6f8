"""replay() on a real interface, against fama-dar in a network namespace.

    fama-r-<id>-d: fama-dar 2001:db8:1::1 --fama-rd==fama-rt-- fama-r-<id>-t: fama-shell -c replay(...)
                   kernel: fe80::d, default via fe80::2          kernel: fe80::2, default via fe80::d

The capture is pcaps/fig3.pcapng: two BUs to DAR1 (CGA-signed from a CoA at
DAR2, then PHKT-authorised from a CoA at DAR3). The DAR sends its BAs to the
CoAs through its kernel, whose default route leads back to the tester's
link-local address; the tester's kernel owns none of them and forwards nothing,
so it drops them quietly while Scapy sees them on the interface. (Without the
default routes each kernel answers what it cannot route with an ICMPv6
Destination Unreachable, which the replay shows when no BA comes.)

What a DAR does with replayed bytes depends on what it holds: a fresh DAR has
no record of the binding, so the captured CGA-signed BU is as good as new to it
(RFC 4866 signs the sequence number, it has no other freshness) and it accepts
it, issuing a PHKT of its own; the captured PHKT BU then carries a BAD under the
old PHKT and is dropped (profile §4). Replayed again, the first BU meets the
binding's sequence number: BA 135 with the last accepted one (RFC 6275 §9.5.1).
The re-signed replay reproduces the handover: BA 0 twice.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.netns
ROOT = Path(__file__).resolve().parents[2]
CAPTURE = ROOT / "pcaps" / "fig3.pcapng"
DAR = "2001:db8:1::1"
TIMEOUT = 120.0  # seconds for the whole shell run (three replays, about 10 s here)

CODE = f"""
import json
def seq(r):
    return [[t, s] for t, s in r.replayed.sequence()]
first = replay({str(CAPTURE)!r}, {DAR!r}, iface="fama-rt", wait=2.0)
again = replay({str(CAPTURE)!r}, {DAR!r}, iface="fama-rt", wait=2.0)
fresh = replay({str(CAPTURE)!r}, {DAR!r}, mode="re-sign", iface="fama-rt", wait=2.0,
               coa=["2001:db8:b::7", "2001:db8:c::7"])
print(fresh)
print("RESULT " + json.dumps({{
    "first": seq(first), "first_accepted": first.accepted,
    "again": seq(again), "again_accepted": again.accepted, "again_seq": again.replayed.rows[1].label,
    "fresh": seq(fresh), "fresh_same": fresh.same, "fresh_lines": fresh.outcome,
}}))
"""


def _unusable() -> str | None:
    if os.geteuid() != 0:
        return "needs root for network namespaces"
    if shutil.which("ip") is None:
        return "needs the ip command (iproute2)"
    return None


class Namespaces:
    def __init__(self) -> None:
        self.tag = f"fama-r-{os.getpid() % 100000}"
        self.made: list[str] = []
        self.dar: subprocess.Popen[bytes] | None = None

    def ns(self, role: str) -> str:
        return f"{self.tag}-{role}"

    def run(self, *argv: str) -> None:
        done = subprocess.run(argv, check=False, capture_output=True, text=True)
        assert done.returncode == 0, f"{' '.join(argv)}: {done.stderr}"

    def ip(self, role: str, *argv: str) -> None:
        self.run("ip", "-n", self.ns(role), *argv)

    def build(self) -> None:
        for role in ("d", "t"):
            self.run("ip", "netns", "add", self.ns(role))
            self.made.append(self.ns(role))
            self.ip(role, "link", "set", "lo", "up")
        self.run(
            "ip", "link", "add", "fama-rd", "netns", self.ns("d"), "type", "veth",
            "peer", "name", "fama-rt", "netns", self.ns("t"),
        )  # fmt: skip
        self.run(
            "ip", "netns", "exec", self.ns("t"), "sysctl", "-qw", "net.ipv6.conf.fama-rt.accept_ra=0"
        )
        for role, mine, other in (("d", "fe80::d", "fe80::2"), ("t", "fe80::2", "fe80::d")):
            self.ip(role, "addr", "add", f"{mine}/64", "dev", f"fama-r{role}", "nodad")
            self.ip(role, "link", "set", f"fama-r{role}", "up")
            self.ip(role, "-6", "route", "add", "default", "via", other, "dev", f"fama-r{role}")

    def start_dar(self, tmp: Path) -> None:
        command = [
            "ip", "netns", "exec", self.ns("d"), sys.executable, "-m", "scapy_fama.cli.dar",
            "--iface", "fama-rd", "--prefix", "2001:db8:1::/64", "--address", DAR,
            "--log", str(tmp / "dar.log"),
        ]  # fmt: skip
        self.dar = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)

    def shell(self, code: str) -> subprocess.CompletedProcess[str]:
        command = [
            "ip", "netns", "exec", self.ns("t"), sys.executable, "-m", "fama_shell.cli",
            "--no-banner", "-c", code,
        ]  # fmt: skip
        env = {**os.environ, "COLUMNS": "200"}
        return subprocess.run(
            command, check=False, capture_output=True, text=True, timeout=TIMEOUT, env=env
        )

    def teardown(self) -> None:
        if self.dar is not None and self.dar.poll() is None:
            self.dar.kill()
            self.dar.wait()
        for namespace in self.made:
            subprocess.run(["ip", "netns", "del", namespace], check=False, capture_output=True)


@pytest.fixture
def link() -> Iterator[Namespaces]:
    reason = _unusable()
    if reason is not None:
        pytest.skip(reason)
    spaces = Namespaces()
    try:
        spaces.build()
        yield spaces
    finally:
        spaces.teardown()


def test_replay_against_fama_dar_on_a_veth(link: Namespaces, tmp_path: Path) -> None:
    link.start_dar(tmp_path)
    done = link.shell(CODE)
    log = (tmp_path / "dar.log").read_text() if (tmp_path / "dar.log").exists() else ""
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, f"{done.stdout}\n{done.stderr}\n{log}"
    result = json.loads(lines[-1].removeprefix("RESULT "))

    # a fresh DAR takes the captured CGA-signed BU, and drops the BU under the old PHKT
    assert result["first"] == [["BU", None], ["BA", 0], ["BU", None]], result
    assert result["first_accepted"]
    # holding the binding now, it refuses the replay: 135 with the last accepted number
    assert result["again"][:2] == [["BU", None], ["BA", 135]], result
    assert not result["again_accepted"] and "16981" in result["again_seq"]
    # re-signed: a fresh key and HoA at the DAR, CoAs routed back here, the PHKT it returned
    assert result["fresh"] == [["BU", None], ["BA", 0], ["BU", None], ["BA", 0]], result
    assert result["fresh_same"]
    assert "2001:db8:1:" in result["fresh_lines"][0]  # the new HoA lies in the DAR's prefix
    assert "with the PHKT" in result["fresh_lines"][2]
    assert "reproduced: same (type, status) sequence" in done.stdout
    # the tester holds only a link-local address: Scapy's routing has no say in the frames
    assert "No route found" not in done.stdout + done.stderr, done.stdout + done.stderr
