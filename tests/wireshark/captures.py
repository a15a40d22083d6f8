"""Captures for the plugin's tests: split CGA Parameters, every RFC 4866 option, odd placements.

Theory of operation
-------------------
Everything is built with the project's craft helpers and layer classes from seeded keys
(:func:`tests.corpus.seeded_keypair`), so the bytes are the same on every run but for the
PHKT ciphertexts (RSAES-PKCS1-v1_5 is randomised by design)::

    split_capture()     CGA Parameters of 187 to 1000 bytes: 1 to 4 pieces, canonical and not;
                        two RFC 4581 extension fields; a BA with the DAR's CGA, PHKT, CoT, BAD;
                        a BU with Care-of Test Init and CGA Parameters Request options
    placement_capture() the placement rules broken one at a time (RFC 4866 §5.1/§5.2,
                        RFC 6275 §6.2.7), each still well-formed option by option
    malformed_capture() options whose bytes contradict their definition, one per frame, with
                        the sentence the plugin must show (Malformed expert info)
"""

from __future__ import annotations

import struct
from pathlib import Path

from scapy.layers.inet6 import HAO, IPv6, IPv6ExtHdrDestOpt
from scapy.packet import Packet, Raw
from scapy.utils import RawPcapWriter

from scapy_fama import craft
from scapy_fama.crypto import cga_generate, encrypt_phkt, new_phkt
from scapy_fama.layers import (
    BA,
    BU,
    RH2,
    BindingAuthData,
    CareOfTestInitOpt,
    CareOfTestOpt,
    CGAParams,
    CGAParamsOpt,
    CGAParamsRequest,
    NonceIndices,
    PHKTOpt,
    SignatureOpt,
)
from scapy_fama.layers.checksum import mh_checksum
from scapy_fama.wire import WireInfo, finish_bytes
from tests.corpus import seeded_keypair

MN, MN_BIG, DAR = seeded_keypair(1024, "mn-a"), seeded_keypair(1536, "mn-c"), seeded_keypair(1024, "dar")
COA, DAR_ADDR, PREFIX = "2001:db8:2::77", "2001:db8:1::1", "2001:db8:1::"
LINKTYPE_RAW = 101
PIECE = 255


def _extensions(total: int, base: int) -> bytes:
    """Two RFC 4581 extension fields (Multi-Prefix, experimental) bringing the block to ``total``."""
    if total < base + 8:
        return b""
    first = min(12, total - base - 8)
    rest = total - base - 8 - first
    return (struct.pack("!HH", 0x0012, first) + bytes(range(first))
            + struct.pack("!HH", 0xFFFD, rest) + bytes(i * 7 % 256 for i in range(rest)))


def cga_params(total: int | None, key=MN, collision_count: int = 0) -> tuple[str, bytes]:  # type: ignore[no-untyped-def]
    """A Sec-0 CGA of PREFIX for ``key`` with parameters ``total`` bytes long (None: no extension)."""
    base = 25 + len(key.public_der)
    ext = _extensions(total, base) if total is not None else b""
    cga = cga_generate(PREFIX, key, sec=0, modifier=bytes(range(16)), collision_count=collision_count,
                       extensions=ext)
    assert total is None or len(cga.params) == total, (total, len(cga.params))
    return cga.address, cga.params


def _bu(hoa: str, options: list[Packet], key=None, auth_key: bytes | None = None) -> Packet:  # type: ignore[no-untyped-def]
    pkt = IPv6(src=COA, dst=DAR_ADDR) / IPv6ExtHdrDestOpt(options=[HAO(hoa=hoa)]) / BU(seq=7, flags="AH", mhtime=100,
                                                                                     options=options)
    return IPv6(finish_bytes(bytes(pkt), coa=COA, correspondent=DAR_ADDR, keypair=key, auth_key=auth_key))


def _signed_bu(params: bytes, hoa: str, key=MN, olens: list[int] | None = None, extra: list[Packet] = ()) -> Packet:  # type: ignore[no-untyped-def,assignment]
    options = [CGAParamsOpt(params=CGAParams(params), olens=olens), SignatureOpt(sig=bytes(key.bits // 8)), *extra]
    return _bu(hoa, options, key)


def split_capture(path: Path) -> list[str]:
    """Write the split-parameter capture; returns what each frame is."""
    frames: list[tuple[str, Packet]] = []
    for total in (None, 255, 256, 300, 509, 510, 511, 765, 766, 1000):
        hoa, params = cga_params(total)
        frames.append((f"CGA {len(params)} bytes, RFC split", _signed_bu(params, hoa)))
    hoa, params = cga_params(None, MN_BIG)
    frames.append((f"RSA-1536, CGA {len(params)} bytes", _signed_bu(params, hoa, MN_BIG)))
    hoa, params = cga_params(None, collision_count=2)
    frames.append(("collision count 2", _signed_bu(params, hoa)))
    hoa, params = cga_params(600)
    for olens in ([200, 200, 200], [255, 255, 90], [100, 255, 245]):
        frames.append((f"CGA 600 bytes split {olens}", _signed_bu(params, hoa, olens=olens)))
    hoa, params = cga_params(None)
    frames.append(("CGA split [100, 87]", _signed_bu(params, hoa, olens=[100, 87])))
    secure = [CareOfTestInitOpt(), CGAParamsRequest(), NonceIndices(hni=0, coni=9), BindingAuthData()]
    bu = _signed_bu(params, hoa, extra=secure)
    frames.append(("BU with CoTI option, CGA request, NI, BAD", bu))
    phkt = new_phkt()
    _, dar_params = cga_params(400, DAR)
    ba = craft.binding_ack(bu, 0, 100, phkt, MN.public_der, care_of_token=bytes(8), dar_keypair=DAR,
                           dar_params=dar_params)
    frames.append(("BA: PHKT, DAR CGA 400 bytes, Signature, BAD", ba))
    ba_cot = IPv6(src=DAR_ADDR, dst=COA) / RH2(addresses=[hoa]) / BA(
        status=0, seq=7, mhtime=25, options=[PHKTOpt(phkt=encrypt_phkt(MN.public_der, phkt)),
                                             CareOfTestOpt(cokt=bytes(range(8))), BindingAuthData()])
    frames.append(("BA: PHKT, Care-of Test option, BAD", IPv6(bytes(ba_cot))))
    _write(path, [p for _, p in frames])
    return [what for what, _ in frames]


def placement_capture(path: Path) -> list[str]:
    """The placement rules broken one at a time; returns what each frame is."""
    hoa, params = cga_params(None)
    hoa2, params2 = cga_params(300)
    sig = SignatureOpt(sig=bytes(128))
    frames = [
        ("NI between the CGA Parameters and the Signature",
         _bu(hoa, [CGAParamsOpt(params=CGAParams(params)), NonceIndices(hni=0, coni=1), sig])),
        ("Signature without CGA Parameters", _bu(hoa, [sig])),
        ("CGA Parameters without a Signature", _bu(hoa, [CGAParamsOpt(params=CGAParams(params))])),
        ("two CGA blocks apart", _bu(hoa, [CGAParamsOpt(params=CGAParams(params)), NonceIndices(),
                                           CGAParamsOpt(params=CGAParams(params2)), sig])),
        ("non-canonical split", _bu(hoa2, [CGAParamsOpt(params=CGAParams(params2), olens=[150, 150]), sig])),
        ("BAD before Nonce Indices", _raw_bu(hoa, _NI + bytes((5, 12)) + bytes(12) + _NI + bytes((1, 0)))),
        ("BAD at MH offset 14", _raw_bu(hoa, bytes((1, 0)) + bytes((5, 12)) + bytes(12) + bytes(4))),
    ]
    _write(path, [p for _, p in frames])
    return [what for what, _ in frames]


_NI = bytes((4, 4, 0, 0, 0, 1))  # Nonce Indices (RFC 6275 §6.2.6): home 0, care-of 1


def _raw_bu(hoa: str, options: bytes) -> Packet:
    """A BU whose option bytes are given as they are (no alignment, no padding added)."""
    assert (12 + len(options)) % 8 == 0
    fixed = struct.pack("!BBBBHHHH", 59, (12 + len(options)) // 8 - 1, 5, 0, 0, 7, 0xC000, 25)
    mh = bytearray(fixed + options)
    mh[4:6] = mh_checksum(bytes(mh), hoa, DAR_ADDR).to_bytes(2, "big")
    pkt = IPv6(src=COA, dst=DAR_ADDR) / IPv6ExtHdrDestOpt(options=[HAO(hoa=hoa)], nh=135) / Raw(bytes(mh))
    return IPv6(bytes(pkt))


def _cga_option(data: bytes) -> bytes:
    return bytes((12, len(data))) + data


def _padded(options: bytes) -> bytes:
    size = -(12 + len(options)) % 8
    return options + (bytes((1, size - 2)) + bytes(size - 2) if size >= 2 else bytes(size))


# frame -> (option bytes after the BU's fixed part, the Malformed sentence the plugin shows)
def malformed_options() -> list[tuple[bytes, str]]:
    _, params = cga_params(None)
    key_at = 25
    bad_der = params[:key_at] + b"\x31" + params[key_at + 1 :]
    long_ext = params + struct.pack("!HH", 0xFFFD, 40) + bytes(10)
    cc3 = params[:24] + b"\x03" + params[25:]
    return [
        (_cga_option(params[:20]), "CGA Parameters of 20 bytes: modifier, subnet prefix and collision count alone take 25"),
        (_cga_option(bad_der), "public key: not a DER SEQUENCE"),
        (_cga_option(long_ext), "extension field of 40 data bytes runs 30 bytes past the CGA Parameters"),
        (_cga_option(params + b"\xff\xfd"), "2 bytes after the last field: an extension field needs a 4-byte header (RFC 4581 §3)"),
        (_cga_option(cc3), "Collision Count 3: RFC 3972 §3 allows 0, 1 or 2"),
        (bytes((12, 0)), "empty CGA Parameters (RFC 3972 §3)"),
        (bytes((11, 2, 0, 0)), "CGA Parameters Request option of length 2: RFC 4866 defines it as 0"),
        (bytes((15, 1, 0)), "Care-of Test Init option of length 1: RFC 4866 defines it as 0"),
        (bytes((16, 4)) + bytes(4), "Care-of Test option of length 4: RFC 4866 defines it as 8"),
        (bytes((13, 0)), "an empty Signature option (RFC 4866 §5.2)"),
        (bytes((14, 0)), "an empty Permanent Home Keygen Token option (RFC 4866 §5.3)"),
    ]


def malformed_capture(path: Path) -> list[str]:
    """One malformed option per frame; returns the sentence each frame must show."""
    hoa = "2001:db8:1::99"
    cases = malformed_options()
    _write(path, [_raw_bu(hoa, _padded(options)) for options, _ in cases])
    return [sentence for _, sentence in cases]


def reframed_mh(ip: bytes, info: WireInfo) -> bytes | None:
    """A capture's MH made whole: its options as carried (to the end of the bytes captured),
    padded with Pad1 to a multiple of 8, Header Len and Payload Length set to match, so that
    Wireshark's mip6 walks the options instead of stopping at the cut; next header 62 (the
    pre-RFC 3775 number of the tcpdump captures) becomes 135 when the IPv6 header holds it.
    None when the MH has no options."""
    mh_offset = info.upper or 0
    mh = bytearray(ip[mh_offset:])
    fixed = {0: 8, 1: 16, 2: 16, 3: 24, 4: 24, 5: 12, 6: 12, 7: 24}.get(mh[2] if len(mh) > 2 else -1)
    if fixed is None or len(mh) <= fixed:
        return None
    mh += bytes(-len(mh) % 8)
    mh[1] = len(mh) // 8 - 1
    head = bytearray(ip[:mh_offset])
    head[4:6] = (len(head) - 40 + len(mh)).to_bytes(2, "big")
    if not info.ext:
        head[6] = 135
    return bytes(head + mh)


def write_raw(path: Path, packets: list[bytes], caplens: list[int] | None = None) -> None:
    """A LINKTYPE_RAW pcap, frame i at second i; ``caplens`` cuts frames as a snap length would."""
    with RawPcapWriter(str(path), linktype=LINKTYPE_RAW, sync=False) as w:
        w.write_header(None)
        for i, raw in enumerate(packets):
            cut = raw if caplens is None else raw[: caplens[i]]
            w.write_packet(cut, sec=1_700_000_000 + i, usec=0, caplen=len(cut), wirelen=len(raw))


def _write(path: Path, packets: list[Packet]) -> None:
    write_raw(path, [bytes(p) for p in packets])
