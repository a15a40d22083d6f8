"""The DAR's care-of nonces for the return-routability test of secure mode (profile §5).

Theory of operation
-------------------
A DAR answers a Care-of Test Init without keeping per-MN state (RFC 6275
§5.2.2): the token is recomputed when the BU arrives, from the nonce named by
the BU's care-of nonce index and the BU's source address::

    MN (CoA)                                   DAR_i
      |-- CoTI(cookie) ------------------------->|  nonce #7 in use since t0
      |<- CoT(index 7, cookie, token) -----------|  First64(HMAC_SHA1(Kcn_7, CoA | nonce_7 | 1))
      |-- BU(NI(0, 7), BAD keyed with token) --->|  recomputed from #7 and the BU's src

A new nonce (with a new Kcn, RFC 6275 §5.2.7) is drawn once the current one has
been handed out for NONCE_REGENERATION (30 s); a nonce is honoured for
MAX_NONCE_LIFETIME (240 s) after its first use, so a token obtained from it
stays good for at least MAX_TOKEN_LIFETIME (210 s). Index 0 is never issued: a
BU with care-of index 0 has no care-of token. An unknown or expired index means
BA 137 (profile §6 step 4).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from scapy_fama.crypto import keygen_token
from scapy_fama.proto.config import MAX_NONCE_LIFETIME, NONCE_REGENERATION

KCN_LEN = 20  # RFC 6275 §5.2.1
NONCE_LEN = 8  # RFC 6275 §5.2.2: 64 bits recommended


@dataclass(frozen=True)
class _Nonce:
    kcn: bytes
    nonce: bytes
    first_use: float


class CareOfNonces:
    """Nonces by index, drawn from the injected ``rand``."""

    def __init__(self, rand: Callable[[int], bytes]) -> None:
        self._rand = rand
        self._nonces: dict[int, _Nonce] = {}
        self._current = 0

    def issue(self, coa: str, now: float) -> tuple[int, bytes]:
        """The (index, care-of keygen token) for a CoT to ``coa``."""
        current = self._nonces.get(self._current)
        if current is None or now - current.first_use >= NONCE_REGENERATION:
            self._nonces = {i: n for i, n in self._nonces.items() if self._fresh(n, now)}
            self._current = self._current % 0xFFFF + 1  # 1 .. 65535, never 0
            current = self._nonces[self._current] = _Nonce(
                self._rand(KCN_LEN), self._rand(NONCE_LEN), now
            )
        return self._current, keygen_token(current.kcn, coa, current.nonce, care_of=True)

    def token(self, index: int, coa: str, now: float) -> bytes | None:
        """The care-of token the MN at ``coa`` got for ``index``; None if unknown or expired."""
        nonce = self._nonces.get(index)
        if nonce is None or not self._fresh(nonce, now):
            return None
        return keygen_token(nonce.kcn, coa, nonce.nonce, care_of=True)

    @staticmethod
    def _fresh(nonce: _Nonce, now: float) -> bool:
        return now - nonce.first_use <= MAX_NONCE_LIFETIME
