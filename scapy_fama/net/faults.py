"""Faults: the socket errors of an access port, counted for the driver instead of raised.

Theory of operation
-------------------
A role must ride out link events (issue 14): ``ip link set IF down`` makes
every read and send on its packet socket fail with ENETDOWN, a deleted
interface with ENXIO or ENODEV. A port notes each error here and carries on (a
read gives nothing, a frame sent is lost, as on a wire); the automaton's tick
takes the count and the first error, and logs them once, with the link's
change of state (:meth:`~scapy_fama.automata.base.FamaAutomaton._watch_link`)::

    port: recv/send raises OSError --> Faults.note(exc)   (count + 1, the first kept)
    automaton tick                 --> Faults.take()      -> (count, first), cleared
"""

from __future__ import annotations


class Faults:
    """Socket errors of a port since its driver last looked: how many, and the first one."""

    def __init__(self) -> None:
        self.count = 0
        self.first: str | None = None

    def note(self, exc: OSError) -> None:
        self.count += 1
        self.first = self.first or str(exc)

    def take(self) -> tuple[int, str | None]:
        """The errors so far, forgetting them."""
        taken, self.count, self.first = (self.count, self.first), 0, None
        return taken
