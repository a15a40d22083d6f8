"""SimNet speed (virtual seconds per wall second) and a DAR's memory per binding.

What is measured
    speed:  20 DARs on one backbone with a CN, 200 MNs in all (RSA-1024 key shared, Sec 0
            CGAs, keep policy ``flows``). Each MN attaches to a random DAR in the first 10 s,
            opens one flow to the CN (a 100-byte datagram each way every second) and hands
            over 5 times, about every 10 s, to a random other DAR: a BU to its first DAR
            each time (CGA, then PHKT), tunnelled data in between. ``net.run`` is timed
            (building and key generation are not), as objects and, at a tenth of the
            MNs, through real bytes (``wire=True``).
    memory: 10,000 MNs attach one after the other to one home DAR, move on to one of
            10 visited DARs (a CGA-signed BU to the home DAR each) and leave: 10,000
            bindings and security records on the home DAR. Under tracemalloc, everything
            but the home DAR's core is then dropped; what stays traced is the DAR's.
            Security records alone (what an MN that de-registered leaves behind, bounded
            by DarConfig.record_capacity): as many stored in a BindingCache, as the DAR
            stores them (PHKT, key hash, last seq, expiry heap entry).

Baselines (same run)
    speed:  the bare event loop (:class:`scapy_fama.net.sim_clock.Scheduler`) running as
            many no-op actions over the same virtual time, one self-rescheduling no-op
            timer per node of the net: ratio = SimNet wall time / bare loop wall time.
    memory: a plain dict {HoA text: (CoA text, expiry float)} of as many entries, built
            under tracemalloc: ratio = DAR bytes per binding / dict bytes per entry.

No fixed target. The run fails (exit 1) if the simulation did not do the work: a flow
whose address is neither native nor bound to the MN's current address at the end, or
fewer bindings and security records on the home DAR than MNs registered there.
"""

from __future__ import annotations

import gc
import random
import sys
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from pathlib import Path

from scapy_fama.crypto import KeyPair, addr_text
from scapy_fama.net.sim import SimNet
from scapy_fama.net.sim_clock import Scheduler
from scapy_fama.net.sim_topology import DarNode, MnNode
from scapy_fama.proto import DarConfig, DarCore, KeepPolicy, MnConfig
from scapy_fama.proto.cache import BindingCache
from scapy_fama.proto.config import ADV_VALID_LIFETIME

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
from _common import Report, fmt_ratio, fmt_seconds  # noqa: E402

CN = "2001:db8:ffff::1"
FIRST_ATTACH = 10.0  # MNs attach within the first 10 s
HANDOVER_EVERY = 10.0


def prefix(i: int) -> str:
    return f"2001:db8:{i:x}::/64"


# --- speed --------------------------------------------------------------------------------------


def build_moving(
    key: KeyPair, dars: int, mns: int, handovers: int, *, wire: bool
) -> tuple[SimNet, float]:
    """The speed scenario, scheduled; returns the net and the virtual time to run."""
    net = SimNet(seed=1, wire=wire)
    rng = random.Random(1)
    cells = [net.add_dar(f"dar{i}", prefix(i)) for i in range(1, dars + 1)]
    cn = net.add_cn("cn", CN)
    config = MnConfig(sec=0)
    nodes = [net.add_mn(f"mn{j}", keypair=key, config=config) for j in range(mns)]

    def move(mn: MnNode) -> None:
        here = mn.link.router if mn.link else None
        net.handover(mn, rng.choice([d for d in cells if d is not here]))

    def start_flow(mn: MnNode) -> None:
        if mn.current_address in mn.addresses():
            net.flow(cn, mn, interval=1.0)

    for mn in nodes:
        at = rng.uniform(0, FIRST_ATTACH)
        net.at(at, partial(net.attach, mn, rng.choice(cells)))
        net.at(at + 2.0, partial(start_flow, mn))
        for h in range(1, handovers + 1):
            net.at(at + h * HANDOVER_EVERY + rng.uniform(-2, 2), partial(move, mn))
    return net, FIRST_ATTACH + (handovers + 1) * HANDOVER_EVERY


def bare_loop(nodes: int, steps: int, duration: float) -> float:
    """Wall seconds of the bare event loop running ``steps`` no-op actions over ``duration``."""
    clock = Scheduler()
    period = duration * nodes / steps

    def tick() -> None:
        clock.at(clock.now + period, tick)

    for i in range(nodes):
        clock.at(i * period / nodes, tick)
    t0 = time.perf_counter()
    clock.run(duration)
    return time.perf_counter() - t0


def anchored(net: SimNet) -> int:
    """Flows whose MN address is native now, or bound at its DAR to the MN's current address."""
    dars = {n.address: n for n in net.nodes.values() if isinstance(n, DarNode)}
    count = 0
    for flow in net.flows:
        entry = flow.mn.bul().get(flow.address)
        binding = dars[entry.dar].binding(flow.address) if entry else None
        here = flow.mn.current_address
        count += here == flow.address or (binding is not None and binding.coa == here)
    return count


def speed_row(
    report: Report, key: KeyPair, dars: int, mns: int, handovers: int, wire: bool
) -> list[str]:
    net, duration = build_moving(key, dars, mns, handovers, wire=wire)
    t0 = time.perf_counter()
    net.run(duration)
    wall = time.perf_counter() - t0
    moved = len(net.notices(event="binding-registered"))
    if anchored(net) != len(net.flows) or len(net.flows) != mns:
        mode = "wire" if wire else "objects"
        report.fail(f"{mode}: {anchored(net)} of {len(net.flows)} flows anchored, {mns} MNs")
    bare = min(bare_loop(len(net.nodes), net.steps, duration) for _ in range(3))
    return [
        f"{dars} DARs × {mns} MNs × {handovers} handovers, {'wire=True' if wire else 'objects'}",
        f"{duration:g} s",
        fmt_seconds(wall),
        f"{duration / wall:,.0f}",
        f"{net.steps:,} / {len(net.events):,}",
        f"{moved:,}",
        f"{duration / bare:,.0f}",
        fmt_ratio(wall / bare),
    ]


# --- memory -------------------------------------------------------------------------------------


def fill_home(key: KeyPair, n: int) -> DarCore:
    """10,000 (n) MNs pass through the home DAR's link and register with it from elsewhere."""
    unlimited = DarConfig(
        cache_capacity=n,
        cga_checks_per_second=1e9,
        cga_burst=10**9,
        cga_checks_per_prefix_per_second=1e9,
        cga_prefix_burst=10**9,
    )
    net = SimNet(seed=2)
    home = net.add_dar("home", prefix(1), config=unlimited)
    visited: list[DarNode] = [net.add_dar(f"v{i}", prefix(i)) for i in range(2, 12)]
    config = MnConfig(sec=0, keep=KeepPolicy.ALL, dad_delay=0.0)
    step = 0.01  # about five MNs on the home link at any time
    for j in range(n):
        mn = net.add_mn(f"mn{j}", keypair=key, config=config)
        net.at(j * step, partial(net.attach, mn, home))
        net.at(j * step + 0.05, partial(net.handover, mn, visited[j % len(visited)]))
        net.at(j * step + 0.10, partial(net.detach, mn))  # the BA has arrived by then
    net.run(n * step + 1.0)
    return home.core


def traced(build: Callable[[], object]) -> tuple[int, object]:
    """Bytes still traced once ``build()`` returned and everything else it made is garbage."""
    gc.collect()
    tracemalloc.start()
    kept = build()
    gc.collect()
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return size, kept


def records_only(n: int) -> BindingCache:
    """``n`` security records without bindings, as DarCore stores an accepted CGA BU's."""
    cache = BindingCache(1, ADV_VALID_LIFETIME, record_capacity=n)
    rng = random.Random(4)
    for j in range(n):
        hoa = addr_text(bytes.fromhex("20010db8000100") + rng.randbytes(9))
        record, _ = cache.new_phkt(hoa, rng.randbytes(8), rng.randbytes(162), float(j))
        cache.accepted(record, j % 65536, float(j))
    return cache


def plain_dict(n: int) -> dict[str, tuple[str, float]]:
    rng = random.Random(3)
    return {
        addr_text(bytes.fromhex("20010db8000100") + rng.randbytes(9)): (
            addr_text(bytes.fromhex("20010db8000200") + rng.randbytes(9)),
            86_400.0 + j,
        )
        for j in range(n)
    }


# --- main ---------------------------------------------------------------------------------------


def main() -> int:
    p = _common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--dars", type=int, help="DARs of the speed run (default 20, quick 5)")
    p.add_argument("--mns", type=int, help="MNs of the speed run, in all (default 200, quick 20)")
    p.add_argument("--handovers", type=int, help="handovers per MN (default 5, quick 2)")
    p.add_argument("--bindings", type=int, help="bindings on one DAR (default 10,000, quick 1,000)")
    args = p.parse_args()
    dars = args.dars or (5 if args.quick else 20)
    mns = args.mns or (20 if args.quick else 200)
    handovers = args.handovers or (2 if args.quick else 5)
    bindings = args.bindings or (1_000 if args.quick else 10_000)

    report = Report("bench_simnet: SimNet speed, memory per binding and per security record")
    report.header(
        [("sizes", f"{dars} DARs × {mns} MNs × {handovers} handovers; {bindings:,} bindings")]
    )
    key = KeyPair.generate(1024)
    fill_home(key, 50)  # warm-up: lazy imports and caches before anything is traced

    rows = [speed_row(report, key, dars, mns, handovers, wire=False)]
    rows.append(speed_row(report, key, dars, max(1, mns // 10), handovers, wire=True))
    report.table(
        "SimNet speed (net.run timed; baseline: bare event loop, same steps and virtual time)",
        ["scenario", "virtual", "wall", "virtual s / wall s", "steps / events", "registrations",
         "bare loop: virtual s / wall s", "ratio wall / bare"],
        rows,
    )  # fmt: skip

    dar_bytes, core = traced(partial(fill_home, key, bindings))
    assert isinstance(core, DarCore)
    held = len(core.bindings())
    if held != bindings or len(core.records()) != bindings:
        report.fail(f"the home DAR holds {held} bindings, {len(core.records())} records")
    dict_bytes, _ = traced(partial(plain_dict, bindings))
    record_bytes, records = traced(partial(records_only, bindings))
    assert isinstance(records, BindingCache)
    if len(records.records()) != bindings:
        report.fail(f"{len(records.records())} security records stored of {bindings}")
    per_binding, per_entry = dar_bytes / bindings, dict_bytes / bindings
    per_record = record_bytes / bindings
    report.table(
        "memory per binding on one DAR (tracemalloc; baseline: dict {HoA: (CoA, expiry)})",
        ["what", "entries", "bytes traced", "bytes / entry", "ratio vs baseline"],
        [
            ("DarCore: bindings + security records + expiry heap", f"{held:,}", f"{dar_bytes:,}",
             f"{per_binding:,.0f}", fmt_ratio(per_binding / per_entry)),
            ("security records alone (no binding)", f"{bindings:,}", f"{record_bytes:,}",
             f"{per_record:,.0f}", fmt_ratio(per_record / per_entry)),
            ("baseline dict", f"{bindings:,}", f"{dict_bytes:,}", f"{per_entry:,.0f}", "1.000"),
        ],
    )  # fmt: skip
    return report.exit_code()


if __name__ == "__main__":
    sys.exit(main())
