"""DAR BU handling per core, bytes in -> bytes out through the codec (issue 3 §5).

For each BU: ``codec.decode(bytes)`` -> ``DarCore.on_message`` -> ``codec.encode``
of the BA. First BUs (CGA + RSA signature; the DAR issues a PHKT encrypted to
the MN key) and PHKT BUs (Nonce Indices + BAD) are measured separately, each
against the crypto-only limit measured in the same run: the bare
``scapy_fama.crypto`` calls the DAR cannot avoid for that BU (first BU: CGA
check, RSA verify, PHKT encryption, BA authenticator; PHKT BU: BU and BA
authenticators). The DoS guard is opened wide so that it does not refuse CGA
checks during the measurement.
"""

from __future__ import annotations

import secrets
import sys
import time

from _common import Report, ensure_project_on_path, fmt_rate, fmt_ratio, fmt_seconds, parser, pct

ensure_project_on_path()

from scapy_fama.codec import decode, encode_bytes  # noqa: E402
from scapy_fama.crypto import (  # noqa: E402
    KeyPair,
    bad_authenticator,
    cga_check,
    cga_generate,
    check_authenticator,
    decrypt_phkt,
    encrypt_phkt,
    kbm,
    new_phkt,
    verify_mh_signature,
)
from scapy_fama.proto.config import DarConfig  # noqa: E402
from scapy_fama.proto.dar import DarCore  # noqa: E402
from scapy_fama.proto.effects import Send  # noqa: E402
from scapy_fama.proto.messages import BindingAck, BindingUpdate  # noqa: E402

DAR, PREFIX = "2001:db8:1::1", "2001:db8:1::/64"
OPEN_GUARD = DarConfig(cga_checks_per_second=1e9, cga_burst=10**9,
                       cga_checks_per_prefix_per_second=1e9, cga_prefix_burst=10**9)


def new_dar() -> DarCore:
    return DarCore(DAR, PREFIX, config=OPEN_GUARD, rand=secrets.token_bytes)


def handle(dar: DarCore, raw: bytes, now: float) -> list[bytes]:
    """One BU through the DAR: bytes in, the bytes it sends out."""
    return [encode_bytes(e.msg) for e in dar.on_message(decode(raw), now) if isinstance(e, Send)]


def run_batch(dar: DarCore, raws: list[bytes], report: Report) -> tuple[float, list[BindingAck]]:
    t0 = time.perf_counter()
    outs = [handle(dar, raw, 1.0) for raw in raws]
    elapsed = (time.perf_counter() - t0) / len(raws)
    acks = [m for out in outs for m in (decode(b) for b in out) if isinstance(m, BindingAck)]
    if len(acks) != len(raws) or any(a.status != 0 for a in acks):
        report.fail(f"expected {len(raws)} BAs with status 0, got {[a.status for a in acks][:10]}")
    return elapsed, acks


def main() -> int:
    args = parser(__doc__.splitlines()[0]).parse_args()
    n = 40 if args.quick else 300
    report = Report("DAR BU handling: bytes in -> codec -> DarCore -> codec -> bytes out")
    report.header([("BUs per batch", str(n))])
    key = KeyPair.generate(1024)
    hoas = [cga_generate(PREFIX, key, sec=0) for _ in range(n)]
    coa = "2001:db8:2::77"
    firsts = [encode_bytes(BindingUpdate(coa, DAR, h.address, seq=1, lifetime=3600, cga_params=h.params,
                                         sign_with=key)) for h in hoas]
    rounds = 3 if args.quick else 5
    first_times, phkts = [], []
    for _ in range(rounds):
        dar = new_dar()
        elapsed, acks = run_batch(dar, firsts, report)
        first_times.append(elapsed)
    phkts = [decrypt_phkt(key, a.phkt_ciphertext) for a in acks]  # the last round's DAR holds these
    phkt_times = []
    for r in range(rounds):
        later = [encode_bytes(BindingUpdate(coa, DAR, h.address, seq=2 + r, lifetime=3600, nonce_indices=(0, 0),
                                            auth_key=kbm(p))) for h, p in zip(hoas, phkts)]
        elapsed, _ = run_batch(dar, later, report)
        phkt_times.append(elapsed)

    # crypto-only limits over the same inputs
    bu = decode(firsts[0])
    assert isinstance(bu, BindingUpdate) and bu.cga_params is not None and bu.signature is not None
    pub, phkt, mh = bu.cga_params[25:], new_phkt(), bu.signed_data

    def first_crypto() -> None:
        cga_check(bu.home_address, bu.cga_params)
        verify_mh_signature(pub, coa, DAR, mh, bu.signature)
        encrypt_phkt(pub, phkt)
        bad_authenticator(kbm(phkt), coa, DAR, mh[:150])

    later = decode(encode_bytes(BindingUpdate(coa, DAR, hoas[0].address, 9, 3600, nonce_indices=(0, 0),
                                              auth_key=kbm(phkts[0]))))
    assert isinstance(later, BindingUpdate) and later.bad is not None

    def phkt_crypto() -> None:
        check_authenticator(later.bad, kbm(phkts[0]), coa, DAR, later.auth_data)
        bad_authenticator(kbm(phkts[0]), coa, DAR, later.auth_data)

    limits = []
    for fn in (first_crypto, phkt_crypto):
        t0 = time.perf_counter()
        reps = 300 if fn is first_crypto else 20000
        for _ in range(reps):
            fn()
        limits.append((time.perf_counter() - t0) / reps)
    rows = []
    for label, times, limit in (("first BU (CGA + RSA, PHKT issued)", first_times, limits[0]),
                                ("PHKT BU (BAD)", phkt_times, limits[1])):
        best = min(times)
        rows.append((label, fmt_rate(1 / best), fmt_seconds(best), fmt_rate(1 / limit), fmt_seconds(limit),
                     fmt_ratio(limit / best), pct(limit, best)))
    report.table("BUs per second on one core", ["BU kind", "DAR", "per BU", "crypto-only limit", "per BU",
                                                 "fraction of limit", "crypto share"], rows)
    report.note("fraction of limit = DAR rate / crypto-only rate (1.0 would mean the DAR does nothing but crypto)")
    return report.exit_code()


if __name__ == "__main__":
    sys.exit(main())
