"""The DAR's binding cache and the security records that outlive bindings.

Theory of operation
-------------------
Two tables, keyed by home address:

* a **security record** (HoA -> PHKT, last accepted sequence number, hash of
  the CGA public key) is created when a CGA-signed BU verifies and the DAR
  accepts it, with the PHKT it issues (profile §6 steps 4-6: nothing is stored
  for a BU refused later). It survives de-registration and lives until the
  address would expire: ``prefix valid lifetime`` after the last BU the DAR
  accepted for it (the DAR cannot know when the MN last heard an RA, so it
  counts from the last sign of life). While it lives, a returning MN needs no
  new CGA check, and a late or replayed BU still meets the sequence check
  (RFC 6275 §10.3.2 keeps a deleted entry for the same reason).
  ``record_capacity`` bounds them (profile §6 "Bounded state"): a new record
  at the cap replaces the one that expires first among those without a
  binding. All records live equally long after their last accepted BU, so that
  is the least recently used; the table keeps them in that order (a record
  moves to the end when a BU is accepted), and a record with a binding was
  used within the binding's lifetime, so the search stops early. The cap is at
  least the binding capacity, so such a record always exists. Its MN, if it
  comes back, is refused with 147 and signs a BU with its CGA again.
* a **binding** (HoA -> CoA, granted lifetime, expiry) exists while the MN is
  away and registered; the DAR tunnels the HoA's traffic to the CoA. It is
  removed at once on de-registration (profile §6 step 5) or at expiry.
  ``capacity`` bounds the bindings; one more is refused (BA 130, step 6)::

      CGA BU ok ---> record(PHKT, seq) + binding(CoA, 400 s)    (the oldest idle record
                                                                 goes if records are full)
      BU lt=0   ---> record(PHKT, seq')            (binding and tunnel gone)
      ...valid lifetime later: record gone; the next BU must be CGA-signed again
"""

from __future__ import annotations

import hashlib
import heapq
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache

from scapy_fama.crypto import kbm
from scapy_fama.proto.config import MAX_CGA_BINDING_LIFETIME
from scapy_fama.proto.messages import wire_lifetime

_BINDING, _RECORD = 0, 1


@lru_cache(maxsize=1024)  # per key: an MN signs the first BU of each of its HoAs with one
def key_hash(public_key: bytes) -> bytes:
    """SHA-1 of the DER public key: what a record remembers of the CGA owner."""
    return hashlib.sha1(public_key).digest()


@lru_cache(maxsize=64)  # a DAR's few policies and the few lifetimes MNs ask for, per BU
def grant_lifetime(requested: int, prefix_valid: int, policy: int) -> int:
    """Profile §6 step 5: min(requested, 86 400 s, prefix valid lifetime, policy), in 4 s units."""
    return wire_lifetime(min(requested, MAX_CGA_BINDING_LIFETIME, prefix_valid, policy))


@dataclass(slots=True)
class SecurityRecord:
    hoa: str
    phkt: bytes
    key_hash: bytes
    last_seq: int | None  # None until a BU is accepted
    expires: float
    early_kbm: bytes = field(init=False)  # Kbm of a BU without a care-of token: every refresh's key

    def __post_init__(self) -> None:
        self.early_kbm = kbm(self.phkt)  # RFC 4866 §4.1: the PHKT and 8 zero bytes

    def kbm(self, care_of: bytes | None, deregistration: bool) -> bytes:
        """The Kbm of a BU (and of its BA) under this record's PHKT (RFC 6275 §5.2.5, profile
        §4): the one kept for a BU without a care-of token, else computed."""
        if care_of is None and not deregistration:
            return self.early_kbm
        return kbm(self.phkt, care_of, deregistration=deregistration)


@dataclass(slots=True)
class Binding:
    hoa: str
    coa: str
    lifetime: int  # granted, seconds
    expires: float


class BindingCache:
    """Bindings (bounded by ``capacity``) and security records (bounded by
    ``record_capacity``), both with expiry.

    Expiry times sit in one heap, so that neither the next deadline nor an expiry
    sweep walks the tables on the DAR's per-message path. It is lazy both ways: an
    entry whose binding or record is gone is dropped when it comes up, and one that
    comes up before the expiry its binding or record has now (refreshed since) is
    pushed again at that expiry. Every binding and record has an entry at its expiry
    or before it, so a refresh, which only moves an expiry later, pushes nothing; an
    earlier expiry (a shorter lifetime) is pushed at once::

        bind(t=0, 60 s) --> heap (60)       refresh at t=30: expires 90, heap (60)
        t=60: (60) comes up, expires 90 --> heap (90)       t=90: (90) comes up: expired
    """

    def __init__(self, capacity: int, record_lifetime: float, record_capacity: int) -> None:
        if record_capacity < capacity:
            raise ValueError("record_capacity must hold a record for every binding")
        self.capacity = capacity
        self.record_lifetime = record_lifetime
        self.record_capacity = record_capacity
        self._records: OrderedDict[str, SecurityRecord] = OrderedDict()  # least recently used first
        self._bindings: dict[str, Binding] = {}
        self._heap: list[tuple[float, int, str]] = []  # (expires, 0 binding / 1 record, hoa)

    def record(self, hoa: str) -> SecurityRecord | None:
        return self._records.get(hoa)

    def binding(self, hoa: str) -> Binding | None:
        return self._bindings.get(hoa)

    def bindings(self) -> list[Binding]:
        return list(self._bindings.values())

    def records(self) -> list[SecurityRecord]:
        return list(self._records.values())

    def sizes(self) -> tuple[int, int]:
        """(bindings, records) held, without copying either table."""
        return len(self._bindings), len(self._records)

    def full_for(self, hoa: str) -> bool:
        """True when a binding for ``hoa`` would be one too many (profile §6 step 6)."""
        return hoa not in self._bindings and len(self._bindings) >= self.capacity

    def new_phkt(
        self, hoa: str, phkt: bytes, public_key: bytes, now: float
    ) -> tuple[SecurityRecord, SecurityRecord | None]:
        """A CGA-signed BU was accepted: the new PHKT replaces any old one (RFC 4866 §4.9).
        Returns the record, and the record it displaced if the table was full."""
        old = self._records.pop(hoa, None)
        evicted = self._evict() if old is None and len(self._records) >= self.record_capacity else None
        record = SecurityRecord(
            hoa,
            phkt,
            key_hash(public_key),
            old.last_seq if old else None,
            now + self.record_lifetime,
        )
        self._records[hoa] = record
        self._schedule(record.expires, _RECORD, hoa, old.expires if old else None)
        return record, evicted

    def accepted(self, record: SecurityRecord, seq: int, now: float) -> None:
        """A BU was accepted: remember its sequence number; the address lives on."""
        record.last_seq = seq
        scheduled, record.expires = record.expires, now + self.record_lifetime
        self._records.move_to_end(record.hoa)
        self._schedule(record.expires, _RECORD, record.hoa, scheduled)

    def _evict(self) -> SecurityRecord:
        """The record that expires first among those without a binding (see the docstring)."""
        hoa = next(h for h in self._records if h not in self._bindings)
        return self._records.pop(hoa)

    def bind(self, hoa: str, coa: str, lifetime: int, now: float) -> Binding | None:
        """Create or update; returns the binding it replaces (None if new)."""
        old = self._bindings.get(hoa)
        self._bindings[hoa] = Binding(hoa, coa, lifetime, now + lifetime)
        self._schedule(now + lifetime, _BINDING, hoa, old.expires if old else None)
        return old

    def unbind(self, hoa: str) -> Binding | None:
        return self._bindings.pop(hoa, None)

    def due(self, now: float) -> bool:
        """Whether something may expire at ``now`` (:meth:`expire` has work)."""
        return bool(self._heap) and self._heap[0][0] <= now

    def expire(self, now: float) -> tuple[list[Binding], list[SecurityRecord]]:
        """Remove and return what has expired at ``now``."""
        bindings: list[Binding] = []
        records: list[SecurityRecord] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            expires, kind, hoa = heapq.heappop(heap)
            table = self._bindings if kind == _BINDING else self._records
            entry = table.get(hoa)
            if entry is None:
                continue
            if entry.expires != expires:  # refreshed since: its entry goes where it expires now
                heapq.heappush(heap, (entry.expires, kind, hoa))
                continue
            if kind == _BINDING:
                bindings.append(self._bindings.pop(hoa))
            else:
                records.append(self._records.pop(hoa))
        return bindings, records

    def next_expiry(self) -> float | None:
        heap = self._heap
        while heap:
            expires, kind, hoa = heap[0]
            entry = (self._bindings if kind == _BINDING else self._records).get(hoa)
            if entry is None:
                heapq.heappop(heap)
            elif entry.expires != expires:
                heapq.heapreplace(heap, (entry.expires, kind, hoa))
            else:
                return expires
        return None

    def _schedule(self, expires: float, kind: int, hoa: str, scheduled: float | None) -> None:
        """A binding or record of ``hoa`` expires at ``expires``; ``scheduled`` is the expiry of
        the one it replaces or renews (None: none), which has an entry then or before: a later
        expiry waits for that entry to come up (see the class docstring)."""
        if scheduled is not None and scheduled <= expires:
            return
        heapq.heappush(self._heap, (expires, kind, hoa))
        if len(self._heap) > 2 * (len(self._bindings) + len(self._records)) + 64:
            # entries of bindings and records gone since: one entry each is all it takes
            self._heap = [(b.expires, _BINDING, h) for h, b in self._bindings.items()]
            self._heap += [(r.expires, _RECORD, h) for h, r in self._records.items()]
            heapq.heapify(self._heap)
