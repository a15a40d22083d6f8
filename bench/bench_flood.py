"""Floods against a real fama-dar on a veth pair: refresh latency, CPU, memory and state (issue 14).

What is measured
    fama-dar runs as a process in a network namespace, on one end of a veth pair; this
    process holds a raw socket on the other end (the bed of the adversarial tests,
    ``tests/automata/hostile.py``, whose frames are laid out byte by byte after the RFCs).
    Eight MNs are bound with a CGA-signed BU each and hold a PHKT. A *volley* is one PHKT
    refresh from each of them, sent back to back; a refresh's latency is from its send to
    the kernel's receive time of its BA 0, and one not answered within REFRESH_WAIT is
    lost. Each phase sends the same volleys, one every VOLLEY_EVERY seconds:

    - idle: nothing else (the baseline);
    - option bomb: BUs whose Mobility Header holds 1,420 Pad1 options (RFC 6275 §6.2.2),
      to the DAR and to ff02::1, checksum right and wrong, BOMB_RATE a second (issue 14
      item 1: 20 a second saturated the DAR before the framing was checked on the bytes);
    - CGA burst: before each volley, 2,000 (--quick: 500) CGA-signed first BUs (a new home address each
      burst, as many /64s of care-of addresses) sent back to back, so the refreshes reach
      the DAR behind them (item 2: 2,000 in 21 ms; the kernel sorts the refreshes into the
      access port's priority socket, net/iface.py); the next burst leaves once every BU
      of this one is answered (BA 0, or 130 from the DoS guard) or the DAR answers no more;
    - garbage: frames to the DAR's MAC at GARBAGE_RATE a second, a mix of random bytes
      behind an IPv6 EtherType, truncated IPv6 headers, UDP for the DAR itself, BUs with a
      bad checksum and Payload Lengths beyond the frame;
    - CGA flood: CGA_FLOOD_BUS first BUs (as the bursts') cycled at CGA_FLOOD_RATE a second
      for the whole phase, more than the DAR answers, so its backlog fills (the refreshes
      must not wait behind them in the kernel's buffer). Afterwards a new MN's CGA BU is
      waited for, so the next phase starts with what the flood left answered or shed.

    DAR CPU per flood packet: the process's user + system time (/proc/PID/stat) during the
    phase, less what the idle phase's volleys and timers cost in as many seconds, over the
    flood frames sent.

    Memory: the DAR's resident set (VmRSS of /proc/PID/status) before and after N accepted
    CGA BUs with lifetime 0 (a de-registration: the DAR stores the security record, its
    PHKT, and no binding), then before and after N accepted CGA BUs with a lifetime (a
    binding and its record); the delta over N. Paced under the DoS guard (200 CGA checks a
    second, 10 per source /64) so that every one is accepted; first thing after the eight
    bindings, since memory a flood allocated and freed would be reused unseen by RSS. RSS
    grows by whole pages and pymalloc arenas, so N is large enough for a few MB.

    State: 10^5 spoofed frames (NSs for the DAR's address from as many addresses and MACs,
    RSs from as many link-local addresses with an SLLA option, PHKT BUs for as many home
    addresses of its prefix with a BAD nobody can check), paced at SPAM_RATE a second; then
    the size of each table (the status record fama-dar logs on SIGUSR1) against its bound,
    and a new MN's CGA BU and a volley must be answered.

Baseline (same run)
    The idle phase: ratio = a phase's 90th percentile of refresh latency / the idle phase's
    (the median is printed too: a flood that stalls one volley in five leaves it unchanged).

Targets (issue 14)
    Refresh latency during each flood <= 2x idle, no refresh lost. Exits 1 when something
    is wrong rather than slow: fama-dar dies, a refresh or the final BU gets an error
    status, a table exceeds its bound, or a registration of the memory phase is refused.
    Needs root (network namespaces; without, it says so and measures nothing); run it under
    ``flock /tmp/fama-netns.lock``.
"""

from __future__ import annotations

import itertools
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
from _common import Report, fmt_ratio, fmt_seconds  # noqa: E402

_common.ensure_project_on_path()
sys.path.insert(0, str(_common.ROOT / "tests" / "automata"))
import hostile  # noqa: E402
from hostile import (  # noqa: E402
    ALL_NODES,
    ALL_ROUTERS,
    DAR,
    Bed,
    Identity,
    Seen,
    a16,
    ba_fields,
    dst_of,
    is_ba,
    mh,
    neighbour_solicitation,
    option_bomb,
    router_solicitation,
    udp,
    with_checksum,
)

from scapy_fama.automata import base, nd, ports, reassembly  # noqa: E402
from scapy_fama.crypto import KeyPair  # noqa: E402
from scapy_fama.proto import DarConfig  # noqa: E402
from scapy_fama.wire.link import group_mac, solicited_node  # noqa: E402

BOUND_MNS = 8
VOLLEY_EVERY = 0.5  # seconds between two volleys
REFRESH_WAIT = 3.0  # seconds after which a refresh counts as lost
BOMB_RATE = 40.0
GARBAGE_RATE = 1000.0
CGA_FLOOD_RATE = 4000.0  # CGA BUs a second, sustained: more than the DAR answered at 08:12 (about 1,300/s)
CGA_FLOOD_BUS = 4000  # distinct BUs, cycled (the repeats are answered 135 after the first)
MEMORY_RATE = 150.0  # CGA BUs a second in the memory phase, under the guard's 200
SPAM_RATE = 1500.0
LATENCY_TARGET = 2.0  # x idle (issue 14)


def coa_of(n: int, base_net: int, host: int = 5) -> str:
    """A care-of address in the ``n``-th /64 from ``base_net``: 2001:db8:<base_net + n>::<host>."""
    return f"2001:db8:{base_net + n:x}::{host:x}"


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    refreshes: int = 0
    flood: int = 0  # flood frames sent
    answered: int = 0  # of the flood's BUs (the bursts)
    seconds: float = 0.0
    cpu: float = 0.0  # DAR CPU seconds

    @property
    def median(self) -> float:
        return statistics.median(self.latencies) if self.latencies else float("nan")

    def quantile(self, q: float) -> float:
        s = sorted(self.latencies)
        return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


class Flood(threading.Thread):
    """Sends ``frames`` (cycled, at most ``count``) at ``rate`` a second until stopped."""

    def __init__(self, bed: Bed, frames: list[bytes], rate: float, count: int | None = None) -> None:
        super().__init__(daemon=True)
        self.bed, self.frames, self.rate, self.count = bed, frames, rate, count
        self.sent = 0
        self.halt = threading.Event()

    def run(self) -> None:
        assert self.bed.wire is not None
        start = time.monotonic()
        for frame in itertools.cycle(self.frames):
            if self.halt.is_set() or (self.count is not None and self.sent >= self.count):
                return
            ahead = start + self.sent / self.rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)  # pacing, not waiting for anything
            self.bed.wire.send(frame)
            self.sent += 1


class Bench:
    """The bed, its bound MNs and the measurements."""

    def __init__(self, bed: Bed, report: Report, key: KeyPair) -> None:
        self.bed, self.report, self.key = bed, report, key
        assert bed.wire is not None
        self.wire = bed.wire
        self.mns = [Identity.make(key) for _ in range(BOUND_MNS)]
        self.coas = [coa_of(n, 0xC000) for n in range(BOUND_MNS)]
        self.refused: list[str] = []

    def frame(self, packet: bytes, dst_mac: bytes | None = None) -> bytes:
        return (dst_mac or self.bed.role_mac) + self.wire.mac + b"\x86\xdd" + packet

    def send_all(self, frames: list[bytes]) -> int:
        """``frames`` back to back; how many."""
        for frame in frames:
            self.wire.send(frame)
        return len(frames)

    # ---------------------------------------------------------------- BAs

    def answers(self, pending: dict[tuple[str, int], float], timeout: float) -> tuple[list[float], list[int]]:
        """Latencies of the BAs 0 for ``pending`` ((CoA, seq) -> send time), and the error
        statuses seen; what has not come after ``timeout`` is left in ``pending``."""
        latencies: list[float] = []
        statuses: list[int] = []

        def done(s: Seen) -> bool:
            if is_ba(s.ip):
                status, seq = ba_fields(s.ip)
                sent = pending.pop((dst_of(s), seq), None)
                if sent is not None:
                    (latencies if status == 0 else statuses).append(s.at - sent if status == 0 else status)
            return not pending

        try:
            self.wire.collect(done, timeout)
        except AssertionError:  # collect's timeout: the rest is lost
            pass
        return latencies, statuses

    def bind(self) -> None:
        for mn, coa in zip(self.mns, self.coas):
            self.wire.to(self.bed.role_mac, mn.first_bu(coa))
            ba = self.wire.collect(lambda s, c=coa: is_ba(s.ip) and dst_of(s) == c, hostile.WAIT)[-1]
            if mn.take(ba.ip).status != 0 or mn.phkt is None:
                raise RuntimeError(f"fama-dar did not bind {mn.hoa}")

    def volley(self, phase: Phase) -> None:
        frames = [mn.refresh(coa) for mn, coa in zip(self.mns, self.coas)]
        pending: dict[tuple[str, int], float] = {}
        for mn, coa, packet in zip(self.mns, self.coas, frames):
            pending[(coa, mn.seq)] = time.time()
            self.wire.send(self.frame(packet))
        latencies, statuses = self.answers(pending, REFRESH_WAIT)
        phase.latencies += latencies
        phase.refreshes += len(frames)
        self.refused += [f"{phase.name}: a refresh answered {s}" for s in statuses]

    # ---------------------------------------------------------------- phases

    def phase(self, name: str, volleys: int, flood: Flood | None = None,
              bursts: list[list[bytes]] | None = None) -> Phase:  # fmt: skip
        """``volleys`` volleys, during ``flood`` or each right behind the burst ``bursts[i]``
        (then every BU of that burst answered, or REFRESH_WAIT without a new answer, before
        the next)."""
        phase = Phase(name)
        cpu, start = self.bed.cpu_seconds(), time.monotonic()
        if flood is not None:
            flood.start()
        for i in range(volleys):
            ahead = start + i * VOLLEY_EVERY - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)  # pacing
            if bursts is None:
                self.volley(phase)
                continue
            answered = self.burst_answers()
            phase.flood += self.send_all(bursts[i])
            self.volley(phase)
            while answered[0] < len(bursts[i]):
                seen = answered[0]
                try:
                    self.wire.collect(lambda _, n=seen: answered[0] > n, REFRESH_WAIT)
                except AssertionError:  # collect's timeout: the DAR answers no more of them
                    break
            phase.answered += answered[0]
            self.wire.hooks.clear()
        if flood is not None:
            flood.halt.set()
            flood.join()
            phase.flood = flood.sent
        phase.seconds = time.monotonic() - start
        phase.cpu = self.bed.cpu_seconds() - cpu
        return phase

    def bombs(self) -> list[bytes]:
        return [
            self.frame(option_bomb("2001:db8:c0::5", dst, good_checksum=good),
                       bytes(group_mac(ALL_NODES)) if dst == ALL_NODES else None)  # fmt: skip
            for dst in (DAR, ALL_NODES)
            for good in (True, False)
        ]

    def burst_answers(self) -> list[int]:
        """A counter of the BAs to the bursts' care-of addresses from now on (any status)."""
        count = [0]
        prefix = a16(coa_of(0, 0x8000))[:3]  # 2001:0d b8:8...

        def hook(s: Seen) -> None:
            if is_ba(s.ip) and s.ip[24:27] == prefix:
                count[0] += 1

        self.wire.hooks.append(hook)
        return count

    def bursts(self, count: int, size: int) -> list[list[bytes]]:
        """``count`` bursts of ``size`` first BUs, each burst from a new home address, the
        care-of addresses spread over as many /64s (the global CGA budget is what holds)."""
        out = []
        for _ in range(count):
            flooder = Identity.make(self.key)
            out.append([self.frame(flooder.first_bu(coa_of(n % 4096, 0x8000), n + 1)) for n in range(size)])
        return out

    def garbage(self, rng: random.Random, count: int = 500) -> list[bytes]:
        src = "2001:db8:66::9"
        kinds = [
            lambda: bytes((0x60,)) + rng.randbytes(rng.randrange(39, 300)),  # random after version 6
            lambda: rng.randbytes(rng.randrange(1, 40)),  # shorter than an IPv6 header
            lambda: udp(src, DAR, rng.randbytes(100)),  # for the DAR itself, no application
            lambda: hostile.ipv6(src, DAR, 135, mh(5, rng.randbytes(34), src, DAR, good_checksum=False)),
            lambda: hostile.ipv6(src, DAR, 17, rng.randbytes(60), plen=500),  # beyond the frame
        ]
        return [self.frame(kinds[n % len(kinds)]()) for n in range(count)]

    def spam(self, count: int) -> tuple[list[bytes], dict[str, int]]:
        """``count`` spoofed NSs, RSs and PHKT BUs, in turn; how many of each."""
        group = solicited_node(DAR)
        ns_mac, rs_mac = bytes(group_mac(group)), bytes(group_mac(ALL_ROUTERS))
        template = spoofable_bu(self.key)
        frames: list[bytes] = []
        for n in range(count):
            mac = (0x020000000000 + n).to_bytes(6, "big")
            iid = f"a000:0:{n >> 16 & 0xFFFF:x}:{n & 0xFFFF:x}"
            match n % 3:
                case 0:
                    frames.append(self.frame(neighbour_solicitation(f"2001:db8:1:0:{iid}", group, DAR, mac), ns_mac))
                case 1:
                    frames.append(self.frame(router_solicitation(f"fe80::{iid}", mac), rs_mac))
                case _:
                    frames.append(self.frame(template(f"2001:db8:1:0:{iid}", coa_of(n % 4096, 0x9000))))
        return frames, {"NS": len(range(0, count, 3)), "RS": len(range(1, count, 3)), "BU": len(range(2, count, 3))}

    # ---------------------------------------------------------------- memory and state

    def register(self, n: int, lifetime: int) -> int:
        """``n`` new MNs' CGA BUs with ``lifetime``, paced under the DoS guard; how many got
        BA 0 (refusals are noted)."""
        mns = [Identity.make(self.key) for _ in range(n)]
        coas = [coa_of(j % 64, 0xA000, j + 1) for j in range(n)]  # 64 /64s; each BA told apart by its CoA
        frames = [self.frame(mn.first_bu(coa, lifetime=lifetime)) for mn, coa in zip(mns, coas)]
        pending: dict[tuple[str, int], float] = {}
        start = time.monotonic()
        for j, (mn, coa, frame) in enumerate(zip(mns, coas, frames)):
            ahead = start + j / MEMORY_RATE - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)  # pacing
            pending[(coa, mn.seq)] = time.time()
            self.wire.send(frame)
        accepted, statuses = self.answers(pending, hostile.WAIT)
        self.refused += [f"memory phase: a CGA BU answered {s}" for s in statuses]
        return len(accepted)

    def fresh_bu_answered(self, when: str | None = "after the spam") -> bool:
        """A new MN's CGA BU got BA 0; another status is wrong ``when`` one is named (after a
        CGA flood the guard may answer 130)."""
        mn = Identity.make(self.key)
        coa = coa_of(0, 0xB000)
        pending = {(coa, 1): time.time()}
        self.wire.send(self.frame(mn.first_bu(coa, 1)))
        latencies, statuses = self.answers(pending, hostile.WAIT)
        self.refused += [f"{when}: a new MN's BU answered {s}" for s in statuses if when is not None]
        return bool(latencies)


def spoofable_bu(key: KeyPair) -> Callable[[str, str], bytes]:
    """PHKT BUs (Nonce Indices, a BAD) for any home address and care-of address, laid out once
    by the codec and patched: the addresses replaced, the MH checksum computed again (its
    pseudo-header's source is the home address, RFC 6275 §6.1.1 and RFC 8200 §8.1)."""
    hoa0, coa0 = "2001:db8:1:0:1111:2222:3333:4444", "2001:db8:9fff::5"
    packet = Identity(key, hoa0, b"", phkt=bytes(8)).refresh(coa0)
    mh_at = 40 + 8 * (packet[41] + 1)
    assert packet[6] == 60 and packet[40] == 135, "a refresh is IPv6, Destination Options (HAO), MH"
    assert with_checksum(hoa0, DAR, 135, packet[mh_at:], 4) == packet[mh_at:], "MH checksum over the HoA"
    head = packet[:mh_at]
    assert head.count(a16(hoa0)) == 1 and head.count(a16(coa0)) == 1

    def make(hoa: str, coa: str) -> bytes:
        patched = head.replace(a16(hoa0), a16(hoa)).replace(a16(coa0), a16(coa))
        return patched + with_checksum(hoa, DAR, 135, packet[mh_at:], 4)

    return make


def bounds() -> dict[str, int]:
    """Each table fama-dar's status record names, and its bound (README "Bounded state")."""
    config = DarConfig()
    return {
        "bindings": config.cache_capacity,
        "records": config.max_records,
        "refresh_shapes": config.cache_capacity,
        "neighbours": nd.CAPACITY,
        "fragments": reassembly.DATAGRAMS,
        "fragment_bytes": reassembly.LIMIT,
        "backlog": ports.BACKLOG,
        "received": base.RECEIVED,
    }


# ---------------------------------------------------------------- main


@dataclass
class Sizes:
    volleys: int
    bursts: int
    burst: int
    memory: int
    spam: int


def latency_rows(idle: Phase, phases: list[Phase]) -> Iterator[list[str]]:
    for p in [idle, *phases]:
        rate = f"{p.flood:,} ({p.flood / p.seconds:,.0f}/s)" if p.flood else "0"
        rate += f", {p.answered:,} answered" if p.answered else ""
        extra_cpu = p.cpu - idle.cpu / idle.seconds * p.seconds
        per_packet = fmt_seconds(extra_cpu / p.flood) if p.flood else "—"
        yield [p.name, rate, f"{len(p.latencies)}/{p.refreshes}", fmt_seconds(p.median), fmt_seconds(p.quantile(0.9)),
               fmt_seconds(max(p.latencies, default=float("nan"))),
               fmt_ratio(p.median / idle.median), fmt_ratio(p.quantile(0.9) / idle.quantile(0.9)), f"{p.cpu:.2f} s",
               per_packet]  # fmt: skip


def run(bed: Bed, report: Report, sizes: Sizes) -> None:
    bench = Bench(bed, report, KeyPair.generate(1024))
    bench.bind()
    memory(bench, report, sizes.memory)  # first: later floods leave freed memory that RSS hides
    rng = random.Random(14)
    bursts = bench.bursts(sizes.bursts, sizes.burst)  # laid out before anything is timed
    flood = [f for burst in bench.bursts(CGA_FLOOD_BUS // sizes.burst, sizes.burst) for f in burst]
    spam, spam_kinds = bench.spam(sizes.spam)
    bench.phase("warm-up", 2)
    idle = bench.phase("idle", sizes.volleys)
    phases = [
        bench.phase(f"option bomb ({BOMB_RATE:g}/s)", sizes.volleys, Flood(bed, bench.bombs(), BOMB_RATE)),
        bench.phase(f"CGA burst ({sizes.burst:,} back to back, then a volley)", sizes.bursts, bursts=bursts),
        bench.phase(f"garbage ({GARBAGE_RATE:g}/s)", sizes.volleys, Flood(bed, bench.garbage(rng), GARBAGE_RATE)),
        bench.phase(f"CGA flood ({CGA_FLOOD_RATE:g}/s)", sizes.volleys, Flood(bed, flood, CGA_FLOOD_RATE)),
    ]
    if not bed.alive():
        report.fail(f"fama-dar died during the floods:\n{bed.diagnosis()}")
        return
    bench.fresh_bu_answered(when=None)  # answered (0 or 130): the DAR is through what the CGA flood left
    shed = bed.status()["shed"]
    report.table(
        f"PHKT refresh latency: a volley of {BOUND_MNS} refreshes every {VOLLEY_EVERY:g} s (baseline: idle); "
        "DAR CPU per flood packet over the idle phase's CPU rate",
        ["phase", "flood frames sent", "answered", "median", "p90", "max", "median / idle", "p90 / idle", "DAR CPU",
         "DAR CPU per flood packet"],
        latency_rows(idle, phases),
    )  # fmt: skip
    report.note(f"CGA BUs fama-dar shed at its full backlog (its status record's 'shed'): {shed:,}")
    for p in phases:
        report.target(f"refresh latency (p90) during {p.name}", p.quantile(0.9) / idle.quantile(0.9), LATENCY_TARGET,
                      higher_is_better=False)  # fmt: skip
        report.target(f"refreshes answered during {p.name} ({len(p.latencies)}/{p.refreshes})",
                      len(p.latencies) / p.refreshes, 1.0, higher_is_better=True)  # fmt: skip

    state(bench, report, spam, spam_kinds)
    for why in bench.refused:
        report.fail(why)
    if not bed.alive():
        report.fail(f"fama-dar died:\n{bed.diagnosis()}")


def memory(bench: Bench, report: Report, n: int) -> None:
    bed = bench.bed
    rows = []
    before = bed.status()
    counts = {"records": before["records"], "bindings": before["bindings"]}
    for what, lifetime, grows in (("security record alone (CGA BU, lifetime 0)", 0, ("records",)),
                                  ("binding + its security record (CGA BU, 3600 s)", 3600, ("records", "bindings"))):  # fmt: skip
        rss = bed.rss()
        accepted = bench.register(n, lifetime)
        grown = bed.rss() - rss
        status = bed.status()
        for table in grows:
            counts[table] += n
        held = {t: status[t] for t in counts}
        if accepted != n or held != counts:
            report.fail(f"{what}: {accepted}/{n} accepted; the DAR holds {held}, expected {counts}")
        rows.append([what, f"{n:,}", f"{grown / 2**20:.2f} MiB", f"{grown / n:,.0f} B"])
    report.table(
        f"DAR memory: VmRSS of fama-dar before and after {n:,} accepted CGA BUs each "
        f"(paced at {MEMORY_RATE:g}/s, under the DoS guard)",
        ["what", "entries", "RSS growth", "RSS per entry"],
        rows,
    )


def state(bench: Bench, report: Report, spam: list[bytes], kinds: dict[str, int]) -> None:
    bed = bench.bed
    before = bed.status()
    flood = Flood(bed, spam, SPAM_RATE, len(spam))
    cpu, start = bed.cpu_seconds(), time.monotonic()
    flood.start()
    flood.join()
    seconds = time.monotonic() - start
    answered = bench.fresh_bu_answered()  # behind the spam on the socket
    cpu = bed.cpu_seconds() - cpu
    after_volley = Phase("after the spam")
    bench.volley(after_volley)
    if not bed.alive():
        report.fail(f"fama-dar died during the spam:\n{bed.diagnosis()}")
        return
    after = bed.status()
    limits = bounds()
    rows = [[t, f"{before[t]:,}", f"{after[t]:,}", f"{limits[t]:,}"] for t in limits]
    report.table(
        f"DAR state after {len(spam):,} spoofed frames ({', '.join(f'{v:,} {k}' for k, v in kinds.items())}) "
        f"in {seconds:.1f} s; DAR CPU {cpu:.1f} s ({fmt_seconds(cpu / len(spam))} per frame)",
        ["table", "before", "after", "bound"],
        rows,
    )
    for t, limit in limits.items():
        if after[t] > limit:
            report.fail(f"{t}: {after[t]} entries, more than its bound {limit}")
    report.note(f"a new MN's CGA BU after the spam: {'BA 0' if answered else 'NOT ANSWERED'}; "
                f"a volley: {len(after_volley.latencies)}/{after_volley.refreshes} answered, "
                f"median {fmt_seconds(after_volley.median)}")  # fmt: skip
    if not answered:
        report.fail("fama-dar did not answer a valid CGA BU after the spam")
    if len(after_volley.latencies) != after_volley.refreshes:
        report.fail("fama-dar lost refreshes after the spam")


def main() -> int:
    p = _common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--spam", type=int, help="spoofed frames of the state phase (default 100,000, quick 10,000)")
    args = p.parse_args()
    sizes = (Sizes(volleys=6, bursts=2, burst=500, memory=1000, spam=10_000) if args.quick
             else Sizes(volleys=20, bursts=4, burst=2000, memory=2000, spam=100_000))  # fmt: skip
    if args.spam:
        sizes.spam = args.spam
    report = Report("bench_flood: fama-dar under floods on a veth pair")
    if (why := hostile.unusable()) is not None:
        report.note(f"{why}: nothing measured")
        return 0
    report.header([("sizes", f"{sizes.volleys} volleys a phase; {sizes.bursts} bursts of {sizes.burst:,} CGA BUs; "
                              f"{sizes.memory:,} entries per memory row; {sizes.spam:,} spoofed frames")])  # fmt: skip
    os.environ["PYTHONPATH"] = _common.child_env()["PYTHONPATH"]  # fama-dar runs this checkout
    with tempfile.TemporaryDirectory() as tmp, hostile.bed(Path(tmp)) as bed:
        bed.start_dar()
        run(bed, report, sizes)
        if bed.alive() and bed.stop() != 0:
            report.fail(f"fama-dar did not stop cleanly:\n{bed.diagnosis()}")
    return report.exit_code()


if __name__ == "__main__":
    sys.exit(main())
