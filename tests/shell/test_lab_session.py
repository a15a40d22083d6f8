"""fama-shell --lab for real (root): a 2-DAR lab up, a handover, the tables and chart from the
roles' logs, a crafted BU from the tester on dar1's bridge, the refusals, and the command line.

The lab uses fixed names (``fama-lab-*``), so these tests skip when a lab is already up; the
lab comes up once for the module (its state in a folder of the test run's) and always goes
down at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fama_shell import labsession
from fama_shell.base import Unsupported
from fama_shell.labsession import LabSession

from scapy_fama.craft import first_bu
from scapy_fama.crypto import KeyPair, cga_generate
from scapy_fama.lab import control, links, state
from scapy_fama.lab.links import in_namespace
from scapy_fama.lab.topology import namespace

pytestmark = pytest.mark.netns
TESTER = "2001:db8:1::ee"  # the tester's address on dar1's link (fama_shell.labtester)


def _unusable() -> str | None:
    if os.geteuid() != 0:
        return "needs root for network namespaces"
    if shutil.which("ip") is None or shutil.which("nft") is None:
        return "needs ip (iproute2) and nft (nftables)"
    if links.lab_namespaces():
        return "a lab is already up (fama-lab-* namespaces): the lab's names are fixed"
    return None


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabSession]:
    why = _unusable()
    if why:
        pytest.skip(why)
    old = os.environ.get("FAMA_LAB_DIR")
    os.environ["FAMA_LAB_DIR"] = str(tmp_path_factory.mktemp("fama-lab"))
    session = None
    try:
        control.up(2, 0.0, 0.0, False, lambda _: None)
        session = LabSession.open()
        yield session
    finally:
        if session is not None:
            session.close()
        state.down()
        if old is None:
            del os.environ["FAMA_LAB_DIR"]
        else:
            os.environ["FAMA_LAB_DIR"] = old


def test_a_handover_binds_the_first_address_at_dar1(lab: LabSession) -> None:
    first = lab.addrs("mn").rows[0].address
    chart = lab.handover("mn", "dar2")
    assert "still no answer" not in chart.title, str(chart)
    assert ("BA", 0) in chart.sequence(), str(chart)
    table = lab.addrs("mn")
    anchors = {r.address: (r.anchor, r.role) for r in table.rows}
    second = next(a for a, (anchor, _) in anchors.items() if anchor == "dar2")
    assert anchors == {first: ("dar1", "kept"), second: ("dar2", "current (native)")}, str(table)
    binding = lab.bc("dar1").binding(first)
    assert binding is not None and binding.coa == second, str(lab.bc("dar1"))
    bus = [r for r in lab.msc().messages("BU") if (r.src, r.dst) == ("mn", "dar1")]
    bas = [r for r in lab.msc().messages("BA") if (r.src, r.dst, r.status) == ("dar1", "mn", 0)]
    assert bus and bas, str(lab.msc())
    assert lab.bul("mn").entry(first).state == "bound"  # type: ignore[union-attr]
    assert lab.topo().where("mn") == "dar2"
    moved = lab.latency("mn").handovers[-1]  # the MN's log, step by step from the link-up
    seen = {(s["what"], s["dar"]) for s in moved["steps"]}
    assert {("link-down", None), ("link-up", None), ("RA", None), ("BU", "2001:db8:1::1"), ("BA", "2001:db8:1::1")} <= seen, moved
    assert moved["origin"] == "link-up" and moved["to_last_ba_ms"] > 0, moved


def test_a_crafted_bu_from_the_tester_gets_ba_132(lab: LabSession) -> None:
    key = KeyPair.generate(1024)
    hoa = cga_generate("2001:db8:3::/64", key, sec=0)  # a prefix dar1 does not serve
    bu = first_bu(TESTER, hoa.address, "2001:db8:1::1", 1, 60, key, hoa.params)
    sent = lab.send_to("dar1", bu)
    assert sent.replies and sent.replies[0].src == "2001:db8:1::1", str(sent)
    assert ("BA", 132) in sent.chart.sequence(), str(sent)  # type: ignore[union-attr]


def test_breakpoints_are_refused_in_one_line(lab: LabSession) -> None:
    for command in (lab.brk, lab.held, lab.release, lab.drop):
        with pytest.raises(Unsupported, match="cannot stop the lab's packets") as refused:
            command()
        assert "\n" not in str(refused.value)
    with pytest.raises(ValueError, match="unknown node 'dar9'"):
        lab.bc("dar9")


def test_fama_shell_lab_on_the_command_line(lab: LabSession) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fama_shell.cli", "--lab", "-c", "print(topo()); print(latency(mn)); brk('BU')"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert "dar1" in done.stdout and "2001:db8:2::/64" in done.stdout, done.stdout + done.stderr
    assert "mn, attachment 2" in done.stdout, done.stdout  # latency(mn): the handover to dar2
    assert done.returncode == 1  # the refusal is an error line, the session went on to the end
    assert done.stderr.count("\n") == 1 and "brk() cannot stop the lab's packets" in done.stderr
    assert Path(os.environ["FAMA_LAB_DIR"], "logs", "mn.json").is_file()


def _acked(port: int) -> int:
    """Bytes the CN's kernel has seen acknowledged on its connection to ``port`` (ss -ti)."""
    shown = subprocess.run(in_namespace(namespace("cn"), ["ss", "-tinH", f"dport = :{port}"]),
                           capture_output=True, text=True, check=False).stdout  # fmt: skip
    found = [int(word.split(":")[1]) for word in shown.split() if word.startswith("bytes_acked:")]
    return found[0] if found else 0


def test_two_tcp_flows_to_one_address_each_carry_their_own_stream(
    lab: LabSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every TCP flow bound port 5001, so a second one to the same address had no sink of its own;
    now each running flow has a port, each sink gets its source's bytes (SHA-256), and the
    flows running at once are bounded."""
    flows = [lab.flow("cn", "mn", "tcp"), lab.flow("cn", "mn", "tcp")]
    try:
        assert [f.port for f in flows] == [labsession.TCP_PORT, labsession.TCP_PORT + 1]
        deadline = time.monotonic() + 30.0
        while not all(_acked(f.port) > 0 for f in flows if f.port is not None):
            assert time.monotonic() < deadline, "no data acknowledged on both flows within 30 s"
            time.sleep(0.1)
        monkeypatch.setattr(labsession, "FLOWS", 2)
        with pytest.raises(ValueError, match="2 flows run already"):
            lab.flow("cn", "mn", "ping")
    finally:
        for flow in flows:
            flow.stop(lab.now)
    for flow in flows:
        assert flow.result is not None
        source, sink = flow.result["results"]
        assert source["bytes"] > 0 and (sink["bytes"], sink["sha256"]) == (source["bytes"], source["sha256"]), flow.result
    assert "tcp :5002, stopped" in str(lab.flows())
