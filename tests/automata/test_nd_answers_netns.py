"""One Neighbour Advertisement per Neighbour Solicitation in kernel mode, with RFC 4861's flags (root).

    the lab of test_kernel_mode (fama-dar --kernel on link 1 and link 2, fama-mn --kernel)
    and a peer on link 1: fama-k-<id>-p, fama-p ==fama-pr--+ fama-br1, 2001:db8:1::99

In kernel mode the kernel holds the DAR's addresses (2001:db8:1::1, fe80::1) and the MN's current
address on the access link and answers their NSs itself (RFC 4861 §7.2.3); the role answers only
for what the kernel does not hold, the HoA it proxies once the MN has moved (RFC 6275 §10.4.1). The
peer sends each address three NSs (to its solicited-node group with its SLLA, unicast to the
address's MAC, a DAD probe from ::) and counts what answers. Both used to answer: two NAs per NS,
and to a unicast NS two that disagree (the kernel's O=0 without a TLLA, the role's O=1 with one).

Counting needs to know that nothing more is coming. After each NS the peer sends the role a packet
with an unrecognised Destination Option whose action bits ask for a Parameter Problem (RFC 8200
§4.2). The role reads its socket in order: its Parameter Problem comes after any NA it sent for the
NS (the kernel's, sent as the NS came in, is earlier still; the namespaces' nftables table drops
the kernel's own Parameter Problems). The NAs are dissected by Scapy in the peer and checked
against RFC 4861 §7.2.4: S set but for a DAD probe (then to all nodes), R the sender's (a router:
the DAR; a host: the MN), the sender's MAC as TLLA, which only a
unicast NS lets it leave out, and O set with a TLLA, clear without one (§7.2.4's SHOULDs).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_kernel_mode import DAR1, KernelLab, _missing, _until
from test_netns import built

pytestmark = pytest.mark.netns
PEER = "2001:db8:1::99"
DAR1_LINK_LOCAL = "fe80::1"  # fe80:: and the IID of DAR1's address
DEADLINE = 20.0  # seconds for the role's Parameter Problem after an NS

# Run in the peer's namespace with a JSON list of [target, kind, MAC of the target, address of the
# role that answers the barrier]; kind "multicast", "unicast" or "dad". Prints, per NS, the NAs for
# its target that arrived before the barrier's Parameter Problem, as Scapy dissects them, or null
# when no Parameter Problem came.
PROBE = f"""
import json, socket, sys, threading
from scapy.layers.inet6 import (ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptDstLLAddr, ICMPv6NDOptSrcLLAddr,
                                ICMPv6ParamProblem, IPv6, IPv6ExtHdrDestOpt, HBHOptUnknown)
from scapy.layers.l2 import Ether
from scapy.sendrecv import AsyncSniffer, sendp
from scapy.utils6 import in6_getnsma, in6_getnsmac

IFACE, PEER = "fama-p", "{PEER}"
mac = open(f"/sys/class/net/{{IFACE}}/address").read().strip()

def solicitation(target, kind, target_mac):
    ns, slla = ICMPv6ND_NS(tgt=target), ICMPv6NDOptSrcLLAddr(lladdr=mac)
    if kind == "unicast":
        return Ether(src=mac, dst=target_mac) / IPv6(src=PEER, dst=target, hlim=255) / ns / slla
    group = socket.inet_ntop(socket.AF_INET6, in6_getnsma(socket.inet_pton(socket.AF_INET6, target)))
    frame = Ether(src=mac, dst=in6_getnsmac(socket.inet_pton(socket.AF_INET6, group)))
    if kind == "dad":  # RFC 4862 §5.4.2: from ::, no SLLA
        return frame / IPv6(src="::", dst=group, hlim=255) / ns
    return frame / IPv6(src=PEER, dst=group, hlim=255) / ns / slla

def barrier(role, role_mac):
    # RFC 8200 §4.2: option type 0x9e (RFC 4727's experiment), action bits 10: Parameter Problem, code 2
    option = HBHOptUnknown(otype=0x9E, optlen=4, optdata=bytes(4))
    return Ether(src=mac, dst=role_mac) / IPv6(src=PEER, dst=role) / IPv6ExtHdrDestOpt(nh=59, options=[option])

def answered(p):
    return ICMPv6ParamProblem in p and p[ICMPv6ParamProblem].code == 2 and p[IPv6].dst == PEER

def advertisement(p):
    na = p[ICMPv6ND_NA]
    tlla = p[ICMPv6NDOptDstLLAddr].lladdr if ICMPv6NDOptDstLLAddr in p else None
    return {{"from": p[Ether].src, "src": p[IPv6].src, "dst": p[IPv6].dst, "hlim": p[IPv6].hlim,
             "R": na.R, "S": na.S, "O": na.O, "tlla": tlla}}

found = []
for target, kind, target_mac, role, role_mac in json.loads(sys.argv[1]):
    ready = threading.Event()
    sniffer = AsyncSniffer(iface=IFACE, lfilter=lambda p: ICMPv6ND_NA in p or answered(p),
                           stop_filter=answered, started_callback=ready.set)
    sniffer.start()
    ready.wait({DEADLINE})
    sendp(solicitation(target, kind, target_mac), iface=IFACE, verbose=False)
    sendp(barrier(role, role_mac), iface=IFACE, verbose=False)
    sniffer.join({DEADLINE})
    if sniffer.running:
        sniffer.stop()
    seen = sniffer.results
    complete = bool(seen) and answered(seen[-1])
    nas = [advertisement(p) for p in seen if ICMPv6ND_NA in p and p[ICMPv6ND_NA].tgt == target]
    found.append(nas if complete else None)
print(json.dumps(found))
"""


class PeerLab(KernelLab):
    """test_kernel_mode's lab and a host on link 1 that solicits."""

    def build(self) -> None:
        super().build()
        self.run("ip", "netns", "add", self.ns("p"))
        self.namespaces.append(self.ns("p"))
        self.sysctl("p", "net.ipv6.conf.default.accept_ra=0")
        self.veth("fama-p", "p", "fama-pr", "core")
        self.ip("core", "link", "set", "fama-pr", "master", "fama-br1")
        self.ip("p", "-6", "addr", "add", f"{PEER}/64", "dev", "fama-p", "nodad")

    def mac(self, role: str) -> str:
        return str(json.loads(self.shows(role, "-j", "link", "show", "dev", f"fama-{role}"))[0]["address"])

    def settled(self, role: str, address: str) -> bool:
        """The kernel holds ``address`` on the access link, its DAD over (not optimistic: RFC 4429 §3.3)."""
        shown = json.loads(self.shows(role, "-j", "-6", "addr", "show", "dev", f"fama-{role}"))
        held = [a for a in shown[0]["addr_info"] if a["local"] == address]
        return bool(held) and not any(held[0].get(flag) for flag in ("tentative", "optimistic", "dadfailed"))

    def solicit(self, target: str, target_role: str, barrier: str, barrier_role: str) -> dict[str, Any]:
        """The NAs for ``target`` that answer each of the three NSs, by kind."""
        kinds = ("multicast", "unicast", "dad")
        probes = [[target, kind, self.mac(target_role), barrier, self.mac(barrier_role)] for kind in kinds]
        done = subprocess.run(["ip", "netns", "exec", self.ns("p"), sys.executable, "-c", PROBE, json.dumps(probes)],
                              capture_output=True, text=True, timeout=DEADLINE * 4, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
        found = dict(zip(kinds, json.loads(done.stdout), strict=True))
        assert None not in found.values(), f"no Parameter Problem from {barrier} after an NS: {found}"
        return found


@pytest.fixture
def plab(tmp_path: Path) -> Iterator[PeerLab]:
    yield from built(PeerLab(tmp_path), _missing())


def _one_answer(found: dict[str, Any], target: str, mac: str, *, router: bool, proxy: bool = False) -> None:
    """Exactly one NA per NS, as RFC 4861 §7.2.4 has it (see the module's docstring); a ``proxy``
    answers for the MN, a host, always with its TLLA and Override set (RFC 6275 §10.4.1)."""
    for kind, answers in found.items():
        assert len(answers) == 1, f"{kind} NS for {target}: {answers}"
        (na,) = answers
        assert (na["from"], na["src"], na["hlim"]) == (mac, target, 255), (kind, na)
        if kind == "dad":  # from ::: S clear, to all nodes
            assert (na["dst"], na["S"]) == ("ff02::1", 0), na
        else:
            assert (na["dst"], na["S"]) == (PEER, 1), (kind, na)
        assert na["tlla"] == mac or (kind == "unicast" and na["tlla"] is None and not proxy), (kind, na)
        assert (na["R"], na["O"]) == (int(router), int(na["tlla"] is not None)), (kind, na)


def test_each_ns_gets_one_na_from_the_kernel_or_the_role_never_both(plab: PeerLab) -> None:
    home = plab.roles()
    _until(lambda: plab.settled("mn", home), "the kernel's DAD on the MN's address")
    dar1, mn = plab.mac("d1"), plab.mac("mn")
    _one_answer(plab.solicit(DAR1_LINK_LOCAL, "d1", DAR1, "d1"), DAR1_LINK_LOCAL, dar1, router=True)
    _one_answer(plab.solicit(DAR1, "d1", DAR1, "d1"), DAR1, dar1, router=True)
    _one_answer(plab.solicit(home, "mn", home, "mn"), home, mn, router=False)

    plab.move(2)  # DAR1 now proxies the home address on link 1: the role answers, not the kernel
    assert plab.wait("dar1", dir="event", kind="binding-created")["hoa"] == home
    _one_answer(plab.solicit(home, "d1", DAR1, "d1"), home, dar1, router=False, proxy=True)
    plab.stop_roles(home)
