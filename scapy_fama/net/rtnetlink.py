"""rtnetlink for the roles' kernel mode: addresses, routes, rules and neighbours by message, and link events.

Theory of operation
-------------------
A role in kernel mode changes the kernel's state at every handover (the MN's
current address and default route, a DAR's route into the TUN per binding).
Running ``ip`` for each change costs a fork and an exec, 3 to 10 ms apiece,
in the automaton's thread: a handover's several changes held back BAs and
left a home DAR routing into its tunnel for 10 ms after a de-registration.
The same changes as rtnetlink requests (rtnetlink(7)) take microseconds::

    Rtnl.request(RTM_NEWADDR, CREATE|REPLACE, ifaddrmsg + IFA_LOCAL ...)  --NLM_F_ACK-->  kernel
                                             <-- NLMSG_ERROR (error 0: done, else -errno: OSError)
    Rtnl.dump(RTM_GETNEIGH, ndmsg)           <-- NLM_F_MULTI messages ... NLMSG_DONE
    Rtnl.dump(RTM_GETADDR, ifaddrmsg)        <-- (the same: an address's flags, DAD's outcome)

Each message is ``struct nlmsghdr`` (length, type, flags, sequence, port) and
the request's fixed header (``ifaddrmsg``, ``rtmsg``, ``fib_rule_hdr``,
``ndmsg``, from linux/if_addr.h, rtnetlink.h, fib_rules.h, neighbour.h), then
attributes (``struct rtattr``: length, type, value, padded to 4 bytes). Every
request asks for an acknowledgement, so a refusal is one :class:`OSError` with
the kernel's errno and the request named, as the ``ip`` command's was.

:class:`LinkEvents` is a second socket, bound to the ``RTMGRP_LINK`` group:
it is readable whenever any link of the namespace changes (carrier, admin
state, master), so a driver that selects on it sees a link come up at once
instead of at its next poll; what changed it reads from sysfs as before.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Iterator

# linux/netlink.h
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK = 0x1, 0x2, 0x4
NLM_F_DUMP = 0x300  # NLM_F_ROOT | NLM_F_MATCH
NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE = 0x100, 0x200, 0x400
# linux/rtnetlink.h
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWROUTE, RTM_DELROUTE = 24, 25
RTM_DELNEIGH, RTM_GETNEIGH = 29, 30
RTM_NEWRULE, RTM_DELRULE = 32, 33
RTMGRP_LINK = 0x1
RT_TABLE_MAIN = 254
RTPROT_BOOT = 3  # what ``ip route`` marks its routes with
RT_SCOPE_UNIVERSE, RT_SCOPE_LINK = 0, 253
RTN_UNICAST = 1
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_TABLE = 1, 4, 5, 15
RTA_ENCAP_KIND, RTA_ENCAP = 21, 22  # linux/rtnetlink.h RTA_ENCAP_TYPE (renamed: *_TYPE names are wire facts here), RTA_ENCAP
# linux/lwtunnel.h
LWTUNNEL_ENCAP_BPF = 6
LWT_BPF_XMIT = 3
LWT_BPF_PROG_FD, LWT_BPF_PROG_NAME = 1, 2
# linux/if_addr.h
IFA_ADDRESS, IFA_LOCAL, IFA_FLAGS = 1, 2, 8
IFA_F_NODAD, IFA_F_OPTIMISTIC, IFA_F_DADFAILED, IFA_F_TENTATIVE = 0x02, 0x04, 0x08, 0x40
# linux/fib_rules.h
FRA_SRC, FRA_PRIORITY, FRA_TABLE = 2, 6, 15
FR_ACT_TO_TBL = 1
# linux/neighbour.h
NDA_DST = 1
NUD_NOARP, NUD_PERMANENT = 0x40, 0x80

_HEADER = struct.Struct("=IHHII")  # nlmsghdr
_ATTR = struct.Struct("=HH")  # rtattr
_IFADDRMSG = struct.Struct("=BBBBI")
_RTMSG = struct.Struct("=BBBBBBBBI")  # also fib_rule_hdr, which has the same layout
_NDMSG = struct.Struct("=BBHiHBB")
_U16, _U32, _I32 = struct.Struct("=H"), struct.Struct("=I"), struct.Struct("=i")
_RECEIVE = 1 << 16


def _align(n: int) -> int:
    return (n + 3) & ~3


def attr(kind: int, value: bytes) -> bytes:
    """One rtattr, padded to four bytes."""
    size = _ATTR.size + len(value)
    return _ATTR.pack(size, kind) + value + bytes(_align(size) - size)


def attrs(data: bytes) -> dict[int, bytes]:
    """The attributes of a message body (the first of each type)."""
    found: dict[int, bytes] = {}
    at = 0
    while at + _ATTR.size <= len(data):
        size, kind = _ATTR.unpack_from(data, at)
        if size < _ATTR.size:
            break
        found.setdefault(kind, data[at + _ATTR.size : at + size])
        at += _align(size)
    return found


def _address(text: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, text)


def _u32(value: int) -> bytes:
    return _U32.pack(value)


def _error(payload: bytes) -> int:
    """The errno of an NLMSG_ERROR (0: an acknowledgement)."""
    return -int(_I32.unpack_from(payload)[0])


class Rtnl:
    """One NETLINK_ROUTE socket for requests; every change waits for the kernel's answer."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self._seq = 0

    def close(self) -> None:
        self.sock.close()

    def _send(self, kind: int, flags: int, body: bytes) -> int:
        self._seq += 1
        self.sock.send(_HEADER.pack(_HEADER.size + len(body), kind, flags | NLM_F_REQUEST, self._seq, 0) + body)
        return self._seq

    def _messages(self, seq: int) -> Iterator[tuple[int, int, bytes]]:
        """(type, flags, body) of every answer to request ``seq``, as they come."""
        while True:
            data = self.sock.recv(_RECEIVE)
            at = 0
            while at + _HEADER.size <= len(data):
                size, kind, flags, number, _ = _HEADER.unpack_from(data, at)
                if size < _HEADER.size:
                    break
                if number == seq:
                    yield kind, flags, data[at + _HEADER.size : at + size]
                at += _align(size)

    def request(self, kind: int, flags: int, body: bytes, what: str) -> None:
        """Send a change and wait for its acknowledgement; a refusal is an OSError naming ``what``."""
        seq = self._send(kind, flags | NLM_F_ACK, body)
        for answer, _, payload in self._messages(seq):
            if answer == NLMSG_ERROR:
                code = _error(payload)
                if code:
                    raise OSError(code, f"{what}: {os.strerror(code)}")
                return

    def dump(self, kind: int, body: bytes) -> Iterator[bytes]:
        """The bodies of every object a dump request lists."""
        seq = self._send(kind, NLM_F_DUMP, body)
        for answer, _, payload in self._messages(seq):
            if answer == NLMSG_DONE:
                return
            if answer == NLMSG_ERROR:
                code = _error(payload)
                raise OSError(code or errno.EIO, f"dump {kind}: {os.strerror(code or errno.EIO)}")
            yield payload

    # ------------------------------------------------------------------ the changes the roles make

    def address(self, add: bool, address: str, prefix_len: int, iface: str, optimistic: bool = False) -> None:
        """``ip -6 addr replace ADDRESS/LEN dev IFACE nodad`` (add) or ``ip -6 addr del`` it; with
        ``optimistic``, ``... optimistic`` instead of ``nodad``: the kernel runs DAD on it (where the
        interface's accept_dad and optimistic_dad let it) and uses it meanwhile as RFC 4429 says.
        The kernel refuses the two flags together, and a replace leaves a running DAD alone."""
        marks = (IFA_F_OPTIMISTIC if optimistic else IFA_F_NODAD) if add else 0
        body = _IFADDRMSG.pack(socket.AF_INET6, prefix_len, marks, RT_SCOPE_UNIVERSE, socket.if_nametoindex(iface))
        body += attr(IFA_LOCAL, _address(address)) + attr(IFA_ADDRESS, _address(address))
        kind, flags = (RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE) if add else (RTM_DELADDR, 0)
        what = f"{'replace' if add else 'del'} address {address}/{prefix_len} dev {iface}"
        self.request(kind, flags, body, what + (" optimistic" if add and optimistic else ""))

    def address_flags(self, address: str, iface: str) -> int | None:
        """The kernel's IFA_F_* flags of ``address`` on ``iface`` (``ip -6 addr show dev IFACE``),
        None when it has no such address there."""
        return self.addresses(iface).get(socket.inet_ntop(socket.AF_INET6, _address(address)))

    def addresses(self, iface: str) -> dict[str, int]:
        """Every IPv6 address the kernel holds on ``iface``, with its IFA_F_* flags."""
        index = socket.if_nametoindex(iface)
        found = {}
        for body in self.dump(RTM_GETADDR, _IFADDRMSG.pack(socket.AF_INET6, 0, 0, 0, index)):
            family, _, flags, _, where = _IFADDRMSG.unpack_from(body)
            fields = attrs(body[_IFADDRMSG.size :])
            if family == socket.AF_INET6 and where == index and IFA_ADDRESS in fields:
                wide = fields.get(IFA_FLAGS, b"")  # all 32 bits, where the kernel sends them
                address = socket.inet_ntop(socket.AF_INET6, fields[IFA_ADDRESS])
                found[address] = _U32.unpack(wide)[0] if len(wide) == _U32.size else flags
        return found

    def route(self, add: bool, dst: str | None, iface: str, gateway: str | None = None,
              table: int = RT_TABLE_MAIN, xmit: tuple[int, str] | None = None) -> None:  # fmt: skip
        """``ip -6 route replace DST dev IFACE [via GATEWAY] [table T]`` (DST None: default), or del;
        ``xmit`` (a BPF program's descriptor and name): ``encap bpf xmit`` it, a lightweight tunnel
        whose program sees every packet the route sends (linux/lwtunnel.h, net/core/lwt_bpf.c)."""
        scope = RT_SCOPE_UNIVERSE if gateway is not None else RT_SCOPE_LINK
        body = _RTMSG.pack(socket.AF_INET6, 0 if dst is None else 128, 0, 0, table, RTPROT_BOOT, scope, RTN_UNICAST, 0)
        if dst is not None:
            body += attr(RTA_DST, _address(dst))
        if gateway is not None:
            body += attr(RTA_GATEWAY, _address(gateway))
        body += attr(RTA_OIF, _u32(socket.if_nametoindex(iface))) + attr(RTA_TABLE, _u32(table))
        if xmit is not None:
            program = attr(LWT_BPF_PROG_FD, _u32(xmit[0])) + attr(LWT_BPF_PROG_NAME, xmit[1].encode() + b"\0")
            body += attr(RTA_ENCAP_KIND, _U16.pack(LWTUNNEL_ENCAP_BPF)) + attr(RTA_ENCAP, attr(LWT_BPF_XMIT, program))
        kind, flags = (RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE) if add else (RTM_DELROUTE, 0)
        where = f"{dst or 'default'}{f' via {gateway}' if gateway else ''} dev {iface} table {table}"
        where += f" encap bpf xmit {xmit[1]}" if xmit is not None else ""
        self.request(kind, flags, body, f"{'replace' if add else 'del'} route {where}")

    def rule(self, add: bool, source: str, table: int, priority: int) -> None:
        """``ip -6 rule add from SOURCE lookup TABLE priority P`` (add) or ``ip -6 rule del`` it."""
        body = _RTMSG.pack(socket.AF_INET6, 0, 128, 0, table, 0, 0, FR_ACT_TO_TBL, 0)
        body += attr(FRA_SRC, _address(source)) + attr(FRA_PRIORITY, _u32(priority)) + attr(FRA_TABLE, _u32(table))
        kind, flags = (RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL) if add else (RTM_DELRULE, 0)
        self.request(kind, flags, body, f"{'add' if add else 'del'} rule from {source} lookup {table}")

    def flush_neighbours(self, iface: str) -> None:
        """``ip -6 neigh flush dev IFACE``: every entry the kernel learnt there (not the static ones)."""
        index = socket.if_nametoindex(iface)
        learnt = []
        for body in self.dump(RTM_GETNEIGH, _NDMSG.pack(socket.AF_INET6, 0, 0, index, 0, 0, 0)):
            family, _, _, where, state, _, _ = _NDMSG.unpack_from(body)
            dst = attrs(body[_NDMSG.size :]).get(NDA_DST)
            if family == socket.AF_INET6 and where == index and not state & (NUD_NOARP | NUD_PERMANENT) and dst:
                learnt.append(dst)
        for dst in learnt:
            body = _NDMSG.pack(socket.AF_INET6, 0, 0, index, 0, 0, 0) + attr(NDA_DST, dst)
            try:
                self.request(RTM_DELNEIGH, 0, body, f"del neighbour {socket.inet_ntop(socket.AF_INET6, dst)}")
            except FileNotFoundError:
                pass  # gone meanwhile (it expired, or the kernel replaced it)


class LinkEvents:
    """A socket that becomes readable when a link of this namespace changes (RTMGRP_LINK)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        self.sock.bind((0, RTMGRP_LINK))
        self.sock.setblocking(False)

    def fileno(self) -> int:
        return self.sock.fileno()

    def drain(self) -> int:
        """Read every notification waiting (their content does not matter); how many reads."""
        reads = 0
        while True:
            try:
                self.sock.recv(_RECEIVE)
            except BlockingIOError:
                return reads
            except OSError as exc:  # ENOBUFS: notifications were lost, which a look at sysfs mends
                if exc.errno != errno.ENOBUFS:
                    raise
            reads += 1

    def close(self) -> None:
        self.sock.close()
