"""Effects: what a core asks its driver to do, returned as plain data.

Theory of operation
-------------------
A core never sends, sleeps or logs. Each entry point returns a list of
effects, in the order the driver must carry them out::

    driver                           core
      |-- on_message(msg, now) ------>|
      |<-- [Send(BA), TunnelUp(..), Notify("binding-created", {...})]
      |-- on_timer(now) ------------->|   when now >= next_deadline()
      |<-- [Send(BU), ...]

* ``Send(msg)``: transmit a message this node originates (signalling, RAs,
  tunnelled packets, the MN's own data).
* ``Forward(msg)``: a DAR routes a packet on natively (data and tunnelled
  packets with their hop limit already decremented): onto the access link when
  the destination is on-link, else upstream; the driver picks the interface.
* ``Deliver(datagram)``: hand data to a local application.
* ``TunnelUp`` / ``TunnelDown``: an IPv6-in-IPv6 tunnel (RFC 2473) between
  ``local`` and ``remote`` carrying the traffic of ``hoa`` starts or stops. A DAR
  names (itself, CoA); an MN names (CoA, DAR).
* ``Notify(event, data)``: something worth a log line or a test assertion.
* ``Drop(msg, reason)``: a message was discarded. Every silent discard of the
  profile (§6 step 1, BAD wrong, anti-spoofing, ...) is one of these, so that
  tests and logs can see it while nothing goes on the wire. ``reason`` is a
  short stable code (``"bad-authenticator"``, ``"spoofed-tunnel"``, ...)
  followed by ``": "`` and details.

Events (``Notify.event``):

* DAR: ``binding-created``, ``binding-updated``, ``binding-deleted``
  (de-registration), ``binding-expired``, ``phkt-issued``, ``bu-refused`` (a BA
  status >= 128, with the reason), ``record-expired``, ``record-evicted`` (the
  security records were full, profile §6).
* MN: ``address-optimistic`` / ``address-tentative`` (DAD starts, the address
  is usable / not yet), ``address-configured`` (usable), ``address-preferred``
  (DAD over on an optimistic address), ``address-duplicate``, ``dad-failed``,
  ``dad-collision-ignored``, ``binding-registered``, ``binding-deregistered``,
  ``binding-expired``, ``phkt-stored``, ``phkt-doubted`` (PHKT-authorised BUs
  went unanswered: the next ones are CGA-signed), ``coa-test-required``,
  ``bu-refused``, ``deregistration-failed``, ``address-released``, ``address-lost``,
  ``binding-error``, ``router-lost`` (the DAR attached to advertised Router Lifetime 0,
  RFC 4861 §6.3.4: the attachment ends); at exit (:meth:`MnCore.shutdown`, proto/leaving.py)
  ``deregistration-abandoned`` (one per binding that may stand at its DAR) and
  ``shutdown-done`` (the counts: the driver may stop).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scapy_fama.proto.messages import Datagram, Message


@dataclass(frozen=True)
class Send:
    msg: Message


@dataclass(frozen=True)
class Forward:
    msg: Message


@dataclass(frozen=True)
class Deliver:
    datagram: Datagram


@dataclass(frozen=True)
class _Tunnel:
    local: str
    remote: str
    hoa: str


@dataclass(frozen=True)
class TunnelUp(_Tunnel):
    pass


@dataclass(frozen=True)
class TunnelDown(_Tunnel):
    pass


@dataclass(frozen=True)
class Notify:
    event: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Drop:
    msg: Message
    reason: str

    @property
    def code(self) -> str:
        """The stable part of ``reason``, before ``": "``."""
        return self.reason.split(": ", 1)[0]


Effect = Send | Forward | Deliver | TunnelUp | TunnelDown | Notify | Drop
Effects = list[Effect]
