"""Binding Update verification rate vs the bare cryptography it needs.

What is measured (verifications per second, best of several repeats)
    first BU (CGA Parameters + Signature):  ``verify_bu(pkt)``
    PHKT BU  (Nonce Indices + BAD):          ``verify_bu(pkt, phkt=...)``
    each on packets already dissected from bytes (a fresh packet per call, the
    dissection not timed) and on raw bytes (``verify_bu(IPv6(raw))``).

Baseline (same run): the bare calls a verifier cannot avoid
    first BU: ``public_key.verify(sig, M, PKCS1v15(), SHA1())`` with
              ``cryptography`` and a loaded RSA-1024 key, plus the two
              ``hashlib.sha1`` of the CGA check (Hash1 over the parameters,
              Hash2 over modifier | 9 zero bytes | key);
    PHKT BU:  ``hmac.new(kbm, data, hashlib.sha1).digest()`` over the same
              data (CoA | DAR | MH up to the BAD's type and length).
    The baseline inputs are cut out of the packet bytes here, independently
    of scapy_fama, and must verify (else exit 1).

No fixed target: ratio = ours ÷ bare (in verifications/s). The split tables
show where the time goes: dissection (``IPv6(raw)``), the bare crypto, and
the rest of ``verify_bu`` (framing, checksum, option spans, text addresses,
key loading ...), measured piece by piece with the call counts of one
``verify_bu`` taken from cProfile.
"""

from __future__ import annotations

import cProfile
import hashlib
import hmac
import pstats
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
from _common import Report, Timing, fmt_rate, fmt_ratio, fmt_seconds, pct  # noqa: E402

DAR = "2001:db8:1::1"
CGA_TAG = bytes.fromhex("5F2705868D6C4C56A2469EBB9B2A2E13")  # RFC 4866 §7


# --- baseline inputs, cut out of the bytes without scapy_fama ---------------------------------


def _mh_slice(raw: bytes) -> tuple[bytes, bytes, bytes]:
    """(CoA, DAR, MH with checksum zero) of IPv6 / DestOpt / MH bytes."""
    assert raw[6] == 60, "expected a Destination Options header after IPv6"
    off = 40 + (raw[41] + 1) * 8
    assert raw[off - (raw[41] + 1) * 8] == 135, "expected the Mobility Header after the DestOpt"
    mh = raw[off : off + (raw[off + 1] + 1) * 8]
    return raw[8:24], raw[24:40], mh[:4] + b"\0\0" + mh[6:]


def _options(mh: bytes, start: int = 12) -> list[tuple[int, int, int]]:
    """(type, start, end) of the mobility options after a BU's 12-byte fixed part."""
    out, pos = [], start
    while pos < len(mh):
        if mh[pos] == 0:  # Pad1
            out.append((0, pos, pos + 1))
            pos += 1
            continue
        end = pos + 2 + mh[pos + 1]
        out.append((mh[pos], pos, end))
        pos = end
    return out


def first_bu_inputs(raw: bytes) -> dict[str, bytes]:
    coa, dar, mh = _mh_slice(raw)
    opts = _options(mh)
    cga = [(s, e) for t, s, e in opts if t == 12]
    sig = next(mh[s + 2 : e] for t, s, e in opts if t == 13)
    params = b"".join(mh[s + 2 : e] for s, e in cga)
    # DER SEQUENCE header of the key: 30 81 LL (RSA-1024: 30 81 9f) or 30 82 LL LL
    der_len = 3 + params[27] if params[26] == 0x81 else 4 + int.from_bytes(params[27:29], "big")
    return {
        "message": CGA_TAG + coa + dar + mh[: cga[-1][1]],
        "signature": sig,
        "params": params,
        "hash2_input": params[:16] + bytes(9) + params[25:],  # modifier | 9 zero bytes | key | extensions
        "public_der": params[25 : 25 + der_len],
    }


def phkt_bu_inputs(raw: bytes, phkt: bytes) -> dict[str, bytes]:
    coa, dar, mh = _mh_slice(raw)
    bad = next((s, e) for t, s, e in _options(mh) if t == 5)
    return {
        "kbm": hashlib.sha1(phkt + bytes(8)).digest(),  # RFC 6275 §5.2.5, RFC 4866 §4.1: zero care-of token
        "data": coa + dar + mh[: bad[0] + 2],
        "authenticator": mh[bad[0] + 2 : bad[1]],
    }


# --- cProfile call counts ---------------------------------------------------------------------


def _key(fn: Callable[..., Any]) -> tuple[str, int, str]:
    code = fn.__code__
    return code.co_filename, code.co_firstlineno, code.co_name


def call_counts(run: Callable[[], Any], times: int, fns: dict[str, Callable[..., Any]], direct_from: str) -> dict[str, tuple[float, float]]:
    """Per ``run()``: (calls made from ``direct_from`` file, calls from anywhere) of each function."""
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(times):
        run()
    prof.disable()
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    out = {}
    for label, fn in fns.items():
        entry = stats.get(_key(fn))
        if entry is None:
            out[label] = (0.0, 0.0)
            continue
        _cc, nc, _tt, _ct, callers = entry
        direct = sum(v[1] for k, v in callers.items() if k[0].endswith(direct_from))
        out[label] = (direct / times, nc / times)
    return out


# --- main -----------------------------------------------------------------------------------


def main() -> int:
    p = _common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=None, help="fresh packets per repeat (default 2000; quick 200)")
    p.add_argument("--repeats", type=int, default=None, help="repeats, best counts (default 5; quick 3)")
    args = p.parse_args()
    _common.ensure_project_on_path()

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    from scapy.layers.inet6 import IPv6

    import scapy_fama.verify as fv
    from scapy_fama.craft import first_bu, phkt_bu
    from scapy_fama.layers.headers import find_mh
    from scapy_fama.proto.messages import is_deregistration
    from scapy_fama.crypto import (
        KeyPair,
        addr_bytes,
        cga_check,
        cga_generate,
        cga_with_prefix,
        check_authenticator,
        kbm,
        new_phkt,
        public_key_from_der,
        verify_mh_signature,
    )
    from scapy_fama.layers import CGAParamsOpt, checksum_ok, wire_mh
    from scapy_fama.layers.headers import mh_context
    from scapy_fama.layers.spans import option_spans

    batch = args.batch or (200 if args.quick else 2000)
    repeats = args.repeats or (3 if args.quick else 5)
    min_s = 0.05 if args.quick else 0.25

    report = Report("bench_verify: BU verification vs bare crypto")
    import cryptography
    import scapy
    from cryptography.hazmat.backends.openssl import backend

    report.header(
        [
            ("scapy", scapy.__version__),
            ("cryptography", f"{cryptography.__version__} ({backend.openssl_version_text()})"),
            ("batch × repeats", f"{batch} × {repeats} (best repeat counts)"),
        ]
    )

    key = KeyPair.generate(1024)
    hoa = cga_generate("2001:db8:1::/64", key, sec=1, workers=1)
    coa = cga_with_prefix(hoa, "2001:db8:2::/64")
    phkt = new_phkt()
    raw1 = bytes(first_bu(coa.address, hoa.address, DAR, 4711, 3600, key, hoa.params))
    raw2 = bytes(phkt_bu(coa.address, hoa.address, DAR, 4712, 3600, phkt))

    # --- correctness: the project verifies, and so do the independent baselines
    for label, raw, kw in (("first BU", raw1, {}), ("PHKT BU", raw2, {"phkt": phkt})):
        for _ in range(5):
            verdict = fv.verify_bu(IPv6(raw), **kw)
            if not verdict:
                report.fail(f"verify_bu rejects a valid {label}: {[str(c) for c in verdict.failed]}")
    b1 = first_bu_inputs(raw1)
    pub = serialization.load_der_public_key(b1["public_der"])
    pkcs1, sha1_alg = padding.PKCS1v15(), hashes.SHA1()
    hoa_iid = addr_bytes(hoa.address)[8:]

    def bare_first() -> bool:
        pub.verify(b1["signature"], b1["message"], pkcs1, sha1_alg)  # raises InvalidSignature
        h1 = hashlib.sha1(b1["params"]).digest()
        h2 = hashlib.sha1(b1["hash2_input"]).digest()
        return (h1[0] & 0x1C) == (hoa_iid[0] & 0x1C) and h1[1:8] == hoa_iid[1:] and h2[:2] == b"\0\0"

    b2 = phkt_bu_inputs(raw2, phkt)

    def bare_phkt() -> bool:
        return hmac.new(b2["kbm"], b2["data"], hashlib.sha1).digest()[:12] == b2["authenticator"]

    try:
        if not bare_first():
            report.fail("baseline: the CGA hashes of the first BU do not match its HoA")
    except Exception as exc:  # noqa: BLE001
        report.fail(f"baseline: RSA verify of the first BU failed ({exc!r})")
    if not bare_phkt():
        report.fail("baseline: HMAC of the PHKT BU does not match its authenticator")
    if report.failures:
        return report.exit_code()

    # --- the measurements
    def fresh(raw: bytes) -> Callable[[], list[Any]]:
        return lambda: [IPv6(raw) for _ in range(batch)]

    results: dict[str, dict[str, Timing]] = {}
    for label, raw, kw, bare in (
        ("first BU (CGA + RSA signature)", raw1, {}, bare_first),
        ("PHKT BU (HMAC BAD)", raw2, {"phkt": phkt}, bare_phkt),
    ):
        results[label] = {
            "dissect": _common.time_calls(lambda raw=raw: IPv6(raw), repeats=repeats, min_seconds=min_s),
            "dissected": _common.time_over(lambda pkt, kw=kw: fv.verify_bu(pkt, **kw), fresh(raw), repeats=repeats),
            "raw": _common.time_calls(lambda raw=raw, kw=kw: fv.verify_bu(IPv6(raw), **kw), repeats=repeats, min_seconds=min_s),
            "bare": _common.time_calls(bare, repeats=repeats, min_seconds=min_s),
        }

    rows = []
    for label, r in results.items():
        for mode, key_ in (("dissected packet", "dissected"), ("raw bytes (+ dissection)", "raw")):
            rows.append(
                (
                    label,
                    mode,
                    fmt_rate(r[key_].rate, "/s"),
                    fmt_seconds(r[key_].best),
                    fmt_rate(r["bare"].rate, "/s"),
                    fmt_seconds(r["bare"].best),
                    fmt_ratio(r[key_].rate / r["bare"].rate),
                )
            )
    report.table(
        "verifications per second: verify_bu vs bare crypto",
        ["message", "input", "verify_bu", "per call", "bare baseline", "per call", "RATIO ours/bare"],
        rows,
        caption="bare: RSA verify + 2 SHA-1 (first BU); one HMAC-SHA1 (PHKT BU). No fixed target.",
        right_from=2,
    )

    # --- simple split of the raw-bytes path
    rows = []
    for label, r in results.items():
        total = r["raw"].best
        dis, ver, bare_t = r["dissect"].best, r["dissected"].best, r["bare"].best
        glue = ver - bare_t
        rest = total - dis - ver
        for part, t in (
            ("Scapy dissection IPv6(raw)", dis),
            ("bare crypto (baseline calls)", bare_t),
            ("rest of verify_bu (framing, checksum, spans, addresses, key load ...)", glue),
            ("residual: raw path − dissection − verify on dissected (GC, noise)", rest),
        ):
            rows.append((label, part, fmt_seconds(t), pct(t, total)))
        rows.append((label, "[bold]verify_bu(IPv6(raw)) total[/]", fmt_seconds(total), "100 %"))
    report.table("where the time goes (raw bytes → verdict), per verification", ["message", "part", "time", "share"], rows, right_from=2)

    # --- the rest of verify_bu, piece by piece
    mh1 = find_mh(IPv6(raw1))
    ctx1 = mh_context(mh1)
    hoa_s, coa_s = ctx1.src, ctx1.ip.src
    params1 = b1["params"]
    sig_mh = b1["message"][len(CGA_TAG) + 32 :]
    k2 = kbm(phkt)
    auth_mh = b2["data"][32:]

    def fresh_mh(raw: bytes) -> Callable[[], list[Any]]:
        return lambda: [find_mh(IPv6(raw)) for _ in range(batch)]

    def fresh_cga_opt() -> list[Any]:
        return [next(o for o in find_mh(IPv6(raw1)).options if isinstance(o, CGAParamsOpt)) for _ in range(batch)]

    # (label, function for cProfile counts, timing of one call)
    pieces: dict[str, list[tuple[str, Callable[..., Any], Callable[[], Timing]]]] = {
        "first BU (CGA + RSA signature)": [
            ("find_mh + mh_context (walk the layers)", mh_context, lambda: _common.time_over(lambda p: mh_context(find_mh(p)), fresh(raw1), repeats=repeats)),
            ("option_spans (rebuilds every option)", option_spans, lambda: _common.time_over(option_spans, fresh_mh(raw1), repeats=repeats)),
            ("wire_mh = bytes(mh) rebuild", wire_mh, lambda: _common.time_over(wire_mh, fresh_mh(raw1), repeats=repeats)),
            ("checksum_ok (wire_mh + mh_context + sum)", checksum_ok, lambda: _common.time_over(checksum_ok, fresh_mh(raw1), repeats=repeats)),
            ("is_deregistration (2 text addresses)", is_deregistration, lambda: _common.time_calls(lambda: is_deregistration(coa_s, hoa_s, 900), repeats=repeats, min_seconds=min_s)),
            ("cga_check (decode + 2 SHA-1 + text address)", cga_check, lambda: _common.time_calls(lambda: cga_check(hoa_s, params1), repeats=repeats, min_seconds=min_s)),
            ("verify_mh_signature (DER load + RSA + 2 addresses)", verify_mh_signature, lambda: _common.time_calls(lambda: verify_mh_signature(b1["public_der"], coa_s, DAR, sig_mh, b1["signature"]), repeats=repeats, min_seconds=min_s)),
        ],
        "PHKT BU (HMAC BAD)": [
            ("find_mh + mh_context (walk the layers)", mh_context, lambda: _common.time_over(lambda p: mh_context(find_mh(p)), fresh(raw2), repeats=repeats)),
            ("option_spans (rebuilds every option)", option_spans, lambda: _common.time_over(option_spans, fresh_mh(raw2), repeats=repeats)),
            ("wire_mh = bytes(mh) rebuild", wire_mh, lambda: _common.time_over(wire_mh, fresh_mh(raw2), repeats=repeats)),
            ("checksum_ok (wire_mh + mh_context + sum)", checksum_ok, lambda: _common.time_over(checksum_ok, fresh_mh(raw2), repeats=repeats)),
            ("is_deregistration (2 text addresses)", is_deregistration, lambda: _common.time_calls(lambda: is_deregistration(coa_s, hoa_s, 900), repeats=repeats, min_seconds=min_s)),
            ("kbm (1 SHA-1)", kbm, lambda: _common.time_calls(lambda: kbm(phkt, None), repeats=repeats, min_seconds=min_s)),
            ("check_authenticator (HMAC + 2 addresses)", check_authenticator, lambda: _common.time_calls(lambda: check_authenticator(b2["authenticator"], k2, coa_s, DAR, auth_mh), repeats=repeats, min_seconds=min_s)),
        ],
    }
    nested = {
        "addr_bytes(text) via ipaddress.IPv6Address": (addr_bytes, lambda: _common.time_calls(lambda: addr_bytes(hoa_s), repeats=repeats, min_seconds=min_s)),
        "public_key_from_der (DER → key object)": (public_key_from_der, lambda: _common.time_calls(lambda: public_key_from_der(b1["public_der"]), repeats=repeats, min_seconds=min_s)),
        "CGAParamsOpt.param_bytes (rebuilds the CGA Parameters)": (CGAParamsOpt.param_bytes, lambda: _common.time_over(lambda o: o.param_bytes(), fresh_cga_opt, repeats=repeats)),
    }
    verify_file = str(Path(fv.__file__).name)
    nested_addr_time = [float("nan")]

    def fn_is_addr(name: str) -> bool:
        return name.startswith("addr_bytes")

    for label, raw, kw in (("first BU (CGA + RSA signature)", raw1, {}), ("PHKT BU (HMAC BAD)", raw2, {"phkt": phkt})):
        pkts = [IPv6(raw) for _ in range(50)]
        it = iter(pkts)
        fns = {name: fn for name, fn, _ in pieces[label]} | {name: fn for name, (fn, _) in nested.items()}
        counts = call_counts(lambda: fv.verify_bu(next(it), **kw), len(pkts), fns, verify_file)
        total = results[label]["dissected"].best
        rows = []
        explained = 0.0
        for name, _fn, timer in pieces[label]:
            direct, _all = counts[name]
            if direct == 0:
                continue
            t = timer().best
            explained += direct * t
            rows.append((name, fmt_seconds(t), f"{direct:g}", fmt_seconds(direct * t), pct(direct * t, total)))
        rows.append(("rest (Verdict, framing rules, Scapy attribute access ...)", "", "", fmt_seconds(total - explained), pct(total - explained, total)))
        rows.append(("[bold]verify_bu on a dissected packet[/]", "", "1", fmt_seconds(total), "100 %"))
        for name, (_fn, timer) in nested.items():
            _direct, every = counts[name]
            if every == 0:
                continue
            t = timer().best
            if fn_is_addr(name):
                nested_addr_time[0] = t
            rows.append((f"  inside: {name}", fmt_seconds(t), f"{every:g}", fmt_seconds(every * t), pct(every * t, total)))
        report.table(
            f"inside verify_bu: {label}",
            ["step (called from verify.py)", "per call", "calls / verify", "per verify", "share"],
            rows,
            caption="each step timed alone (fresh packets for Scapy steps); calls counted with cProfile; the steps and\n"
            "the total are timed at different moments, so on a busy machine 'rest' absorbs the noise.\n"
            "'inside' lines count calls from anywhere (also inside the steps and 'rest'); they are not added again.",
        )
    import socket

    pton = _common.time_calls(lambda: socket.inet_pton(socket.AF_INET6, hoa_s), repeats=repeats, min_seconds=min_s)
    report.note(
        f"for comparison: socket.inet_pton(AF_INET6, text) takes {fmt_seconds(pton.best)} per address, "
        f"addr_bytes(text) {fmt_seconds(nested_addr_time[0])}"
    )
    return report.exit_code()


if __name__ == "__main__":
    sys.exit(main())
