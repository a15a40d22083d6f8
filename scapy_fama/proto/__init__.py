"""The sans-I/O protocol core of FAMA: no Scapy, no clock, no sockets, no threads.

Theory of operation
-------------------
:class:`DarCore` and :class:`MnCore` are plain objects, in the manner of h11
and aioquic. Every entry point takes ``now`` and returns a list of effects
(:mod:`scapy_fama.proto.effects`); ``next_deadline()`` says when to call
``on_timer(now)``; randomness (``rand(n) -> n bytes``) and keys are injected.
Same inputs, same outputs (RSA padding of the PHKT ciphertext aside), so a test
replays a whole handover in milliseconds of virtual time. A driver calls
``on_timer(now)`` as soon as ``now >= next_deadline()``, before it hands the
core anything else::

    driver --(messages from proto.messages, now)--> core --(effects)--> driver
           <------------- next_deadline() / on_timer(now) ------------>

Modules: ``messages`` (the contract with the codec), ``effects``, ``config``,
``seqno`` (mod 2^16), ``cache`` (DAR bindings and security records),
``dosguard`` (token buckets), ``nonces`` (care-of tokens), ``adverts`` (when RAs
go out), ``dar`` (DarCore),
``addresses`` (the MN's CGAs), ``bul`` (binding update list), ``retransmit``
(back-off, rate limit), ``keep`` (keep policies), ``leaving`` (the MN's
de-registrations at exit), ``mn`` (MnCore).
"""

from scapy_fama.proto.config import DarConfig, MnConfig
from scapy_fama.proto.dar import DarCore
from scapy_fama.proto.effects import (
    Deliver,
    Drop,
    Effect,
    Effects,
    Forward,
    Notify,
    Send,
    TunnelDown,
    TunnelUp,
)
from scapy_fama.proto.keep import KeepPolicy
from scapy_fama.proto.mn import MnCore

__all__ = [
    "DarConfig",
    "DarCore",
    "Deliver",
    "Drop",
    "Effect",
    "Effects",
    "Forward",
    "KeepPolicy",
    "MnConfig",
    "MnCore",
    "Notify",
    "Send",
    "TunnelDown",
    "TunnelUp",
]
