"""Generate the reference captures in pcaps/: SimNet scenarios with their ground truth.

    python3 scripts/make_pcaps.py [OUT_DIR] [--only NAME ...]

Theory of operation
-------------------
Each scenario runs on a seeded SimNet with ``wire=True`` (three DARs
2001:db8:{1,2,3}::/64, a CN on the backbone, one MN, 5 ms per link), so every
message crosses the links as real bytes. The script writes, per scenario::

    OUT_DIR/<name>.pcapng      one capture point (pcapng interface) per link: backbone, dar1, dar2, dar3
    OUT_DIR/<name>.truth.json  what the scenario did, from SimNet's event log and the cores'
                               notices (never from the analyser): frames, BUs, BA statuses,
                               handovers and kept addresses, which BUs were forged, tunnel
                               packets and bytes per binding, PHKTs issued, CoTIs
    OUT_DIR/keys/mn.pem, eve.pem  TEST keys (the MN's and the attacker's), reused when present,
                               so that the same keys give the same captures; fama-analyze
                               --keys OUT_DIR/keys decrypts the PHKTs and checks every BAD

Everything is deterministic but the PHKT ciphertexts: RSAES-PKCS1-v1_5 encryption
is randomised by design (RFC 3447 §7.2.1), so a BA carrying a PHKT (its BAD and
checksum with it) differs from run to run; frames, times, lengths and every
other byte are the same.

Truth of a tunnel: the IPv6-in-IPv6 transmissions sent by their encapsulator
(the DAR whose address is the outer source, or the MN), lost ones included: a
capture point records a packet as it is sent.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from scapy_fama.codec import encode_bytes
from scapy_fama.crypto import KeyPair, cga_generate
from scapy_fama.net.sim import SimNet
from scapy_fama.net.sim_events import Change, Hop, NodeEffect
from scapy_fama.net.sim_topology import LINKTYPE_RAW, DarNode, HostNode, Link
from scapy_fama.proto import DarConfig, MnConfig
from scapy_fama.proto.effects import Notify
from scapy_fama.proto.messages import (
    BindingAck,
    BindingUpdate,
    CareOfTestInit,
    Tunnelled,
)

ROOT = Path(__file__).resolve().parents[1]
CN, EVE = "2001:db8:ff::1", "2001:db8:ee::1"
FLOW = {"interval": 0.5, "size": 100}


class Scenario:
    """A SimNet world (3 DARs, a CN, an MN) and the helpers the scenarios share."""

    def __init__(self, mn_key: KeyPair, dar_config: DarConfig | None = None, **mn_config: Any) -> None:
        self.net = SimNet(seed=1, wire=True, delay=0.005)
        self.dars = [self.net.add_dar(f"dar{i}", f"2001:db8:{i}::/64", config=dar_config) for i in (1, 2, 3)]
        self.cn = self.net.add_cn("cn", CN)
        self.mn = self.net.add_mn("mn", keypair=mn_key, config=MnConfig(**{"sec": 0, **mn_config}))
        self.forged: set[tuple[str, int]] = set()  # (HoA, seq) of BUs whose signature is garbage
        self.eve: HostNode | None = None

    def visit(self, i: int, settle: float = 3.0) -> None:
        """Attach the MN to DAR i (1-based), or hand it over there, and let ``settle`` s pass."""
        move = self.net.attach if self.mn.link is None else self.net.handover
        move(self.mn, self.dars[i - 1])
        self.net.run(settle)

    def flow(self) -> None:
        self.net.flow(self.cn, self.mn, **FLOW)  # type: ignore[arg-type]

    def attacker(self) -> HostNode:
        self.eve = self.net.add_cn("eve", EVE)
        return self.eve

    def first_bu_to(self, dar: DarNode) -> BindingUpdate:
        return next(h.msg for h in self.net.hops(BindingUpdate, src=self.mn) if h.msg.dst == dar.address)


# ---------------------------------------------------------------- scenarios


def moved(s: Scenario, pause: float = 1.0) -> Scenario:
    """The MN attaches to DAR1, a flow starts on HoA1, ``pause`` s later the MN moves to DAR2."""
    s.visit(1)
    s.flow()
    s.net.run(pause)
    s.visit(2)
    return s


def fig1(keys: dict[str, KeyPair]) -> Scenario:
    """Figure 1: first handover DAR1 -> DAR2, one CGA-signed BU keeps HoA1 (flow on it)."""
    return moved(Scenario(keys["mn"]))


def fig2(keys: dict[str, KeyPair]) -> Scenario:
    """Figure 2: flow 1 through DAR1's tunnel, flow 2 native at DAR2."""
    s = fig1(keys)
    s.flow()
    s.net.run(4)
    for flow in s.net.flows:
        flow.stop()
    s.net.run(1)
    return s


def fig3(keys: dict[str, KeyPair]) -> Scenario:
    """Figure 3: second handover to DAR3: PHKT BU to DAR1, CGA BU to DAR2 (flow 2 keeps CoA2)."""
    s = fig1(keys)
    s.flow()
    s.net.run(1)
    s.visit(3)
    return s


def fig4(keys: dict[str, KeyPair]) -> Scenario:
    """Figure 4: at DAR1 the first BU is CGA-authorised (PHKT issued), the refresh uses the PHKT."""
    s = moved(Scenario(keys["mn"], binding_lifetime=40), pause=0)
    s.net.run(36)
    return s


def secure(keys: dict[str, KeyPair]) -> Scenario:
    """Secure mode (profile §5): CoTI/CoT before the BU, four messages instead of two."""
    return moved(Scenario(keys["mn"], DarConfig(require_coa_test=True), coa_test=True))


def fail132(keys: dict[str, KeyPair]) -> Scenario:
    """BA 132: a well-signed BU for an address of DAR1's prefix sent to DAR2 (not its home)."""
    s = fig1(keys)
    eve = s.attacker()
    cga = cga_generate("2001:db8:1::/64", keys["eve"], sec=0)
    s.net.inject(eve, BindingUpdate(EVE, s.dars[1].address, cga.address, 1, 400, cga_params=cga.params,
                                    sign_with=keys["eve"]))
    s.net.run(1)
    return s


def fail135(keys: dict[str, KeyPair]) -> Scenario:
    """BA 135: the MN's first BU to DAR1 replayed by an attacker, byte for byte."""
    s = fig1(keys)
    s.net.inject(s.attacker(), s.first_bu_to(s.dars[0]))
    s.net.run(1)
    return s


def fail147(keys: dict[str, KeyPair]) -> Scenario:
    """BA 147: DAR1 restarts and forgets the PHKT; the refresh is refused, a CGA BU follows."""
    s = moved(Scenario(keys["mn"], binding_lifetime=40), pause=0)
    s.net.restart(s.dars[0])
    s.net.run(34)
    return s


def fail148(keys: dict[str, KeyPair]) -> Scenario:
    """BA 148: the MN's CGA Parameters with a newer seq and a garbage signature."""
    s = fig1(keys)
    bu = s.first_bu_to(s.dars[0])
    assert bu.signature is not None
    forged = replace(bu, src=EVE, seq=(bu.seq + 1) % 65536, signature=bytes(len(bu.signature)))
    s.forged.add((forged.home_address, forged.seq))
    s.net.inject(s.attacker(), forged)
    s.net.run(1)
    return s


def multianchor(keys: dict[str, KeyPair]) -> Scenario:
    """Three DARs, two flows: HoA1 and HoA2 anchored at once from CoA3 (figure 3), then flow 1
    ends and HoA1 is released, then flow 2 and HoA2 (de-registrations from CoA3)."""
    s = fig3(keys)
    s.net.run(2)
    for flow in s.net.flows:
        flow.stop()
        s.net.run(3)
    return s


SCENARIOS: dict[str, tuple[Callable[[dict[str, KeyPair]], Scenario], str]] = {
    "fig1": (fig1, "draft figure 1: first handover DAR1 -> DAR2, CGA-signed BU, PHKT issued, tunnel up"),
    "fig2": (fig2, "draft figure 2: flow 1 tunnelled DAR1 <-> CoA2 both ways, flow 2 native at DAR2"),
    "fig3": (fig3, "draft figure 3: second handover to DAR3: PHKT BU to DAR1, CGA BU to DAR2"),
    "fig4": (fig4, "draft figure 4: CGA-authorised first BU, then a PHKT-authorised refresh (lifetime 40 s)"),
    "secure": (secure, "secure mode: CoTI/CoT before the BU, BAD keyed with the care-of token"),
    "fail132": (fail132, "failure: BA 132, a BU for DAR1's prefix sent to DAR2 by an attacker"),
    "fail135": (fail135, "failure: BA 135, the MN's first BU replayed byte for byte by an attacker"),
    "fail147": (fail147, "failure: BA 147 after DAR1 restarts, then a CGA-signed BU and a new PHKT"),
    "fail148": (fail148, "failure: BA 148, the MN's CGA Parameters with a forged signature"),
    "multianchor": (multianchor, "three DARs, two flows: HoA1 and HoA2 anchored at once, HoA1 released later"),
}


# ---------------------------------------------------------------- truth


def _originated(s: Scenario, hop: Hop) -> bool:
    """The hop that put the message on the net (not a router's relay of it)."""
    node = s.net.node(hop.src)
    if isinstance(node, DarNode):
        return hop.msg.src == node.address  # type: ignore[union-attr]
    return not hop.forwarded


def truth(s: Scenario) -> dict[str, Any]:
    net, mn = s.net, s.mn
    hops = [e for e in net.events if isinstance(e, Hop)]
    bus = [h.msg for h in hops if isinstance(h.msg, BindingUpdate) and _originated(s, h)]
    bas = [h.msg for h in hops if isinstance(h.msg, BindingAck) and _originated(s, h)]
    notices = [e for e in net.events if isinstance(e, NodeEffect) and isinstance(e.effect, Notify)]
    dar_names = {d.name for d in s.dars}
    bound = [(e.time, e.effect.data["hoa"], e.effect.data["coa"]) for e in notices  # type: ignore[union-attr]
             if e.node in dar_names and e.effect.event in ("binding-created", "binding-updated")]  # type: ignore[union-attr]
    moves = [e.time for e in net.events if isinstance(e, Change) and e.node == mn.name and e.what == "link-up"]
    handovers = []
    for i, start in enumerate(moves[1:], 1):
        end = moves[i + 1] if i + 1 < len(moves) else float("inf")
        coas = [coa for t, _, coa in bound if start <= t < end]
        if coas:
            coa = coas[0]
            handovers.append({"coa": coa, "kept": sorted({h for t, h, c in bound if start <= t < end and c == coa})})
    tunnels: dict[str, dict[str, int]] = {}
    for h in hops:
        if isinstance(h.msg, Tunnelled) and _originated(s, h):
            msg = h.msg
            down = isinstance(net.node(h.src), DarNode)
            hoa, dar = (msg.inner.dst, msg.src) if down else (msg.inner.src, msg.dst)
            entry = tunnels.setdefault(f"{hoa} {dar}", {"down_packets": 0, "down_bytes": 0, "up_packets": 0, "up_bytes": 0})
            way = "down" if down else "up"
            entry[f"{way}_packets"] += 1
            entry[f"{way}_bytes"] += len(encode_bytes(msg))
    return {
        "frames": sum(len(link.captures) for link in net.links()),
        "bus": [{"hoa": bu.home_address, "dar": bu.dst, "seq": bu.seq, "coa": bu.src,
                 "auth": "cga" if bu.cga_params else "phkt" if bu.bad is not None or bu.nonce_indices else "none",
                 "deregistration": bu.deregistration, "forged": (bu.home_address, bu.seq) in s.forged}
                for bu in bus],
        "statuses": {str(k): v for k, v in sorted(Counter(ba.status for ba in bas).items())},
        "handovers": handovers,
        "tunnels": tunnels,
        "phkt_issued": sum(1 for e in notices if e.effect.event == "phkt-issued"),  # type: ignore[union-attr]
        "coti": sum(1 for h in hops if isinstance(h.msg, CareOfTestInit) and _originated(s, h)),
        "deregistrations": sum(1 for bu in bus if bu.deregistration),
    }


# ---------------------------------------------------------------- pcapng


def _block(btype: int, body: bytes) -> bytes:
    body += bytes(-len(body) % 4)
    length = 12 + len(body)
    return struct.pack("<II", btype, length) + body + struct.pack("<I", length)


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + bytes(-len(value) % 4)


def write_pcapng(path: Path, links: list[Link]) -> int:
    """One interface per link (if_name = the link's name), packets merged in time order."""
    out = [_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))]
    for link in links:
        name = _option(2, link.name.encode()) + _option(9, bytes([6])) + _option(0, b"")
        out.append(_block(1, struct.pack("<HHI", LINKTYPE_RAW, 0, 0) + name))
    records = sorted((when, i, n, raw) for i, link in enumerate(links) for n, (when, raw) in enumerate(link.captures))
    for when, i, _, raw in records:
        usec = round(when * 1e6)
        out.append(_block(6, struct.pack("<IIIII", i, usec >> 32, usec & 0xFFFFFFFF, len(raw), len(raw)) + raw))
    path.write_bytes(b"".join(out))
    return len(records)


# ---------------------------------------------------------------- main


def load_keys(directory: Path) -> dict[str, KeyPair]:
    directory.mkdir(parents=True, exist_ok=True)
    keys = {}
    for name in ("mn", "eve"):
        path = directory / f"{name}.pem"
        if not path.exists():
            KeyPair.generate(1024).save(path)
        keys[name] = KeyPair.load(path)
    return keys


def generate(out: Path, names: list[str]) -> list[Path]:
    keys = load_keys(out / "keys")
    written = []
    for name in names:
        scenario = SCENARIOS[name][0](keys)
        pcap = out / f"{name}.pcapng"
        write_pcapng(pcap, scenario.net.links())
        (out / f"{name}.truth.json").write_text(json.dumps(truth(scenario), indent=1) + "\n")
        written.append(pcap)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Generate the reference captures of pcaps/ from SimNet scenarios.")
    ap.add_argument("out", nargs="?", type=Path, default=ROOT / "pcaps", help="output directory (default pcaps/)")
    ap.add_argument("--only", nargs="+", choices=sorted(SCENARIOS), help="these scenarios only")
    args = ap.parse_args(argv)
    for path in generate(args.out, args.only or list(SCENARIOS)):
        print(f"{path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
