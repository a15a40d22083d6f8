"""What every fama-shell session offers: node names, packet helpers, and the command surface.

Theory of operation
-------------------
Two sessions share the shell's commands: :class:`~fama_shell.session.Session`
on a SimNet (virtual time, every packet in hand) and
:class:`~fama_shell.labsession.LabSession` on the real lab of ``fama-lab``
(real time, the roles' JSON logs, real kernels). The console
(:mod:`fama_shell.console`) only talks to this surface::

    ShellSession
      nodes()  now  origin  key_origin          what the console shows (namespace, prompt, banner)
      names() node() _typed()                   a node or its name -> the node, one-line errors
      show()  _ipv6()  _home_of()               packets, the same on both
      refuse(command, why)                      a command the driver cannot do: one line
    duration(value, what)                       a number of seconds from the user, checked
    flag(value, what)                           True or False from the user, checked
    ipv6_packet(pkt)                            a packet or its bytes -> its IPv6 packet, checked
    out_dir(directory, command)                 a folder to write into, made before the work

A command a driver cannot do raises :class:`Unsupported` (a ValueError, so the
console prints it as one ``error:`` line and the session lives on).
"""

from __future__ import annotations

import math
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, NoReturn

from fama_shell.packets import PacketView, packet_view
from fama_shell.views import VerdictView
from scapy.layers.inet6 import MIP6MH_BA, MIP6MH_BU, IPv6
from scapy.packet import Packet

from scapy_fama.layers.headers import find_mh
from scapy_fama.layers.headers import mh_context

IPV6_HEADER = 40  # bytes (RFC 8200 §3)


class Unsupported(ValueError):
    """A shell command that this session's driver cannot carry out (the message says why)."""


def duration(value: Any, what: str, limit: float = math.inf) -> float:
    """``value`` as seconds from 0 to ``limit``; a one-line error names ``what`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} is a number of seconds, not {type(value).__name__} {value!r}")
    if not 0 <= value <= limit or not math.isfinite(value):  # inf: a run that never ends
        bound = "0 or more" if limit == math.inf else f"0 to {limit:g}"
        raise ValueError(f"{what}: {bound} seconds, not {value}")
    return float(value)


def flag(value: Any, what: str) -> bool:
    """``value`` as True or False; a one-line error names ``what`` otherwise ("no" is truthy)."""
    if not isinstance(value, bool):
        raise TypeError(f"{what} is True or False, not {type(value).__name__} {value!r}")
    return value


def ipv6_packet(pkt: Packet | bytes) -> Packet:
    """The IPv6 packet of a Scapy packet or of its bytes; a one-line error for anything else."""
    if isinstance(pkt, bytes):
        if len(pkt) < IPV6_HEADER:  # Scapy raises struct.error, or makes up ::1 -> ::1 from b""
            raise ValueError(f"{len(pkt)} bytes are no IPv6 packet: its header alone is 40 (RFC 8200 §3)")
        pkt = IPv6(pkt)
    if not isinstance(pkt, Packet) or IPv6 not in pkt:
        raise TypeError(f"an IPv6 packet (Scapy) or its bytes, not {type(pkt).__name__}")
    return pkt[IPv6]


def out_dir(directory: str | Path, command: str) -> Path:
    """``directory``, made if missing; one line (ValueError) when it cannot be written to."""
    if not isinstance(directory, (str, os.PathLike)):
        raise TypeError(f"{command}() takes a folder, not {type(directory).__name__} {directory!r}")
    out = Path(directory)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".fama-write-test"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise ValueError(f"{command}(): cannot write to {out}: {exc.strerror or exc}") from None
    return out


class ShellSession(ABC):
    """The command surface both sessions share (see the module's docstring)."""

    origin: str = ""
    key_origin: str = ""

    @abstractmethod
    def nodes(self) -> dict[str, Any]:
        """The nodes by name, in the order the topology lists them."""

    @property
    @abstractmethod
    def now(self) -> float:
        """The session's clock in seconds (virtual on SimNet, real on the lab)."""

    @abstractmethod
    def verify(self, pkt: Packet | bytes) -> VerdictView:
        """Check a BU or BA."""

    # ---------------------------------------------------------------- names

    def names(self) -> list[str]:
        """The node names, in the order they were added."""
        return list(self.nodes())

    def node(self, which: Any) -> Any:
        """A node, or the node of that name; one-line errors for anything else."""
        table = self.nodes()
        if isinstance(which, str):
            node = table.get(which)
            if node is None:
                raise ValueError(f"unknown node {which!r}: the nodes are {', '.join(table)}")
            return node
        name = getattr(which, "name", None)
        if not isinstance(name, str):
            raise TypeError(f"a node or a node name, not {type(which).__name__} {which!r}")
        if table.get(name) is not which:
            raise ValueError(f"{name} is not a node of this topology")
        return which

    def _typed(self, which: Any, kind: type, what: str) -> Any:
        node = self.node(which)
        if not isinstance(node, kind):
            ofkind = [n.name for n in self.nodes().values() if isinstance(n, kind)]
            plural = what.split(" ", 1)[-1] + "s"  # "a DAR" -> "DARs"
            raise TypeError(f"{node.name} is not {what}: the {plural} are {', '.join(ofkind) or 'none'}")
        return node

    # ---------------------------------------------------------------- packets

    _ipv6 = staticmethod(ipv6_packet)

    @staticmethod
    def _home_of(ip: Packet) -> str | None:
        """The home address a BU's HAO or a BA's RH2 names (the BU's source from home)."""
        mh = find_mh(ip)
        ctx = mh_context(mh) if mh is not None else None
        if ctx is None:
            return None
        return ctx.src if isinstance(mh, MIP6MH_BU) else ctx.dst

    def show(self, pkt: Packet | bytes) -> PacketView:
        """A packet as a tree: layers, options, CGA structure, and the verdict of each check."""
        ip = self._ipv6(pkt)
        mh = find_mh(ip)
        verdict = self.verify(ip) if isinstance(mh, (MIP6MH_BU, MIP6MH_BA)) else None
        owner = self._home_of(ip) if isinstance(mh, MIP6MH_BU) else ip.src
        return packet_view(ip, verdict, owner)

    def refuse(self, command: str, why: str) -> NoReturn:
        raise Unsupported(f"{command}() {why}")
