"""UDP super-packets through an old DAR's tunnel (root, the roles' kernel mode): a CN whose kernel
sends UDP with segmentation offload (``UDP_SEGMENT``, as QUIC servers do) to the HoA at DAR 1
while the MN is at DAR 2; every datagram arrives whole, as the sender cut it, at a socket on
the HoA in the MN's namespace. (On this kernel, 6.18, DAR 1 receives the 12,000-byte
super-packets whole and its kernel cuts them as it encapsulates: captures on its upstream
link and on the MN's show UDP length 12000 and IPv6-in-IPv6 carrying 1200; 2026-12-06.)"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import udp_gso

from scapy_fama.lab import roles

pytestmark = [pytest.mark.netns, pytest.mark.slow]
LAB = [sys.executable, "-m", "scapy_fama.cli.lab"]
HELPER = str(Path(udp_gso.__file__).resolve())
PORT = 9999
WAIT = 30.0
Lab = Callable[..., subprocess.CompletedProcess[str]]  # the lab_up fixture


def _until(found: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not found():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_udp_super_packets_reach_the_hoa_whole_through_the_old_dar(lab_up: Lab, lab_dir: Path) -> None:
    hoa = json.loads(lab_up("status", "--json").stdout)["mn_addresses"][0]
    assert lab_up("handover", "dar2").returncode == 0
    # the tunnel is up at both ends: the MN's core says so, DAR 1's kernel routes the HoA into it
    _until(lambda: any(r["kind"] == "tunnel-up" and r.get("hoa") == hoa and r.get("dst") == "2001:db8:1::1"
                       for r in roles.records(lab_dir / "logs", "mn")), "the MN's tunnel to DAR 1")  # fmt: skip
    _until(lambda: "encap bpf" in lab_up("exec", "dar1", "--", "ip", "-6", "route", "show", hoa).stdout,
           "DAR 1's route of the HoA into its tunnel")  # fmt: skip

    receiver = subprocess.Popen([*LAB, "exec", "mn", "--", sys.executable, HELPER, "recv", hoa, str(PORT)],
                                stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert receiver.stdout is not None and receiver.stdout.readline().strip() == "ready"
    sent = lab_up("exec", "cn", "--", sys.executable, HELPER, "send", hoa, str(PORT))
    assert sent.returncode == 0, sent.stderr
    out, _ = receiver.communicate(timeout=WAIT + udp_gso.QUIET)
    datagrams = json.loads(out.splitlines()[-1])["datagrams"]
    assert Counter(map(tuple, datagrams)) == {(n, udp_gso.SEGMENT): udp_gso.SEGMENTS for n in range(udp_gso.WRITES)}
