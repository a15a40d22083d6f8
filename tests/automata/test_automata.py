"""The DAR and MN automata on memlinks: handover, tunnel, life cycle, graph, interception, ND."""

from __future__ import annotations

import itertools
import re
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from memnet import CN, DAR1, WAIT, Net, receive
from scapy.automaton import Timer, _TimerList
from scapy.config import conf
from scapy.layers.inet import UDP
from scapy.layers.inet6 import (
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptSrcLLAddr,
    ICMPv6ParamProblem,
    IPv6,
)
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from scapy_fama.automata import DarAutomaton, FamaAutomaton, LogSink, MnAutomaton, base, log
from scapy_fama.automata.base import SOONEST, TICK, _Tick
from scapy_fama.automata.nd import group_mac, solicitation
from scapy_fama.codec import decode
from scapy_fama.net.memlink import MemLink
from scapy_fama.proto import DarCore
from scapy_fama.layers import BU
from scapy_fama.proto.messages import BindingUpdate


def handover(net: Net) -> tuple[str, str]:
    """Leave home for link2 and wait for BOUND; returns the HoA and the CoA."""
    hoa = net.leave_home()
    assert net.mn.wait_for("BOUND", WAIT), net.mn.history
    coa = net.mn.core.current_address
    assert coa is not None and coa != hoa
    return hoa, coa


def test_handover_registers_with_a_phkt_and_tunnels_data_both_ways(net: Net) -> None:
    hoa, coa = handover(net)
    log = net.log
    first_bu = log.find(node="dar1", dir="in", kind="BU")[0]
    assert (first_bu["src"], first_bu["hoa"], first_bu["cga"], first_bu["bad"]) == (coa, hoa, True, False)
    assert log.find(node="dar2", dir="fwd", kind="BU")  # DAR2 routed it upstream
    ba = log.find(node="mn", dir="in", kind="BA")[0]
    assert (ba["status"], ba["phkt"], ba["bad"], ba["hoa"]) == (0, True, True, hoa)
    assert log.find(node="mn", kind="phkt-stored") and log.find(node="dar1", kind="phkt-issued")
    assert net.dar1.wait_for("SERVING", WAIT)
    assert net.dar1.core.binding(hoa).coa == coa
    assert set(net.dar1.tunnels) == set(net.mn.tunnels) == {hoa}

    # CN -> HoA: DAR1 tunnels it to the CoA, DAR2 puts it on link2
    net.cn.send(IPv6(src=CN, dst=hoa) / UDP(sport=9, dport=7) / Raw(b"to the mn"))
    datagram = net.mn.received.get(timeout=WAIT)
    assert (datagram.src, datagram.dst, datagram.payload) == (CN, hoa, b"to the mn")
    assert log.find(node="dar1", dir="out", kind="TUN", dst=coa)
    # HoA -> CN: reverse-tunnelled to DAR1, which sends it on natively
    net.mn.send_data(hoa, CN, b"to the cn")
    back = receive(net.cn)
    assert back is not None and (back.src, back[Raw].load) == (hoa, b"to the cn")

    # home again: a PHKT-authorised de-registration from the HoA
    net.move(net.link1)
    assert net.dar1.wait_for("ADVERTISING", WAIT)
    assert net.mn.wait_for("ATTACHED", WAIT)
    dereg = log.find(node="dar1", dir="in", kind="BU")[-1]
    assert (dereg["src"], dereg["hoa"], dereg["lifetime"], dereg["cga"], dereg["bad"]) == (hoa, None, 0, False, True)
    assert log.find(node="mn", kind="binding-deregistered")
    assert net.mn.core.current_address == hoa and not net.mn.tunnels and not net.dar1.tunnels


@pytest.mark.parametrize("net", [7], indirect=True)
def test_the_udp_echo_service_answers_through_the_reverse_tunnel_and_natively(net: Net) -> None:
    hoa, coa = handover(net)
    for dst, sport, payload in ((hoa, 5000, b"via dar1"), (coa, 5001, b"native")):
        net.cn.send(IPv6(src=CN, dst=dst) / UDP(sport=sport, dport=7) / Raw(payload))
        back = receive(net.cn)
        assert back is not None
        assert (back.src, back.dst, back[UDP].sport, back[UDP].dport, back[Raw].load) == (
            dst, CN, 7, sport, payload
        )
    tunnelled = net.log.find(node="mn", dir="out", kind="TUN")
    assert [(t["src"], t["dst"]) for t in tunnelled] == [(coa, DAR1)]  # RFC 6275 §11.3.1
    assert net.log.find(node="dar1", dir="fwd", src=hoa, dst=CN)


def edges(automaton: type[FamaAutomaton]) -> set[tuple[str, str]]:
    return set(re.findall(r'"(\w+)" -> "(\w+)"', automaton.build_graph()))


def test_graph_names_every_life_cycle_state() -> None:
    mn_states = {"DETACHED", "SOLICITING", "TENTATIVE", "ATTACHED", "SIGNALLING", "BOUND", "LEAVING", "STOPPED"}
    for automaton, states in ((MnAutomaton, mn_states), (DarAutomaton, {"ADVERTISING", "SERVING", "STOPPED"})):
        dot = automaton.build_graph()
        assert dot.startswith("digraph") and set(automaton.states) == states
        assert all(f'"{state}"' in dot for state in states), dot
    assert ("SIGNALLING", "BOUND") in edges(MnAutomaton) and ("ADVERTISING", "SERVING") in edges(DarAutomaton)
    assert ("BOUND", "LEAVING") in edges(MnAutomaton) and not [e for e in edges(MnAutomaton) if e[0] == "LEAVING"]


def test_graph_without_graphviz_is_one_line_and_leaves_no_file(
    net: Net, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scapy logged a traceback, emptied the target file and raised a multi-line OSError."""
    monkeypatch.setattr(conf.prog, "dot", "fama-test-no-such-dot")
    target = tmp_path / "mn.svg"
    with pytest.raises(OSError) as raised:
        net.mn.graph(target=str(target))  # from the instance as from the class
    assert str(raised.value) == (
        "MnAutomaton.graph() needs GraphViz's fama-test-no-such-dot, not found on PATH: "
        "install graphviz or take the DOT text of MnAutomaton.build_graph()"
    )
    assert not target.exists()
    assert DarAutomaton.graph(string=True) == DarAutomaton.build_graph()  # needs no program


@pytest.mark.skipif(shutil.which("dot") is None, reason="GraphViz's dot is not installed")
def test_graph_draws_every_state_into_a_file(tmp_path: Path) -> None:
    target = tmp_path / "mn.svg"
    MnAutomaton.graph(target=str(target))
    svg = target.read_text()
    assert svg.lstrip().startswith("<?xml") and all(f">{state}<" in svg for state in MnAutomaton.states)


def test_a_stopped_automaton_says_it_does_not_run_again(net: Net) -> None:
    """Scapy's runbg() after stop() did nothing, and start() ran a thread on the closed sockets
    that died at once: both silent, the automaton STOPPED."""
    net.dar2.stop()
    for again in (net.dar2.runbg, net.dar2.start, net.dar2.restart):
        with pytest.raises(ValueError, match=r"^dar2 was stopped: stop\(\) closed its port, so it does not run again; make a new DarAutomaton"):
            again()
    assert net.dar2.state.state == "STOPPED" and not net.dar2.isrunning()


def test_every_transition_taken_is_an_edge_of_the_graph(net: Net) -> None:
    handover(net)
    net.move(net.link1)
    assert net.mn.wait_for("ATTACHED", WAIT)
    for automaton in (net.mn, net.dar1):
        taken = [state for _, state in automaton.history]
        assert set(itertools.pairwise(taken)) <= edges(type(automaton)), taken
    # optimistic DAD (profile §2 step 3): the address is usable at once, never TENTATIVE
    assert [s for _, s in net.mn.history][:3] == ["DETACHED", "SOLICITING", "ATTACHED"]


def test_a_dropped_bu_never_leaves_and_an_edited_one_is_refused(net: Net) -> None:
    net.mn.intercept("BU")
    hoa = net.leave_home()
    first = net.mn.next_held(WAIT)
    assert first is not None and first.kind == "BU" and first.msg.hoa == hoa
    net.mn.drop(first)
    second = net.mn.next_held(WAIT)  # the retransmission, 1.5 s later, with a new seq
    assert second is not None and second.msg.seq != first.msg.seq
    assert not net.log.find(node="dar1", kind="BU")  # the first one never left
    edited = second.packet.copy()
    edited[BU].mhtime = 1  # 4 s instead of a day: the signature no longer covers it
    del edited[BU].cksum
    net.mn.release(second, edited)
    assert net.log.wait(WAIT, node="mn", dir="in", kind="BA", status=148)
    assert net.log.wait(WAIT, node="mn", kind="address-lost")  # profile §7: no retry after 148
    assert net.dar1.core.binding(hoa) is None
    with pytest.raises(ValueError, match="not held"):
        net.mn.drop(second)


def test_a_ba_held_by_mh_type_goes_out_when_released(net: Net) -> None:
    net.dar1.intercept(6)
    net.leave_home()
    held = net.dar1.next_held(WAIT)
    assert held is not None and held.kind == "BA" and held.msg.status == 0
    assert net.mn.state.state == "SIGNALLING"
    net.dar1.release(held)
    assert net.mn.wait_for("BOUND", WAIT)


def test_a_message_held_by_another_node_is_not_released_here(net: Net) -> None:
    """Held numbers are per automaton: dar1.release() of the MN's held #1 took dar1's own held #1
    (a BA) off its table unsent and sent the MN's BU from dar1."""
    net.dar1.intercept("BA")
    net.mn.intercept("BU")
    net.leave_home()
    bu = net.mn.next_held(WAIT)
    assert bu is not None and bu.number == 1
    net.mn.release(bu)
    ba = net.dar1.next_held(WAIT)
    assert ba is not None and ba.number == 1 and ba.kind == "BA"
    with pytest.raises(ValueError, match=r"^message 1 is not held by dar1 \(released or dropped already, or another node's\)$"):
        net.dar1.release(bu)
    assert net.dar1.held[1] is ba and not net.log.find(node="dar1", dir="released")
    net.mn.unintercept("BU")  # later BUs (a retransmission, if any) and their BAs go through
    net.dar1.unintercept("BA")
    net.dar1.release(ba)
    assert net.mn.wait_for("BOUND", WAIT)


def test_a_scapy_breakpoint_stops_the_mn_before_bound(net: Net) -> None:
    net.mn.BOUND.breaks()
    net.leave_home()
    assert net.log.wait(WAIT, node="mn", kind="binding-registered")
    assert net.mn.wait_for("BOUND", WAIT) and net.mn.breakpointed == "BOUND"
    assert "BOUND" not in [s for _, s in net.mn.history]  # stopped before the state ran
    net.mn.BOUND.unbreaks()
    net.mn.runbg()
    assert net.log.wait(WAIT, node="mn", dir="state", kind="BOUND")


def test_a_call_at_a_scapy_breakpoint_is_withdrawn_and_says_why(
    net: Net, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The thread waits at the breakpoint, so it takes no call: close_flow() raised a bare
    TimeoutError after 5 s, and ran once the MN was resumed, releasing the address its caller
    had been told was not released."""
    monkeypatch.setattr(base, "COMMAND_TIMEOUT", 0.5)
    net.mn.SIGNALLING.breaks()
    hoa = net.leave_home()
    deadline = time.monotonic() + WAIT
    while net.mn.breakpointed != "SIGNALLING" and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(TimeoutError, match=r"^mn did not take the call within 0\.5 s: it waits at its breakpoint on SIGNALLING \(runbg\(\) resumes it\); it was withdrawn$"):
        net.mn.close_flow(hoa)
    net.mn.SIGNALLING.unbreaks()
    net.mn.runbg()
    assert net.mn.wait_for("BOUND", WAIT)
    net.mn.pin(hoa)  # a later call: the withdrawn one, ahead of it, would have run first
    record = net.mn.core.record(hoa)
    assert record is not None and not record.released and hoa in net.mn.tunnels
    assert not net.log.find(node="mn", kind="address-released")


def test_a_parameter_problem_does_not_derail_the_mn(net: Net) -> None:
    net.mn.intercept("BU")
    net.leave_home()
    held = net.mn.next_held(WAIT)
    assert held is not None
    # what a kernel without mip6 that owned DAR1's address would answer to that BU
    kernel = net.link2.port("kernel")
    complaint = IPv6(src=DAR1, dst=held.msg.src) / ICMPv6ParamProblem(code=1, ptr=6) / held.packet
    kernel.send(Ether(src=kernel.mac, dst=net.mn.mac) / complaint)
    dropped = net.log.wait(WAIT, node="mn", dir="drop", kind="??")
    assert dropped is not None and "Parameter Problem" in dropped["reason"]
    net.mn.unintercept("BU")
    net.mn.release(held)
    assert net.mn.wait_for("BOUND", WAIT)


def test_dar_answers_ns_for_itself_and_for_bound_hoas_only(net: Net) -> None:
    hoa, _ = handover(net)
    asker = net.link1.port("router")

    def answered(target: str) -> bool:
        ns = solicitation("fe80::fe", target, asker.mac)
        asker.send(ns)
        while (reply := receive(asker, 0.5)) is not None:
            if ICMPv6ND_NA in reply and reply[ICMPv6ND_NA].tgt == target:
                assert reply.dst == asker.mac and reply.src == net.dar1.mac
                return True
        return False

    assert answered(DAR1) and answered("fe80::1") and answered(hoa)
    assert not answered("2001:db8:1::77")


def test_the_mn_announces_its_new_coa_before_its_bus_and_the_dar_resolves_nothing(net: Net) -> None:
    """RFC 9131 §4.1: on link2 the MN's first frame from its new (optimistic) CoA is an
    unsolicited NA for it to all routers (hop limit 255, R=0 S=0 O=0: RFC 4429 §3.3, its MAC
    as the TLLA, RFC 4861 §4.4), before its BU; §4.2: DAR2 takes it, so the BA of DAR1 that it
    forwards to the CoA leaves without an NS for the CoA first (an opt-in, fama-dar
    --accept-untracked-na; without it the NA is ignored: test_adversarial_netns)."""
    net.dar2.untracked_na = True
    watcher = net.link2.port("watcher")
    hoa, coa = handover(net)
    frames = []
    while (frame := receive(watcher, 0)) is not None:
        frames.append(frame)
    from_coa = [f for f in frames if IPv6 in f and f[IPv6].src == coa]
    assert from_coa and ICMPv6ND_NA in from_coa[0], [f.summary() for f in from_coa]
    na = from_coa[0]
    assert (na.dst, na.src, na[IPv6].dst, na[IPv6].hlim) == ("33:33:00:00:00:02", net.mn.mac, "ff02::2", 255)
    assert (na[ICMPv6ND_NA].tgt, na[ICMPv6ND_NA].R, na[ICMPv6ND_NA].S, na[ICMPv6ND_NA].O) == (coa, 0, 0, 0)
    assert na[ICMPv6NDOptDstLLAddr].lladdr == net.mn.mac
    summed = na[IPv6].copy()
    del summed[ICMPv6ND_NA].cksum  # Scapy sums it again (RFC 4443 §2.3)
    assert IPv6(bytes(summed))[ICMPv6ND_NA].cksum == na[ICMPv6ND_NA].cksum
    assert any(BU in f for f in from_coa[1:]), "no BU from the CoA after the NA"
    solicited = [f for f in frames if ICMPv6ND_NS in f and f[ICMPv6ND_NS].tgt == coa and f[IPv6].src != "::"]
    assert not solicited, [f.summary() for f in solicited]
    assert net.dar2.neighbors.entry(coa) is not None and net.dar2.neighbors.entry(coa).mac == net.mn.mac


def test_a_dad_collision_gives_the_mn_another_address(net: Net) -> None:
    squatter = net.link1.port("squatter")
    probe = None
    while probe is None or ICMPv6ND_NS not in probe or probe[IPv6].src != "::":
        probe = receive(squatter)
        assert probe is not None, "no DAD probe"
    taken = probe[ICMPv6ND_NS].tgt
    answer = IPv6(src=taken, dst="ff02::1", hlim=255) / ICMPv6ND_NA(tgt=taken, O=1)
    squatter.send(Ether(src=squatter.mac, dst=group_mac("ff02::1")) / answer / ICMPv6NDOptSrcLLAddr(lladdr=squatter.mac))
    # the taken address was optimistic (usable at once): wait for the collision to stop it
    assert net.log.wait(WAIT, node="mn", kind="address-duplicate", address=taken)
    address = net.attached_home()
    assert address != taken and address.startswith("2001:db8:1:")
    assert net.mn.core.record(address).cga.collision_count == 1


def test_ticks_survive_a_busy_thread_and_timers_are_per_instance(net: Net) -> None:
    plain, tick = Timer(TICK, autoreload=True), _Tick(TICK, lambda: None)
    for timer in (plain, tick):
        timers = _TimerList()
        timers.add_timer(timer)
        timers.reset()
        timers.decrement(5 * TICK)  # the thread was busy for five periods
        assert timers.expired() == [timer]
    assert not plain._running()  # Scapy's own: until_next() would block forever
    assert tick._running() and tick._remaining() == TICK
    mine = [t for timers in net.mn.timeout.values() for t in timers]
    theirs = [t for timers in MnAutomaton.timeout.values() for t in timers]
    assert mine and not {id(t) for t in mine} & {id(t) for t in theirs}
    assert not {id(t) for t in mine} & {id(t) for timers in net.dar1.timeout.values() for t in timers}


@pytest.mark.parametrize(("left", "first"), [(None, TICK), (2 * TICK, TICK), (0.3 * TICK, 0.3 * TICK), (-1.0, SOONEST)])
def test_a_tick_comes_no_later_than_the_core_s_next_deadline(left: float | None, first: float) -> None:
    """Scapy's select waits until_next(): the tick's time, shortened to the core's deadline."""
    tick = _Tick(TICK, lambda: left)
    timers = _TimerList()
    timers.add_timer(tick)
    timers.reset()  # entering a state
    assert timers.until_next() == pytest.approx(first)
    timers.decrement(first)
    assert timers.expired() == [tick] and tick._remaining() == pytest.approx(TICK)  # then a full period


class _Deadline:
    """A core's timer, made to order: ``at`` is its deadline; ``on_timer`` raises (a core bug)
    or moves it by ``then`` seconds."""

    def __init__(self, at: float, then: float | None) -> None:
        self.at, self.then, self.calls = at, then, 0

    def next_deadline(self) -> float:
        return self.at

    def on_timer(self, now: float) -> list[object]:
        self.calls += 1
        if self.then is None:
            raise RuntimeError("a core bug")
        self.at = now + self.then
        return []


@pytest.fixture
def idle_dar(monkeypatch: pytest.MonkeyPatch) -> tuple[DarAutomaton, _Deadline, LogSink]:
    """A DAR whose thread never runs: the test calls its event handler; the core's timer is a
    _Deadline, at first one second away."""
    log = LogSink(keep=True)
    dar = DarAutomaton(DarCore(DAR1, "2001:db8:1::/64", rand=bytes), MemLink("idle").port("dar"), name="dar", log=log)
    dar.state = SimpleNamespace(state="ADVERTISING")  # what Scapy's loop sets when it runs
    timer = _Deadline(time.monotonic() + 1.0, then=1.0)
    monkeypatch.setattr(dar.core, "next_deadline", timer.next_deadline)
    monkeypatch.setattr(dar.core, "on_timer", timer.on_timer)
    return dar, timer, log


def test_an_event_that_sets_an_earlier_deadline_brings_the_tick_forward(idle_dar: tuple[DarAutomaton, _Deadline, LogSink]) -> None:  # fmt: skip
    dar, timer, _ = idle_dar
    tick = next(t for t in dar.timeout["ADVERTISING"] if isinstance(t, _Tick))
    tick._time = TICK  # a full period to go
    dar._handle(lambda now: setattr(timer, "at", now + TICK / 5))  # e.g. a BU sent, its retransmission due
    assert 0 < tick._remaining() <= TICK / 5
    dar.stop()


def test_a_deadline_on_timer_leaves_in_the_past_is_looked_at_ever_later(idle_dar: tuple[DarAutomaton, _Deadline, LogSink]) -> None:  # fmt: skip
    """A core whose on_timer raises keeps its deadline due: without a back-off the automaton
    would tick every SOONEST (1 kHz) for ever. Each look waits twice as long, up to TICK."""
    dar, timer, log = idle_dar
    timer.at, timer.then = time.monotonic() - 1.0, None
    waits = []
    for _ in range(8):
        dar._handle(dar._tick)
        waits.append(dar._until_deadline())
    assert waits == [min(SOONEST * 2**n, TICK) for n in range(1, 9)] and timer.calls == 8
    assert len(log.find(dir="error", kind="timer-stuck")) == 1  # said once
    assert log.find(dir="error", kind="RuntimeError", why="a core bug")
    timer.then = 60.0  # the core works again: its deadline moves, the next look is at it
    dar._handle(dar._tick)
    left = dar._until_deadline()
    assert timer.calls == 9 and left is not None and 59 < left <= 60 and dar._overdue == SOONEST
    timer.at, timer.then = time.monotonic() - 1.0, None  # stuck again: said again
    dar._handle(dar._tick)
    assert len(log.find(dir="error", kind="timer-stuck")) == 2 and dar._until_deadline() == 2 * SOONEST
    for _ in range(8):
        dar._handle(dar._tick)
    assert dar._until_deadline() == TICK
    # a message, not a tick, moves the deadline ahead: that episode is over, and a deadline that
    # is due by the time the automaton looks is looked at after SOONEST, not TICK
    timer.then = 60.0
    dar._handle(lambda now: setattr(timer, "at", now + 60.0))
    assert dar._until_deadline() > 59
    timer.at = time.monotonic() - 0.001
    assert dar._until_deadline() == SOONEST
    dar.stop()


def test_codec_does_not_take_an_icmpv6_error_for_the_bu_it_quotes(net: Net) -> None:
    quoted = IPv6(src="2001:db8:2::5", dst=DAR1) / BU(seq=1)
    error = IPv6(src=DAR1, dst="2001:db8:2::5") / ICMPv6ParamProblem(code=1, ptr=6) / quoted
    assert not isinstance(decode(bytes(error)), BindingUpdate)


@pytest.fixture
def capped(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Net:
    """The running network, its automata made while ``history`` holds at most 3 states."""
    monkeypatch.setattr(base, "HISTORY", 3)
    return request.getfixturevalue("net")  # type: ignore[no-any-return]


def test_history_keeps_only_the_newest_states_at_its_bound(capped: Net) -> None:
    """Issue 14 item 6 (README "Bounded state": 256 life-cycle states in ``history``): a
    handover takes the MN through more states than the bound, and only the newest are kept."""
    handover(capped)
    assert capped.log.wait(WAIT, node="mn", dir="state", kind="BOUND")
    entered = [r["kind"] for r in capped.log.find(node="mn", dir="state")]
    assert len(entered) > 3 and [state for _, state in capped.mn.history] == entered[-3:], entered
    status = capped.mn.status()  # what SIGUSR1 logs counts it, and the log's own bounds
    assert status["history"] == 3
    assert 0 < status["log_keys"] <= log.KEYS and 0 <= status["log_queued"] <= log.QUEUE
