"""One journey (DAR1 -> DAR2 -> DAR3 -> DAR1 with two flows and a refresh) run through real
bytes (``wire=True``) and as objects: the same event sequence; the pcaps read cleanly in tshark
and show the signalling of the event log. The same seed gives the same events (with loss)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from sim_world import world

from scapy_fama.crypto import KeyPair
from scapy_fama.net.sim import SimNet
from scapy_fama.net.sim_events import Hop, fingerprint
from scapy_fama.proto.messages import BindingAck, BindingUpdate
from tests.corpus import tshark_env

TSHARK = shutil.which("tshark")
PI_WARN = 0x00600000  # tshark expert severity: warnings and errors mean a bad packet


def journey(key: KeyPair, *, wire: bool, seed: int = 1, loss: float = 0.0) -> SimNet:
    w = world(key, seed=seed, wire=wire, loss=loss, binding_lifetime=40)
    settle = 10.0  # long enough for a lost RS to be sent again
    w.visit(1, settle)
    flow1 = w.net.flow(w.cn, w.mn, interval=0.5)
    w.visit(2, settle)
    flow2 = w.net.flow(w.cn, w.mn, interval=0.5)
    w.visit(3, settle)
    w.visit(1, settle=40.0)  # de-registration from home, HoA2 kept and refreshed
    flow1.stop()
    flow2.stop()
    w.net.run(2)
    return w.net


@pytest.fixture(scope="module")
def both(mn_key: KeyPair) -> tuple[SimNet, SimNet]:
    return journey(mn_key, wire=False), journey(mn_key, wire=True)


def test_wire_true_gives_the_same_events(both: tuple[SimNet, SimNet]) -> None:
    objects, wire = both
    assert len(objects.events) == len(wire.events) > 500
    for a, b in zip(objects.events, wire.events, strict=True):
        assert fingerprint(a) == fingerprint(b)
    assert [f.down.received for f in objects.flows] == [f.down.received for f in wire.flows]
    # the wire run really went through bytes: every link has captures, the object run none
    assert all(link.captures for link in wire.links())
    assert not any(link.captures for link in objects.links())


def test_pcaps_need_wire(both: tuple[SimNet, SimNet], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="wire=True"):
        both[0].pcaps(tmp_path)


def tshark(pcap: Path, *args: str) -> list[list[str]]:
    assert TSHARK is not None
    out = subprocess.run(
        [TSHARK, "-r", str(pcap), *args], capture_output=True, text=True, timeout=120, check=True, env=tshark_env()
    )
    complaints = [line for line in out.stderr.splitlines() if not line.startswith("Running as")]
    assert complaints == []  # nothing but tshark's note about running as root
    return [line.split("\t") for line in out.stdout.splitlines()]


@pytest.mark.tshark
@pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (make tshark)")
def test_pcaps_read_cleanly_in_tshark(both: tuple[SimNet, SimNet], tmp_path: Path) -> None:
    net = both[1]
    paths = net.pcaps(tmp_path)
    assert sorted(paths) == ["backbone", "dar1", "dar2", "dar3"]
    for link in net.links():
        pcap = paths[link.name]
        frames = tshark(pcap, "-T", "fields", "-e", "frame.number")
        assert len(frames) == len(link.captures)
        assert tshark(pcap, "-Y", f"_ws.malformed or _ws.expert.severity >= {PI_WARN}") == []
        # the signalling tshark reads is the signalling the event log shows on that link
        seen = tshark(
            pcap,
            "-Y", "mip6.mhtype == 5 or mip6.mhtype == 6",
            "-T", "fields",
            "-e", "mip6.mhtype", "-e", "mip6.bu.seqnr", "-e", "mip6.ba.seqnr",
            "-e", "mip6.ba.status",
        )  # fmt: skip
        logged = [
            ["5", str(h.msg.seq), "", ""]
            if isinstance(h.msg, BindingUpdate)
            else ["6", "", str(h.msg.seq), str(h.msg.status)]
            for h in net.hops((BindingUpdate, BindingAck), link=link.name, lost=None)
        ]
        assert seen == logged and (logged or link.name == "dar3")


def test_same_seed_same_events_other_seed_other_losses(mn_key: KeyPair) -> None:
    first = journey(mn_key, wire=False, seed=11, loss=0.05)
    again = journey(mn_key, wire=False, seed=11, loss=0.05)
    other = journey(mn_key, wire=False, seed=12, loss=0.05)
    assert [fingerprint(e) for e in first.events] == [fingerprint(e) for e in again.events]
    assert any(isinstance(e, Hop) and e.lost == "loss" for e in first.events)

    def losses(net: SimNet) -> list[tuple[float, str, str]]:
        return [(e.time, e.src, e.dst) for e in net.hops(lost=True)]

    assert losses(first) != losses(other)
