"""The analysis as a JSON document (stable schema) and as a rich terminal report.

Theory of operation
-------------------
:func:`to_json` is the one place the result is turned into data; the rich
report (:func:`render`) and the plot read the same :class:`Analysis`. Times are
seconds since the epoch as in the capture (``capture.first`` is the first
frame's), durations are seconds, packets are ``[file index, frame number]``
(frame numbers count from 1, as tshark does).

JSON schema ``fama-analyze/1`` (a key is never removed or renamed within a
version; new keys may be added; floats rounded to the microsecond; the JSON Schema
file is ``scapy_fama/schemas/fama-analyze-1.json``)::

    schema              "fama-analyze/1"
    files[]             path, size, capture_points[] {name, linktype, read, skipped}, truncated (str|null)
                        (read: false for a link type the reader does not read, e.g. 802.11, Bluetooth;
                        skipped: the frames it holds that were therefore not analysed, 0 when read)
    capture             first, last, duration (seconds; null for an empty capture)
    totals              frames, ipv6, other, signalling, tunnelled, native, duplicates, unread
                        (frames = ipv6 + other + unread: other has no IPv6, unread is at a capture point not read)
    signalling          {message kind: distinct packets}: BU, BA, PBU, PBA, BE, HoTI, HoT, CoTI, CoT, RS,
                        RA, DAD, ... (RS: one per attachment; identical RSs on two links are two)
    sightings           {message kind: packets}, copies seen at other capture points included
    dars[]              prefix, address (from RAs with the R bit)
    keys                number of MN private keys given (--keys)
    mns[]               id, addresses[], key_id (SHA-1 of the CGA public key, 16 hex digits)
      attachments[]     time, prefix, dar, rs, ra            (an RS answered by an RA)
      handovers[]       time, start, end, duration, signalling, coa, previous, home,
                        kept[], released[], failed[], breakdown (scapy_fama.latency: origin,
                        steps[] {what, hoa, dar, phase, status (a BA's), at_ms, since_ms},
                        link_layer_ms, to_last_ba_ms (null when a BU was refused), to_data_ms;
                        null without a step)
      bindings[]        hoa, dar, state (registered|refused|de-registered|pending|unknown), coa,
                        exchanges_total, retransmissions, statuses {status: count},
                        auth {cga|phkt|none: count}, phkt_issued[] {time, packet},
                        latency {count, min, median, max}, latencies[] (every answered BU, seconds; a distribution, not in time order),
                        verified {passed, failed, unchecked},
                        tunnel {down, up: {packets, bytes, overhead, first, last, per_second[[s, n]]}},
        exchanges[]     (past 64 per binding, routine refreshes are left out: exchanges_total counts them)
                        bu, time, coa, seq, lifetime, ack, auth (cga|phkt|rr|none), deregistration, secure,
                        retransmissions, verified, verdict, ba, ba_time, status, status_name,
                        granted, latency, phkt_issued, ba_verified, ba_verdict
                        (verdict: {message, ok, checks[] {name, result, detail}} or null)
      secure[]          coti, time, coa, dar, cot, cot_time, index, rtt      (care-of tests, CoTI/CoT)
      home_tests[]      hoti, time, hoa, cn, hot, hot_time, index, rtt       (return routability, HoTI/HoT)
      deregistrations[] bu, time, hoa, dar, coa, status (null: unanswered)
      native            {address: {sent_packets, sent_bytes, received_packets, received_bytes, first, last}}
    other_tunnels[]     outer_src, outer_dst, inner_src, inner_dst ("" both: the snap length cut the inner
                        header), packets, bytes, overhead
    pmipv6              PMIPv6 (RFC 5213): the mobile nodes the MAGs registered, not FAMA MNs
      bindings[]        mn_id, lma, codepoints ("RFC 5213"|"pmip6d (pre-RFC 5213)"), hnps[],
                        link_local, state, mag, exchanges_total, statuses {status: count},
                        latency {count, min, median, max},
                        handovers[] {time, mag, previous, end, duration},
        exchanges[]     pbu, time, mag, seq, lifetime, timestamp, ack, deregistration, ignored_for,
                        retransmissions, pba, pba_time, status, status_name, granted, latency
      tunnels[]         lma, mag, down {LMA -> MAG}, up {MAG -> LMA} (as a binding's tunnel)
    findings[]          kind, severity (error|warning|info), message, address, mn, count, packets[]
    warnings[]          sentences (a file cut short, a capture point not read, an --mn address not found)

``verified`` in an exchange is true (every check passed), false (one failed) or
null (not verified: no CGA options, or the PHKT / key was not known).
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from scapy_fama.analysis.analyze import Analysis
from scapy_fama.analysis.classify import TunnelCount
from scapy_fama.analysis.findings import KINDS
from scapy_fama.analysis.pmip import PMIP6D, ProxyBinding, ProxyExchange, mac_of
from scapy_fama.analysis.reconstruct import AddressTest, Binding, Exchange, MobileNode
from scapy_fama.latency import table as steps_table
from scapy_fama.layers.mh import BA_STATUS
from scapy_fama.schemas import document

SCHEMA = "fama-analyze/1"
EXCHANGES_SHOWN = 12  # per binding in the rich report


def _tunnel(count: TunnelCount) -> dict[str, Any]:
    return {
        "packets": count.packets, "bytes": count.bytes, "overhead": count.overhead,
        "first": count.first if count.packets else None, "last": count.last if count.packets else None,
        "per_second": [[s, n] for s, n in count.per_second()],
    }  # fmt: skip


def _status_name(status: int | None) -> str | None:
    return BA_STATUS.get(status, "unassigned") if status is not None else None


def _exchange(ex: Exchange) -> dict[str, Any]:
    return {
        "bu": list(ex.bu), "time": ex.time, "coa": ex.coa, "seq": ex.seq, "lifetime": ex.lifetime,
        "ack": ex.ack, "auth": ex.auth, "deregistration": ex.deregistration, "secure": ex.secure,
        "retransmissions": ex.retransmissions, "verified": ex.verified, "verdict": ex.verdict,
        "ba": list(ex.ba) if ex.ba else None, "ba_time": ex.ba_time, "status": ex.status,
        "status_name": _status_name(ex.status),
        "granted": ex.granted, "latency": ex.latency, "phkt_issued": ex.phkt_issued,
        "ba_verified": ex.ba_verified, "ba_verdict": ex.ba_verdict,
    }  # fmt: skip


def latencies(b: Binding) -> list[float]:
    """BU to BA latencies of every answered exchange, kept in full or not."""
    return [ex.latency for ex in b.exchanges if ex.latency is not None] + list(b.dropped_latencies)


def verification(b: Binding) -> dict[str, int]:
    results = [r for ex in b.exchanges for r in (ex.verified, ex.ba_verified)
               if not (r is None and ex.auth == "none")]
    return {"passed": results.count(True), "failed": results.count(False), "unchecked": results.count(None)}


def _latency(lat: list[float]) -> dict[str, Any]:
    return {"count": len(lat), "min": min(lat, default=None), "median": statistics.median(lat) if lat else None,
            "max": max(lat, default=None)}


def _binding(b: Binding) -> dict[str, Any]:
    lat = latencies(b)
    return {
        "hoa": b.hoa, "dar": b.dar, "state": b.state, "coa": b.coa,
        "exchanges_total": b.exchange_count, "retransmissions": b.retransmissions,
        "statuses": {str(k): v for k, v in sorted(b.statuses.items())}, "auth": dict(b.auth),
        "phkt_issued": [{"time": t, "packet": list(ref)} for t, ref in b.phkt_issued],
        "latency": _latency(lat),
        "latencies": lat,
        "verified": verification(b),
        "tunnel": {"down": _tunnel(b.tunnel_down), "up": _tunnel(b.tunnel_up)},
        "exchanges": [_exchange(ex) for ex in b.exchanges],
    }  # fmt: skip


def _mn(m: MobileNode, analysis: Analysis) -> dict[str, Any]:
    return {
        "id": m.id, "addresses": m.addresses, "key_id": m.key_id,
        "attachments": [{"time": a.time, "prefix": a.prefix, "dar": a.dar, "rs": list(a.rs),
                         "ra": list(a.ra) if a.ra else None} for a in m.attachments],
        "handovers": [{"time": h.time, "start": h.start, "end": h.end, "duration": h.duration,
                       "signalling": h.signalling, "coa": h.coa, "previous": h.previous, "home": h.home,
                       "kept": h.kept, "released": h.released, "failed": h.failed,
                       "breakdown": h.breakdown.as_dict() if h.breakdown else None} for h in m.handovers],
        "bindings": [_binding(b) for b in m.bindings],
        "secure": [{"coti": list(t.init), "time": t.time, "coa": t.address, "dar": t.peer,
                    "cot": list(t.reply) if t.reply else None, "cot_time": t.reply_time, "index": t.index,
                    "rtt": _rtt(t)} for t in m.tests if not t.home],
        "home_tests": [{"hoti": list(t.init), "time": t.time, "hoa": t.address, "cn": t.peer,
                        "hot": list(t.reply) if t.reply else None, "hot_time": t.reply_time, "index": t.index,
                        "rtt": _rtt(t)} for t in m.tests if t.home],
        "deregistrations": [{"bu": list(d.bu), "time": d.time, "hoa": d.hoa, "dar": d.dar, "coa": d.coa,
                             "status": d.status} for d in m.deregistrations],
        "native": {a: vars(c) for a, c in analysis.native.items() if a in m.addresses},
    }  # fmt: skip


def _rtt(t: AddressTest) -> float | None:
    return t.reply_time - t.time if t.reply_time is not None else None


def _proxy_exchange(ex: ProxyExchange) -> dict[str, Any]:
    return {
        "pbu": list(ex.pbu), "time": ex.time, "mag": ex.mag, "seq": ex.seq, "lifetime": ex.lifetime,
        "timestamp": ex.timestamp, "ack": ex.ack, "deregistration": ex.deregistration, "ignored_for": ex.ignored_for,
        "retransmissions": ex.retransmissions, "pba": list(ex.pba) if ex.pba else None, "pba_time": ex.ba_time,
        "status": ex.status, "status_name": _status_name(ex.status), "granted": ex.granted, "latency": ex.latency,
    }  # fmt: skip


def _proxy(analysis: Analysis) -> dict[str, Any]:
    return {
        "bindings": [{
            "mn_id": b.mn_id, "lma": b.lma, "codepoints": b.codepoints, "hnps": b.hnps, "link_local": b.link_local,
            "state": b.state, "mag": b.mag, "exchanges_total": b.exchange_count,
            "statuses": {str(k): v for k, v in sorted(b.statuses.items())}, "latency": _latency(b.latencies()),
            "handovers": [{"time": h.time, "mag": h.mag, "previous": h.previous, "end": h.end,
                           "duration": h.duration} for h in b.handovers],
            "exchanges": [_proxy_exchange(ex) for ex in b.exchanges],
        } for b in analysis.proxy],
        "tunnels": [{"lma": lma, "mag": mag, "down": _tunnel(down), "up": _tunnel(up)}
                    for (lma, mag), (down, up) in sorted(analysis.proxy_tunnels.items())],
    }  # fmt: skip


def to_json(analysis: Analysis) -> dict[str, Any]:
    """The analysis as the ``fama-analyze/1`` document."""
    first, last = analysis.first_time, analysis.last_time
    return document(SCHEMA, {
        "files": [{"path": str(f.path), "size": f.size, "truncated": f.truncated,
                   "capture_points": [{"name": i.name, "linktype": i.linktype, "read": i.read,
                                       "skipped": 0 if i.read else i.frames} for i in f.interfaces]}
                  for f in analysis.files],
        "capture": {"first": first, "last": last,
                    "duration": last - first if first is not None and last is not None else None},
        "totals": vars(analysis.totals),
        "signalling": analysis.signalling,
        "sightings": analysis.sightings,
        "dars": [{"prefix": p, "address": a} for p, a in sorted(analysis.dars.items())],
        "keys": analysis.keys,
        "mns": [_mn(m, analysis) for m in analysis.mns],
        "other_tunnels": [{"outer_src": k[0], "outer_dst": k[1], "inner_src": k[2], "inner_dst": k[3],
                           "packets": c.packets, "bytes": c.bytes, "overhead": c.overhead}
                          for k, c in analysis.other_tunnels],
        "pmipv6": _proxy(analysis),
        "findings": [f.as_dict() for f in analysis.findings],
        "warnings": analysis.warnings,
    })  # fmt: skip


# ---------------------------------------------------------------- rich


def _ref(ref: tuple[int, int] | list[int] | None, files: int) -> str:
    if ref is None:
        return "-"
    return f"#{ref[1]}" if files == 1 else f"{ref[0]}#{ref[1]}"


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


def _size(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB" if n >= 1e3 else f"{n} B"


def _mark(result: bool | None) -> str:
    return {True: "[green]ok[/]", False: "[red]FAIL[/]", None: "-"}[result]


class _Clock:
    """Times relative to the capture's first frame."""

    def __init__(self, first: float | None) -> None:
        self.first = first or 0.0

    def __call__(self, t: float | None) -> str:
        return "-" if t is None else f"{t - self.first:.3f}"


def render(analysis: Analysis, console: Console) -> None:
    """The rich report: summary, per-MN handovers, bindings and timeline, findings."""
    files = len(analysis.files)
    clock = _Clock(analysis.first_time)
    t = analysis.totals
    start = datetime.fromtimestamp(analysis.first_time or 0, tz=UTC).isoformat(timespec="seconds")
    console.rule("[bold]fama-analyze")
    for f in analysis.files:
        points = ", ".join(i.name for i in f.interfaces)
        console.print(f"{f.path} ({_size(f.size)}; capture points: {points})")
    if analysis.first_time is None:
        console.print("no frames")
    else:
        duration = (analysis.last_time or 0) - analysis.first_time
        console.print(f"first frame {start}, {duration:.3f} s; times below are seconds since the first frame")
    summary = Table(title="Summary", title_justify="left")
    for column in ("frames", "IPv6", "signalling", "tunnelled", "native", "not IPv6", "seen twice", "not read"):
        summary.add_column(column, justify="right")
    summary.add_row(*map(str, (t.frames, t.ipv6, t.signalling, t.tunnelled, t.native, t.other, t.duplicates, t.unread)))
    console.print(summary)
    if analysis.signalling:
        console.print("signalling: " + ", ".join(f"{k} {v}" for k, v in sorted(analysis.signalling.items())))
    for prefix, dar in sorted(analysis.dars.items()):
        console.print(f"DAR {dar} advertises {prefix}")
    for m in analysis.mns:
        _render_mn(m, analysis, console, clock, files)
    for b in analysis.proxy:
        _render_proxy(b, analysis, console, clock, files)
    if analysis.other_tunnels:
        table = Table(title="Tunnels of no binding seen", title_justify="left")
        for column in ("outer", "inner", "packets", "bytes", "overhead"):
            table.add_column(column)
        for (osrc, odst, isrc, idst), c in analysis.other_tunnels:
            inner = f"{isrc} -> {idst}" if isrc or idst else "not captured (snap length)"
            table.add_row(f"{osrc} -> {odst}", inner, str(c.packets), _size(c.bytes), _size(c.overhead))
        console.print(table)
    _render_findings(analysis, console, files)
    for warning in analysis.warnings:  # one line each, whatever the width; a file or interface name is no markup
        console.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True, highlight=False)


def _render_mn(m: MobileNode, analysis: Analysis, console: Console, clock: _Clock, files: int) -> None:
    console.rule(f"[bold]{m.id}[/] {', '.join(m.addresses)}" + (f"  key {m.key_id}" if m.key_id else ""))
    for a in m.attachments:
        console.print(f"{clock(a.time)}  attached: RS {_ref(a.rs, files)}, RA {_ref(a.ra, files)} "
                      f"prefix {a.prefix} DAR {a.dar}")
    for h in m.handovers:
        label = f"back home to {h.coa}" if h.home else f"to {h.coa}"
        console.print(f"{clock(h.start)}  [bold]handover[/] {label} from {h.previous or '-'}: "
                      f"kept {', '.join(h.kept) or '-'}; released {', '.join(h.released) or '-'}"
                      + (f"; [red]failed {', '.join(h.failed)}[/]" if h.failed else "")
                      + f"; took {_ms(h.duration)} (signalling {_ms(h.signalling)})")
        if h.breakdown is not None:
            console.print(steps_table(h.breakdown.as_dict(), "step by step"))
    for b in m.bindings:
        lat = latencies(b)
        v = verification(b)
        statuses = ", ".join(f"{n}x {s}" for s, n in sorted(b.statuses.items())) or "none"
        auth = ", ".join(f"{n} {k}" for k, n in sorted(b.auth.items()))
        down, up = (f"{c.packets} pkts, {_size(c.bytes)} (+{_size(c.overhead)} encapsulation)" if c.packets else "none"
                    for c in (b.tunnel_down, b.tunnel_up))
        console.print(
            f"binding [bold]{b.hoa}[/] @ {b.dar}: {b.state}" + (f" via {b.coa}" if b.coa else "") + "\n"
            f"   {b.exchange_count} BUs ({auth}), {b.retransmissions} retransmitted; BAs: {statuses}; "
            f"PHKT issued {len(b.phkt_issued)}x; BU->BA median {_ms(statistics.median(lat)) if lat else '-'}\n"
            f"   verified {v['passed']} ok, {v['failed']} failed, {v['unchecked']} unchecked; "
            f"tunnel down {down}; up {up}"
        )
    timeline = Table(title="Timeline", title_justify="left")
    for column in ("time", "packet", "event", "verified"):
        timeline.add_column(column)
    events: list[tuple[float, str, str, str]] = []
    for b in m.bindings:
        for ex in b.exchanges[:EXCHANGES_SHOWN]:
            kind = "de-registration" if ex.deregistration else f"BU ({ex.auth})"
            answer = (f"BA {ex.status} {BA_STATUS.get(ex.status or 0, '')}" if ex.status is not None
                      else "no BA" if ex.ack else "no BA asked")
            extra = (" +PHKT" if ex.phkt_issued else "") + (f" retx {ex.retransmissions}" if ex.retransmissions else "")
            events.append((ex.time, f"{_ref(ex.bu, files)} -> {_ref(ex.ba, files)}",
                           f"{kind} seq {ex.seq} {ex.coa} -> {ex.dar} for {ex.hoa}: {answer}, {_ms(ex.latency)}{extra}",
                           f"{_mark(ex.verified)} / {_mark(ex.ba_verified)}"))
        if b.exchange_count > EXCHANGES_SHOWN:
            more = f"... {b.exchange_count - EXCHANGES_SHOWN} more exchanges for {b.hoa} (see --json)"
            events.append((b.exchanges[EXCHANGES_SHOWN].time, "", more, ""))
    for t in m.tests:
        init, reply = ("HoTI", "HoT") if t.home else ("CoTI", "CoT")
        what = "home test (return routability)" if t.home else "care-of test"
        answer = (f"{reply} nonce index {t.index}, {_ms(_rtt(t))}" if t.reply is not None
                  else f"no {reply} seen")
        events.append((t.time, f"{_ref(t.init, files)} -> {_ref(t.reply, files)}",
                       f"{what} {init} {t.address} -> {t.peer}: {answer}", ""))
    for time, packets, what, ok in sorted(events, key=lambda e: e[0]):
        timeline.add_row(clock(time), packets, what, ok)
    console.print(timeline)
    native = {a: c for a, c in analysis.native.items() if a in m.addresses}
    for address, c in native.items():
        console.print(f"native {address}: sent {c.sent_packets} pkts {_size(c.sent_bytes)}, "
                      f"received {c.received_packets} pkts {_size(c.received_bytes)}")


def _render_proxy(b: ProxyBinding, analysis: Analysis, console: Console, clock: _Clock, files: int) -> None:
    if b.mn_id is None:
        what = f"without an MN Identifier option, via {b.node}"
    elif b.codepoints == PMIP6D:
        mac = mac_of(b.mn_id)
        what = f"interface id {b.mn_id}" + (f", MAC {mac}" if mac else "")
    else:
        what = b.mn_id
    console.rule(f"[bold]PMIPv6 mobile node[/] {what} at LMA {b.lma}")
    console.print(f"{b.codepoints} option numbers; home network prefix {', '.join(b.hnps) or '-'}; "
                  f"link-local {b.link_local or '-'}")
    statuses = ", ".join(f"{n}x {s}" for s, n in sorted(b.statuses.items())) or "none"
    console.print(f"binding: {b.state}" + (f" via MAG {b.mag}" if b.mag else "")
                  + f"; {b.exchange_count} PBUs; PBAs: {statuses}; PBU->PBA median {_ms(b.median_latency())}")
    for h in b.handovers:
        console.print(f"{clock(h.time)}  [bold]handover[/] MAG {h.previous} -> {h.mag}; took {_ms(h.duration)}")
    timeline = Table(title="Timeline", title_justify="left")
    for column in ("time", "packet", "event"):
        timeline.add_column(column)
    for ex in b.exchanges:
        kind = "de-registration" if ex.deregistration else "registration"
        stamp = "-" if ex.timestamp is None else datetime.fromtimestamp(ex.timestamp, tz=UTC).isoformat(timespec="seconds")
        answer = (f"PBA {ex.status} {_status_name(ex.status)}, {_ms(ex.latency)}" if ex.status is not None
                  else "no PBA" if ex.ack else "no PBA asked")
        effect = f"; the binding stays with MAG {ex.ignored_for} (RFC 5213 §5.3.5)" if ex.ignored_for else ""
        timeline.add_row(clock(ex.time), f"{_ref(ex.pbu, files)} -> {_ref(ex.pba, files)}",
                         f"{kind} by MAG {ex.mag} seq {ex.seq} lifetime {ex.lifetime} s timestamp {stamp}: "
                         f"{answer}{effect}")
    console.print(timeline)
    for (lma, mag), (down, up) in sorted(analysis.proxy_tunnels.items()):
        if lma == b.lma and any(ex.mag == mag for ex in b.exchanges):
            console.print(f"tunnel LMA {lma} <-> MAG {mag}: down {down.packets} pkts, {_size(down.bytes)}; "
                          f"up {up.packets} pkts, {_size(up.bytes)}")


def _render_findings(analysis: Analysis, console: Console, files: int) -> None:
    if not len(analysis.findings):
        console.print("[green]no findings[/]")
        return
    table = Table(title="Findings", title_justify="left")
    for column in ("severity", "kind", "count", "packets", "MN", "what"):
        table.add_column(column, no_wrap=column in ("severity", "kind", "count"))  # never "malformed-opti…"
    colour = {"error": "red", "warning": "yellow", "info": "cyan"}
    for f in analysis.findings:
        shown = " ".join(_ref(p, files) for p in f.packets[:8]) + (" ..." if f.count > 8 else "")
        table.add_row(f"[{colour[f.severity]}]{f.severity}[/]", f.kind, str(f.count), shown, f.mn or "-", f.message)
    console.print(table)
    console.print("kinds: " + "; ".join(f"{k}: {KINDS[k][1]}" for k in sorted({f.kind for f in analysis.findings})))
