"""The lab's plumbing for real (root): the topology routes, a handover moves the MN's bridge,
a capture is read by fama-analyze, a second ``up`` is refused, and ``down`` leaves nothing behind,
also after a crash (namespaces and processes, no record)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from scapy.layers.inet import UDP
from scapy.utils import rdpcap

from scapy_fama.lab import apps, capture, control, links, roles
from scapy_fama.lab.emulation import Emulation
from scapy_fama.lab.state import LabState
from scapy_fama.lab.topology import MN_PORT, Topology, bridge, namespace, upstream_address, upstream_iface

pytestmark = pytest.mark.netns
TOPOLOGY = Topology(3)
Lab = Callable[..., subprocess.CompletedProcess[str]]  # the fama_lab fixture


def _root_links() -> set[str]:
    shown = links.run("ip", "-o", "link", "show")
    return {line.split(": ")[1].split("@")[0] for line in shown.splitlines()}


def _ping(node: str, address: str, seconds: float = 0.5) -> list[list[object]]:
    pinger = apps.start(namespace(node), "ping", "--to", address, "--interval", "0.05")
    time.sleep(seconds)
    return apps.finish(pinger, stop=True)["echoes"]


def test_the_core_routes_between_the_cn_and_every_dar(lab_dir: Path) -> None:
    links.build(TOPOLOGY)
    assert sorted(links.lab_namespaces()) == sorted(TOPOLOGY.namespaces)
    for i in TOPOLOGY.dar_numbers:
        echoes = _ping("cn", upstream_address(i, dar_side=True))
        assert echoes and all(rtt is not None for _, _, rtt in echoes), (i, echoes)
    forwarding = links.run(*links.in_namespace(namespace("mn"), ["sysctl", "-n", "net.ipv6.conf.all.forwarding"]))
    assert forwarding.strip() == "0"


def test_a_handover_moves_the_mn_port_to_the_dar_bridge(lab_dir: Path) -> None:
    links.build(TOPOLOGY)
    assert links.attached_bridge() == bridge(1)
    links.move_mn(bridge(3))
    assert links.attached_bridge() == bridge(3)
    brief = links.ip(namespace("sw"), "-o", "link", "show", "master", bridge(1))
    assert "fama-sw-mn" not in brief and "fama-sw-d1" in brief


@pytest.mark.parametrize("where", ["pause", "ip down"])
def test_a_handover_interrupted_leaves_the_port_up_and_the_record_on_its_bridge(
    lab_dir: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """A Ctrl-C while the port was down (fama-lab handover, the demo) left it down, the MN cut
    off, and the record on the old DAR: "handover 1" then said "already attached to DAR 1".
    It lands in the move's pause, or just after ``ip link set ... down`` ran (in the wait for
    the command: subprocess's wait sleeps)."""
    links.build(TOPOLOGY)
    lab = LabState(TOPOLOGY.dars, Emulation("none", 0.0, 0.0), secure=False)
    lab.save()
    ip = links.ip

    # each puts back only what it patched: undo() also took back lab_dir's FAMA_LAB_DIR, and
    # the handover then recorded its move in /run/fama-lab
    def pause(seconds: float) -> None:
        monkeypatch.setattr(links, "time", time)
        raise KeyboardInterrupt

    def ip_down(ns: str, *argv: str) -> str:
        out = ip(ns, *argv)
        if argv[-1:] == ("down",):
            monkeypatch.setattr(links, "ip", ip)
            raise KeyboardInterrupt
        return out

    if where == "pause":  # links' own sleep only: subprocess sleeps too, in its wait
        monkeypatch.setattr(links, "time", SimpleNamespace(time=time.time, sleep=pause))
    else:
        monkeypatch.setattr(links, "ip", ip_down)
    with pytest.raises(KeyboardInterrupt):
        control.handover(lab, 2)
    port = links.ip(namespace("sw"), "-o", "link", "show", MN_PORT)
    moved = 2 if where == "pause" else 1  # the new master was set, or not yet
    assert "UP" in port.split("<")[1].split(">")[0].split(",") and links.attached_bridge() == bridge(moved), port
    recorded = LabState.load()
    assert recorded is not None and recorded.attached == moved
    back = 3 - moved
    assert control.handover(recorded, back).left == moved and links.attached_bridge() == bridge(back)


def test_down_after_a_crash_leaves_no_namespace_link_or_process(lab_dir: Path, fama_lab: Lab) -> None:
    before = _root_links()
    links.build(TOPOLOGY)  # no record: as if up had crashed half way
    sleeper = subprocess.Popen(links.in_namespace(namespace("mn"), ["sleep", "600"]), start_new_session=True)
    assert roles.alive(sleeper.pid)
    done = fama_lab("down")
    assert done.returncode == 0, done.stderr
    assert "removed" in done.stdout
    assert links.lab_namespaces() == []
    sleeper.wait(5)  # it was killed (a zombie of this test until reaped)
    assert _root_links() == before
    assert not set(TOPOLOGY.interfaces()) & _root_links()
    again = fama_lab("down")
    assert (again.returncode, again.stdout.strip()) == (0, "no lab namespaces: nothing to remove")


def test_a_second_up_is_one_line(lab_dir: Path, fama_lab: Lab) -> None:
    links.build(TOPOLOGY)
    done = fama_lab("up")
    assert done.returncode == 2
    assert done.stderr.startswith("fama-lab: error: a lab is already up (") and done.stderr.count("\n") == 1
    assert sorted(links.lab_namespaces()) == sorted(TOPOLOGY.namespaces)  # nothing was touched


def test_commands_without_a_lab_are_one_line(lab_dir: Path, fama_lab: Lab) -> None:
    for command in (["status"], ["handover", "2"], ["exec", "mn", "--", "true"], ["demo"]):
        done = fama_lab(*command)
        assert (done.returncode, done.stderr) == (2, "fama-lab: error: no lab is up: run fama-lab up\n"), command


def test_a_demo_whose_report_cannot_be_written_is_refused_before_it_runs(lab_dir: Path, fama_lab: Lab) -> None:
    """The path was tried after the 20 s demo: its JSON was lost, exit 2 after the run."""
    done = fama_lab("demo", "--json", "/nonexistent/demo.json")
    assert (done.returncode, done.stderr) == (2, "fama-lab: error: --json /nonexistent/demo.json: "
                                                 "no such directory /nonexistent\n")  # fmt: skip


def test_a_capture_on_an_interface_the_node_lacks_is_refused(lab_dir: Path) -> None:
    """tcpdump gave up at once, its stderr closed before it could be seen to exit, and
    fama-lab capture said "capturing" and exited 0 with no file."""
    links.build(TOPOLOGY)
    pcap = lab_dir / "none.pcap"
    for _ in range(20):  # it lost the race about one time in four
        with pytest.raises(links.LabError, match="capture on nonexist0 in fama-lab-dar2 did not start: "):
            capture.start(namespace("dar2"), "nonexist0", pcap)
    assert not pcap.exists()


def test_a_capture_on_a_dar_core_side_is_read_by_fama_analyze(lab_dir: Path) -> None:
    links.build(TOPOLOGY)
    pcap = lab_dir / "dar2.pcap"
    watcher = capture.start(namespace("dar2"), upstream_iface(2), pcap)
    echoes = _ping("cn", upstream_address(2, dar_side=True), seconds=0.3)
    capture.stop(watcher)
    analysed = subprocess.run([sys.executable, "-m", "scapy_fama.cli.analyze", str(pcap), "--json"],
                              capture_output=True, text=True, check=False)  # fmt: skip
    assert analysed.returncode == 0, analysed.stderr
    totals = json.loads(analysed.stdout)["totals"]
    assert totals["frames"] >= 2 * len(echoes), totals  # each echo and its reply


_BURST = """
import socket, sys, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
for n in range(int(sys.argv[2])):
    s.sendto(n.to_bytes(2, "big"), (sys.argv[1], 9))
    time.sleep(0.002)
"""


@pytest.mark.parametrize("tool", [capture.tool()])
def test_a_capture_stopped_right_after_traffic_holds_all_of_it(lab_dir: Path, tool: str) -> None:
    """Stopped a few milliseconds after the last packet, the file holds every one (tcpdump
    without --immediate-mode kept packets in its ring until a block timed out, a second, and
    lost up to all of them at SIGTERM)."""
    links.build(TOPOLOGY)
    pcap = lab_dir / "burst.pcap"
    watcher = capture.start(namespace("dar2"), upstream_iface(2), pcap)
    sent = 50
    links.run(*links.in_namespace(namespace("cn"), [sys.executable, "-c", _BURST,
                                                    upstream_address(2, dar_side=True), str(sent)]))  # fmt: skip
    capture.stop(watcher)
    got = [bytes(f[UDP].payload) for f in rdpcap(str(pcap)) if UDP in f and f[UDP].dport == 9]
    assert got == [n.to_bytes(2, "big") for n in range(sent)], tool
