"""Kernel plumbing for the roles' kernel mode: a TUN device, iproute2 state, the nftables rule set.

Theory of operation
-------------------
In kernel mode (``fama-dar --kernel``, ``fama-mn --kernel``) the Linux kernel
carries the data, real sockets use the FAMA addresses, and a role carries only
the signalling and the tunnel's bytes. There is no kernel ip6tnl here, so the
tunnel end point is a TUN device that the role's data plane reads and writes
(:mod:`scapy_fama.automata.kernel_path`)::

    kernel routing --HoA/128 dev fama-tun, or "from HoA lookup 100"--> fama-tun --read--> data plane
    data plane --write inner packet--> fama-tun --> kernel: forwards it (DAR), delivers it (MN)

This module only manages state: :class:`Tun` opens the device (``/dev/net/tun``,
``TUNSETIFF`` with ``IFF_TUN | IFF_NO_PI | IFF_VNET_HDR``: IPv6 packets, no
packet information header, a virtio_net_hdr before each one, :mod:`scapy_fama.net.vnet`),
sets it up and gives it the tunnel MTU (the access link's
minus the 40-byte outer header, RFC 2473 §6.7); :func:`ip` runs one iproute2
command and turns a failure into one :class:`OSError` line (the roles change
addresses and routes with :mod:`scapy_fama.net.rtnetlink`, which is faster);
:func:`ipv6_conf` writes an interface's ``net.ipv6.conf`` settings and returns
what they were; the TUN disappears with its file descriptor.

Owning a FAMA address makes the kernel parse what is sent to it, and without
the mip6 and ip6_tunnel modules it answers a Mobility Header (Next Header 135),
a Home Address option, a type 2 Routing header and IPv6-in-IPv6 (Next Header
41) with ICMPv6 Parameter Problem. The role handles those packets from its
own AF_PACKET sockets, so :func:`nft_install` silences the kernel's answers: the
table ``ip6 fama`` drops every Parameter Problem the namespace itself sends
(hook ``output``: forwarded errors of other nodes pass), and spares the kernel
the IPv6-in-IPv6 packets for the namespace itself (hook ``input``: the data
plane's packet socket has its copy already, and the kernel would only build a
Parameter Problem for each; forwarded ones pass). It also forwards nothing whose
source is an address of the namespace itself (hook ``forward``, ``fib saddr type
local``): ingress filtering (RFC 3704 §2, profile §6 strictness), as a kernel-mode DAR
holds its address on its access link and Linux, unlike for IPv4, has no reverse-path
check that would refuse a packet from the link that claims it. Its rule set,
:data:`NFT_RULES` (:data:`NFT_COMMAND` loads it in one line)::

    table ip6 fama {
        chain out { type filter hook output priority 0; icmpv6 type parameter-problem drop }
        chain in { type filter hook input priority 0; ip6 nexthdr 41 drop }
        chain forward { type filter hook forward priority 0; fib saddr type local drop }
    }

Who removes the table. ``fama-lab up`` installs it in its namespaces before it starts
the roles (:func:`nft_install`) and deletes it with them. A role in kernel mode that
finds none installs it itself (:func:`nft_claim`), with a set ``roles`` holding its
pid; a role that finds a table with that set adds its pid; at exit each takes its pid
out (:func:`nft_release`) and the last one out deletes the table. A table without the
set (the lab's, one loaded by hand) is someone else's: no role changes or deletes it.
So a role never deletes a table another process relies on, and two roles in one
namespace share theirs whoever started first. The claims and releases of all roles
take turns on the lock file :data:`NFT_LOCK` (a role starting while the last one
leaves would otherwise add its pid to a table about to go); a role's install begins
with ``create table``, so a table loaded meanwhile by someone who takes no lock aborts
it whole instead of getting its rules twice. A role killed with SIGKILL leaves its pid
behind, and the table stays (still silencing the kernel) until ``nft delete table ip6
fama``.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import struct
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from scapy_fama.net.vnet import IFF_VNET_HDR

TUN_NAME = "fama-tun"
TUNNEL_HEADER = 40  # the outer IPv6 header of RFC 2473
NFT_TABLE = "fama"
NFT_RULES = f"""table ip6 {NFT_TABLE} {{
    chain out {{
        type filter hook output priority 0;
        icmpv6 type parameter-problem drop;
    }};
    chain in {{
        type filter hook input priority 0;
        ip6 nexthdr 41 drop;
    }};
    chain forward {{
        type filter hook forward priority 0;
        fib saddr type local drop;
    }};
}}
"""  # every statement ends in ";", so that it also reads as one line (NFT_COMMAND)
NFT_COMMAND = f"nft '{' '.join(NFT_RULES.split())}'"
NFT_ROLES = "roles"  # the set of a table roles installed: the pids of the roles using it
NFT_LOCK = Path("/run/fama-nft.lock")  # taken by every role's claim and release
_TUN_DEVICE = Path("/dev/net/tun")
_TUNSETIFF = 0x400454CA
_IFF_TUN, _IFF_NO_PI = 0x0001, 0x1000


def _run(argv: list[str], stdin: str | None = None) -> str:
    if shutil.which(argv[0]) is None:
        raise OSError(f"{argv[0]} not found (install {'nftables' if argv[0] == 'nft' else 'iproute2'})")
    done = subprocess.run(argv, input=stdin, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[0]  # nft adds the input, marked
        raise OSError(f"{' '.join(argv)}: {first}")
    return done.stdout


def ip(*argv: str) -> str:
    """Run ``ip -6 ARGV...`` in this namespace; a failure is one OSError line."""
    return _run(["ip", "-6", *argv])


def _in_namespace(namespace: str | None, argv: list[str]) -> list[str]:
    return argv if namespace is None else ["ip", "netns", "exec", namespace, *argv]


def nft_install(namespace: str | None = None) -> None:
    """Install the table ``ip6 fama`` (see the module's docstring) in ``namespace`` (None: here)."""
    nft_remove(namespace)
    _run(_in_namespace(namespace, ["nft", "-f", "-"]), NFT_RULES)


def _nft_present(namespace: str | None = None) -> bool:
    tables = _run(_in_namespace(namespace, ["nft", "list", "tables", "ip6"]))
    return f"table ip6 {NFT_TABLE}" in tables.splitlines()


def nft_remove(namespace: str | None = None) -> None:
    """Remove the table ``ip6 fama`` from ``namespace`` if it is there."""
    if _nft_present(namespace):
        _run(_in_namespace(namespace, ["nft", "delete", "table", "ip6", NFT_TABLE]))


@contextmanager
def _nft_turn() -> Iterator[None]:
    """Hold :data:`NFT_LOCK` (the roles' claims and releases take turns)."""
    with open(NFT_LOCK, "a", encoding="ascii") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _nft_roles() -> set[int] | None:
    """The pids in the set ``roles`` of the table here; None when there is no table a role installed."""
    if not _nft_present():
        return None
    table = _run(["nft", "list", "table", "ip6", NFT_TABLE])
    if f"set {NFT_ROLES} {{" not in (line.strip() for line in table.splitlines()):
        return None
    found = re.search(r"elements = \{([^}]*)\}", _run(["nft", "list", "set", "ip6", NFT_TABLE, NFT_ROLES]))
    return set() if found is None else {int(pid, 0) for pid in found.group(1).replace(",", " ").split()}


def nft_claim(pid: int) -> str:
    """Make sure the table ``ip6 fama`` is in this namespace for the role ``pid``, by the ownership
    rule of the module's docstring: "installed" (there was none: installed, ``pid`` its first
    role), "shared" (another role installed it: ``pid`` added) or "present" (someone else's: left
    as it is). A failure (no nft, no nf_tables, no lock file) is one OSError line."""
    with _nft_turn():
        if not _nft_present():
            roles = f"add set ip6 {NFT_TABLE} {NFT_ROLES} {{ type mark; }}\n"  # mark: 32 bits, as a pid
            first = f"add element ip6 {NFT_TABLE} {NFT_ROLES} {{ {pid} }}\n"
            _run(["nft", "-f", "-"], f"create table ip6 {NFT_TABLE}\n{NFT_RULES}{roles}{first}")  # one transaction
            return "installed"
        if _nft_roles() is None:
            return "present"
        _run(["nft", "add", "element", "ip6", NFT_TABLE, NFT_ROLES, f"{{ {pid} }}"])
        return "shared"


def nft_release(pid: int) -> bool:
    """Take the role ``pid`` out of the table's set ``roles``, and delete the table if it was the last
    one (the module's docstring); whether the table went. A failure is one OSError line."""
    with _nft_turn():
        roles = _nft_roles()
        if roles is None or pid not in roles:  # deleted or replaced meanwhile: no longer ours
            return False
        if roles == {pid}:
            _run(["nft", "delete", "table", "ip6", NFT_TABLE])
            return True
        _run(["nft", "delete", "element", "ip6", NFT_TABLE, NFT_ROLES, f"{{ {pid} }}"])
        return False


def ipv6_conf(iface: str, settings: dict[str, int]) -> dict[str, int]:
    """Write ``net.ipv6.conf.IFACE.NAME = VALUE`` for each of ``settings`` in this namespace;
    the values they had (to write back). A failure is one OSError line."""
    before = {}
    for name, value in settings.items():
        path = Path("/proc/sys/net/ipv6/conf", iface, name)
        try:
            before[name] = int(path.read_text())
            path.write_text(f"{value}\n")
        except OSError as exc:
            raise OSError(f"sysctl net.ipv6.conf.{iface}.{name}={value}: {exc.strerror or exc}") from None
    return before


def require_tun() -> None:
    if not _TUN_DEVICE.exists():
        raise OSError(f"{_TUN_DEVICE} does not exist: no TUN devices on this machine (modprobe tun)")


def mtu(iface: str) -> int:
    return int(Path("/sys/class/net", iface, "mtu").read_text())


def mac(iface: str) -> str:
    return Path("/sys/class/net", iface, "address").read_text().strip()


class Tun:
    """A TUN device carrying IPv6 packets behind a virtio_net_hdr, up, with the tunnel MTU of ``access``."""

    def __init__(self, access: str, name: str = TUN_NAME) -> None:
        require_tun()
        self.name = name
        self.fd = os.open(_TUN_DEVICE, os.O_RDWR)
        try:
            request = struct.pack("16sH", name.encode(), _IFF_TUN | _IFF_NO_PI | IFF_VNET_HDR)
            fcntl.ioctl(self.fd, _TUNSETIFF, request)
            ip("link", "set", name, "mtu", str(mtu(access) - TUNNEL_HEADER), "up")
        except OSError as exc:
            os.close(self.fd)
            raise OSError(f"cannot create the TUN device {name}: {exc.strerror or exc}") from None

    def close(self) -> None:
        """Close the device (the kernel deletes it, and every route and address on it)."""
        os.close(self.fd)
