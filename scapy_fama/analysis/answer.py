"""What a request and its answer say together: a BU and its BA, a Proxy BU and its Proxy BA.

Theory of operation
-------------------
Both reconstructions (:mod:`scapy_fama.analysis.reconstruct` for FAMA and MIPv6,
:mod:`scapy_fama.analysis.pmip` for PMIPv6) keep one record per request with the
first sighting of the request (``time``), the last sighting of its answer
(``ba_last_seen``) and the answer's status; :class:`Answered` derives the rest::

    latency   = ba_last_seen - time     (the requester's view in a multi-point capture)
    accepted  = status < 128            (RFC 6275 §6.1.8; RFC 5213 §8.9 uses the same table)
"""

from __future__ import annotations

from scapy_fama.proto.status import REFUSED


class Answered:
    """Mixed into a dataclass with ``time``, ``ba_last_seen`` and ``status``."""

    __slots__ = ()
    time: float
    ba_last_seen: float | None
    status: int | None

    @property
    def latency(self) -> float | None:
        """From the request's first sighting to its answer's last."""
        return None if self.ba_last_seen is None else self.ba_last_seen - self.time

    @property
    def accepted(self) -> bool:
        return self.status is not None and self.status < REFUSED
