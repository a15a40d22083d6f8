"""The table ``ip6 fama`` keeps a forwarding namespace from routing what claims its own address (root).

A kernel-mode DAR's namespace forwards and holds the DAR's address on its access link; Linux
has no reverse-path check for IPv6, so without the table's ``forward`` chain a packet from the
link with that address as its source went on upstream as if the DAR had sent it (RFC 3704 §2
ingress filtering, profile §6 strictness). The bed of ``hostile.py``, the namespace forwarding::

    fama-h-<id>-r: forwarding, 2001:db8:1::1 on fama-hr, default via fe80::a --veth-- fama-h-<id>-a: us

We send two datagrams for a correspondent beyond the router, first one from 2001:db8:1::1, then
one from another address of the prefix; the kernel forwards in order, back to us on the link
(its default route), so that when the second one is back, the first one came back or never will.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostile import DAR, ROLE_IF, Bed, Seen, a16, bed, run, udp, unusable

from scapy_fama.net.kernel import nft_install

pytestmark = pytest.mark.netns
FAR = "2001:db8:99::7"
NEIGHBOUR = "2001:db8:1::1234"


@pytest.fixture
def router(tmp_path: Path) -> Iterator[Bed]:
    """The bed's role namespace as a router holding the DAR's address, with the table."""
    if (why := unusable()) is not None:
        pytest.skip(why)
    if (why := unusable_nft()) is not None:
        pytest.skip(why)
    with bed(tmp_path) as made:
        run("ip", "netns", "exec", made.role_ns, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
        run("ip", "-n", made.role_ns, "addr", "add", f"{DAR}/64", "dev", ROLE_IF, "nodad")
        made.route()  # forwarding on drops the default route learnt before: ours is static
        nft_install(made.role_ns)
        yield made


def unusable_nft() -> str | None:
    return None if shutil.which("nft") else "needs nft (package nftables)"


def forwarded(b: Bed, seen: Seen) -> bool:
    """A datagram for FAR the router sent on (from its MAC, one hop less)."""
    return seen.frame[6:12] == b.role_mac and seen.ip[6] == 17 and seen.ip[24:40] == a16(FAR) and seen.ip[7] == 63


def test_a_packet_from_the_link_claiming_the_routers_own_address_is_not_forwarded(router: Bed) -> None:
    wire = router.wire
    assert wire is not None
    wire.to(router.role_mac, udp(DAR, FAR, b"as the DAR"))
    wire.to(router.role_mac, udp(NEIGHBOUR, FAR, b"from a neighbour"))
    seen = wire.collect(lambda s: forwarded(router, s) and s.ip[8:24] == a16(NEIGHBOUR))
    assert [s.ip[8:24] for s in seen if forwarded(router, s)] == [a16(NEIGHBOUR)]
