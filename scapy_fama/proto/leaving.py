"""The MN's exit: every binding de-registered, the BAs waited for, a bounded time (profile §3, §4).

Theory of operation
-------------------
A mobile node that stops leaves its bindings at the old DARs, which go on
tunnelling its addresses' traffic to a CoA nobody holds until the lifetime ends
(up to a day, profile §6 step 5). So on the way out :meth:`MnCore.shutdown
<scapy_fama.proto.mn.MnCore.shutdown>` releases every address (profile §3: a
released address with a binding gets a de-registration) from the CoA, or from
home for the current address when a registration of it may stand (profile §4,
RFC 6275 §11.5.5), with the de-registration machinery a release uses: lifetime
0, the HoA as the care-of address the BAD or Signature covers, Kbm of the home
token alone, PHKT-authorised where a PHKT is held and CGA-signed where not
(RFC 6275 §5.2.5, §6.1.7). What is left to do is bounded by ``within``::

    MN (exiting, CoA)                 DAR_1                      DAR_2
     |-- BU(HoA_1, lifetime 0, BAD) -->|                           |   shutdown(now, within)
     |-- BU(HoA_2, lifetime 0, BAD) ------------------------------>|
     |<- BA(0) ------------------------|  binding-deleted          |   address-released (deregistered)
     |   ... now + within: no BA from DAR_2 ...                    |
     |   deregistration-abandoned (HoA_2, DAR_2), shutdown-done    |   the driver stops

:class:`Leaving` keeps the bindings a shutdown waits for (``awaited``): each
ends when a BA accepts its de-registration (counted), or when its exchange
gives up by the usual rules (a refusal, profile §7: reported there). When
none of them is still de-registering, or at the deadline, :meth:`Leaving.finish`
gives up what still runs, reports each binding that may stand at its DAR in
one ``deregistration-abandoned`` record, and ends with one ``shutdown-done``:
the driver's sign that the MN may stop. A binding without a usable CoA to send
from (the MN is detached, or its address still tentative) is reported at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from scapy_fama.proto.addresses import AddressRecord
from scapy_fama.proto.bul import BulEvent, BulState
from scapy_fama.proto.effects import Effects, Notify


@dataclass
class Leaving:
    """A shutdown under way: its deadline and the bindings it waits for."""

    start: float
    deadline: float
    awaited: dict[str, str]  # address -> its DAR, for each binding not settled yet
    bindings: int = field(init=False)  # those it set out to de-register
    deregistered: int = 0
    over: bool = False

    def __post_init__(self) -> None:
        self.bindings = len(self.awaited)

    def settled(self, address: str, *, deregistered: bool) -> None:
        """The exchange of ``address`` ended: a BA accepted its de-registration, or it gave up."""
        if self.awaited.pop(address, None) is not None and deregistered:
            self.deregistered += 1

    def next_deadline(self) -> float | None:
        return None if self.over else self.deadline

    def hurry(self, now: float) -> None:
        """The time is up now, before the deadline (the user will not wait)."""
        self.deadline = min(self.deadline, now)

    def finish(self, records: Mapping[str, AddressRecord], now: float) -> Effects:
        """The reports, once no awaited de-registration runs or the deadline has passed; else
        nothing. A de-registration still running is given up (no more retransmissions)."""
        running = any(_deregistering(records.get(a)) for a in self.awaited)
        if self.over or (running and now < self.deadline):
            return []
        self.over = True
        effects: Effects = []
        for address, dar in self.awaited.items():
            rec = records.get(address)
            if rec is not None and _deregistering(rec):
                rec.bul.fire(BulEvent.GIVE_UP)
                why = f"no BA within {self.deadline - self.start:.3g} s"
            else:  # never sent, or stopped by a link change (MnCore._suspend)
                why = "no usable care-of address to send the de-registration from"
            effects.append(Notify("deregistration-abandoned", {"address": address, "dar": dar, "why": why}))
        counts = {"bindings": self.bindings, "deregistered": self.deregistered, "abandoned": len(self.awaited)}
        return effects + [Notify("shutdown-done", counts)]


def _deregistering(rec: AddressRecord | None) -> bool:
    return rec is not None and rec.bul.state is BulState.DEREGISTERING
