"""Real-interface plumbing for the automata: an Ethernet port on a Linux interface, and the kernel's
routing table as a DAR's way upstream.

Theory of operation
-------------------
::

    automaton --Ether frames--> IfacePort (AF_PACKET, IPv6 frames only, not promiscuous) --> IF
              <-----------------------------------------------------------------------------
    DAR       --IPv6 packets--> KernelRoute (raw IPv6, IPPROTO_RAW) --> kernel routing --> next hop
    DAR (kernel mode) <--IPv6 packets for its address, on any other interface-- KernelUpstream
              (AF_PACKET, cooked, a BPF filter on the destination address)

The FAMA addresses (a DAR's address, the MN's CGAs, the HoAs a DAR defends)
live only in the automata: the kernel never owns them, and the automata answer
Neighbour Solicitations for them themselves (:mod:`scapy_fama.automata.nd`).
That is how the ICMPv6 Parameter Problem of a kernel without the mip6 module
is avoided: a Linux host only parses the Mobility Header, the Home Address
option and the type 2 Routing header of packets for its *own* addresses, and
answers them with Parameter Problem (code 1 for Next Header 135, code 2 for
the HAO, code 0 for RH2); a packet for an address it does not own is dropped
silently when forwarding is off (the state of a new network namespace). So
nothing answers on the kernel's behalf and no nftables rule is needed; the
namespace running a role must keep IPv6 forwarding off and should not
autoconfigure from the DAR's RAs (``accept_ra=0`` on the MN's interface), or
its kernel would own an address of the prefix. Should a Parameter Problem
arrive anyway (from a host whose kernel owns the destination), the MN core
drops it as a message it does not handle.

Kernel mode (``--kernel``) is the deliberate exception: there the kernel owns
the FAMA addresses so that real sockets can use them, and the namespace
forwards; the nftables table ``ip6 fama`` (:mod:`scapy_fama.net.kernel`, which
the role installs where it is missing) silences the Parameter Problems. A DAR then also reads what reaches its
address from upstream (BUs and reverse-tunnelled packets of MNs on other
links) with a :class:`KernelUpstream`.

An access port may have a second packet socket on its interface, a *priority*
socket (:class:`PrioritySocket`): its BPF program takes the short BUs (PHKT
refreshes, :func:`scapy_fama.net.bpf.short_bus`) and the port's own program
everything else, so the kernel queues a refresh apart from a burst of CGA-signed
BUs and :class:`~scapy_fama.automata.ports.NodeSocket` reads it first (profile §6
DoS guard; issue 14 item 2). Each program is attached before its socket receives
anything (the priority socket is bound after it; what the port's socket took
before its program is discarded), so that no frame is read by both::

    IF --kernel--> short_bus()              --> priority socket --+
                   own_frames(priority=True) --> port's socket  ---+--> NodeSocket: priority first

Link state comes from sysfs: ``carrier``, and ``carrier_up_count`` as the
attachment epoch (Linux >= 4.16), so that a driver polling them sees a link
that went down and up between two polls.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

from scapy.arch import in6_getifaddr
from scapy.arch.linux import L2Socket
from scapy.data import ETH_P_IPV6, IPV6_ADDR_LINKLOCAL
from scapy.layers.inet6 import IPv6, neighsol
from scapy.packet import Packet
from scapy.supersocket import SuperSocket

from scapy_fama.net import bpf
from scapy_fama.net.faults import Faults
from scapy_fama.wire.read import addr

SYS_NET = Path("/sys/class/net")


def require_interface(name: str) -> None:
    if not name or "/" in name or not (SYS_NET / name).is_dir():
        raise ValueError(f"unknown interface {name!r}")


def link_local(iface: str) -> str:
    """The IPv6 link-local address the kernel holds on ``iface``."""
    for address, scope, name in in6_getifaddr():
        if name == iface and scope == IPV6_ADDR_LINKLOCAL:
            return str(address)
    raise ValueError(f"interface {iface} has no IPv6 link-local address (is it up?)")


def resolve_mac(iface: str, address: str, timeout: float, tries: int = 1) -> str:
    """The MAC address of ``address`` on ``iface``, by Neighbour Solicitations from our
    link-local address, ``timeout`` seconds apart, at most ``tries`` (RFC 4861 §7.2; §10 sets
    MAX_MULTICAST_SOLICIT to 3). Scapy's own resolution would not do: its routing table has no
    route to a prefix of which this host holds no address."""
    require_interface(iface)
    source = link_local(iface)
    for _ in range(tries):
        answer = neighsol(address, source, iface, timeout=timeout)
        if answer is not None:
            return str(answer.src)
    raise ValueError(f"{address} does not answer Neighbour Solicitations on {iface}")


def require_root() -> None:
    if os.geteuid() != 0:
        raise PermissionError("must run as root (raw sockets on the interface need CAP_NET_RAW)")


RECEIVE_BUFFER = 4 << 20  # bytes: room for a burst of thousands of BUs (profile §6 bounded, issue 14)
SO_RCVBUFFORCE = 33  # asm-generic/socket.h; Python's socket module does not name it
SO_TIMESTAMPNS = 35  # asm-generic/socket.h (SO_TIMESTAMPNS_OLD): each frame's receive time, a timespec
_STAMP_SPACE = socket.CMSG_SPACE(16)  # one struct timespec (two 64-bit fields)


def receive_buffer(sock: socket.socket) -> None:
    """A receive buffer sized for bursts; SO_RCVBUFFORCE passes the sysctl cap as root."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RECEIVE_BUFFER)
    except OSError:  # not privileged: as large as net.core.rmem_max allows
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)


def stamped(sock: socket.socket) -> None:
    """Have the kernel give each frame's receive time with it (SO_TIMESTAMPNS, socket(7))."""
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)


def _read(port: PrioritySocket | IfacePort) -> bytes | None:
    """One frame from a port's packet socket, its receive time by the kernel in ``port.stamp``
    (``time.time()``'s clock; None when the socket is not :func:`stamped`). None: a frame
    this host sent, which a packet socket sees too, nothing to read on a socket that does
    not block, or a read error counted in ``port.faults`` (the link went down)."""
    try:
        data, address, stamp = _receive(port.ins)
    except BlockingIOError:
        return None
    except OSError as exc:
        port.faults.note(exc)
        return None
    if address[2] == socket.PACKET_OUTGOING:
        return None
    port.stamp = stamp
    return data


def _receive(sock: socket.socket) -> tuple[bytes, tuple[str, int, int, int, bytes], float | None]:
    """One frame from a packet socket: its bytes, its sockaddr_ll and, on a :func:`stamped`
    socket, the kernel's receive time (``time.time()``'s clock; else None)."""
    data, ancillary, _, address = sock.recvmsg(65535, _STAMP_SPACE)
    for level, kind, value in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
            seconds, nanoseconds = int.from_bytes(value[:8], sys.byteorder), int.from_bytes(value[8:16], sys.byteorder)
            return data, address, seconds + nanoseconds / 1e9
    return data, address, None


def _forget_bind_error(sock: socket.socket) -> None:
    """Clear the ENETDOWN that binding a packet socket to an interface that is down leaves
    pending (a new interface, :meth:`IfacePort.revive`): the carrier says so already, and read
    once the link is up it would pass for a failure of the link that is."""
    sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)


def _discard_queued(sock: socket.socket) -> None:
    """Read away what a socket received before its program was attached."""
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        while True:
            sock.recv(65535)
    except BlockingIOError:
        pass
    sock.settimeout(timeout)


class PrioritySocket:
    """A second packet socket on an access port's interface, for the frames of ``program``
    (:func:`scapy_fama.net.bpf.short_bus`); bound only once the program is attached, so it
    never holds a frame the port's socket reads too. Reads never block: None when empty."""

    def __init__(self, iface: str, program: bpf.Program, faults: Faults) -> None:
        self.iface = iface
        self._program = program
        self.faults = faults
        self.stamp: float | None = None  # the kernel's receive time of the last frame read
        self.ins = self._open()

    def _open(self) -> socket.socket:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)  # protocol 0: nothing until bound
        try:
            receive_buffer(sock)
            stamped(sock)
            self._program.attach(sock)
            sock.bind((self.iface, ETH_P_IPV6))
            _forget_bind_error(sock)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        return sock

    def reopen(self) -> None:
        old, self.ins = self.ins, self._open()
        old.close()

    def fileno(self) -> int:
        return self.ins.fileno()

    def recv_bytes(self) -> bytes | None:
        return _read(self)

    def close(self) -> None:
        self.ins.close()


class IfacePort(L2Socket):
    """IPv6 Ethernet frames on one interface, plus its MAC, carrier and attachment epoch.

    ``recv()`` gives Scapy frames (for testers and sniffers), ``recv_bytes()`` the bytes
    the automata read. ``program`` (:mod:`scapy_fama.net.bpf`) keeps in the kernel what the
    owner never reads; with ``priority`` (a program that takes some of its frames) the port
    also has a :class:`PrioritySocket`, ``priority``, for those.

    Link events never raise (issue 14): while the interface is down (ENETDOWN) or gone
    (ENXIO, ENODEV) a read gives None and a frame sent is lost, each error counted in
    ``faults`` for the driver to report; :meth:`revive` opens the sockets again on an
    interface of the same name that was deleted and created anew."""

    def __init__(self, iface: str, program: bpf.Program | None = None, priority: bpf.Program | None = None) -> None:
        require_interface(iface)
        self.name = iface
        self._program = program  # the kernel reads the instructions from its buffer: keep it
        self.faults = Faults()
        self.stamp: float | None = None  # the kernel's receive time of the last frame read
        self._open()
        self.priority = None if priority is None else PrioritySocket(iface, priority, self.faults)

    def _open(self) -> None:
        super().__init__(iface=self.name, type=ETH_P_IPV6, promisc=False)
        self.mac = self._sys("address")
        self._index = self._sys("ifindex")
        receive_buffer(self.ins)
        stamped(self.ins)
        _forget_bind_error(self.ins)
        if self._program is not None:
            self._program.attach(self.ins)
            _discard_queued(self.ins)

    def revive(self) -> bool:
        """Reopen on the interface of this name if it is another one than the socket's (True)."""
        index = self._sys("ifindex")
        if index in ("", self._index):
            return False
        old, old_index, old_mac = self.ins, self._index, self.mac
        try:
            if self.priority is not None:  # first: the port's index changes with its socket
                self.priority.reopen()
            self._open()
        except OSError as exc:  # gone again, or not up enough to bind: the next look tries again
            self.faults.note(exc)
            if self.ins is not old:  # opened, then failed (filter, drain): not half a socket
                self.ins.close()
            self.ins = self.outs = old
            self._index, self.mac = old_index, old_mac
            return False
        old.close()
        return True

    def recv_bytes(self) -> bytes | None:
        """One frame as received (None: see :func:`_read`); its receive time in ``stamp``."""
        return _read(self)

    def close(self) -> None:
        if self.priority is not None:
            self.priority.close()
        super().close()

    def send(self, x: Packet | bytes) -> int:
        try:
            return int(super().send(x))
        except OSError as exc:  # the link is down or gone: the frame is lost, as on a wire
            self.faults.note(exc)
            return 0

    def _sys(self, name: str) -> str:
        """An attribute of the interface (three of them at every tick of the automaton: one
        open, read and close each: half the CPU of ``Path.read_text``)."""
        try:
            fd = os.open(f"{SYS_NET}/{self.name}/{name}", os.O_RDONLY)
            try:
                return os.read(fd, 64).decode("ascii", "replace").strip()
            finally:
                os.close(fd)
        except OSError:  # gone, or (carrier) the kernel refuses to read it while down
            return ""

    @property
    def carrier(self) -> bool:
        return self._sys("carrier") == "1"

    @property
    def epoch(self) -> int:
        return int(self._sys("carrier_up_count") or 0)


class KernelRoute(SuperSocket):
    """Send whole IPv6 packets through the kernel's routing table (and its neighbour cache)."""

    def __init__(self) -> None:  # send-only: an IPPROTO_RAW socket receives nothing
        self.ins = self.outs = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)

    def send(self, x: Packet | bytes) -> int:
        data = bytes(x)
        return self.outs.sendto(data, (addr(data, 24), 0))


_PACKET_HOST = 0  # sockaddr_ll.sll_pkttype of a packet addressed to this host


class KernelUpstream(KernelRoute):
    """KernelRoute that also receives: IPv6 packets to ``address`` arriving on any interface
    but ``skip`` (the access link, read by the access port; the TUN; loopback)."""

    def __init__(self, address: str, skip: set[str]) -> None:
        super().__init__()
        self.address = address
        self.skip = skip | {"lo"}
        self.ins = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IPV6))
        receive_buffer(self.ins)
        stamped(self.ins)
        self.stamp: float | None = None  # the kernel's receive time of the last packet read
        self._program = bpf.to_address(address)
        self._program.attach(self.ins)
        _discard_queued(self.ins)

    def recv_bytes(self) -> bytes | None:
        data, (iface, _, pkttype, *_), self.stamp = _receive(self.ins)
        if pkttype != _PACKET_HOST or iface in self.skip:
            return None
        return data

    def recv(self, x: int = 65535, **kwargs: object) -> Packet | None:
        data = self.recv_bytes()
        return None if data is None else IPv6(data)
