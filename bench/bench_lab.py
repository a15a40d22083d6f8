"""The lab on real links (fama-lab): interruption per handover and BU->BA, next to SimNet's prediction.

What is measured
    For each configuration (plain and secure mode, without and with --delay MS on the MN's
    access link), ``fama-lab up --delay MS [--secure]`` and ``fama-lab demo --json``: a TCP
    stream and a 20 ms ping from the CN to the MN's first address across the handovers
    DAR1 -> DAR2 -> DAR3 -> DAR1 (three DARs, fama-dar/fama-mn --kernel, the MN keeping
    every address). Per handover: the interruption (the ping's longest loss run around it,
    from the last answered echo before to the first answered after), the BU->BA time of
    each binding (from the BU the BA 0 answers, MN's clock) and the signalling time (from
    the first message to that DAR after the move to the BA 0: in secure mode the first BU
    is answered 137 once per DAR, then CoTI/CoT and the BU again). The
    delay is tc netem where the kernel has it, else applied by fama-mn (``fama-lab up``
    says which; role-applied delay touches the signalling and tunnelled packets only).

Baseline (same run)
    SimNet's prediction for the same scenario: three DARs whose access links have the same
    one-way delay, a backbone of 0.1 ms (the lab's core is two veth hops), the same keep
    policy and mode, the same handovers. Predicted interruption = from the link-up to the
    BA for the first address (the tunnel is up again); predicted BU->BA and signalling as
    measured. Ratio = measured / predicted. The lab's interruption also holds the move
    itself (carrier down, 50 ms, up) and up to one ping interval.

Secure mode's extra round trip
    The mean signalling time secure minus plain at the same delay, measured and predicted:
    the care-of test adds one round trip to the DAR (profile §5).

No target. Exits 1 when the lab measured something wrong: a stream whose SHA-256 differ,
echoes lost outside the handovers (the demo itself fails when a binding gets no BA 0). Needs root (network namespaces).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
from _common import Report, fmt_ratio  # noqa: E402

_common.ensure_project_on_path()
from scapy_fama.crypto import KeyPair  # noqa: E402
from scapy_fama.net.sim import SimNet  # noqa: E402
from scapy_fama.net.sim_events import Change, Hop  # noqa: E402
from scapy_fama.proto import DarConfig, KeepPolicy, MnConfig  # noqa: E402
from scapy_fama.proto.messages import BindingAck, BindingUpdate, CareOfTestInit  # noqa: E402

PATH = [2, 3, 1]
SETTLE = 8.0  # virtual seconds after each move in SimNet
BACKBONE = 0.0001  # seconds: two veth hops through the lab's core
Record = dict[str, Any]


def lab(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scapy_fama.cli.lab", *argv], capture_output=True, text=True,
                          check=False, env=_common.child_env())  # fmt: skip


def measure(delay_ms: float, secure: bool, report: Report) -> Record | None:
    """One demo on a fresh lab; its JSON, or None (reported) when the lab failed."""
    up = lab("up", "--delay", f"{delay_ms:g}", *(["--secure"] if secure else []))
    if up.returncode != 0:
        report.fail(f"fama-lab up: {up.stderr.strip()}")
        return None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "demo.json"
            demo = lab("demo", "--json", str(out), "--path", ",".join(map(str, PATH)))
            if not out.exists():
                report.fail(f"fama-lab demo: {demo.stderr.strip()}")
                return None
            result: Record = json.loads(out.read_text())
            result["emulation_line"] = up.stdout.splitlines()[0]
            return result
    finally:
        lab("down")


def predict(delay_ms: float, secure: bool, key: KeyPair) -> list[Record]:
    """SimNet's handovers of the same scenario: interruption, BU->BA and signalling per binding."""
    net = SimNet(seed=1, delay=BACKBONE)
    config = DarConfig(require_coa_test=secure)
    dars = [net.add_dar(f"dar{i}", f"2001:db8:{i}::/64", config=config, delay=delay_ms / 1e3) for i in (1, 2, 3)]
    mn = net.add_mn("mn", keypair=key, config=MnConfig(keep=KeepPolicy.ALL))
    net.attach(mn, dars[0])
    net.run(SETTLE)
    first = mn.current_address
    found = []
    for to in PATH:
        mark = len(net.events)
        net.handover(mn, dars[to - 1])
        net.run(SETTLE)
        events = net.events[mark:]
        link_up = next(e.time for e in events if isinstance(e, Change) and e.what == "link-up")
        sent = [e for e in events if isinstance(e, Hop) and e.src == "mn" and not e.forwarded]
        bas = [e for e in events if isinstance(e, Hop) and e.dst == "mn" and isinstance(e.msg, BindingAck)
               and e.lost is None]  # fmt: skip
        bindings = []
        for ba in bas:
            to_dar = [e for e in sent if e.msg.dst == ba.msg.src and isinstance(e.msg, (BindingUpdate, CareOfTestInit))]
            bu = [e for e in to_dar if isinstance(e.msg, BindingUpdate) and e.msg.seq == ba.msg.seq]
            bindings.append({"hoa": ba.msg.hoa or ba.msg.dst, "status": ba.msg.status,
                             "bu_ba_ms": (ba.arrival - bu[-1].time) * 1e3,
                             "signalling_ms": (ba.arrival - to_dar[0].time) * 1e3})  # fmt: skip
        back = [ba.arrival for ba in bas if (ba.msg.hoa or ba.msg.dst) == first]
        found.append({"interruption_ms": (back[0] - link_up) * 1e3 if back else float("nan"), "bindings": bindings})
    return found


def _mean(handover: Record, field: str) -> float:
    """The mean of ``field`` over the bindings accepted (BA 0) in a handover."""
    values = [b[field] for b in handover["bindings"] if b["status"] == 0 and b[field] is not None]
    return statistics.fmean(values) if values else float("nan")


def _ratio(measured: float, predicted: float) -> str:
    return fmt_ratio(measured / predicted) if predicted > 0 else "n/a"


def check(result: Record, report: Report, label: str) -> None:
    if not result["stream"]["intact"]:
        report.fail(f"{label}: the stream's SHA-256 differ")
    if result["ping"]["lost_outside_handovers"]:
        report.fail(f"{label}: {result['ping']['lost_outside_handovers']} echoes lost outside the handovers "
                    f"(handovers at {[h['at_s'] for h in result['handovers']]} s, loss runs {result['ping']['loss_runs']})")


def main() -> int:
    ap = _common.parser(__doc__.split("\n\n")[0])
    ap.add_argument("--delay", type=float, default=20.0, metavar="MS", help="the access-link delay (default 20)")
    args = ap.parse_args()
    report = Report("bench_lab: interruption and BU->BA on the lab's real links, against SimNet")
    if os.geteuid() != 0:
        report.note("needs root (network namespaces): nothing measured")
        return 2
    key = KeyPair.generate(1024)
    delays = [args.delay] if args.quick else [0.0, args.delay]
    signalling: dict[tuple[bool, float], tuple[float, float]] = {}
    emulation = "n/a"
    report.header([("handovers", " -> ".join(map(str, [1, *PATH]))), ("delays (ms)", ", ".join(f"{d:g}" for d in delays))])
    for secure in (False, True):
        for delay in delays:
            label = f"{'secure' if secure else 'plain'}, {delay:g} ms"
            result = measure(delay, secure, report)
            if result is None:
                continue
            check(result, report, label)
            if delay:
                emulation = result["emulation_line"]
            predicted = predict(delay, secure, key)
            rows = []
            for h, p in zip(result["handovers"], predicted):
                rows.append((f"DAR {h['from']} -> {h['to']}", f"{h['interruption_ms']:.0f}", f"{p['interruption_ms']:.0f}",
                             _ratio(h["interruption_ms"], p["interruption_ms"]),
                             f"{_mean(h, 'bu_ba_ms'):.1f}", f"{_mean(p, 'bu_ba_ms'):.1f}",
                             f"{_mean(h, 'signalling_ms'):.1f}", f"{_mean(p, 'signalling_ms'):.1f}"))  # fmt: skip
            report.table(f"{label}", ["handover", "interruption ms", "SimNet", "ratio", "BU->BA ms", "SimNet",
                                      "signalling ms", "SimNet"], rows)  # fmt: skip
            signalling[(secure, delay)] = (
                statistics.fmean(_mean(h, "signalling_ms") for h in result["handovers"]),
                statistics.fmean(_mean(p, "signalling_ms") for p in predicted),
            )
    report.note(emulation)
    extra = []
    for delay in delays:
        if (False, delay) in signalling and (True, delay) in signalling:
            (plain, plain_sim), (secure_ms, secure_sim) = signalling[(False, delay)], signalling[(True, delay)]
            extra.append((f"{delay:g} ms", f"{plain:.1f}", f"{secure_ms:.1f}", f"{secure_ms - plain:.1f}",
                          f"{secure_sim - plain_sim:.1f}", fmt_ratio(secure_ms / plain)))  # fmt: skip
    report.table("secure mode's extra round trip (mean signalling per binding)",
                 ["delay", "plain ms", "secure ms", "extra ms", "SimNet extra ms", "secure / plain"], extra)  # fmt: skip
    return report.exit_code()


if __name__ == "__main__":
    sys.exit(main())
