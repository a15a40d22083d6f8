"""DAR cases: authorisation by CGA and by PHKT, secure mode, granted lifetimes (RFC 4866 §5,
RFC 3972 §5, RFC 6275 §9.5.1; profile §4-§6).

Theory of operation
-------------------
The CGA cases send a first BU that is right but for one thing (the key, the
parameters, the signature, the layout of the options, the Sec, the collision
count, the prefix) and expect BA 148; the layout cases build the options by
hand, since a well-behaved library will not lay them out wrongly::

    MH: 59 | Header Len | 5 | 0 | checksum | seq | A H flags | lifetime | options ... | padding
        CGA Parameters (type 12, pieces of 255 back to back) then Signature (type 13) at once
        (secure mode, DAR-CGA-007: then Nonce Indices and a BAD keyed by the care-of token)

and let :func:`scapy_fama.wire.finish_bytes` sign over the MH up to the last
type-12 option (RFC 4866 §4.5) and fill in the checksum, so that the layout
is the only fault. A CGA address is derived here from RFC 3972 §4 step 6
directly where a case needs parameters our generator refuses to make.
"""

from __future__ import annotations

import hashlib
import os

from scapy_fama.codec import encode_bytes
from scapy_fama.conformance.case import Fail, Inconclusive, case
from scapy_fama.conformance.dar_tester import LIFETIME, DarTester, PlayedMn
from scapy_fama.conformance.executor import Setup
from scapy_fama.crypto import ZERO_TOKEN, Cga, CgaParams, addr_text, cga_generate, cga_with_prefix, kbm, prefix64
from scapy_fama.proto.messages import CareOfTest, CareOfTestInit, lifetime_units
from scapy_fama.wire import finish_bytes, parse
from scapy_fama.wire.layout import pad, tlv
from scapy_fama.wire.numbers import (
    AUTHENTICATOR_LEN, BAD, BU, BU_A, BU_H, CGA_PARAMS, NONCE_INDICES, OPTIONS_START, PADN, SIGNATURE,
)  # fmt: skip
from scapy_fama.wire.write import bu_fixed, finish, mh_bytes, mh_packet, mobility

UNASSIGNED_EXT = 0xFFFD  # RFC 4581 extension type for experiments
SECURE = Setup(secure=True)
MAX_CGA_LIFETIME = 86_400  # RFC 4866 §4.2, profile §6 step 5


def laid_out_bu(t: DarTester, mn: PlayedMn, options: bytes, *, sign: bool = True) -> bytes:
    """A BU from the MN's CoA with ``options`` as given (then padded to 8n), signed with the
    run's key when ``sign`` (a Signature placeholder among them) and checksummed (see the
    module doc)."""
    fixed = bu_fixed(mn.next_seq(), BU_A | BU_H, lifetime_units(LIFETIME))
    body = fixed + options + pad(-(OPTIONS_START[BU] + len(options)) % 8)
    raw = mh_packet(mn.coa, t.iut, mh_bytes(BU, body), hoa=mn.address)
    return finish_bytes(raw, coa=mn.coa, correspondent=t.iut, keypair=t.key if sign else None)


def _signature_placeholder(t: DarTester) -> bytes:
    return tlv(SIGNATURE, bytes(t.key.bits // 8))


def _long_params_mn(t: DarTester) -> PlayedMn:
    """An MN whose CGA Parameters exceed 255 bytes (an extension field), so they are split."""
    ext = UNASSIGNED_EXT.to_bytes(2, "big") + (100).to_bytes(2, "big") + os.urandom(100)
    mn = t.new_mn(extensions=ext)
    if len(mn.hoa.params) <= 255:
        raise Inconclusive(f"set-up: CGA Parameters of {len(mn.hoa.params)} bytes need no split")
    return mn


def _refused_148(t: DarTester, mn: PlayedMn, raw: bytes) -> None:
    t.send(raw)
    ba = t.expect_ba(mn, None)
    if ba.status != 148:
        raise Fail(f"expected BA 148 (CGA verification failed), got BA {ba.status}")


# ---------------------------------------------------------------- CGA (RFC 4866 §5, profile §6 step 4)


@case("DAR-CGA-001", "A valid CGA-signed BU gets BA 0 with a PHKT that decrypts to 8 bytes and a valid BAD", "RFC 4866 §4.6, §4.7, §5.3; profile §4, §6 step 4, §6 step 7", group="cga")
def cga_valid(t: DarTester) -> None:
    mn = t.new_mn()
    t.send(mn.first_bu())
    ba = t.expect_ba(mn, 0)
    t.take_phkt(mn, ba)
    if ba.lifetime <= 0:
        raise Fail("BA 0 grants a lifetime of 0")
    t.check_ba_bad(mn, ba)


@case("DAR-CGA-002", "CGA Parameters and Signature of another key get BA 148", "RFC 3972 §5; RFC 4866 §4.6; profile §6 step 4", group="cga")
def cga_wrong_key(t: DarTester) -> None:
    mn = t.new_mn()
    other = t.other_key()
    theirs = cga_generate(t.prefix, other, 0, workers=1)  # a CGA, but not of the HoA
    _refused_148(t, mn, bytes(mn.first_bu(params=theirs.params, key=other)))


@case("DAR-CGA-003", "Corrupted CGA Parameters (one modifier bit) get BA 148", "RFC 3972 §5 step 4 (Hash1 against the interface identifier); profile §6 step 4", group="cga")
def cga_corrupt_params(t: DarTester) -> None:
    mn = t.new_mn()
    params = bytearray(mn.hoa.params)
    params[0] ^= 0x01  # the modifier: Hash1 no longer gives the HoA's interface identifier
    _refused_148(t, mn, bytes(mn.first_bu(params=bytes(params))))


@case("DAR-CGA-004", "A Signature that does not verify gets BA 148", "RFC 4866 §4.6; RFC 3972 §6 (signature verification); profile §6 step 4", group="cga")
def cga_bad_signature(t: DarTester) -> None:
    mn = t.new_mn()
    bu = mn.first_bu()
    sig = next(at for otype, at, _ in _options(bytes(bu)) if otype == SIGNATURE)

    def flip(raw: bytearray, off: int) -> None:
        raw[off + sig + 10] ^= 0x80

    _refused_148(t, mn, mn.rewrite(bu, flip, sign=False))  # BAD (secure mode) and checksum redone


@case("DAR-CGA-005", "CGA Parameters split with another option between the pieces get BA 148", "RFC 4866 §5.1 (pieces back to back), §4.6; profile §6 step 4", group="cga")
def cga_split_apart(t: DarTester) -> None:
    mn = _long_params_mn(t)
    params = mn.hoa.params
    options = (
        tlv(CGA_PARAMS, params[:255])
        + tlv(PADN)
        + tlv(CGA_PARAMS, params[255:])
        + _signature_placeholder(t)
    )
    _refused_148(t, mn, laid_out_bu(t, mn, options))


@case("DAR-CGA-006", "A Signature not right after the CGA Parameters gets BA 148", "RFC 4866 §5.2 (right after the last CGA Parameters option), §4.6; profile §6 step 4", group="cga")
def cga_signature_apart(t: DarTester) -> None:
    mn = t.new_mn()
    options = (
        tlv(CGA_PARAMS, mn.hoa.params)
        + tlv(NONCE_INDICES, bytes(4))
        + _signature_placeholder(t)
    )
    _refused_148(t, mn, laid_out_bu(t, mn, options))


@case("DAR-CGA-007", "A correctly split CGA Parameters block (255 + rest, back to back) is accepted", "RFC 4866 §5.1, §4.6; profile §6 step 4", group="cga")
def cga_split_right(t: DarTester) -> None:
    mn = _long_params_mn(t)
    params = mn.hoa.params
    options = [(CGA_PARAMS, params[:255]), (CGA_PARAMS, params[255:]), (SIGNATURE, bytes(t.key.bits // 8))]
    auth_key = None
    if mn.care_of is not None:  # secure mode: Nonce Indices and a BAD by the care-of token (profile §5)
        options += [(NONCE_INDICES, mn.nonce_indices()), (BAD, bytes(AUTHENTICATOR_LEN))]
        auth_key = kbm(ZERO_TOKEN, mn.care_of)
    fixed = bu_fixed(mn.next_seq(), BU_A | BU_H, lifetime_units(LIFETIME))
    frame = mobility(mn.coa, t.iut, BU, fixed, options, hoa=mn.address)
    t.send(finish(frame, coa=mn.coa, correspondent=t.iut, keypair=t.key, auth_key=auth_key))
    t.expect_ba(mn, 0)


@case("DAR-CGA-008", "A HoA claiming Sec 1 with parameters made for Sec 0 gets BA 148", "RFC 3972 §5 step 7 (Hash2); profile §6 step 4", group="cga")
def cga_sec_mismatch(t: DarTester) -> None:
    mn = t.new_mn()
    if _hash2_zero16(mn.hoa.params):
        raise Inconclusive("set-up: this modifier happens to satisfy Sec 1 as well (1 in 65536)")
    claimed = _address_of(t.prefix, mn.hoa.params, sec=1)  # Hash1 matches, Hash2 cannot
    mn.hoa = Cga(claimed, mn.hoa.params, 1)
    _refused_148(t, mn, bytes(mn.first_bu()))


@case("DAR-CGA-009", "CGA Parameters without a Signature get BA 148", "RFC 4866 §4.6, §5.2; profile §6 step 4", group="cga")
def cga_no_signature(t: DarTester) -> None:
    mn = t.new_mn()
    size = t.key.bits // 8  # the Signature's room, taken by a PadN instead
    options = tlv(CGA_PARAMS, mn.hoa.params) + tlv(PADN, bytes(size))
    _refused_148(t, mn, laid_out_bu(t, mn, options, sign=False))


@case("DAR-CGA-010", "A collision count of 3 gets BA 148", "RFC 3972 §5 step 1 (collision count 0 to 2); profile §6 step 4", group="cga")
def cga_collision_count(t: DarTester) -> None:
    mn = t.new_mn()
    params = CgaParams(os.urandom(16), prefix64(t.prefix), 3, t.key.public_der).encode()
    mn.hoa = Cga(_address_of(t.prefix, params, sec=0), params, 0)
    _refused_148(t, mn, bytes(mn.first_bu()))


@case("DAR-CGA-011", "CGA Parameters of another subnet prefix get BA 148", "RFC 3972 §5 step 2 (subnet prefix); profile §6 step 4", group="cga")
def cga_other_prefix(t: DarTester) -> None:
    mn = t.new_mn()
    elsewhere = cga_with_prefix(mn.hoa, str(t.coa_net))
    _refused_148(t, mn, bytes(mn.first_bu(params=elsewhere.params)))


@case("DAR-CGA-012", "A CGA BU with another key for a HoA whose record holds a key gets BA 148", "RFC 3972 §5; profile §6 step 4, §6 step 5 (the security record keeps the key)", group="cga")
def cga_foreign_key(t: DarTester) -> None:
    mn = t.new_mn()
    t.register(mn)
    other = t.other_key()
    theirs = cga_generate(t.prefix, other, 0, workers=1)
    _refused_148(t, mn, bytes(mn.first_bu(params=theirs.params, key=other)))


def _options(raw: bytes | bytearray) -> list[tuple[int, int, int]]:
    info = parse(bytes(raw))
    assert info is not None and info.mh is not None
    return info.mh.options


def _hash2_zero16(params: bytes) -> bool:
    """RFC 3972 §3: Hash2 over modifier, 9 zero bytes, key and extensions; Sec 1 needs its
    16 leftmost bits zero."""
    decoded = CgaParams.decode(params)
    h2 = hashlib.sha1(decoded.modifier + bytes(9) + decoded.public_key + decoded.extensions).digest()
    return h2[:2] == b"\0\0"


def _address_of(prefix: str, params: bytes, sec: int) -> str:
    """RFC 3972 §4 steps 5-6: Hash1's leftmost 64 bits, Sec in bits 0-2, u and g cleared."""
    iid = bytearray(hashlib.sha1(params).digest()[:8])
    iid[0] = (iid[0] & 0x1C) | (sec << 5)
    return addr_text(prefix64(prefix) + bytes(iid))


# ---------------------------------------------------------------- PHKT (RFC 4866 §5.3, profile §6 step 4)


@case("DAR-PHKT-001", "A BU with a valid BAD under the PHKT gets BA 0 with a valid BAD", "RFC 4866 §4.2, §4.3; RFC 6275 §6.2.7; profile §4, §6 step 4, §6 step 7", group="phkt")
def phkt_valid(t: DarTester) -> None:
    mn = t.new_mn()
    t.register(mn)
    t.send(mn.phkt_bu())
    ba = t.expect_ba(mn, 0)
    t.check_ba_bad(mn, ba)
    if ba.phkt_ciphertext is not None:
        raise Fail("a BA to a PHKT-authorised BU issues a new PHKT (only a CGA check does)")


@case("DAR-PHKT-002", "A BU with a wrong BAD is dropped silently", "RFC 4866 §4.2 (a BAD that does not verify: discard); profile §6 step 4", group="phkt")
def phkt_wrong_bad(t: DarTester) -> None:
    mn = t.new_mn()
    t.register(mn)
    t.expect_dropped(mn, bytes(mn.phkt_bu(phkt=os.urandom(8))), "a BU with a wrong BAD", mn.phkt_bu())


@case("DAR-PHKT-003", "A BAD-authorised BU for a HoA without a PHKT gets BA 147", "RFC 4866 §5.7 (status 147), §4.2; profile §6 step 4", group="phkt")
def phkt_unavailable(t: DarTester) -> None:
    mn = t.new_mn()
    t.send(mn.phkt_bu(phkt=os.urandom(8)))
    t.expect_ba(mn, 147)


@case("DAR-PHKT-004", "An unauthorised BU (no CGA, no BAD) when a PHKT exists gets BA 149", "RFC 4866 §5.7 (status 149), §4.2; profile §6 step 4", group="phkt")
def phkt_exists(t: DarTester) -> None:
    mn = t.new_mn()
    t.register(mn)
    t.send(laid_out_bu(t, mn, b"", sign=False))  # no authorisation option at all
    t.expect_ba(mn, 149)


@case("DAR-PHKT-005", "Reusing a sequence number under the PHKT is refused with BA 135", "RFC 6275 §9.5.1 (status 135); profile §6 step 3", group="phkt")
def phkt_seq_reuse(t: DarTester) -> None:
    mn = t.new_mn()
    t.register(mn)
    t.send(mn.phkt_bu())
    t.expect_ba(mn, 0)
    t.send(mn.phkt_bu(seq=mn.last_seq))
    t.expect_135(mn)


@case("DAR-PHKT-006", "In secure mode an unknown care-of nonce index gets BA 137", "RFC 6275 §9.5.1 (status 137); profile §5 (secure mode), §6 step 4 (no valid care-of token)", group="phkt", setup=SECURE)
def phkt_unknown_index(t: DarTester) -> None:
    mn = t.new_mn()
    t.register(mn)
    mn.care_of, mn.coni = os.urandom(8), 0xBEEF  # an index the IUT never issued
    t.send(mn.phkt_bu())
    t.expect_ba(mn, 137)


@case("DAR-PHKT-007", "After a de-registration the PHKT still authorises a new binding", "profile §6 step 5 (the security record is kept)", group="phkt")
def phkt_kept(t: DarTester) -> None:
    mn = t.new_mn()
    t.register(mn)
    t.send(mn.phkt_bu(lifetime=0))
    t.expect_ba(mn, 0)
    t.send(mn.phkt_bu())
    t.check_ba_bad(mn, t.expect_ba(mn, 0))


# ---------------------------------------------------------------- lifetimes (profile §6 step 5)


@case("DAR-LIFE-001", "A CGA binding is granted at most 86 400 s however long it asks", "RFC 4866 §4.2 (MAX_CGA_BINDING_LIFETIME); profile §6 step 5", group="life")
def lifetime_cap(t: DarTester) -> None:
    mn = t.new_mn()
    ba = t.register(mn, lifetime=200_000)
    if not 0 < ba.lifetime <= MAX_CGA_LIFETIME:
        raise Fail(f"granted {ba.lifetime} s for a request of 200000 s (at most {MAX_CGA_LIFETIME})")


@case("DAR-LIFE-002", "The granted lifetime never exceeds the requested one", "RFC 6275 §10.3.1 (granted lifetime); profile §6 step 5", group="life")
def lifetime_requested(t: DarTester) -> None:
    mn = t.new_mn()
    ba = t.register(mn, lifetime=400)
    if not 0 < ba.lifetime <= 400:
        raise Fail(f"granted {ba.lifetime} s for a request of 400 s")


# ---------------------------------------------------------------- secure mode (profile §5)


@case("DAR-SEC-001", "In secure mode a CoTI is answered by a CoT with the cookie echoed and an 8-byte token", "RFC 6275 §9.4.2, §9.4.4, §6.1.6; profile §5", group="secure", setup=SECURE)
def secure_cot(t: DarTester) -> None:
    mn = t.new_mn(care_of_test=False)
    cookie = os.urandom(8)
    t.send(encode_bytes(CareOfTestInit(mn.coa, t.iut, cookie)))
    cot = t.expect(lambda m: isinstance(m, CareOfTest) and m.dst == mn.coa, f"a CoT to {mn.coa}")
    assert isinstance(cot, CareOfTest)
    if cot.cookie != cookie:
        raise Fail(f"the CoT echoes cookie {cot.cookie.hex()}, not {cookie.hex()}")
    if len(cot.token) != 8:
        raise Fail(f"the care-of keygen token is {len(cot.token)} bytes, not 8")


@case("DAR-SEC-002", "In secure mode a first BU without a care-of token gets BA 137", "profile §5, §6 step 4", group="secure", setup=SECURE)
def secure_needs_token(t: DarTester) -> None:
    mn = t.new_mn(care_of_test=False)
    t.send(mn.first_bu())
    t.expect_ba(mn, 137)


@case("DAR-SEC-003", "In secure mode a first BU after the care-of test gets BA 0", "profile §5, §6 step 4", group="secure", setup=SECURE)
def secure_accepts(t: DarTester) -> None:
    mn = t.new_mn()
    t.register(mn)


@case("DAR-SEC-004", "In secure mode a PHKT BU without a care-of token gets BA 137", "profile §5, §6 step 4", group="secure", setup=SECURE)
def secure_phkt_needs_token(t: DarTester) -> None:
    mn = t.new_mn()
    t.register(mn)
    mn.care_of, mn.coni = None, 0
    t.send(mn.phkt_bu())
    t.expect_ba(mn, 137)
