"""The lab's names and addressing plan: pure data, no commands.

Theory of operation
-------------------
Every namespace is ``fama-lab-<node>`` and every interface ``fama-<...>`` of at
most 15 characters (IFNAMSIZ - 1), so that ``down`` can find all of it by name::

    node   namespace       interfaces                       addresses
    cn     fama-lab-cn     fama-cn                          2001:db8:ff::1/64, default via ::fe
    core   fama-lab-core   fama-core-cn, fama-core-dI       2001:db8:ff::fe/64, 2001:db8:fe:I::1/64;
                                                            2001:db8:I::/64 via 2001:db8:fe:I::2
    darI   fama-lab-darI   fama-dI-up, fama-dI-acc          2001:db8:fe:I::2/64, default via ::1;
                                                            2001:db8:I::/64 dev fama-dI-acc, and the
                                                            DAR address 2001:db8:I::1 (fama-dar adds it)
    sw     fama-lab-sw     fama-brI, fama-sw-dI, fama-sw-mn  none: bridges only
    mn     fama-lab-mn     fama-mn                          none: fama-mn configures its own

The MN's port ``fama-sw-mn`` is a member of the bridge of the DAR it is
attached to; a handover moves it to another bridge.
"""

from __future__ import annotations

from dataclasses import dataclass

NAMESPACE_PREFIX = "fama-lab-"
MAX_DARS = 9
IFNAMSIZ = 16  # including the terminating NUL
CN_ADDRESS = "2001:db8:ff::1"
CORE_CN_ADDRESS = "2001:db8:ff::fe"
CN_MTU = 1400  # room for the 40-byte IPv6-in-IPv6 header on the 1500-byte links behind the CN


def namespace(node: str) -> str:
    return f"{NAMESPACE_PREFIX}{node}"


def dar_prefix(i: int) -> str:
    return f"2001:db8:{i}::/64"


def dar_address(i: int) -> str:
    return f"2001:db8:{i}::1"


def upstream_address(i: int, dar_side: bool) -> str:
    return f"2001:db8:fe:{i}::{2 if dar_side else 1}"


@dataclass(frozen=True)
class Veth:
    """One veth pair: ``a`` in namespace ``ns_a``, ``b`` in ``ns_b``."""

    ns_a: str
    a: str
    ns_b: str
    b: str


@dataclass(frozen=True)
class Topology:
    """The lab with ``dars`` DARs (1 to :data:`MAX_DARS`)."""

    dars: int

    def __post_init__(self) -> None:
        if not 1 <= self.dars <= MAX_DARS:
            raise ValueError(f"--dars must be 1 to {MAX_DARS}, not {self.dars}")

    @property
    def dar_numbers(self) -> range:
        return range(1, self.dars + 1)

    @property
    def nodes(self) -> list[str]:
        return ["cn", "core", "sw", *(f"dar{i}" for i in self.dar_numbers), "mn"]

    @property
    def namespaces(self) -> list[str]:
        return [namespace(node) for node in self.nodes]

    def veths(self) -> list[Veth]:
        core, sw = namespace("core"), namespace("sw")
        pairs = [Veth(namespace("cn"), "fama-cn", core, "fama-core-cn")]
        for i in self.dar_numbers:
            dar = namespace(f"dar{i}")
            pairs.append(Veth(dar, upstream_iface(i), core, core_iface(i)))
            pairs.append(Veth(dar, access_iface(i), sw, switch_port(f"d{i}")))
        pairs.append(Veth(namespace("mn"), MN_IFACE, sw, MN_PORT))
        return pairs

    def interfaces(self) -> list[str]:
        """Every interface name the lab creates (bridges included)."""
        names = [bridge(i) for i in self.dar_numbers]
        for pair in self.veths():
            names += [pair.a, pair.b]
        return names

    def check_dar(self, i: int) -> int:
        if i not in self.dar_numbers:
            raise ValueError(f"no DAR {i}: the lab has DARs 1 to {self.dars}")
        return i


MN_IFACE = "fama-mn"
MN_PORT = "fama-sw-mn"


def upstream_iface(i: int) -> str:
    return f"fama-d{i}-up"


def access_iface(i: int) -> str:
    return f"fama-d{i}-acc"


def core_iface(i: int) -> str:
    return f"fama-core-d{i}"


def switch_port(node: str) -> str:
    return f"fama-sw-{node}"


def bridge(i: int) -> str:
    return f"fama-br{i}"


def node_namespace(node: str, topology: Topology) -> str:
    """The namespace of a node named on the command line (cn, core, sw, darI, mn)."""
    if node not in topology.nodes:
        raise ValueError(f"unknown node {node!r}: one of {', '.join(topology.nodes)}")
    return namespace(node)


def default_iface(node: str) -> str:
    """The interface a capture on ``node`` listens on: a DAR's core side, the MN's access link."""
    if node.startswith("dar"):
        return upstream_iface(int(node[3:]))
    return {"cn": "fama-cn", "core": "fama-core-cn", "sw": MN_PORT, "mn": MN_IFACE}[node]
