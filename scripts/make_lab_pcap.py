"""Capture pcaps/lab.pcap on the lab's real links, with its truth from the roles' own logs (root).

    python3 scripts/make_lab_pcap.py [OUT_DIR]

Theory of operation
-------------------
``fama-lab``'s topology (3 DARs, fama-dar/fama-mn --kernel, the MN keeping every
address) and one capture point, DAR 1's core side (``fama-d1-up``, Ethernet pcap)::

    MN on DAR 1, echo requests from the CN to its address HoA1 every 0.2 s
    -> DAR 2: a CGA-signed BU from CoA2 to DAR 1 crosses the capture point, BA 0 with a PHKT,
              HoA1's echoes tunnelled DAR 1 <-> CoA2
    -> DAR 3: a PHKT-authorised BU from CoA3, BA 0, the tunnel to CoA3
    -> DAR 1: home again; the de-registration stays on the access link (not captured), the BUs
              from HoA1 for the addresses of DAR 2 and DAR 3 leave through DAR 1's core side

``OUT_DIR/lab.truth.json`` holds what the MN's JSON log says crossed DAR 1's
core side (a BU between a care-of address outside DAR 1's prefix and DAR 1, or
between an address of DAR 1's prefix and another DAR; the BAs back), never
what the analyser says: the BUs (HoA, DAR, seq, CoA, authorisation,
de-registration), the BA statuses, the PHKTs issued, and the handovers as the
BUs show them (each CoA with the addresses it bound). The MN's key is fresh
each run, so a reader cannot check the PHKTs and BADs.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from scapy_fama.lab import apps, capture, control, demo, roles, state
from scapy_fama.lab.topology import dar_address, namespace, upstream_iface

ROOT = Path(__file__).resolve().parents[1]
PATH = [2, 3, 1]
SETTLE = 2.0


def _crosses(mn_side: str, dar: str) -> bool:
    """Whether a message between an MN address and a DAR passes DAR 1's core side."""
    return demo.in_prefix(mn_side, 1) != (dar == dar_address(1))


def truth(mn: list[dict[str, Any]]) -> dict[str, Any]:
    """What crossed DAR 1's core side, from the MN's log: its BUs and the BAs back."""
    bus = [{"hoa": r["hoa"] or r["src"], "dar": r["dst"], "seq": r["seq"], "coa": r["src"],
            "auth": "cga" if r["cga"] else "phkt" if r["bad"] else "none",
            "deregistration": r["lifetime"] == 0}
           for r in mn if r["dir"] == "out" and r["kind"] == "BU" and _crosses(r["src"], r["dst"])]  # fmt: skip
    bas = [r for r in mn if r["dir"] == "in" and r["kind"] == "BA" and _crosses(r["dst"], r["src"])]
    handovers: dict[str, set[str]] = {}
    for bu in bus:
        handovers.setdefault(bu["coa"], set()).add(bu["hoa"])
    return {
        "bus": bus,
        "statuses": dict(Counter(str(ba["status"]) for ba in bas)),
        "phkt_issued": sum(bool(ba["phkt"]) for ba in bas),
        "handovers": [{"coa": coa, "kept": sorted(kept)} for coa, kept in handovers.items()],
    }


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "pcaps"
    lab = control.up(3, 0.0, 0.0, False, print)
    try:
        first = control.mn_addresses()[0]
        watcher = capture.start(namespace("dar1"), upstream_iface(1), out / "lab.pcap")
        pinger = apps.start(namespace("cn"), "ping", "--to", first, "--interval", "0.2")
        for to in PATH:
            time.sleep(SETTLE)
            mark = len(roles.records(state.log_dir(), "mn"))
            control.handover(lab, to)
            demo.wait_bindings(lab, mark, [a for a in control.mn_addresses() if not demo.in_prefix(a, to)])
        time.sleep(SETTLE)
        apps.finish(pinger, stop=True)
        capture.stop(watcher)
        found = truth(roles.records(state.log_dir(), "mn"))
        (out / "lab.truth.json").write_text(json.dumps(found, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {out / 'lab.pcap'} and {out / 'lab.truth.json'}: {len(found['bus'])} BUs")
    finally:
        state.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
