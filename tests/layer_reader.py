"""The Scapy layers' reading of a Mobility Header message: the test oracle of the codec's byte reader.

Theory of operation
-------------------
``codec.decode`` reads bytes with :mod:`scapy_fama.wire`. This module reads the
same packet through a full Scapy dissection (our layer classes, option objects,
``option_spans``) and builds the message the codec should have built, so that
tests can hold the two readers to the same answer packet by packet. The rules
themselves (which placement is wrong, which problems drop a message) come from
:mod:`scapy_fama.wire.layout` and the profile: what is tested is the reading.
"""

from __future__ import annotations

from scapy.layers.inet6 import HBHOptUnknown, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop, MIP6OptBRAdvice
from scapy.packet import Packet, Raw

from scapy_fama.layers import (
    BA,
    BE,
    BU,
    BindingAuthData,
    CGAParamsOpt,
    CGAParamsRequest,
    CoT,
    CoTI,
    NonceIndices,
    PHKTOpt,
    SignatureOpt,
    checksum_ok,
    wire_mh,
)
from scapy_fama.layers.headers import find_mh, mh_context
from scapy_fama.layers.spans import OptionSpan, option_spans
from scapy_fama.proto.messages import (
    BindingAck,
    BindingError,
    BindingUpdate,
    CareOfTest,
    CareOfTestInit,
    Message,
    UnknownMobility,
    lifetime_seconds,
)
from scapy_fama.wire.layout import bad_problem, framing_problems
from scapy_fama.wire.numbers import MAX_OPTIONS, MIN_HEADER_LEN

HANDLED = {2, 4, 5, 6, 7}


def _parts(mh: Packet, spans: list[OptionSpan]) -> dict[str, object]:
    wire = wire_mh(mh)
    zeroed = wire[:4] + b"\0\0" + wire[6:]
    cga = [s for s in spans if isinstance(s.option, CGAParamsOpt)]
    sig = next((s.option for s in spans if isinstance(s.option, SignatureOpt)), None)
    bad = next((s for s in spans if isinstance(s.option, BindingAuthData)), None)
    return {
        "cga_params": b"".join(s.option.param_bytes() for s in cga) if cga else None,
        "signature": bytes(sig.sig) if sig is not None else None,
        "signed_data": zeroed[: cga[-1].end] if cga else b"",
        "bad": bytes(bad.option.authenticator) if bad is not None else None,
        "auth_data": zeroed[: bad.start + 2] if bad is not None else b"",
        "framing": tuple(framing_problems([s.frame for s in spans])),
    }


def _refused(mh: Packet, spans: list[OptionSpan] | None) -> bool:
    """Whether profile §6 step 1 drops the message (the codec says Undecodable)."""
    declared = (mh.len + 1) * 8
    wire = wire_mh(mh)
    if mh.nh != 59 or mh.len < MIN_HEADER_LEN.get(mh.mhtype, 0) or len(wire) < declared:
        return True
    if spans is not None:
        if len(spans) > MAX_OPTIONS or (spans and spans[-1].end != declared):
            return True
        if bad_problem([s.frame for s in spans]):
            return True
    return not checksum_ok(mh)


def _discarded_by_an_option(ip: IPv6) -> bool:
    """RFC 8200 §4.2: an unrecognised Hop-by-Hop or Destination option with action bits set, or
    an option its header's length cuts short (Scapy leaves its bytes as Raw)."""
    known = {0, 1, 0x05, 0xC2, 0xC9}
    for header in (IPv6ExtHdrHopByHop, IPv6ExtHdrDestOpt):
        layer = ip.getlayer(header)
        for opt in layer.options if layer is not None else []:
            if isinstance(opt, Raw):
                return True
            otype = int(opt.otype)
            if otype >> 6 and otype not in known:
                return True
            if otype == 0xC9 and (isinstance(opt, HBHOptUnknown) or opt.optlen != 16):
                return True
    return False


def read(raw: bytes) -> Message | None:
    """The message in ``raw`` as the layers read it; None when it carries no Mobility Header
    whose IPv6 packet is whole (the codec's other paths are compared elsewhere)."""
    ip = IPv6(raw)
    if len(raw) != 40 + ip.plen:
        return None
    mh = find_mh(ip)
    ctx = mh_context(mh) if mh is not None else None
    if mh is None or ctx is None or ctx.ip is not ip or ctx.rh_type not in (None, 2):
        return None
    if _discarded_by_an_option(ip):
        return None
    src, dst = ip.src, ip.dst
    spans = option_spans(mh) if isinstance(mh, (BU, BA)) else None
    if _refused(mh, spans):
        return None
    if mh.mhtype not in HANDLED:
        return UnknownMobility(src, dst, int(mh.mhtype), ctx.hao)
    if isinstance(mh, BU) and spans is not None:
        ni = next((s.option for s in spans if isinstance(s.option, NonceIndices)), None)
        request = next((s for s in spans if isinstance(s.option, CGAParamsRequest)), None)
        return BindingUpdate(
            src=src, dst=dst, hoa=ctx.hao, seq=int(mh.seq), lifetime=lifetime_seconds(int(mh.mhtime)),
            ack=bool(mh.flags.A), home=bool(mh.flags.H),
            cga_request=request is not None and request.end - request.start == 2,
            nonce_indices=(int(ni.hni), int(ni.coni)) if ni is not None and ni.olen == 4 else None,
            **_parts(mh, spans),  # type: ignore[arg-type]
        )  # fmt: skip
    if isinstance(mh, BA) and spans is not None:
        token = next((s.option for s in spans if isinstance(s.option, PHKTOpt)), None)
        bra = next((s.option for s in spans if isinstance(s.option, MIP6OptBRAdvice)), None)
        return BindingAck(
            src=src, dst=dst, hoa=ctx.rh_final if ctx.rh_type == 2 else None, status=int(mh.status),
            seq=int(mh.seq), lifetime=lifetime_seconds(int(mh.mhtime)),
            phkt_ciphertext=bytes(token.phkt) if token is not None else None,
            refresh_interval=lifetime_seconds(int(bra.rinter)) if bra is not None and bra.olen == 2 else None,
            **_parts(mh, spans),  # type: ignore[arg-type]
        )  # fmt: skip
    if isinstance(mh, BE):
        return BindingError(src, dst, int(mh.status), mh.hoa)
    if isinstance(mh, CoTI):
        return CareOfTestInit(src, dst, bytes(mh.cookie))
    if isinstance(mh, CoT):
        return CareOfTest(src, dst, int(mh.index), bytes(mh.cookie), bytes(mh.token))
    return None
