"""Binding Update sequence numbers: 16 bits, free-running, compared modulo 2^16.

Theory of operation
-------------------
RFC 6275 §9.5.1: a received ``s`` is newer than the last accepted ``l`` iff
``(s - l) mod 65536`` lies in ``[1, 32767]``; the other half of the circle,
``l - 32768 .. l``, is "not newer" (for l = 15: 0..15 and 32783..65535)::

             l-32768        l        l+1        l+32767
    ... not newer ... ------|--------|--- newer ---|--- not newer ...

A DAR answers a BU that is not newer with BA 135 carrying ``l``; the MN then
continues from ``l + 1``. Every BU, retransmissions included, takes a new,
greater number (RFC 6275 §11.8).
"""

from __future__ import annotations

SEQ_MOD = 1 << 16
HALF = SEQ_MOD // 2


def seq_add(seq: int, n: int = 1) -> int:
    """``seq + n`` modulo 2^16."""
    return (seq + n) % SEQ_MOD


def seq_newer(seq: int, last: int) -> bool:
    """True iff ``seq`` is greater than ``last`` in RFC 6275 §9.5.1's modular sense."""
    return 1 <= (seq - last) % SEQ_MOD < HALF


def seq_distance(seq: int, since: int) -> int:
    """How many steps forward ``seq`` lies from ``since`` (0 .. 65535)."""
    return (seq - since) % SEQ_MOD
