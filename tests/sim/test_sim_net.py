"""SimNet's own machinery: routing, the clock, links, faults, restarts, the object carrier's spans,
event labels, and the errors a user meets when building a topology wrongly."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
from sim_world import CN, DELAY, bus_to, world

from scapy_fama.craft import first_bu
from scapy_fama.crypto import KeyPair
from scapy_fama.net import sim
from scapy_fama.net.sim import SimNet
from scapy_fama.net.sim_carry import ObjectCarrier
from scapy_fama.net.sim_clock import Scheduler
from scapy_fama.net.sim_events import Change, Undelivered, fingerprint
from scapy_fama.proto import DarCore
from scapy_fama.proto.effects import Drop, Effects, Send
from scapy_fama.proto.messages import BindingAck, BindingUpdate, Datagram, Message, describe


def test_native_path_and_delays(mn_key: KeyPair) -> None:
    w = world(mn_key)
    net, dar1, mn, cn = w.net, w.dars[0], w.mn, w.cn
    net.link(dar1).delay = 0.02
    net.link("backbone").delay = 0.001
    hoa1 = w.visit(1)
    flow = net.flow(cn, mn, interval=1.0)
    net.run(0.5)
    down = [(h.link, h.src, h.dst, round(h.arrival - h.time, 6)) for h in net.hops(Datagram)]
    assert down == [
        ("backbone", "cn", "dar1", 0.001),
        ("dar1", "mn", "dar1", 0.02),
        ("dar1", "dar1", "mn", 0.02),
        ("backbone", "dar1", "cn", 0.001),
    ]
    assert flow.down.received == {0: pytest.approx(flow.down.sent[0] + 0.021)}
    assert [h.msg.hlim for h in net.hops(Datagram, src=dar1)] == [63, 63]  # a router's hop
    assert (
        net.hops(Datagram, src=dar1)[0].forwarded and net.hops(Datagram, dst=mn)[0].msg.dst == hoa1
    )


def test_clock_runs_steps_and_waits(mn_key: KeyPair) -> None:
    net = SimNet()
    seen: list[float] = []
    net.at(2.0, lambda: seen.append(net.now))
    net.after(1.0, lambda: seen.append(net.now))
    assert net.step() and seen == [1.0] and net.now == 1.0
    net.run(0.5)
    assert net.now == 1.5 and seen == [1.0]
    assert net.run_until(lambda: len(seen) == 2) and net.now == 2.0
    assert not net.run_until(lambda: False, timeout=3.0) and net.now == 5.0
    assert not net.step()  # nothing scheduled: no DAR, no flow

    clock = Scheduler()
    order: list[int] = []
    clock.at(1.0, lambda: order.append(1))
    clock.at(1.0, lambda: order.append(2))  # same time: scheduling order
    clock.at(0.5, lambda: clock.at(0.0, lambda: order.append(0)))  # the past means now
    clock.run(1.0)
    assert order == [0, 1, 2] and clock.steps == 4


def test_undeliverable_messages_are_logged(mn_key: KeyPair) -> None:
    w = world(mn_key)
    net, mn, cn = w.net, w.mn, w.cn
    hoa1 = w.visit(1)
    net.inject(cn, Datagram(CN, "2001:db8:77::1", 1, 1, b"x"))  # no DAR owns that prefix
    net.inject(cn, Datagram(CN, "2001:db8:1::99", 1, 1, b"x"))  # nobody on DAR1's link has it
    net.run(0.1)
    net.inject(cn, Datagram(CN, hoa1, 1, 1, b"late"))
    net.run(DELAY)  # at DAR1 now, on the access link next ...
    net.detach(mn)  # ... which the MN leaves before it arrives
    net.inject(mn, Datagram(hoa1, CN, 1, 1, b"x"))
    net.run(1)
    reasons = [e.reason.split(":")[0] for e in net.events if isinstance(e, Undelivered)]
    assert reasons == ["no-route", "no-neighbour", "detached", "left-link"]
    assert [e.what for e in net.events if isinstance(e, Change)] == ["link-up", "link-down"]


def test_handover_gap_and_faults(mn_key: KeyPair) -> None:
    w = world(mn_key)
    net, dar1, dar2, mn = w.net, w.dars[0], w.dars[1], w.mn
    w.visit(1)
    net.flow(w.cn, mn)
    t = net.now
    net.lose(lambda msg: isinstance(msg, BindingUpdate) and msg.dst == dar1.address, count=1)
    net.handover(mn, dar2, gap=0.5)
    assert mn.link is None
    net.run(4)
    ups = [e.time for e in net.events if isinstance(e, Change) and e.what == "link-up"]
    assert ups[-1] == pytest.approx(t + 0.5)
    lost = net.hops(BindingUpdate, lost=True)
    assert [h.lost for h in lost] == ["fault"] and len(bus_to(net, dar1)) == 1


def test_restart_gives_a_fresh_core(mn_key: KeyPair) -> None:
    net = SimNet()
    dar = net.add_dar("dar", "2001:db8:5::/64")
    old = dar.core
    net.run(1)
    net.restart(dar)
    assert dar.core is not old and isinstance(dar.core, DarCore)
    assert (dar.address, dar.prefix) == ("2001:db8:5::1", "2001:db8:5::/64")
    assert net.events == [Change(1.0, "dar", "restart")]  # RAs to an empty link log nothing


def test_building_errors() -> None:
    net = SimNet()
    dar = net.add_dar("dar1", "2001:db8:1::/64", address="2001:db8:1::a")
    assert dar.address == "2001:db8:1::a" and net.node("dar1") is dar and "dar1" in net.nodes
    with pytest.raises(ValueError, match="taken"):
        net.add_dar("dar1", "2001:db8:2::/64")
    with pytest.raises(ValueError, match="already owns"):
        net.add_dar("dar2", "2001:db8:1::/64")
    with pytest.raises(ValueError, match="taken"):
        net.add_cn("backbone", CN)
    with pytest.raises(ValueError, match="cannot be on the backbone"):
        net.add_cn("cn", "2001:db8:1::5")
    with pytest.raises(ValueError, match="cannot be on dar1's access link"):
        net.add_cn("eve", CN, on=dar)
    with pytest.raises(TypeError, match="not a DAR"):
        net.link(net.add_cn("cn", CN).name)
    mn = net.add_mn("mn", config=None)  # a fresh key
    with pytest.raises(ValueError, match="no address"):
        net.flow(net.node("cn"), mn)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not attached"):
        net.detach(mn)
    net.attach(mn, dar)
    with pytest.raises(ValueError, match="handover"):
        net.attach(mn, dar)


class SpinningCore:
    """A core whose deadline never moves past now: a bug SimNet must report, not loop on."""

    def next_deadline(self) -> float | None:
        return 0.0

    def on_timer(self, now: float) -> Effects:
        return []

    def on_message(self, msg: Message, now: float) -> Effects:
        return [Drop(msg, "spin")]


def test_a_core_that_never_moves_its_deadline_is_reported() -> None:
    net = SimNet()
    cn = net.add_cn("cn", CN)
    eve = net.add_cn("eve", "2001:db8:ee::1")
    cn.core = SpinningCore()  # type: ignore[assignment]
    net.inject(eve, Datagram(eve.address, CN, 1, 1, b""))
    with pytest.raises(RuntimeError, match="keeps its deadline"):
        net.run(1)


def test_object_carrier_spans_cover_the_fields(mn_key: KeyPair, dar_key: KeyPair) -> None:
    """A field changed in flight breaks the signature (148) or the BAD (silent drop)."""
    w = world(mn_key)
    w.visit(1)
    w.net.flow(w.cn, w.mn)
    w.visit(2)
    w.visit(3)
    first, second = bus_to(w.net, w.dars[0])
    dar = DarCore(w.dars[0].address, w.dars[0].prefix, rand=bytes)
    carrier = ObjectCarrier()
    tampered, _ = carrier.carry(replace(first, lifetime=first.lifetime - 4))
    (ba,) = [e.msg for e in dar.on_message(tampered, 100.0) if isinstance(e, Send)]
    assert isinstance(ba, BindingAck) and ba.status == 148
    genuine, _ = carrier.carry(first)
    assert [e.msg.status for e in dar.on_message(genuine, 100.0) if isinstance(e, Send)] == [0]
    tampered, _ = carrier.carry(replace(second, lifetime=8))
    assert [e.code for e in dar.on_message(tampered, 100.0)] == ["bad-authenticator"]


def test_labels_and_fingerprints(mn_key: KeyPair) -> None:
    w = world(mn_key)
    w.visit(1)
    w.net.flow(w.cn, w.mn)
    w.visit(2)
    labels = {describe(h.msg).split(" ")[0] for h in w.net.hops()}
    assert labels == {"RS", "RA", "BU", "BA", "UDP", "IPv6-in-IPv6"}
    (bu,) = bus_to(w.net, w.dars[0])
    assert describe(bu).endswith("[cga sig]") and f"hoa={bu.hoa}" in describe(bu)
    (hop,) = w.net.hops(BindingAck, src=w.dars[0])
    assert describe(hop.msg).startswith("BA status=0") and "[phkt bad]" in describe(hop.msg)
    other = replace(hop, msg=replace(hop.msg, phkt_ciphertext=b"other", bad=b"x" * 12))
    assert fingerprint(other) == fingerprint(hop)  # ciphertext and BAD: presence only
    assert fingerprint(replace(hop, msg=replace(hop.msg, seq=1))) != fingerprint(hop)
    assert "down cn -> mn" in str(w.net.flows[0]) and "binding cache" in w.net.report()


def test_the_docstring_example_runs_as_a_script(tmp_path: Path) -> None:
    example = textwrap.dedent((sim.__doc__ or "").rsplit("::\n", 1)[1])
    script = tmp_path / "example.py"
    script.write_text(example)
    out = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.count("flow cn <-> mn") == 2 and "binding cache" in out.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "backbone.pcap",
        "dar1.pcap",
        "dar2.pcap",
        "dar3.pcap",
    ]


@pytest.mark.parametrize("wire", [False, True])
def test_injected_bytes_travel_as_they_are(mn_key: KeyPair, wire: bool) -> None:
    """A BU crafted as bytes elsewhere (scapy_fama.craft) keeps its own signed span."""
    w = world(mn_key, wire=wire)
    hoa1 = w.visit(1)
    record = w.mn.core.record(hoa1)
    assert record is not None
    w.net.detach(w.mn)  # the MN is gone; someone with its key registers HoA1 elsewhere
    coa = "2001:db8:ee::5"
    eve = w.net.add_cn("eve", coa)
    dar1 = w.dars[0]
    w.net.inject(eve, first_bu(coa, hoa1, dar1.address, 7, 400, mn_key, record.cga.params))
    w.net.run(1)
    assert [(b.hoa, b.coa) for b in dar1.bindings()] == [(hoa1, coa)]
    (hop,) = w.net.hops(BindingAck, dst=eve)
    assert (hop.msg.status, hop.msg.seq) == (0, 7)
