"""DAR cases: the neighbour cache on the access link (RFC 4861 §7.2.5; profile §6 "Bounded state").

Theory of operation
-------------------
The tester holds ``H``, an address of the DAR's prefix on the access link (a
host at home), and sends traffic for it from its correspondent through the
DAR. The Ethernet destination the DAR puts on each forwarded packet is what its
neighbour cache holds for ``H``::

    CN -> H through the DAR          NS for H; the tester answers (S=1, O=1, its MAC): REACHABLE
                                     the packet goes to the tester's MAC
    NA for H: S=0, O=0, MAC X        another MAC without Override: not taken (REACHABLE -> STALE)
    CN -> H                          still to the tester's MAC
    NA for H: S=0, O=1, MAC X        Override: X is taken
    CN -> H                          to X

X is a locally administered MAC that no node on the link has; the tester
reads the frames the DAR sends to it as they pass on the link. Only a DAR on an
interface has a neighbour cache: in-process the case is inconclusive, saying so.
"""

from __future__ import annotations

import os
from ipaddress import IPv6Network

from scapy_fama.conformance.case import Fail, case
from scapy_fama.conformance.dar_tester import DarTester
from scapy_fama.conformance.executor import IUT, Frame, Setup
from scapy_fama.crypto import addr_text
from scapy_fama.wire.icmpv6 import neighbor_advertisement
from scapy_fama.wire.link import mac_bytes

OTHER_MAC = "02:00:5e:7e:57:0a"  # locally administered (RFC 7042 §2.1): nobody's on the link
MAX_NEIGHBOR_ADVERTISEMENT = 3  # RFC 4861 §10
RESOLVING = 1.0  # seconds an IUT may take to resolve H first (RFC 4861 §10 RETRANS_TIMER)


def _delivered(t: DarTester, host: str, when: str) -> str:
    """Send a packet for ``host`` from the correspondent through the DAR: the Ethernet
    destination it leaves with."""
    payload = os.urandom(16)
    t.send(t.datagram(t.cn, host, payload=payload))

    def carries(f: Frame) -> bool:
        return f.direction == IUT and f.raw.endswith(payload)

    got = [f for f in t.x.wait(t.wait + RESOLVING, carries) if carries(f)]
    if not got:
        raise t.missing(f"a packet from {t.cn} for {host}, an address of the DAR's link, was not forwarded {when}")
    return got[0].mac


def _advertise(t: DarTester, host: str, *, override: bool) -> None:
    """Unsolicited NAs for ``host`` to all nodes naming OTHER_MAC, as many as RFC 4861 §7.2.6
    allows (MAX_NEIGHBOR_ADVERTISEMENT), so that one lost on the link does not decide the case."""
    na = neighbor_advertisement(host, "ff02::1", host, mac_bytes(OTHER_MAC), router=False, solicited=False, override=override)
    for _ in range(MAX_NEIGHBOR_ADVERTISEMENT):
        t.send(na)


@case("DAR-ND-001", "An NA without Override leaves a known link-layer address as it is; one with Override replaces it", "RFC 4861 §7.2.5 (the Override flag); profile §6 (neighbour entries learnt only as RFC 4861 allows)", group="nd", setup=Setup(link=True))
def na_override(t: DarTester) -> None:
    net = IPv6Network(t.prefix)
    host = addr_text(str(net.network_address + (int.from_bytes(os.urandom(8), "big") | 1)))
    t.x.hold(host)
    ours = _delivered(t, host, "(the tester answered the DAR's NS for it)")
    _advertise(t, host, override=False)
    if (mac := _delivered(t, host, "after an NA without Override")) != ours:
        raise Fail(f"after an NA for {host} with O=0 naming {OTHER_MAC}, the DAR sends to {mac}, not {ours} as it had resolved")
    _advertise(t, host, override=True)
    if (mac := _delivered(t, host, "after an NA with Override")) != OTHER_MAC:
        raise Fail(f"after an NA for {host} with O=1 naming {OTHER_MAC}, the DAR sends to {mac}, not to {OTHER_MAC}")
