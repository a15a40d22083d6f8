"""Check FAMA signalling packets: framing, checksum, CGA, signature, PHKT, BAD.

Theory of operation
-------------------
A verdict lists one :class:`Check` per property the packet carries, in the order
a DAR or MN would test them (profile §6, RFC 4866 §4.6)::

    framing -> checksum -> CGA (RFC 3972 §5) -> signature (RFC 4866 §4.5)
            -> PHKT decryption (BA) -> BAD (RFC 6275 §6.2.7)

The packet is read as the roles read it: :mod:`scapy_fama.wire` for the
framing and checksum, :func:`scapy_fama.codec.decode` (leniently, so a packet
the roles would drop is still examined) for the signed spans, and the keys of
:func:`scapy_fama.proto.messages.signing_endpoints`. A check passes, fails, or
cannot be run (``ok is None``: the PHKT or a key was not given). A verdict is
truthy only when every check present passed, so a PHKT BU verified without its
PHKT is not "verified". Everything works on packets read from a capture: the
bytes checked are the bytes that were carried.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scapy.layers.inet6 import IPv6
from scapy.packet import Packet

from scapy_fama.codec import CHECKSUM_WRONG, checksum_ok, decode, decode_parsed
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
from scapy_fama.proto.messages import BindingAck, BindingUpdate, signing_endpoints
from scapy_fama.proto.status import REFUSED
from scapy_fama.wire import WireInfo, parse
from scapy_fama.wire.numbers import ROUTING


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


def _read(pkt: Packet | bytes, kind: type, label: str) -> tuple[Verdict, Any, bytes, WireInfo | None]:
    """The message of ``kind`` in ``pkt`` read leniently, with its bytes; the verdict so far."""
    verdict = Verdict(label)
    layer = pkt.getlayer(IPv6) if isinstance(pkt, Packet) else None
    raw = bytes(layer) if layer is not None else pkt if isinstance(pkt, bytes) else b""
    info = parse(raw)
    msg = decode_parsed(raw, info, lenient=True) if info is not None else None
    if not isinstance(msg, kind) or info is None or info.mh is None:
        verdict.add("framing", False, f"no {label} in this packet")
        return verdict, None, raw, None
    return verdict, msg, raw, info


def _framing(verdict: Verdict, msg: BindingUpdate | BindingAck, extra: list[str]) -> None:
    """What the lenient decode found wrong (profile §6 step 1, RFC 4866 §5), but the checksum."""
    problems = [p for p in msg.framing if p != CHECKSUM_WRONG] + extra
    verdict.add("framing", not problems, "; ".join(problems) or "headers and options in place")


def _checksum(verdict: Verdict, raw: bytes, info: WireInfo) -> None:
    assert info.mh is not None
    good = info.mh.offset + info.mh.length <= info.end and checksum_ok(raw, info, info.mh)
    verdict.add("checksum", good, f"pseudo-header {info.pseudo_src} -> {info.pseudo_dst}")


def _cga_and_signature(verdict: Verdict, msg: BindingUpdate | BindingAck, owner: str, coa: str, peer: str) -> None:
    """CGA check of ``owner`` and the RFC 4866 signature, when CGA options are present."""
    if msg.cga_params is None:
        return
    result = cga_check(owner, msg.cga_params)
    verdict.add("cga", bool(result), f"{owner}: {result.reason}")
    if msg.signature is None:
        verdict.add("signature", False, "no Signature option")
        return
    try:
        pubkey = CgaParams.decode(msg.cga_params).public_key
    except ValueError as exc:
        verdict.add("signature", False, f"no public key to check it with: {exc}")
        return
    good = verify_mh_signature(pubkey, coa, peer, msg.signed_data, msg.signature)
    verdict.add("signature", good, f"RSA PKCS#1 v1.5 over tag|{coa}|{peer}|MH[0:{len(msg.signed_data)}]")


def _bad(
    verdict: Verdict,
    msg: BindingUpdate | BindingAck,
    home_token: bytes | None,
    care_of_token: bytes | None,
    endpoints: tuple[str, str],
    dereg: bool,
    missing: str,
) -> None:
    if msg.bad is None:
        return
    if home_token is None:
        verdict.add("bad", None, missing)
        return
    key = kbm(home_token, care_of_token, deregistration=dereg)
    coa, peer = endpoints
    good = check_authenticator(msg.bad, key, coa, peer, msg.auth_data)
    # RFC 6275 §5.2.5; no care-of token is 8 zero bytes (RFC 4866 §4.1), a de-registration the home token alone
    form = "SHA1(token)" if dereg else f"SHA1(home token|{'care-of token' if care_of_token else '8 zero bytes'})"
    verdict.add("bad", good, f"HMAC-SHA1/96 with Kbm={form} over {coa}|{peer}|MH")


def verify_bu(pkt: Packet | bytes, phkt: bytes | None = None, care_of_token: bytes | None = None) -> Verdict:
    """Verify a Binding Update (profile §4, §6 steps 1 and 4).

    ``phkt`` keys the BAD of a PHKT-authorised BU; ``care_of_token`` is the
    secure-mode token (profile §5). A first BU needs neither.
    """
    verdict, bu, raw, info = _read(pkt, BindingUpdate, "Binding Update")
    if bu is None or info is None:
        return verdict
    _framing(verdict, bu, [])
    _checksum(verdict, raw, info)
    coa, dar = bu.endpoints()
    _cga_and_signature(verdict, bu, bu.home_address, coa, dar)
    if bu.cga_params is None and bu.bad is None:
        verdict.add("auth", False, "neither CGA Parameters + Signature nor a BAD (profile §6 step 4)")
    home = phkt if phkt is not None else (ZERO_TOKEN if bu.cga_params is not None else None)
    _bad(verdict, bu, home, care_of_token, (coa, dar), bu.deregistration, "PHKT not given")
    return verdict


def verify_ba(
    pkt: Packet | bytes,
    phkt: bytes | None = None,
    care_of_token: bytes | None = None,
    mn_keypair: KeyPair | None = None,
    bu: Packet | bytes | None = None,
) -> Verdict:
    """Verify a Binding Acknowledgement (profile §4, §7).

    ``mn_keypair`` decrypts a PHKT option (and the PHKT then keys the BAD);
    ``phkt`` is a token the MN already holds. ``bu`` is the BU answered, which
    tells whether the BAD uses the de-registration key.
    """
    verdict, ba, raw, info = _read(pkt, BindingAck, "Binding Acknowledgement")
    if ba is None or info is None:
        return verdict
    extra = []
    if ROUTING in info.ext and (info.rh2 is None or info.rh2_segments_left != 1):
        extra.append("a routing header that is not a valid RH2 (RFC 6275 §6.4: type 2, one address, Segments Left 1)")
    _framing(verdict, ba, extra)
    _checksum(verdict, raw, info)
    answered = decode(bu, lenient=True) if bu is not None else None
    if isinstance(answered, BindingUpdate):
        dereg = answered.deregistration
    else:  # a BA accepting with lifetime 0 answers a de-registration
        dereg = ba.lifetime == 0 and ba.status < REFUSED
    endpoints = signing_endpoints(ba.src, ba.dst, ba.hoa or ba.dst, dereg, from_mn=False)
    _cga_and_signature(verdict, ba, ba.src, *endpoints)
    if ba.phkt_ciphertext is not None:
        if mn_keypair is None:
            verdict.add("phkt", None, "MN key not given")
        else:
            try:
                phkt = decrypt_phkt(mn_keypair, ba.phkt_ciphertext)
                verdict.add("phkt", True, "decrypts to an 8-byte token")
            except PhktError as exc:
                verdict.add("phkt", False, str(exc))
    _bad(verdict, ba, phkt, care_of_token, endpoints, dereg, "PHKT not given (pass phkt= or mn_keypair=)")
    return verdict
