"""Check FAMA signalling packets: framing, checksum, CGA, signature, PHKT, BAD.

Theory of operation
-------------------
A verdict lists one :class:`Check` per property the packet carries, in the order
a DAR or MN would test them (profile §6, RFC 4866 §4.6)::

    framing -> checksum -> CGA (RFC 3972 §5) -> signature (RFC 4866 §4.5)
            -> PHKT decryption (BA) -> BAD (RFC 6275 §6.2.7)

A check passes, fails, or cannot be run (``ok is None``: the PHKT or a key was
not given). A verdict is truthy only when every check present passed, so a PHKT
BU verified without its PHKT is not "verified". Everything works on packets
read from a capture: the bytes checked are the bytes that were carried.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scapy.layers.inet6 import MIP6MH_BA, MIP6MH_BU, IPv6ExtHdrRouting
from scapy.packet import Packet

from scapy_fama.craft import find_mh, is_deregistration
from scapy_fama.crypto import (
    CgaParams,
    KeyPair,
    PhktError,
    ZERO_TOKEN,
    cga_check,
    check_authenticator,
    decrypt_phkt,
    kbm,
    verify_mh_signature,
)
from scapy_fama.layers import (
    BindingAuthData,
    CGAParamsOpt,
    PHKTOpt,
    SignatureOpt,
    checksum_ok,
    wire_mh,
)
from scapy_fama.layers.headers import MHContext, mh_context
from scapy_fama.layers.spans import OptionSpan, framing_problems, option_spans


@dataclass(frozen=True)
class Check:
    """One verified property: ``ok`` is True, False, or None when it could not be run."""

    name: str
    ok: bool | None
    detail: str

    @property
    def result(self) -> str:
        return {True: "pass", False: "FAIL", None: "not checked"}[self.ok]


@dataclass
class Verdict:
    """All checks of one message; truthy only when every check passed."""

    message: str
    checks: list[Check] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.checks) and all(c.ok is True for c in self.checks)

    def __getitem__(self, name: str) -> Check:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return any(c.name == name for c in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.ok is not True]

    def add(self, name: str, ok: bool | None, detail: str) -> None:
        self.checks.append(Check(name, ok, detail))

    def as_dict(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "ok": bool(self),
            "checks": [{"name": c.name, "result": c.result, "detail": c.detail} for c in self.checks],
        }

    def __str__(self) -> str:
        head = f"{self.message}: {'VERIFIED' if self else 'NOT VERIFIED'}"
        return "\n".join([head] + [f"  {c.name:<10} {c.result:<12} {c.detail}" for c in self.checks])


def _framing(verdict: Verdict, mh: Packet, spans: list[OptionSpan], extra: list[str]) -> None:
    problems = list(extra)
    if mh.nh != 59:
        problems.append(f"Payload Proto {mh.nh}, not 59 (RFC 6275 §6.1.1)")
    declared = (mh.len + 1) * 8
    carried = len(wire_mh(mh))
    if carried < declared:
        problems.append(f"Header Len says {declared} bytes but {carried} were carried")
    if declared < 16:
        problems.append(f"Header Len {mh.len} below the minimum of 1 for this message")
    problems += framing_problems([s.frame for s in spans])
    verdict.add("framing", not problems, "; ".join(problems) or "headers and options in place")


def _zeroed_mh(mh: Packet) -> bytes:
    wire = wire_mh(mh)
    return wire[:4] + b"\0\0" + wire[6:]


def _cga_and_signature(
    verdict: Verdict, mh: Packet, spans: list[OptionSpan], owner: str, coa: str, correspondent: str
) -> None:
    """CGA check of ``owner`` and the RFC 4866 signature, when CGA options are present."""
    cga_spans = [s for s in spans if isinstance(s.option, CGAParamsOpt)]
    if not cga_spans:
        return
    params = b"".join(s.option.param_bytes() for s in cga_spans)
    result = cga_check(owner, params)
    verdict.add("cga", bool(result), f"{owner}: {result.reason}")
    sig = next((s.option for s in spans if isinstance(s.option, SignatureOpt)), None)
    if sig is None:
        verdict.add("signature", False, "no Signature option")
        return
    covered = _zeroed_mh(mh)[: cga_spans[-1].end]
    try:
        pubkey = CgaParams.decode(params).public_key
    except ValueError as exc:
        verdict.add("signature", False, f"no public key to check it with: {exc}")
        return
    good = verify_mh_signature(pubkey, coa, correspondent, covered, bytes(sig.sig))
    verdict.add("signature", good, f"RSA PKCS#1 v1.5 over tag|{coa}|{correspondent}|MH[0:{cga_spans[-1].end}]")


def _bad(
    verdict: Verdict,
    mh: Packet,
    spans: list[OptionSpan],
    home_token: bytes | None,
    care_of_token: bytes | None,
    coa: str,
    correspondent: str,
    dereg: bool,
    missing: str,
) -> None:
    bad = next((s for s in spans if isinstance(s.option, BindingAuthData)), None)
    if bad is None:
        return
    if home_token is None:
        verdict.add("bad", None, missing)
        return
    key = kbm(home_token, care_of_token, deregistration=dereg)
    covered = _zeroed_mh(mh)[: bad.start + 2]
    good = check_authenticator(bytes(bad.option.authenticator), key, coa, correspondent, covered)
    form = "SHA1(token)" if dereg else "SHA1(home token|care-of token)"
    verdict.add("bad", good, f"HMAC-SHA1/96 with Kbm={form} over {coa}|{correspondent}|MH")


def _start(pkt: Packet, cls: type[Packet], label: str) -> tuple[Verdict, Packet | None, MHContext | None]:
    verdict = Verdict(label)
    mh = find_mh(pkt)
    if not isinstance(mh, cls):
        verdict.add("framing", False, f"no {label} in this packet")
        return verdict, None, None
    ctx = mh_context(mh)
    if ctx is None:
        verdict.add("framing", False, f"the {label} has no IPv6 header")
        return verdict, None, None
    return verdict, mh, ctx


def verify_bu(pkt: Packet, phkt: bytes | None = None, care_of_token: bytes | None = None) -> Verdict:
    """Verify a Binding Update (profile §4, §6 steps 1 and 4).

    ``phkt`` keys the BAD of a PHKT-authorised BU; ``care_of_token`` is the
    secure-mode token (profile §5). A first BU needs neither.
    """
    verdict, mh, ctx = _start(pkt, MIP6MH_BU, "Binding Update")
    if mh is None or ctx is None:
        return verdict
    spans = option_spans(mh)
    coa, hoa, dar = ctx.ip.src, ctx.src, ctx.ip.dst
    dereg = is_deregistration(coa, hoa, int(mh.mhtime))
    extra = [] if ctx.hao or dereg else ["no Home Address option (profile §4)"]
    _framing(verdict, mh, spans, extra)
    verdict.add("checksum", checksum_ok(mh), f"pseudo-header {hoa} -> {dar}")
    _cga_and_signature(verdict, mh, spans, hoa, coa, dar)
    has_cga = "cga" in verdict
    has_bad = any(isinstance(s.option, BindingAuthData) for s in spans)
    if not has_cga and not has_bad:
        verdict.add("auth", False, "neither CGA Parameters + Signature nor a BAD (profile §6 step 4)")
    home = phkt if phkt is not None else (ZERO_TOKEN if has_cga else None)
    _bad(verdict, mh, spans, home, care_of_token, hoa if dereg else coa, dar, dereg, "PHKT not given")
    return verdict


def verify_ba(
    pkt: Packet,
    phkt: bytes | None = None,
    care_of_token: bytes | None = None,
    mn_keypair: KeyPair | None = None,
    bu: Packet | None = None,
) -> Verdict:
    """Verify a Binding Acknowledgement (profile §4, §7).

    ``mn_keypair`` decrypts a PHKT option (and the PHKT then keys the BAD);
    ``phkt`` is a token the MN already holds. ``bu`` is the BU answered, which
    tells whether the BAD uses the de-registration key.
    """
    verdict, mh, ctx = _start(pkt, MIP6MH_BA, "Binding Acknowledgement")
    if mh is None or ctx is None:
        return verdict
    spans = option_spans(mh)
    extra = []
    rh = ctx.ip.getlayer(IPv6ExtHdrRouting)
    if rh is not None and (rh.type != 2 or len(rh.addresses) != 1 or rh.segleft != 1):
        extra.append(f"routing header type {rh.type}, segleft {rh.segleft}: not a valid RH2 (RFC 6275 §6.4)")
    _framing(verdict, mh, spans, extra)
    mn_coa, hoa, dar = ctx.ip.dst, ctx.dst, ctx.ip.src
    verdict.add("checksum", checksum_ok(mh), f"pseudo-header {dar} -> {hoa}")
    _cga_and_signature(verdict, mh, spans, dar, mn_coa, dar)
    token_opt = next((s.option for s in spans if isinstance(s.option, PHKTOpt)), None)
    if token_opt is not None:
        if mn_keypair is None:
            verdict.add("phkt", None, "MN key not given")
        else:
            try:
                phkt = decrypt_phkt(mn_keypair, bytes(token_opt.phkt))
                verdict.add("phkt", True, "decrypts to an 8-byte token")
            except PhktError as exc:
                verdict.add("phkt", False, str(exc))
    bu_mh = find_mh(bu) if bu is not None else None
    if isinstance(bu_mh, MIP6MH_BU):
        bu_ctx = mh_context(bu_mh)
        dereg = bu_ctx is not None and is_deregistration(bu_ctx.ip.src, bu_ctx.src, int(bu_mh.mhtime))
    else:
        dereg = int(mh.mhtime) == 0 and int(mh.status) < 128
    missing = "PHKT not given (pass phkt= or mn_keypair=)"
    _bad(verdict, mh, spans, phkt, care_of_token, hoa if dereg else mn_coa, dar, dereg, missing)
    return verdict
