"""Warming a role's signalling path before it serves, so that its first BU is not its slowest.

Theory of operation
-------------------
A process pays for its first RSA operation: OpenSSL looks up and caches its
implementations on first use, about 0.7 ms here for the first signature check.
CPython 3.11 also runs a function's bytecode slower until the function has run a
few times (the adaptive interpreter specialises it), and the codec works out each
option layout once. A DAR's first CGA-authorised BU took 1.1 ms through
decode -> DarCore -> encode in a fresh process, against 0.12 ms for the next one;
in the lab every DAR meets its first BU in the middle of a handover.

:func:`warm_up` pays all of it at start, in memory and with nothing of the role's
own: a throwaway RSA-1024 key and a scratch :class:`~scapy_fama.proto.dar.DarCore`
carry ``ROUNDS`` complete exchanges through the codec::

    first BU (CGA Parameters + Signature: sign, CGA check, verify)
        -> BA 0 (PHKT encrypted to the key, BAD)   -> PHKT decrypted
    PHKT BU (Nonce Indices + BAD)                  -> BA 0 (BAD)

the first BU once the way a DAR automaton reads it from its bytes (``read_signed_bu``,
``DarCore.on_bu``, ``issuing_ba``) and once for another home address the general way.

Every answer is checked, so the warm-up is also a power-on self-test of the
cryptography backend: a BA that is not status 0, a PHKT that does not decrypt,
or anything the backend raises on the way raises :class:`WarmUpError` and the
role does not start.
"""

from __future__ import annotations

import os
import time

from scapy_fama.automata.dar import issuing_ba
from scapy_fama.codec import decode, encode_bytes, read_signed_bu
from scapy_fama.crypto import KeyPair, PhktError, cga_generate, decrypt_phkt, kbm
from scapy_fama.proto.dar import DarCore, Registered
from scapy_fama.proto.effects import Send
from scapy_fama.proto.messages import BindingAck, BindingUpdate

ROUNDS = 4  # exchanges; after 2-4 a first real BU took 0.17 ms (1.12 ms with none), 8 gave no more
DAR, PREFIX, COA = "2001:db8:ffff::1", "2001:db8:ffff::/64", "2001:db8:fffe::1"  # RFC 3849 documentation space
LIFETIME = 60  # seconds; the scratch core is dropped at once


class WarmUpError(ValueError):
    """The warm-up's exchange did not give the answers the protocol requires (a role's command
    reports it as its one-line error)."""


def _answer(dar: DarCore, bu: BindingUpdate, now: float) -> BindingAck:
    """The BA ``dar`` sends to ``bu``, after a round trip through bytes each way."""
    sent = [e.msg for e in dar.on_message(decode(encode_bytes(bu)), now) if isinstance(e, Send)]
    acks = [m for m in (decode(encode_bytes(msg)) for msg in sent) if isinstance(m, BindingAck)]
    if len(acks) != 1 or acks[0].status != 0:
        raise WarmUpError(f"warm-up: BU seq {bu.seq} got {[getattr(a, 'status', a) for a in acks]}, not one BA 0")
    return acks[0]


def _answer_from_bytes(dar: DarCore, bu: BindingUpdate, now: float) -> BindingAck:
    """:func:`_answer` for a first BU, the way a DAR automaton answers one from its bytes."""
    read = read_signed_bu(encode_bytes(bu))
    outcome = None if read is None else dar.on_bu(read, now)
    if not isinstance(outcome, Registered) or not outcome.plain or outcome.phkt_ciphertext is None:
        raise WarmUpError(f"warm-up: BU seq {bu.seq} read from its bytes was not a first binding: {outcome!r:.200}")
    ack = decode(issuing_ba(outcome))
    if not isinstance(ack, BindingAck) or ack.status != 0:
        raise WarmUpError(f"warm-up: BU seq {bu.seq} read from its bytes got {ack!r:.200}, not BA 0")
    return ack


def warm_up(rounds: int = ROUNDS) -> float:
    """Run ``rounds`` first-BU and PHKT-BU exchanges in memory; the seconds it took."""
    start = time.monotonic()
    try:
        _exchanges(rounds)
    except WarmUpError:
        raise
    except Exception as exc:  # noqa: BLE001 -- whatever the backend raised, the self-test failed
        raise WarmUpError(f"warm-up: {type(exc).__name__}: {exc}") from None
    return time.monotonic() - start


def _exchanges(rounds: int) -> None:
    key = KeyPair.generate(1024)
    dar = DarCore(DAR, PREFIX, rand=os.urandom)
    for n in range(rounds):
        other = cga_generate(PREFIX, key, sec=0)
        _answer(dar, BindingUpdate(COA, DAR, other.address, 1, LIFETIME, cga_params=other.params, sign_with=key), float(n))
        hoa = cga_generate(PREFIX, key, sec=0)
        first = BindingUpdate(COA, DAR, hoa.address, 1, LIFETIME, cga_params=hoa.params, sign_with=key)
        ack = _answer_from_bytes(dar, first, float(n))
        try:
            phkt = decrypt_phkt(key, ack.phkt_ciphertext or b"")
        except PhktError as exc:
            raise WarmUpError(f"warm-up: the PHKT of BA seq {ack.seq} does not decrypt: {exc}") from None
        _answer(dar, BindingUpdate(COA, DAR, hoa.address, 2, LIFETIME, nonce_indices=(0, 0), auth_key=kbm(phkt)), n + 0.5)
