"""``fama-lab demo``: a TCP stream and a ping outlive handovers; a second address is used natively.

Theory of operation
-------------------
::

    CN                                   MN (on DAR 1, first address A1)
    source -- TCP :5001, 50 kB/s ------> sink on A1          (SHA-256 at both ends)
    ping   -- Echo every 20 ms --------> A1
           handover to DAR 2: BU/BA for A1 at DAR 1; the MN configures A2 from DAR 2
    source -- TCP :5002, 200 kB -------> sink on A2          (capture on DAR 2's core side)
           handover to DAR 3: BUs for A1 at DAR 1, A2 at DAR 2
           handover to DAR 1: A1 is home again (de-registered), A2 still bound at DAR 2
    stop ping and source; the sink reads to EOF; compare the SHA-256

After each handover the demo waits for a BA from every DAR anchoring an
address of another prefix (``--keep all``), then :data:`SETTLE` seconds; a
role that exits meanwhile ends the demo at once, named with its last stderr line, and a
``fama-lab down`` meanwhile ends it too, said as such (:class:`~scapy_fama.lab.state.LabGone`). The
numbers come from the applications' own records and the MN's JSON log:

- interruption of a handover: the longest run of unanswered echoes starting
  near it, from the last answered echo sent before the run to the first sent
  after it (send times); lost echoes outside those runs are counted apart, but for
  those whose answers were in flight when the move began (``latency.in_flight``);
- TCP stall: the sink's longest pause in receiving starting near the handover (as the runs);
- BU->BA of each binding: from the BU whose sequence number the BA carries to
  the BA's arrival (the MN's clock: when its kernel received the BA, the
  record's ``rx``, as a capture on the MN would show it; when the MN applies the
  link delay itself, when it read the BA), and from the first signalling
  message to that DAR after the handover (a CoTI in secure mode) to the BA;
- native: the capture on the core side of the DAR of the second address holds
  that connection's TCP segments and no IPv6-in-IPv6 packet carrying one;
- step by step: each handover from the MN's log (:mod:`scapy_fama.lab.breakdown`,
  :mod:`scapy_fama.latency`): link down and up, RS, RA, CoA usable, each BU and
  BA, and each new tunnel's first packet each way, on the MN's clock.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from contextlib import ExitStack
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from scapy_fama.lab import apps, breakdown, capture, control, roles, state
from scapy_fama.lab.links import LabError
from scapy_fama.lab.state import LabState
from scapy_fama.lab.topology import dar_address, dar_prefix, namespace, upstream_iface
from scapy_fama import latency
from scapy_fama.latency import breakdown as steps
from scapy_fama.latency import table as steps_table
from scapy_fama.schemas import document

SCHEMA = "fama-lab-demo/1"  # the results' JSON document (scapy_fama/schemas/fama-lab-demo-1.json)
STREAM_PORT, SECOND_PORT = 5001, 5002
STREAM_RATE = 50_000.0  # bytes per second
SECOND_BYTES = 200_000
PING_INTERVAL = 0.02  # seconds between two echoes (--ping-interval)
SETTLE = 3.0  # seconds of steady traffic before and after each handover
BIND_WAIT = 40.0  # seconds for the BAs of a handover (the MN's back-off reaches 1 + 2 + 4 + 8 s)
SIGNALLING = ("BU", "CoTI")  # what the MN sends a DAR to get a binding (tunnelled data is logged too)
LINK_EVENTS = ("link-down", "link-up")  # the MN's records that start a handover's (automata/base.py)
Record = dict[str, Any]


def in_prefix(address: str, i: int) -> bool:
    return IPv6Address(address) in IPv6Network(dar_prefix(i))


def _mn_records(since: int) -> list[Record]:
    """The MN's records of a handover: after record ``since`` (the count taken before it)."""
    return _from_move(roles.records(state.log_dir(), "mn")[since:])


def _from_move(records: list[Record]) -> list[Record]:
    """``records`` from the first link event on: the log's writer wakes every 50 ms, so a
    record made just before a handover (a refresh's BA) may be written after the count was
    taken; records are written in the order they were made, so none made before the move
    follows its link event."""
    moved = next((k for k, r in enumerate(records) if r["dir"] == "event" and r["kind"] in LINK_EVENTS), None)
    return [] if moved is None else records[moved:]


def wait_address(lab: LabState, i: int) -> str:
    """The MN's address from DAR ``i``'s prefix (configured now, or on an earlier visit); a role
    that exits meanwhile ends the wait at once, named."""
    deadline = time.monotonic() + BIND_WAIT
    while time.monotonic() < deadline:
        for address in control.mn_addresses():
            if in_prefix(address, i):
                return address
        control.require_running(lab)
        time.sleep(0.1)
    raise LabError(f"the MN configured no address from DAR {i}'s prefix within {BIND_WAIT:g} s")


def wait_bindings(lab: LabState, since: int, hoas: list[str]) -> list[Record]:
    """The BAs with status 0 for every address in ``hoas`` after record ``since``; a role that
    exits meanwhile ends the wait at once, named (it waited :data:`BIND_WAIT` for BAs that could
    not come, then blamed them on the MN)."""
    deadline = time.monotonic() + BIND_WAIT
    while True:
        bas = [r for r in _mn_records(since) if r["dir"] == "in" and r["kind"] == "BA" and r["status"] == 0]
        missing = set(hoas) - {r["hoa"] for r in bas}
        if not missing:
            return bas
        if time.monotonic() > deadline:
            raise LabError(f"no BA 0 for {', '.join(sorted(missing))} within {BIND_WAIT:g} s (see mn.log)")
        control.require_running(lab)
        time.sleep(0.1)


def _bindings(since: int) -> list[Record]:
    """BU->BA of every BA the MN received after record ``since``."""
    found = []
    records = _mn_records(since)
    for ba in (r for r in records if r["dir"] == "in" and r["kind"] == "BA"):
        sent = [r for r in records if r["dir"] == "out" and r["kind"] in SIGNALLING and r["dst"] == ba["src"]
                and r["t"] <= ba["t"]]  # fmt: skip
        bu = [r for r in sent if r["kind"] == "BU" and r["seq"] == ba["seq"] and r["hoa"] == ba["hoa"]]
        arrived = breakdown.arrival(ba)
        found.append({
            "hoa": ba["hoa"] or ba["dst"],  # a BA at home has no RH2: its destination is the HoA
            "dar": ba["src"], "status": ba["status"], "seq": ba["seq"],
            "bu_ba_ms": round((arrived - bu[-1]["t"]) * 1e3, 2) if bu else None,
            "signalling_ms": round((arrived - sent[0]["t"]) * 1e3, 2) if sent else None,
            "coti": any(r["kind"] == "CoTI" for r in sent),
            "bus": sum(r["kind"] == "BU" for r in sent),
        })  # fmt: skip
    return found


def _ms(span: latency.Span | None) -> float:
    return round((span[1] - span[0]) * 1e3, 1) if span else 0.0


def _native(pcap: Path, address: str, port: int = SECOND_PORT) -> dict[str, int]:
    """The second connection's TCP segments (``address``, ``port``) in ``pcap``: native, and
    inside IPv6-in-IPv6. Only the connection's own count: while the MN moves on, ``address``
    is also the care-of address of another DAR's tunnel, and a packet of that tunnel can reach
    this DAR after the MN left and go on in its tunnel to the new CoA (IPv6 in IPv6 in IPv6)."""
    from scapy.layers.inet import TCP  # Scapy only when the demo reads its capture
    from scapy.layers.inet6 import IPv6
    from scapy.utils import PcapReader

    counts = {"native_packets": 0, "tunnelled_packets": 0}
    with PcapReader(str(pcap)) as reader:
        for frame in reader:
            ip = frame.getlayer(IPv6)
            if ip is None:
                continue
            tunnelled = ip.nh == 41 and isinstance(ip.payload, IPv6)
            packet = ip.payload if tunnelled else ip
            segment = packet.payload
            if isinstance(segment, TCP) and address in (packet.src, packet.dst) and port in (segment.sport, segment.dport):
                counts["tunnelled_packets" if tunnelled else "native_packets"] += 1
    return counts


def _stream(sent: Record, received: Record) -> Record:
    return {"sent": sent, "received": received,
            "intact": sent["bytes"] == received["bytes"] > 0 and sent["sha256"] == received["sha256"]}  # fmt: skip


def _second_connection(address: str, cleanup: ExitStack) -> Record:
    """The second connection's stream; its apps are killed with ``cleanup`` (a Ctrl-C of the demo
    alone left the sink listening in the MN's namespace, the next demo's sink refused its port)."""
    mn, cn = namespace("mn"), namespace("cn")
    sink = apps.start(mn, "sink", "--bind", address, "--port", str(SECOND_PORT))
    cleanup.callback(sink.kill)
    source = apps.start(cn, "source", "--to", address, "--port", str(SECOND_PORT),
                        "--bytes", str(SECOND_BYTES), "--rate", str(SECOND_BYTES))  # fmt: skip
    cleanup.callback(source.kill)
    return {"address": address, **_stream(apps.finish(source, stop=False), apps.finish(sink, stop=False))}


def default_path(dars: int) -> list[int]:
    """Each other DAR in turn, then home: 2, 3, ..., ``dars``, 1."""
    return [*range(2, dars + 1), 1]


def _check(lab: LabState, path: list[int]) -> None:
    if lab.dars < 2:
        raise ValueError("the demo hands over between DARs: it needs a lab of 2 at least (fama-lab up --dars 2)")
    for i in path:
        lab.topology.check_dar(i)
    if lab.attached != 1 or path[0] == 1 or any(a == b for a, b in zip(path, path[1:])):
        raise ValueError("the demo starts on DAR 1 (fama-lab handover 1) and moves to another DAR each step")
    control.require_running(lab)


def run(lab: LabState, path: list[int], say: Callable[[str], None], ping_interval: float = PING_INTERVAL) -> Record:
    """Run the scenario on a lab that is up; the results (see the module's docstring)."""
    _check(lab, path)
    low, high = apps.PING_INTERVALS
    if not low <= ping_interval <= high:
        raise ValueError(f"bad ping interval {ping_interval * 1e3:g} ms: give {low * 1e3:g} to {high * 1e3:g} ms")
    first = [a for a in control.mn_addresses() if in_prefix(a, 1)][-1]
    pcap = state.log_dir() / f"demo-dar{path[0]}-core.pcap"
    try:
        handovers, ping, stream, second = _scenario(lab, path, first, pcap, say, ping_interval)
    except Exception:
        state.require_record()  # a failure once down has begun is down's doing: said as such
        raise
    return _summary(lab, first, pcap, handovers, ping, stream, second)


def _scenario(
    lab: LabState, path: list[int], first: str, pcap: Path, say: Callable[[str], None], ping_interval: float
) -> tuple[list[Record], Record, Record, Record]:
    """The applications, the capture and the handovers: what each of them recorded."""
    mn, cn = namespace("mn"), namespace("cn")
    handovers: list[Record] = []
    with ExitStack() as cleanup:
        watcher = capture.start(namespace(f"dar{path[0]}"), upstream_iface(path[0]), pcap)
        cleanup.callback(capture.stop, watcher)
        sink = apps.start(mn, "sink", "--bind", first, "--port", str(STREAM_PORT))
        cleanup.callback(sink.kill)
        source = apps.start(cn, "source", "--to", first, "--port", str(STREAM_PORT), "--rate", str(STREAM_RATE))
        cleanup.callback(source.kill)
        pinger = apps.start(cn, "ping", "--to", first, "--interval", str(ping_interval))
        cleanup.callback(pinger.kill)
        say(f"stream and ping from the CN to {first}; handovers to DAR {', '.join(map(str, path))}")
        second = None
        for to in path:
            time.sleep(SETTLE)
            mark = len(roles.records(state.log_dir(), "mn"))
            anchored = [a for a in control.mn_addresses() if not in_prefix(a, to)]
            at = time.time()
            moved = control.handover(lab, to)
            wait_bindings(lab, mark, anchored)
            bindings = _bindings(mark)
            handovers.append({"from": moved.left, "to": to, "at": at, "carrier_down": moved.carrier_down,
                              "bindings": bindings, "mark": mark})  # fmt: skip
            say(f"DAR {moved.left} -> DAR {to}: " + ", ".join(
                f"{b['hoa']} at {b['dar']} BA {b['status']} in {b['bu_ba_ms']} ms" for b in bindings))  # fmt: skip
            if second is None:
                time.sleep(SETTLE)
                address = wait_address(lab, to)
                say(f"second connection to {address}")
                second = _second_connection(address, cleanup)
        time.sleep(SETTLE)
        ping = apps.finish(pinger, stop=True)
        stream = _stream(apps.finish(source, stop=True), apps.finish(sink, stop=False))
        capture.stop(watcher)
    assert second is not None  # path is never empty
    return handovers, ping, stream, second


def _summary(
    lab: LabState, first: str, pcap: Path, handovers: list[Record], ping: Record, stream: Record, second: Record
) -> Record:
    """The demo's results from what the scenario recorded."""
    at = [h["at"] for h in handovers]
    runs, gaps, lost_elsewhere = latency.interruptions(ping["echoes"], at)
    stalls = latency.per_handover([(a, b, 0) for a, b in stream["received"]["stalls"]], at)
    origin = ping["echoes"][0][1]  # seconds below count from the first echo
    marks = [h.pop("mark") for h in handovers] + [None]
    for k, (handover, gap, stall) in enumerate(zip(handovers, gaps, stalls)):
        handover["at_s"] = round(handover["at"] - origin, 3)
        down = handover.pop("carrier_down")
        before = [sent for _, sent, _ in ping["echoes"] if sent <= down]
        handover["echo_phase_ms"] = round((down - before[-1]) * 1e3, 2) if before else None
        handover["interruption_ms"] = _ms(gap)
        handover["tcp_stall_ms"] = _ms(stall)
        records = _from_move(roles.records(state.log_dir(), "mn")[marks[k] : marks[k + 1]])
        found = steps(breakdown.moments(records))
        handover["breakdown"] = None if found is None else found.as_dict()
    bu_ba = [b["bu_ba_ms"] for h in handovers for b in h["bindings"] if b["bu_ba_ms"] is not None]
    counts = _native(pcap, second["address"])
    second.update(counts, native=counts["native_packets"] > 0 and counts["tunnelled_packets"] == 0)
    answered = sum(rtt is not None for _, _, rtt in ping["echoes"])
    return document(SCHEMA, {
        "lab": {"dars": lab.dars, "emulation": lab.emulation.describe(), "secure": lab.secure,
                "rfc_timers": lab.rfc_timers},
        "first_address": first,
        "handovers": handovers,
        "bu_ba_ms": {"count": len(bu_ba), "min": min(bu_ba, default=None), "max": max(bu_ba, default=None),
                     "median": statistics.median(bu_ba) if bu_ba else None},
        "stream": stream,
        "ping": {"sent": len(ping["echoes"]), "answered": answered, "lost_outside_handovers": lost_elsewhere,
                 "interval_ms": round(ping["interval"] * 1e3, 3),
                 "loss_runs": [{"from_s": round(a - origin, 3), "ms": round((b - a) * 1e3, 1), "lost": n}
                               for a, b, n in runs]},  # fmt: skip
        "second": second,
        "capture": str(pcap),
        "dar_addresses": {str(i): dar_address(i) for i in lab.topology.dar_numbers},
    })


def render(result: Record, console: Console) -> None:
    table = Table("handover", "interruption", "TCP stall", "binding (HoA at DAR)", "BA", "BU->BA")
    for h in result["handovers"]:
        for n, b in enumerate(h["bindings"]):
            head = [f"DAR {h['from']} -> {h['to']}", f"{h['interruption_ms']} ms", f"{h['tcp_stall_ms']} ms"]
            table.add_row(*(head if n == 0 else ["", "", ""]), f"{b['hoa']} at {b['dar']}", str(b["status"]),
                          f"{b['bu_ba_ms']} ms")  # fmt: skip
    console.print(table)
    for h in result["handovers"]:
        if h["breakdown"] is not None:
            console.print(steps_table(h["breakdown"], f"DAR {h['from']} -> {h['to']} step by step, on the MN's clock"))
    bu_ba = result["bu_ba_ms"]
    console.print(f"BU->BA: median {bu_ba['median']} ms, {bu_ba['min']} to {bu_ba['max']} ms over {bu_ba['count']} bindings")
    for name, stream in (("stream", result["stream"]), ("second connection", result["second"])):
        sent, received = stream["sent"], stream["received"]
        console.print(f"{name}: sent {sent['bytes']} B sha256 {sent['sha256']}")
        console.print(f"{' ' * len(name)}  received {received['bytes']} B sha256 {received['sha256']}"
                      f" -> {'identical' if stream['intact'] else 'DIFFERENT'}")  # fmt: skip
    ping, second = result["ping"], result["second"]
    console.print(f"ping every {ping['interval_ms']:g} ms: {ping['answered']}/{ping['sent']} answered, "
                  f"{ping['lost_outside_handovers']} lost outside the handovers")  # fmt: skip
    console.print(f"second connection on {second['address']}: {second['native_packets']} native packets, "
                  f"{second['tunnelled_packets']} tunnelled -> {'native' if second['native'] else 'NOT native'}"
                  f" (capture {result['capture']})")  # fmt: skip
