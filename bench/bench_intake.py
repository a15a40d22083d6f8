"""Fair BU intake: bound MNs' PHKT refreshes at a real fama-dar during a flood of unauthorised short BUs.

What is measured
    The bed, the bound MNs and the volleys of ``bench_flood.py``: fama-dar runs as a process
    in a network namespace, on one end of a veth pair, and this process holds a raw socket
    on the other end (``tests/automata/hostile.py``). Eight MNs are bound with a CGA-signed
    BU each and hold a PHKT; a volley is one PHKT refresh from each of them, one volley
    every 0.5 s; a refresh counts as answered when its BA with status 0 comes within 3 s
    (its latency: from its send to the kernel's receive time of the BA). Two phases send
    the same volleys:

    - quiet: nothing else (the baseline);
    - flood: short BUs that cost nothing to send and that no PHKT authorises
      (``hostile.unauthorised_bus``: for a home address of another prefix, BA 132; with no
      authorisation, 148; with a BAD for a home address that holds no PHKT, 147), --rate a
      second (default RATE, more than fama-dar answers) from FLOOD_SOURCES care-of
      addresses off the link, sent evenly by a process of their own
      (``tests/automata/flooder.py``). They are short (no room for a Signature), so the
      kernel sorts them into the DAR's priority socket (net/bpf.py) together with the
      refreshes.

Baseline (same run)
    The quiet phase: ratio = refreshes answered during the flood ÷ refreshes answered in
    the quiet phase (the same number of volleys). Latencies are printed for both.

Target
    Ratio 1: the flood leaves the DAR serving the MNs it already serves (profile §6 "Bounded
    state" and DoS guard). Exits 1 when something is wrong rather than slow: fama-dar dies,
    or a refresh gets an error status. Needs root (network namespaces; without, it says so
    and measures nothing); run it under ``flock /tmp/fama-netns.lock``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common
from _common import Report, fmt_ratio, fmt_seconds
from bench_flood import BOUND_MNS, REFRESH_WAIT, VOLLEY_EVERY, Bench, Phase
from hostile import Bed, bed, flooding, unauthorised_bus, unusable

from scapy_fama.crypto import KeyPair

RATE = 16000.0  # flood BUs a second: more than fama-dar answers (about 11,000 of these a second on 2 cores, 2026-12-07)
FLOOD_SOURCES = 64  # care-of addresses (a /64 each) the flood comes from
FLOOD_FRAMES = 3000  # distinct flood frames, cycled


def run(b: Bed, report: Report, volleys: int, rate: float) -> None:
    bench = Bench(b, report, KeyPair.generate(1024))
    bench.bind()
    frames = unauthorised_bus(b.role_mac, bench.wire.mac, FLOOD_FRAMES, FLOOD_SOURCES)
    bench.phase("warm-up", 2)
    quiet = bench.phase("quiet", volleys)
    with flooding(b, frames, rate) as flood:
        flooded = bench.phase("flood", volleys)
    flooded.flood, flooded.seconds = flood.sent, flood.seconds
    if not b.alive():
        report.fail(f"fama-dar died during the flood:\n{b.diagnosis()}")
        return
    bench.fresh_bu_answered(when="after the flood")
    status = b.status()
    report.table(
        f"PHKT refreshes: a volley of {BOUND_MNS} every {VOLLEY_EVERY:g} s, answered (BA 0) within {REFRESH_WAIT:g} s",
        ["phase", "flood sent", "answered", "median", "p90", "max"],
        [row(p) for p in (quiet, flooded)],
    )
    report.note(f"fama-dar's intake after the flood: {status.get('intake_shed', 'no intake')} frames shed")
    for why in bench.refused:
        report.fail(why)
    ratio = len(flooded.latencies) / len(quiet.latencies) if quiet.latencies else float("nan")
    report.note(f"answered under flood ÷ answered without: {fmt_ratio(ratio)}")
    report.target("refreshes answered during the flood ÷ quiet", ratio, 1.0, higher_is_better=True)


def row(p: Phase) -> list[str]:
    rate = f"{p.flood:,} ({p.flood / p.seconds:,.0f}/s)" if p.flood else "0"
    top = max(p.latencies, default=float("nan"))
    return [p.name, rate, f"{len(p.latencies)}/{p.refreshes}", fmt_seconds(p.median), fmt_seconds(p.quantile(0.9)),
            fmt_seconds(top)]  # fmt: skip


def main() -> int:
    p = _common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=RATE, help=f"flood BUs a second (default {RATE:,.0f})")
    p.add_argument("--volleys", type=int, help="volleys a phase (default 40, quick 12)")
    args = p.parse_args()
    volleys = args.volleys or (12 if args.quick else 40)
    report = Report("bench_intake: bound MNs' refreshes at fama-dar during a flood of unauthorised short BUs")
    if (why := unusable()) is not None:
        report.note(f"{why}: nothing measured")
        return 0
    report.header([("sizes", f"{volleys} volleys a phase; flood {args.rate:,.0f} BUs/s from {FLOOD_SOURCES} /64s")])
    os.environ["PYTHONPATH"] = _common.child_env()["PYTHONPATH"]  # fama-dar runs this checkout
    with tempfile.TemporaryDirectory() as tmp, bed(Path(tmp)) as made:
        made.start_dar()
        run(made, report, volleys, args.rate)
        if made.alive() and made.stop() != 0:
            report.fail(f"fama-dar did not stop cleanly:\n{made.diagnosis()}")
    return report.exit_code()


if __name__ == "__main__":
    sys.exit(main())
