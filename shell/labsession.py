"""LabSession: the shell's commands on the real lab of ``fama-lab`` (real kernels, real time).

Theory of operation
-------------------
``fama-shell --lab`` (root, a lab up: ``sudo fama-lab up``) finds the lab by its
record (:mod:`scapy_fama.lab.state`) and names its nodes as the lab does:
``dar1..darN`` (prefix ``2001:db8:I::/64``, address ``2001:db8:I::1``), ``cn``
and ``mn``. The roles are processes; what they do is read from their JSON logs
(:mod:`fama_shell.lablog`, on one *lab clock*: seconds since the first role
started), and the commands return the views the SimNet session returns::

    topo()                 the record's DARs, the CN, the bridge the MN's port is on (ip link)
    handover(mn, dar2)     links.move_mn via control.handover; then, in real time (at most
                           HANDOVER_WAIT s), until the MN's log has a BA from every DAR anchoring
                           an address it keeps and an address of dar2; -> Msc of that window
    bc(dar1) bul(mn)       BindingTable / BulTable of the roles' binding and BU/BA records
    addrs(mn) msc()        AddressTable; Msc rows of the logs (BU/BA arrows, binding notes)
    latency(mn)            each attachment step by step, from the MN's log (lab.breakdown)
    run(s) step()          real time passes (sleep, or until the next signalling record)
    flow(cn, mn)           scapy_fama.lab.apps: ping (or a TCP source/sink) CN -> MN address;
                           each running TCP flow on a port of its own from TCP_PORT, at most
                           FLOWS running (each is one or two processes)
    save(dir, seconds)     the roles' logs copied, and pcaps of each DAR's access link and
                           the MN's port for ``seconds`` (scapy_fama.lab.capture)
    send_to(dar, pkt)      from the tester namespace on dar's bridge (fama_shell.labtester)
    replay(pcap, dar)      the same, with fama_shell.replay on the tester's port

What the lab cannot do is refused in one line (:class:`~fama_shell.base.Unsupported`):
breakpoints and the held-message commands (a real kernel's packets do not pass
through the shell), ``detach`` (the MN's port is always on a bridge),
``restart`` and ``packets`` (nothing kept in memory: ``save(seconds=...)``).
"""

from __future__ import annotations

import atexit
import base64
import json
import pickle
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv6Address
from pathlib import Path
from subprocess import Popen
from typing import Any

from fama_shell.base import ShellSession, duration, out_dir
from fama_shell.labtester import Tester, tester_address
from fama_shell.lablog import (
    SIGNALLING_KINDS,
    Entry,
    LabLog,
    Names,
    chart_rows,
    dar_bindings,
    mn_addresses,
)
from fama_shell.msc import Msc
from fama_shell.replay import MODES, ReplayResult
from fama_shell.session import DarInfo, Saved, SendResult, TopologyView
from fama_shell.views import (
    AddressTable,
    AddrRow,
    BcRow,
    BindingTable,
    BulRow,
    BulTable,
    FlowRow,
    FlowTable,
    LatencyView,
    VerdictView,
)
from scapy.layers.inet6 import MIP6MH_BA, IPv6
from scapy.packet import Packet

from scapy_fama.layers.headers import find_mh
from scapy_fama.lab import apps, breakdown, capture, control, links, state
from scapy_fama.lab.links import LabError
from scapy_fama.lab.state import LabState
from scapy_fama.lab.topology import CN_ADDRESS, bridge, dar_address, dar_prefix, default_iface, namespace
from scapy_fama.latency import breakdown as steps
from scapy_fama.verify import verify_ba, verify_bu

HANDOVER_WAIT = 15.0  # real seconds handover() waits for the MN's BAs (RS/RA, 1 s of DAD, BUs)
GRACE = 0.3  # seconds more, for the DARs' records after the MN's last BA
POLL = 0.1
STEP_LIMIT = 30.0  # real seconds step() waits for something to show
RUN_LIMIT = 600.0
SEND_WAIT = 2.0
TCP_PORT = 5001  # the first TCP flow's port; a flow takes the lowest no running flow holds
FLOWS = 16  # flows running at once (a ping is one process, a TCP flow two)
NO_HOLD = (
    "cannot stop the lab's packets: the lab's DARs and MN are processes with real kernel "
    "sockets and routes, their packets never pass through the shell (on the lab, inject with "
    "send_to() or replay(); breakpoints work on SimNet)"
)


@dataclass(frozen=True)
class LabDar:
    name: str
    number: int
    prefix: str
    address: str


@dataclass(frozen=True)
class LabMn:
    name: str = "mn"


@dataclass(frozen=True)
class LabHost:
    name: str
    address: str


class LabFlow:
    """A flow of the lab's apps from the CN to an MN address: ping, or TCP source -> sink."""

    def __init__(self, kind: str, address: str, processes: list[Popen[str]], started: float,
                 port: int | None = None) -> None:  # fmt: skip
        self.kind, self.address, self.started, self.port = kind, address, started, port
        self.processes = processes
        self.result: dict[str, Any] | None = None
        self.stopped: float | None = None

    def stop(self, now: float) -> None:
        if self.result is not None:
            return
        results = [apps.finish(p, stop=True) for p in self.processes]
        self.result = {"results": results}
        self.stopped = now

    def counts(self) -> tuple[str, str]:
        """(down, up) as "received/sent" once stopped."""
        if self.result is None:
            return "-", "-"
        results = self.result["results"]
        if self.kind == "ping":
            echoes = results[0]["echoes"]
            answered = sum(1 for _, _, rtt in echoes if rtt is not None)
            return f"{answered}/{len(echoes)} echoes", f"{answered}/{len(echoes)} replies"
        source, sink = results
        return f"{sink['bytes']}/{source['bytes']} B", "-"

    def __str__(self) -> str:
        state = "running" if self.stopped is None else "stopped"
        return f"<{self.kind} flow cn -> {self.address}, {state}>"

    __repr__ = __str__


class LabSession(ShellSession):
    """The real lab with named nodes; each shell command is a method (see the module's docstring)."""

    example = "f = flow(cn, mn); handover(mn, dar2); bc(dar1); addrs(mn); stop(f); msc()"

    def __init__(self, lab: LabState) -> None:
        self.lab = lab
        self.origin = f"the real lab (fama-lab, {lab.dars} DARs, logs in {state.log_dir()})"
        self.key_origin = ""
        self.settle = HANDOVER_WAIT
        self._dars = {
            f"dar{i}": LabDar(f"dar{i}", i, dar_prefix(i), dar_address(i))
            for i in lab.topology.dar_numbers
        }
        self._nodes: dict[str, Any] = {**self._dars, "mn": LabMn(), "cn": LabHost("cn", CN_ADDRESS)}
        self.log = LabLog(state.log_dir(), lab.pids)
        self.names_ = Names({n: (d.address, d.prefix) for n, d in self._dars.items()}, {CN_ADDRESS: "cn"})
        self.tester = Tester()
        self._flows: list[LabFlow] = []
        self.refresh()

    @classmethod
    def open(cls) -> LabSession:
        """The lab that is up (root only); its tester and flows go when the shell ends."""
        control.require_root()
        session = cls(control.require_up())
        atexit.register(session.close)
        return session

    def close(self) -> None:
        for f in self._flows:
            try:
                f.stop(self.now)
            except LabError:
                pass
        self.tester.close()

    # ---------------------------------------------------------------- names and time

    def nodes(self) -> dict[str, Any]:
        return dict(self._nodes)

    @property
    def now(self) -> float:
        return self.log.clock(time.time())

    def dar(self, which: LabDar | str) -> LabDar:
        return self._typed(which, LabDar, "a DAR")  # type: ignore[no-any-return]

    def mn(self, which: LabMn | str | None = None) -> LabMn:
        """``which``, or the lab's MN."""
        return self._typed(which if which is not None else "mn", LabMn, "an MN")  # type: ignore[no-any-return]

    def host(self, which: LabHost | str) -> LabHost:
        return self._typed(which, LabHost, "a host")  # type: ignore[no-any-return]

    def refresh(self) -> list[Entry]:
        entries = self.log.refresh()
        self.names_.learn(entries)
        return entries

    def _attached(self) -> str | None:
        """The DAR whose bridge holds the MN's port now."""
        found = links.attached_bridge()
        return next((n for n, d in self._dars.items() if bridge(d.number) == found), None)

    # ---------------------------------------------------------------- time

    def run(self, seconds: float = 1.0) -> Msc:
        """Let ``seconds`` of real time pass; the chart of what the roles logged meanwhile."""
        seconds = duration(seconds, "run(seconds)", RUN_LIMIT)
        start = self.now
        time.sleep(seconds)
        return self.msc(since=start, title=f"run {start:.3f} -> {self.now:.3f} s (real time)")

    def step(self) -> Msc:
        """Wait (real time) for the next signalling message or event in the roles' logs."""
        start, seen = self.now, len(self.refresh())
        deadline = time.monotonic() + STEP_LIMIT
        while time.monotonic() < deadline:
            time.sleep(POLL)
            new = [e for e in self.refresh()[seen:] if e.record["kind"] in SIGNALLING_KINDS
                   or e.record["dir"] == "event"]  # fmt: skip
            if new:
                return self.msc(since=new[0].time, title=f"step to t={new[0].time:.3f} s")
        return self.msc(since=start, title=f"step: nothing to show within {STEP_LIMIT:g} s")

    # ---------------------------------------------------------------- mobility

    def handover(self, mn: LabMn | str, dar: LabDar | str, wait: float = HANDOVER_WAIT) -> Msc:
        """Move the MN's port to ``dar``'s bridge; wait (real time) for its BAs; the chart."""
        self.mn(mn)
        target = self.dar(dar)
        before = mn_addresses(self.refresh())
        kept = {d for a in before.values() if a.gone is None and (d := self.names_.dar_of(a.dar))}
        start = self.now
        control.handover(self.lab, target.number)  # ValueError when the MN is there already
        expected = kept | {target.name}
        missing = expected
        deadline = time.monotonic() + wait
        while missing and time.monotonic() < deadline:
            time.sleep(POLL)
            missing = expected - self._answered(self.refresh(), start, target.name)
        time.sleep(GRACE)
        title = f"handover mn -> {target.name}, t = {start:.3f} s"
        if missing:
            title += f"  -- after {wait:g} s still no answer from {', '.join(sorted(missing))}"
        return self.msc(since=start - POLL, title=title)

    def _answered(self, entries: list[Entry], since: float, target: str) -> set[str]:
        """The DARs the MN heard a BA from since ``since``, and ``target`` once it has an address."""
        done = set()
        for e in entries:
            if e.time < since or e.node != "mn":
                continue
            if e.kind("in") == "BA":
                done.add(self.names_.node(e.get("src")))
            if e.kind("event") in ("address-configured", "binding-deregistered") and (
                self.names_.anchor(str(e.get("address"))) == target
            ):
                done.add(target)
        return done

    def attach(self, mn: LabMn | str, dar: LabDar | str) -> Msc:
        """On the lab the MN always has a link: attach() is handover() to ``dar``."""
        return self.handover(mn, dar)

    def detach(self, mn: LabMn | str | None = None) -> Msc:
        """Refused on the lab: its MN's port is always on one of the bridges."""
        self.refuse("detach", "is not on the lab: fama-lab keeps the MN's port on a bridge (use handover)")

    def restart(self, dar: LabDar | str) -> Msc:
        """Refused on the lab: restarting a role is fama-lab's (fama-lab status --restart)."""
        self.refuse("restart", "is not on the lab: stop a role's process and run fama-lab status --restart")

    # ---------------------------------------------------------------- tables

    def bc(self, dar: LabDar | str) -> BindingTable:
        """A DAR's binding cache, as its log's binding records tell."""
        node = self.dar(dar)
        rows = [BcRow(b.hoa, b.coa, b.lifetime, b.expires, b.last_seq, b.phkt)
                for b in dar_bindings(self.refresh(), node.name)]  # fmt: skip
        return BindingTable(node.name, node.address, node.prefix, self.now, rows)

    def bul(self, mn: LabMn | str | None = None) -> BulTable:
        """The MN's binding update list, as its log's BU, BA and binding records tell."""
        node = self.mn(mn)
        found = mn_addresses(self.refresh(), node.name)
        rows = [
            BulRow(a.address, self.names_.dar_of(a.dar) or a.dar, a.state, a.seq or 0, a.coa,
                   a.tunnel, a.bound_until if a.tunnel else None, a.phkt)
            for a in found.values() if a.gone is None
        ]  # fmt: skip
        return BulTable(node.name, self._current(found), self.now, rows)

    def _current(self, found: dict[str, Any]) -> str | None:
        here = self._attached()
        return next((a for a, e in found.items() if e.gone is None and self.names_.dar_of(e.dar) == here), None)

    def addrs(self, mn: LabMn | str | None = None) -> AddressTable:
        """The MN's addresses with their anchor DAR and binding state (keep policy of its role)."""
        node = self.mn(mn)
        argv = self.lab.roles["mn"].argv if "mn" in self.lab.roles else ()
        policy = argv[argv.index("--keep") + 1] if "--keep" in argv else "flows"
        found = mn_addresses(self.refresh(), node.name)
        current = self._current(found)
        rows = []
        for a in found.values():
            anchor = self.names_.dar_of(a.dar) or a.dar
            flows = sum(1 for f in self._flows if f.address == a.address and f.stopped is None)
            if a.gone is not None:
                role, keep = a.gone, f"{a.gone}: no longer held"
            elif a.address == current:
                role, keep = "current (native)", "native: nothing to keep"
            else:
                role = "kept" if a.state in ("bound", "registering") else a.state
                keep = f"keep (policy {policy}), binding {a.state}"
            rows.append(AddrRow(a.address, self._dars[anchor].prefix if anchor in self._dars else "?",
                                anchor, role, flows, keep))  # fmt: skip
        return AddressTable(node.name, policy, self.now, rows)

    def latency(self, mn: LabMn | str | None = None) -> LatencyView:
        """Each attachment of the MN step by step on its own clock, from its log (link down/up,
        RS, RA, CoA, each BU and BA, the first tunnelled packet each way: scapy_fama.lab.breakdown)."""
        node = self.mn(mn)
        records = [e.record for e in self.refresh() if e.node == node.name]
        found = [steps(breakdown.moments(part)) for part in breakdown.attachments(records)]
        return LatencyView(node.name, [b.as_dict() for b in found if b is not None])

    def topo(self) -> TopologyView:
        """The lab: DARs and prefixes, the CN, the bridge the MN's port is on, kept addresses."""
        entries = self.refresh()
        here = self._attached()
        found = mn_addresses(entries)
        dars = []
        for name, d in self._dars.items():
            bound = sum(1 for b in dar_bindings(entries, name) if b.coa is not None)
            on_link = (["mn"] if here == name else []) + (["tester"] if d.number in self.tester.ports else [])
            dars.append(DarInfo(name, d.address, d.prefix, bound, on_link))
        kept = [("mn", a.address, self.names_.dar_of(a.dar) or a.dar)
                for a in found.values() if a.gone is None and a.tunnel]  # fmt: skip
        return TopologyView(self.now, dars, [("cn", CN_ADDRESS)], [("mn", here, self._current(found))], kept)

    def msc(self, since: float = 0.0, until: float | None = None, data: bool = False,
            title: str | None = None) -> Msc:  # fmt: skip
        """The message-sequence chart of [since, until] on the lab clock, from the roles' logs."""
        entries = self.refresh()
        end = self.now if until is None else until
        rows = [r for r in chart_rows(entries, self.names_, self.log.roles) if since <= r.time <= end]
        rows.sort(key=lambda r: (r.time, 0 if r.move else 1))  # a move's note before its RS
        order = [*self._dars, "mn"]
        order += [n for n in ("cn", "tester") if any(n in (r.src, r.dst) for r in rows)]
        return Msc(title or f"t = {since:.3f} .. {end:.3f} s (lab clock)", order, rows)

    # ---------------------------------------------------------------- flows

    def flow(self, src: LabHost | str = "cn", dst: LabMn | str = "mn", kind: str = "ping",
             address: str | None = None) -> LabFlow:  # fmt: skip
        """A flow from the CN to an MN address (its current one unless ``address``): ``kind``
        "ping" (ICMPv6 echoes every 20 ms) or "tcp" (source at the CN, sink at the MN); stop() it."""
        if self.host(src).name != "cn":
            raise ValueError("flows start at the CN on the lab")
        self.mn(dst)
        if kind not in ("ping", "tcp"):
            raise ValueError(f"flow kind is 'ping' or 'tcp', not {kind!r}")
        running = [f for f in self._flows if f.stopped is None]
        if len(running) >= FLOWS:
            raise ValueError(f"{FLOWS} flows run already, the most the lab starts: stop() one first")
        target = address or self._current(mn_addresses(self.refresh()))
        if target is None:
            raise ValueError("the MN has no current address yet: try again in a second")
        port = None
        if kind == "ping":
            processes = [apps.start(namespace("cn"), "ping", "--to", target)]
        else:
            held = {f.port for f in running}
            port = next(p for p in range(TCP_PORT, TCP_PORT + FLOWS) if p not in held)
            sink = apps.start(namespace("mn"), "sink", "--bind", target, "--port", str(port))
            try:
                processes = [apps.start(namespace("cn"), "source", "--to", target, "--port", str(port)), sink]
            except LabError:
                sink.kill()  # waiting in accept(), where SIGTERM does not end it
                sink.wait()
                raise
        made = LabFlow(kind, target, processes, self.now, port)
        self._flows.append(made)
        return made

    def _flow(self, which: LabFlow | int) -> LabFlow:
        if isinstance(which, LabFlow):
            return which
        if not isinstance(which, int) or not 0 <= which < len(self._flows):
            raise ValueError(f"no flow {which!r}: the flows are 0..{len(self._flows) - 1}")
        return self._flows[which]

    def stop(self, flow: LabFlow | int) -> FlowTable:
        """Stop a flow (by object or number); its counts show in flows()."""
        self._flow(flow).stop(self.now)
        return self.flows()

    def flows(self) -> FlowTable:
        """The flows by number (their counts once stopped: the apps report when they end)."""
        rows = []
        for i, f in enumerate(self._flows):
            down, up = f.counts()
            when = "running" if f.stopped is None else f"stopped at {f.stopped:.3f} s"
            kind = f.kind if f.port is None else f"{f.kind} :{f.port}"
            rows.append(FlowRow(i, "cn", "mn", f.address, f"{kind}, {when}", down, up))
        return FlowTable(rows)

    # ---------------------------------------------------------------- packets

    def verify(self, pkt: Packet | bytes) -> VerdictView:
        """Check a BU or BA without keys: the lab's PHKTs and MN key stay inside its roles."""
        ip = self._ipv6(pkt)
        check = verify_ba if isinstance(find_mh(ip), MIP6MH_BA) else verify_bu
        return VerdictView.of(check(ip), ip.summary(), "(the lab's keys stay in its roles: none given)")

    def save(self, directory: str | Path = "out/fama-shell-lab", seconds: float = 0.0) -> Saved:
        """Copy the roles' logs to ``directory``; with ``seconds``, also capture that long on each
        DAR's access link and the MN's port (pcaps)."""
        seconds = duration(seconds, "save(seconds=...)", RUN_LIMIT)
        out = out_dir(directory, "save")
        paths: dict[str, str] = {}
        if seconds:
            running = []
            for node in [*self._dars, "mn"]:
                iface = f"fama-d{self._dars[node].number}-acc" if node in self._dars else default_iface(node)
                file = out / f"{node}.pcap"
                running.append((node, capture.start(namespace(node), iface, file)))
                paths[node] = str(file)
            try:
                time.sleep(seconds)
            finally:
                for _, process in running:
                    capture.stop(process)
        for log in sorted(state.log_dir().glob("*.json")) + sorted(state.log_dir().glob("*.log")):
            shutil.copy(log, out / log.name)
            paths[log.name] = str(out / log.name)
        return Saved(paths)

    def send_to(self, dar: LabDar | str, pkt: Packet | bytes, wait: float = SEND_WAIT) -> SendResult:
        """Send a crafted packet to ``dar`` from the tester on its bridge (2001:db8:I::ee: give
        that as the source to see the answer); the DAR's answer and the chart meanwhile."""
        node = self.dar(dar)
        ip = self._ipv6(pkt)
        port = self.tester.port(node.number)
        self.names_.hosts[tester_address(node.number)] = f"tester@{node.name}"
        start = self.now
        out = json.loads(self.tester.work("send", port, node.address, bytes(ip).hex(), str(wait)))
        replies = [IPv6(bytes.fromhex(raw)) for raw in out["replies"]]
        outcome = [f"{node.name} answers {r.summary()}" for r in replies]
        if not replies:
            reach = "" if IPv6Address(ip.src) == IPv6Address(tester_address(node.number)) else (
                f" (an answer to {ip.src} is routed there, not to the tester {tester_address(node.number)})")
            outcome.append(f"no answer at the tester within {wait:g} s{reach}")
        time.sleep(GRACE)
        chart = self.msc(since=start, title=f"send_to {node.name}")
        return SendResult(node.name, ip.summary(), outcome, replies, chart)

    def replay(self, pcap: str | Path, target: LabDar | str, mode: str = "as-is",
               dar: str | None = None, coa: str | Sequence[str] = (),
               wait: float = SEND_WAIT) -> ReplayResult:  # fmt: skip
        """Play a capture's BUs against ``target`` from the tester on its bridge: ``"as-is"``, or
        ``"re-sign"`` from the tester's address on that link (or ``coa``, addresses the tester
        owns); ``dar`` picks the capture's DAR by address. As-is, the DAR answers the captured
        CoAs, which the lab routes elsewhere: the DAR's own log lines say what it sent."""
        node = self.dar(target)
        if mode not in MODES:
            raise ValueError(f"mode is one of {', '.join(MODES)}, not {mode!r}")
        path = Path(pcap).resolve()
        if not path.exists():
            raise ValueError(f"no capture {pcap}")
        port = self.tester.port(node.number)
        coas = [coa] if isinstance(coa, str) else list(coa) or [tester_address(node.number)]
        argv = ["replay", port, node.address, str(path), mode, str(wait), dar or "-", *coas]
        start = self.now
        result: ReplayResult = pickle.loads(base64.b64decode(self.tester.work(*argv)))  # noqa: S301 -- our worker
        time.sleep(GRACE)
        answers = [r for r in self.msc(since=start).messages() if r.src == node.name]
        result.outcome += [f"{node.name}'s log: {r.label} to {r.dst}" for r in answers]
        return result

    # ---------------------------------------------------------------- what the lab cannot do

    def packets(self, kind: str | None = None) -> Any:
        """Refused on the lab: nothing is kept in memory (save(seconds=...) writes pcaps)."""
        self.refuse("packets", "is not on the lab: nothing is kept in memory; save(seconds=5) captures pcaps")

    def brk(self, kind: str | int = "BU", node: Any = None, once: bool = True) -> Any:
        """Refused on the lab: a real kernel's packets cannot be stopped from the shell."""
        self.refuse("brk", NO_HOLD)

    def brks(self) -> Any:
        """Refused on the lab (no breakpoints there)."""
        self.refuse("brks", NO_HOLD)

    def unbrk(self, number: int | None = None) -> Any:
        """Refused on the lab (no breakpoints there)."""
        self.refuse("unbrk", NO_HOLD)

    def held(self, number: int | None = None) -> Any:
        """Refused on the lab (nothing is held there)."""
        self.refuse("held", NO_HOLD)

    def release(self, held: Any = None, raw: bool = False, wait: float = 0.0) -> Any:
        """Refused on the lab (nothing is held there)."""
        self.refuse("release", NO_HOLD)

    def drop(self, held: Any = None) -> Any:
        """Refused on the lab (nothing is held there)."""
        self.refuse("drop", NO_HOLD)
