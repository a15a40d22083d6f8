"""The event log of a SimNet: every message on every link, and what the nodes made of it.

Theory of operation
-------------------
A SimNet appends one frozen dataclass to ``net.events`` for each thing that
happens, in the order it happens (virtual time, then scheduling order)::

    time  event          fields                                   drawn in a message-sequence chart as
    1.000 Change         node=mn what=link-up link=dar2            a note on mn's life line
    1.010 Hop            link=dar2 src=mn dst=dar2 msg=BU ...      an arrow mn -> dar2 (1.010 -> 1.015)
    1.015 Hop            link=backbone src=dar2 dst=dar1 msg=BU    an arrow dar2 -> dar1, forwarded
    1.020 NodeEffect     node=dar1 effect=TunnelUp(...)            a box on dar1's life line
    1.020 Hop (lost)     link=backbone src=dar1 dst=dar2 msg=BA    an arrow ending in a cross
    2.000 Undelivered    node=dar2 msg=Datagram reason=no-neighbour a cross at dar2

* :class:`Hop`: one transmission over one link to one next-hop node, logged
  when it is sent, with its arrival time; ``msg`` is the message as the
  receiver gets it (decoded from bytes when the net runs with ``wire=True``).
  ``lost`` names why it never arrives (random loss, an injected fault).
* :class:`Undelivered`: the network could not carry a message (no route, no
  neighbour with that address, the sender is detached, the receiver left the
  link while the message was in flight).
* :class:`NodeEffect`: an effect of a core other than a transmission
  (``Notify``, ``TunnelUp``/``TunnelDown``, ``Deliver``, ``Drop``).
* :class:`Change`: the topology changed (link up/down, a DAR restart, a DAD
  probe that found the address in use).

:func:`fingerprint` gives an event without the bytes that differ between otherwise identical runs
(RSA-padded PHKT ciphertexts, and signatures and authenticators, whose spans
depend on whether the message went through real bytes), so that two runs can
be compared event by event.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from typing import Any

from scapy_fama.proto.effects import Effect
from scapy_fama.proto.messages import Message

# fields whose bytes differ between equivalent runs; a fingerprint keeps only their presence
VOLATILE = frozenset({"signature", "bad", "signed_data", "auth_data", "phkt_ciphertext"})


@dataclass(frozen=True)
class Hop:
    """``msg`` sent at ``time`` over ``link`` from node ``src`` to next-hop node ``dst``."""

    time: float
    arrival: float
    link: str
    src: str
    dst: str
    msg: Message
    forwarded: bool = False  # relayed by a router (a Forward effect), not originated
    lost: str | None = None  # why it never arrives; None: it arrives at ``arrival``


@dataclass(frozen=True)
class Undelivered:
    """The network could not carry ``msg`` any further from ``node``."""

    time: float
    node: str
    link: str | None
    msg: Message
    reason: str


@dataclass(frozen=True)
class NodeEffect:
    """A core's effect other than a transmission (Notify, TunnelUp/Down, Deliver, Drop)."""

    time: float
    node: str
    effect: Effect


@dataclass(frozen=True)
class Change:
    """The topology changed: ``what`` is ``link-up``, ``link-down``, ``restart`` or
    ``dad-collision`` (a member of ``link`` holds the address the MN probed)."""

    time: float
    node: str
    what: str
    link: str | None = None


Event = Hop | Undelivered | NodeEffect | Change


def _plain(value: Any) -> Any:
    """``value`` as nested tuples, volatile byte fields replaced by their presence."""
    if is_dataclass(value) and not isinstance(value, type):
        out: list[Any] = [type(value).__name__]
        for f in fields(value):
            if f.compare:
                v = getattr(value, f.name)
                out.append((f.name, bool(v) if f.name in VOLATILE else _plain(v)))
        return tuple(out)
    if isinstance(value, dict):
        return tuple(sorted((k, _plain(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    return value


def fingerprint(event: Event) -> tuple[Any, ...]:
    """``event`` without the bytes that differ between equivalent runs (see VOLATILE)."""
    return _plain(event)
