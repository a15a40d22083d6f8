"""DarCore: RS/RA, BU processing in the order of profile §6 with every status, de-registration,
secure mode, the DoS guard, Binding Errors and the data plane of profile §8.

BUs are built here the way the MN core builds them and carried as SimNet's object carrier
carries them (``scapy_fama.net.sim_carry.received``: signed and authenticated over a canonical
span of the fields), so signatures and BADs are real crypto over spans a change in flight breaks.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from topology import CN, DAR1, P1, seeded

from scapy_fama.crypto import (
    ZERO_TOKEN,
    Cga,
    KeyPair,
    cga_generate,
    check_authenticator,
    decrypt_phkt,
    kbm,
    verify_mh_signature,
)
from scapy_fama.net.sim_carry import received as carry
from scapy_fama.net.sim_carry import signed_span
from scapy_fama.proto import DarConfig, DarCore
from scapy_fama.proto.dar import Refreshed, nesting
from scapy_fama.proto.effects import Deliver, Drop, Forward, Notify, Send, TunnelDown, TunnelUp
from scapy_fama.proto.messages import (
    BindingAck,
    BindingError,
    BindingUpdate,
    CareOfTest,
    CareOfTestInit,
    Datagram,
    RouterAdvertisement,
    RouterSolicitation,
    Tunnelled,
    Undecodable,
    UnknownMobility,
)

COA2 = "2001:db8:2::99"
PHKT8 = bytes(range(8))


def make_dar(**config: object) -> DarCore:
    return DarCore(DAR1, P1, config=DarConfig(**config), rand=seeded())  # type: ignore[arg-type]


def make_bu(
    coa: str,
    hoa: Cga | str,
    seq: int,
    lifetime: int = 400,
    *,
    key: KeyPair | None = None,
    phkt: bytes | None = None,
    care_of: tuple[int, bytes] | None = None,
    hao: bool = True,
    **fields: object,
) -> BindingUpdate:
    """A BU as MnCore builds it (CGA-signed with ``key``, PHKT-keyed with ``phkt``, or
    neither), sealed and cut as SimNet's object carrier does it."""
    address = hoa.address if isinstance(hoa, Cga) else hoa
    dereg = lifetime == 0 or not hao or coa == address
    index, token = care_of if care_of else (0, None)
    msg = BindingUpdate(coa, DAR1, address if hao else None, seq, lifetime, **fields)  # type: ignore[arg-type]
    if key is not None:
        assert isinstance(hoa, Cga)
        auth = kbm(ZERO_TOKEN, token, deregistration=dereg) if care_of else None
        ni = (0, index) if care_of else None
        msg = replace(msg, cga_params=hoa.params, sign_with=key, nonce_indices=ni, auth_key=auth)
    elif phkt is not None:
        auth = kbm(phkt, token, deregistration=dereg)
        msg = replace(msg, nonce_indices=(0, index), auth_key=auth)
    return carry(msg)  # type: ignore[return-value]


def only(effects: list, kind: type) -> list:
    return [e for e in effects if isinstance(e, kind)]


def ba_of(effects: list) -> BindingAck:
    (ba,) = [e.msg for e in only(effects, Send) if isinstance(e.msg, BindingAck)]
    return ba


def received(ba: BindingAck) -> BindingAck:
    """The BA as the MN would get it: sealed (signature, BAD) and its spans cut."""
    got = carry(ba)
    assert isinstance(got, BindingAck)
    return got


def bad_ok(ba: BindingAck, key: bytes, coa: str) -> bool:
    got = received(ba)
    assert got.bad is not None
    return check_authenticator(got.bad, key, coa, got.src, got.auth_data)


def refusal(effects: list) -> str:
    return next(e.data["why"] for e in only(effects, Notify) if e.event == "bu-refused")


@pytest.fixture
def dar() -> DarCore:
    return make_dar()


@pytest.fixture
def other_hoa(mn_key: KeyPair) -> Cga:
    """A second address in DAR1's prefix (another modifier, same key)."""
    return cga_generate(P1, mn_key, sec=0, modifier=b"\x01" * 16)


def register(
    dar: DarCore, hoa: Cga, key: KeyPair, coa: str, seq: int = 100, now: float = 0.0
) -> bytes:
    """First BU (CGA); returns the PHKT the DAR issued."""
    ba = ba_of(dar.on_message(make_bu(coa, hoa, seq, key=key), now))
    assert ba.status == 0 and ba.phkt_ciphertext is not None
    return decrypt_phkt(key, ba.phkt_ciphertext)


# ---------------------------------------------------------------- RS / RA (profile §1, §2)


def test_rs_gets_an_ra_with_the_prefix_and_the_dar_address(dar: DarCore) -> None:
    (answer,) = dar.on_message(RouterSolicitation("::"), 0.0)
    ra = answer.msg
    assert isinstance(ra, RouterAdvertisement) and ra.dst == "ff02::1"
    assert (ra.dar_address, ra.prefix, ra.src) == (DAR1, P1, "fe80::1")
    assert (ra.valid_lifetime, ra.preferred_lifetime) == (2_592_000, 604_800)
    (answer,) = dar.on_message(RouterSolicitation("fe80::5"), 0.0)
    assert answer.msg.dst == "fe80::5"


def test_unsolicited_ras_on_the_timer() -> None:
    dar = make_dar(ra_interval=200.0)
    assert dar.next_deadline() == 0.0
    assert [type(e.msg) for e in dar.on_timer(0.0)] == [RouterAdvertisement]
    assert dar.next_deadline() == 200.0 and dar.on_timer(199.0) == []
    assert len(dar.on_timer(200.0)) == 1


def ra_destinations(effects: list) -> list[str]:
    assert all(isinstance(e, Send) and isinstance(e.msg, RouterAdvertisement) for e in effects)
    return [e.msg.dst for e in effects]


def test_multicast_ras_to_rs_from_unspecified_are_rate_limited_unicast_ones_are_not() -> None:
    """Profile §2 step 1; RFC 4861 §6.2.6 (MIN_DELAY_BETWEEN_RAS 3 s, here the RFC's value)."""
    dar = make_dar(min_delay_between_ras=3.0, ra_interval=600.0)
    assert ra_destinations(dar.on_timer(0.0)) == ["ff02::1"]  # the first unsolicited RA
    flood = [dar.on_message(RouterSolicitation("::"), 1.0 + i / 20) for i in range(20)]
    assert flood == [[]] * 20 and dar.next_deadline() == 3.0  # one RA for them all, at 0 + 3 s
    assert ra_destinations(dar.on_timer(3.0)) == ["ff02::1"]
    assert dar.next_deadline() == 603.0  # a multicast RA restarts the unsolicited wait
    assert dar.on_message(RouterSolicitation("::"), 3.5) == [] and dar.next_deadline() == 6.0
    assert ra_destinations(dar.on_message(RouterSolicitation("fe80::5"), 3.5)) == ["fe80::5"]
    assert ra_destinations(dar.on_message(RouterSolicitation("fe80::6"), 3.5)) == ["fe80::6"]
    assert ra_destinations(dar.on_timer(6.0)) == ["ff02::1"]
    assert ra_destinations(dar.on_message(RouterSolicitation("::"), 9.5)) == ["ff02::1"]


def test_the_profiles_multicast_ra_limit_is_a_mobility_routers_30_ms() -> None:
    """RFC 6275 §7.5 lets a mobility router lower MinDelayBetweenRAs to 0.03 s."""
    dar = make_dar()
    assert ra_destinations(dar.on_message(RouterSolicitation("::"), 5.0)) == ["ff02::1"]
    assert dar.on_message(RouterSolicitation("::"), 5.01) == []
    assert dar.next_deadline() == pytest.approx(5.03)
    assert ra_destinations(dar.on_timer(5.03)) == ["ff02::1"]


def test_the_rfcs_random_solicited_ra_delay_is_an_option() -> None:
    """ra_delay 0.5 s: RFC 4861 §6.2.6 MAX_RA_DELAY_TIME (profile §9: 0 by default)."""
    dar = make_dar(ra_delay=0.5)
    dar.on_timer(0.0)
    assert dar.on_message(RouterSolicitation("fe80::5"), 10.0) == []
    due = dar.next_deadline()
    assert due is not None and 10.0 <= due < 10.5
    assert dar.on_message(RouterSolicitation("fe80::5"), 10.0) == []  # the same answer, once
    assert ra_destinations(dar.on_timer(due)) == ["fe80::5"]
    assert dar.on_message(RouterSolicitation("::"), 20.0) == []
    due = dar.next_deadline()
    assert due is not None and 20.0 <= due < 20.5
    assert ra_destinations(dar.on_timer(due)) == ["ff02::1"]


def test_delayed_unicast_answers_are_bounded_the_rest_share_a_multicast_ra() -> None:
    dar = make_dar(ra_delay=0.5)
    dar.on_timer(0.0)
    for i in range(1000):
        dar.on_message(RouterSolicitation(f"fe80::{i + 1:x}"), 10.0)
    answers: list[str] = []
    while (due := dar.next_deadline()) is not None and due < 11.0:
        answers += ra_destinations(dar.on_timer(due))
    assert answers.count("ff02::1") == 1 and len(answers) == 65  # UNICAST_PENDING + 1
    assert len(set(answers)) == 65


def test_the_dar_must_own_its_address() -> None:
    with pytest.raises(ValueError, match="must lie in"):
        DarCore("2001:db8:9::1", P1, rand=seeded())


# ---------------------------------------------------------------- first BU and BA (profile §4)


def test_first_bu_creates_binding_tunnel_and_an_encrypted_phkt(
    dar: DarCore, hoa_cga: Cga, coa_cga: Cga, mn_key: KeyPair
) -> None:
    effects = dar.on_message(make_bu(coa_cga.address, hoa_cga, 7, 400, key=mn_key), 1.0)
    ba = ba_of(effects)
    assert (ba.status, ba.seq, ba.lifetime) == (0, 7, 400)
    assert (ba.src, ba.dst, ba.hoa) == (DAR1, coa_cga.address, hoa_cga.address)  # RH2 = HoA
    phkt = decrypt_phkt(mn_key, ba.phkt_ciphertext)
    assert bad_ok(ba, kbm(phkt), coa_cga.address)  # BAD last, keyed with the new PHKT
    assert TunnelUp(DAR1, coa_cga.address, hoa_cga.address) in effects
    assert [e.event for e in only(effects, Notify)] == ["binding-created", "phkt-issued"]
    binding = dar.binding(hoa_cga.address)
    assert binding is not None and (binding.coa, binding.expires) == (coa_cga.address, 401.0)
    record = dar.record(hoa_cga.address)
    assert record is not None and (record.phkt, record.last_seq) == (phkt, 7)


@pytest.mark.parametrize(
    ("requested", "config", "granted"),
    [
        (400, {}, 400),
        (262_140, {}, 86_400),  # MAX_CGA_BINDING_LIFETIME
        (4000, {"valid_lifetime": 1000}, 1000),  # the prefix valid lifetime
        (4000, {"max_binding_lifetime": 302}, 300),  # policy, in 4 s units
    ],
)
def test_lifetime_is_capped(
    hoa_cga: Cga, coa_cga: Cga, mn_key: KeyPair, requested: int, config: dict, granted: int
) -> None:
    dar = make_dar(**config)
    ba = ba_of(dar.on_message(make_bu(coa_cga.address, hoa_cga, 1, requested, key=mn_key), 0.0))
    assert ba.lifetime == granted and dar.binding(hoa_cga.address).lifetime == granted


def test_phkt_bu_refreshes_and_moves_the_binding(
    dar: DarCore, hoa_cga: Cga, coa_cga: Cga, mn_key: KeyPair
) -> None:
    hoa, coa = hoa_cga.address, coa_cga.address
    phkt = register(dar, hoa_cga, mn_key, coa)
    effects = dar.on_message(make_bu(coa, hoa, 101, phkt=phkt), 10.0)
    ba = ba_of(effects)
    assert ba.status == 0 and ba.phkt_ciphertext is None and bad_ok(ba, kbm(phkt), coa)
    assert only(effects, TunnelUp) == [] and [e.event for e in only(effects, Notify)] == [
        "binding-updated"
    ]
    effects = dar.on_message(make_bu(COA2, hoa, 102, phkt=phkt), 20.0)
    assert effects[:2] == [TunnelDown(DAR1, coa, hoa), TunnelUp(DAR1, COA2, hoa)]
    assert dar.binding(hoa).coa == COA2


def test_a_foreseen_refresh_is_decided_as_on_message_decides_it(
    hoa_cga: Cga, coa_cga: Cga, mn_key: KeyPair
) -> None:
    """DarCore.refresh (a BU like an accepted one but for seq and BAD) against a twin core that
    reads every BU with on_message: the same effects, BA key and state when it accepts, the same
    Drop for a BAD of another key (one HMAC: cost before trust, profile §6), and None, left to
    on_message, where the state decides otherwise."""
    hoa, coa = hoa_cga.address, coa_cga.address
    fast, slow = make_dar(), make_dar()
    phkt = register(fast, hoa_cga, mn_key, coa)
    assert register(slow, hoa_cga, mn_key, coa) == phkt  # the same seeded randomness
    template = make_bu(coa, hoa, 101, phkt=phkt)
    assert fast.on_message(template, 10.0) == slow.on_message(template, 10.0)
    for seq, now in ((102, 20.0), (103, 20.0), (30000, 30.0)):  # twice at one instant
        bu = make_bu(coa, hoa, seq, phkt=phkt)
        done = fast.refresh(template, bu.seq, bu.bad, bu.auth_data, now)
        expected = slow.on_message(bu, now)
        assert isinstance(done, Refreshed) and done.effects() == expected
        assert ba_of(done.effects()).auth_key == ba_of(expected).auth_key == kbm(phkt) == done.key
        assert (fast.binding(hoa), fast.record(hoa)) == (slow.binding(hoa), slow.record(hoa))
    forged = make_bu(coa, hoa, 30001, phkt=bytes(8))
    dropped = fast.refresh(template, forged.seq, forged.bad, forged.auth_data, 31.0)
    assert isinstance(dropped, Drop) and [dropped] == slow.on_message(forged, 31.0)
    assert fast.record(hoa).last_seq == slow.record(hoa).last_seq == 30000
    old = make_bu(coa, hoa, 30000, phkt=phkt)  # a replay: step 3 answers it with 135
    assert fast.refresh(template, old.seq, old.bad, old.auth_data, 32.0) is None
    moved = make_bu(COA2, hoa, 30001, phkt=phkt)  # the binding moves: its tunnels change
    assert fast.on_message(moved, 33.0) == slow.on_message(moved, 33.0)
    later = make_bu(coa, hoa, 30002, phkt=phkt)
    assert fast.refresh(template, later.seq, later.bad, later.auth_data, 34.0) is None
    assert fast.refresh(moved, later.seq, later.bad, later.auth_data, 1e6) is None  # expiry due first
    secure = make_dar(require_coa_test=True)
    assert secure.refresh(template, later.seq, later.bad, later.auth_data, 34.0) is None  # §5: a care-of token


def test_every_bu_that_reaches_step_7_gets_a_ba_whatever_its_a_bit(
    dar: DarCore, hoa_cga: Cga, coa_cga: Cga, mn_key: KeyPair
) -> None:
    """Profile §6 step 7; RFC 6275 §10.3.1 (registration) and §10.3.2 (de-registration): a home
    agent answers them all, A=0 included."""
    hoa, coa = hoa_cga.address, coa_cga.address
    ba = ba_of(dar.on_message(make_bu(coa, hoa_cga, 1, key=mn_key, ack=False), 0.0))
    assert ba.status == 0 and ba.phkt_ciphertext is not None
    phkt = decrypt_phkt(mn_key, ba.phkt_ciphertext)
    refresh = ba_of(dar.on_message(make_bu(coa, hoa, 2, phkt=phkt, ack=False), 1.0))
    assert (refresh.status, refresh.seq, refresh.lifetime) == (0, 2, 400)
    assert bad_ok(refresh, kbm(phkt), coa) and dar.record(hoa).last_seq == 2
    dereg = ba_of(dar.on_message(make_bu(coa, hoa, 3, 0, phkt=phkt, ack=False), 2.0))
    assert (dereg.status, dereg.seq, dereg.for_deregistration) == (0, 3, True)
    assert dar.binding(hoa) is None
    assert ba_of(dar.on_message(make_bu(coa, hoa, 3, phkt=phkt, ack=False), 3.0)).status == 135


# ---------------------------------------------------------------- order and statuses of profile §6


def test_step1_placement_problems_without_cga_options_are_dropped(
    dar: DarCore, hoa_cga: Cga, coa_cga: Cga, mn_key: KeyPair
) -> None:
    phkt = register(dar, hoa_cga, mn_key, coa_cga.address)
    bu = replace(
        make_bu(coa_cga.address, hoa_cga.address, 200, phkt=phkt), framing=("BAD not last",)
    )
    assert [d.code for d in dar.on_message(bu, 1.0)] == ["framing"]


def test_step2_no_hao_from_a_foreign_source_is_dropped_and_a_foreign_hoa_gets_132(
    dar: DarCore, coa_cga: Cga
) -> None:
    effects = dar.on_message(make_bu(COA2, COA2, 1, hao=False), 0.0)
    assert [d.code for d in effects] == ["no-hao"]
    ba = ba_of(dar.on_message(make_bu(COA2, coa_cga.address, 1), 0.0))
    assert (ba.status, ba.bad, ba.auth_key) == (132, None, None)


def test_step2_comes_before_step3_and_step3_before_step4(
    dar: DarCore, hoa_cga: Cga, coa_cga: Cga, mn_key: KeyPair
) -> None:
    hoa, coa = hoa_cga.address, coa_cga.address
    phkt = register(dar, hoa_cga, mn_key, coa, seq=500)
    assert ba_of(dar.on_message(make_bu(coa, "2001:db8:2::77", 1), 1.0)).status == 132
    # an old seq with no authorisation at all still gets 135, not 149 (step 3 first)
    ba = ba_of(dar.on_message(make_bu(coa, hoa, 499), 1.0))
    assert (ba.status, ba.seq) == (135, 500)
    assert ba_of(dar.on_message(make_bu(coa, hoa, 501), 1.0)).status == 149
    # a framing problem with CGA options gets 135 first, then 148 (step 4)
    broken = replace(make_bu(coa, hoa_cga, 500, key=mn_key), framing=("pieces not back to back",))
    assert ba_of(dar.on_message(broken, 1.0)).status == 135
    broken = replace(make_bu(coa, hoa_cga, 502, key=mn_key), framing=("pieces not back to back",))
    ba = ba_of(dar.on_message(broken, 1.0))
    assert ba.status == 148 and bad_ok(ba, kbm(phkt), coa)  # BAD whenever a PHKT exists


@pytest.mark.parametrize(
    ("last", "ok", "stale"), [(65535, 0, 32767), (0, 32767, 32768), (15, 16, 32783)]
)
def test_step3_sequence_numbers_wrap_modulo_2_16(
    dar: DarCore, hoa_cga: Cga, coa_cga: Cga, mn_key: KeyPair, last: int, ok: int, stale: int
) -> None:
    hoa, coa = hoa_cga.address, coa_cga.address
    phkt = register(dar, hoa_cga, mn_key, coa, seq=last)
    ba = ba_of(dar.on_message(make_bu(coa, hoa, stale, phkt=phkt), 1.0))
    assert (ba.status, ba.seq) == (135, last)  # carries the last accepted seq
    assert bad_ok(ba, kbm(phkt), coa)
    assert ba_of(dar.on_message(make_bu(coa, hoa, ok, phkt=phkt), 2.0)).status == 0


def test_step4_cga_failures_give_148(
    dar: DarCore, hoa_cga: Cga, coa_cga: Cga, other_hoa: Cga, mn_key: KeyPair, dar_key: KeyPair
) -> None:
    coa = coa_cga.address
    # CGA Parameters of another address: the CGA check against the HoA fails
    wrong_params = replace(make_bu(coa, other_hoa, 1, key=mn_key), hoa=hoa_cga.address)
    effects = dar.on_message(carry(replace(wrong_params, signed_data=b"", auth_data=b"")), 0.0)
    assert ba_of(effects).status == 148 and "Hash1" in refusal(effects)
    # a field changed in flight: the signature no longer verifies
    tampered = make_bu(coa, hoa_cga, 1, key=mn_key)
    tampered = replace(tampered, lifetime=8000)
    tampered = replace(tampered, signed_data=signed_span(tampered))
    effects = dar.on_message(tampered, 0.0)
    assert ba_of(effects).status == 148 and "signature" in refusal(effects)
    # a signature by another key
    forged = make_bu(coa, hoa_cga, 1, key=dar_key)
    assert ba_of(dar.on_message(forged, 0.0)).status == 148
    # CGA Parameters without a Signature
    unsigned = replace(make_bu(coa, hoa_cga, 1, key=mn_key), signature=None)
    assert ba_of(dar.on_message(unsigned, 0.0)).status == 148
    assert dar.bindings() == [] and dar.record(hoa_cga.address) is None


def test_step4_a_cga_bu_with_another_key_than_the_record_is_refused_before_any_rsa_work(
    dar: DarCore, hoa_cga: Cga, coa_cga: Cga, mn_key: KeyPair, dar_key: KeyPair
) -> None:
    register(dar, hoa_cga, mn_key, coa_cga.address)
    impostor = Cga(hoa_cga.address, hoa_cga.params[:25] + dar_key.public_der, 0)
    effects = dar.on_message(make_bu(coa_cga.address, impostor, 200, key=dar_key), 1.0)
    assert ba_of(effects).status == 148 and "record" in refusal(effects)


def der(tag: int, body: bytes) -> bytes:
    """One DER TLV (X.690 §8.1), written out here so that any n and e can be encoded."""
    size = len(body)
    count = (size.bit_length() + 7) // 8  # the fewest length octets (X.690 §10.1)
    length = bytes([size]) if size < 0x80 else bytes([0x80 | count]) + size.to_bytes(count, "big")
    return bytes([tag]) + length + body


def rsa_spki(n: int, e: int) -> bytes:
    """SubjectPublicKeyInfo of an RSA key (RFC 8017 A.1.1, RFC 5280 §4.1.2.7)."""

    def integer(v: int) -> bytes:
        return der(0x02, v.to_bytes(v.bit_length() // 8 + 1, "big"))

    algorithm = der(0x30, der(0x06, bytes.fromhex("2a864886f70d010101")) + der(0x05, b""))
    return der(0x30, algorithm + der(0x03, b"\x00" + der(0x30, integer(n) + integer(e))))


@pytest.mark.parametrize(
    ("bits", "exponent", "why"),
    [
        (768, 65537, "RSA-768"),
        (2048, 65537, "RSA-2048"),
        (1024, 65536, "e must be odd"),  # refused by the DER reader itself
        (1024, 1, "e must be >= 3"),
        (1024, 2**32 + 1, "exponent of 33 bits"),
        (1024, 2**1000 + 1, "exponent of 1001 bits"),
        (1024, 2**32 - 1, None),  # the largest exponent taken: the CGA check comes next
    ],
)
def test_step4_a_key_out_of_bounds_gets_148_without_any_rsa_work(
    hoa_cga: Cga,
    coa_cga: Cga,
    mn_key: KeyPair,
    monkeypatch: pytest.MonkeyPatch,
    bits: int,
    exponent: int,
    why: str | None,
) -> None:
    """Issue 14 item 17: RSA 1024-1536 bits, an odd 3 <= e < 2^32, checked before verifying."""

    def no_rsa(*args: object) -> bool:
        raise AssertionError("an RSA operation for a key out of bounds")

    dar = make_dar(cga_burst=1)
    modulus = (1 << (bits - 1)) | 1
    odd_key = Cga(hoa_cga.address, hoa_cga.params[:25] + rsa_spki(modulus, exponent), 0)
    bu = make_bu(coa_cga.address, odd_key, 1, key=mn_key)
    if why is None:  # within bounds: the budgeted CGA check runs (and fails: not the HoA's key)
        effects = dar.on_message(bu, 0.0)
        assert ba_of(effects).status == 148 and "Hash1" in refusal(effects)
        return
    monkeypatch.setattr("scapy_fama.proto.authorise.verify_mh_signature", no_rsa)
    monkeypatch.setattr("scapy_fama.proto.authorise.cga_check", no_rsa)
    effects = dar.on_message(bu, 0.0)
    assert ba_of(effects).status == 148 and why in refusal(effects)
    assert dar.record(hoa_cga.address) is None
    monkeypatch.undo()  # the CGA budget (one check) is still there for the real key
    assert ba_of(dar.on_message(make_bu(coa_cga.address, hoa_cga, 2, key=mn_key), 0.0)).status == 0


def test_step4_keys_at_the_bounds_are_taken(coa_cga: Cga) -> None:
    dar = make_dar()
    for key in (KeyPair(rsa.generate_private_key(3, 1024)), KeyPair.generate(1536)):
        cga = cga_generate(P1, key, sec=0)
        assert ba_of(dar.on_message(make_bu(coa_cga.address, cga, 1, key=key), 0.0)).status == 0


def test_step4_bad_without_a_phkt_gets_147_and_no_authorisation_gets_149_or_148(
    dar: DarCore, hoa_cga: Cga, coa_cga: Cga, mn_key: KeyPair
) -> None:
    hoa, coa = hoa_cga.address, coa_cga.address
    ba = ba_of(dar.on_message(make_bu(coa, hoa, 1, phkt=bytes(8)), 0.0))
    assert (ba.status, ba.auth_key) == (147, None)  # no PHKT: nothing to key a BAD with
    assert ba_of(dar.on_message(make_bu(coa, hoa, 1), 0.0)).status == 148
    phkt = register(dar, hoa_cga, mn_key, coa, seq=5)
    ba = ba_of(dar.on_message(make_bu(coa, hoa, 6), 0.0))
    assert ba.status == 149 and bad_ok(ba, kbm(phkt), coa)


def test_step4_a_wrong_bad_is_a_silent_drop(
    dar: DarCore, hoa_cga: Cga, coa_cga: Cga, mn_key: KeyPair
) -> None:
    register(dar, hoa_cga, mn_key, coa_cga.address, seq=5)
    effects = dar.on_message(make_bu(coa_cga.address, hoa_cga.address, 6, phkt=bytes(8)), 1.0)
    assert [type(e) for e in effects] == [Drop] and effects[0].code == "bad-authenticator"
    assert dar.record(hoa_cga.address).last_seq == 5


def test_step6_a_full_cache_gets_130_and_nothing_of_step_4_is_stored(
    hoa_cga: Cga, coa_cga: Cga, other_hoa: Cga, mn_key: KeyPair
) -> None:
    """Profile §6: step 6 comes before anything of step 4 (PHKT, record) is stored."""
    dar = make_dar(cache_capacity=1)
    coa = coa_cga.address
    register(dar, hoa_cga, mn_key, coa)
    effects = dar.on_message(make_bu(coa, other_hoa, 1, key=mn_key), 1.0)
    ba = ba_of(effects)
    assert (ba.status, ba.phkt_ciphertext, ba.auth_key) == (130, None, None)
    assert "phkt-issued" not in [e.event for e in only(effects, Notify)]
    assert dar.record(other_hoa.address) is None and dar.binding(other_hoa.address) is None
    # a later PHKT BU finds no PHKT: 147; room again, the MN signs with its CGA once more
    assert ba_of(dar.on_message(make_bu(coa, other_hoa.address, 2, phkt=PHKT8), 2.0)).status == 147
    dar.on_message(make_bu(coa, hoa_cga.address, 101, 0, phkt=register_phkt(dar, hoa_cga)), 3.0)
    assert ba_of(dar.on_message(make_bu(coa, other_hoa, 3, key=mn_key), 4.0)).status == 0


def test_step6_a_refused_cga_bu_leaves_an_existing_record_as_it_was(
    hoa_cga: Cga, coa_cga: Cga, other_hoa: Cga, mn_key: KeyPair
) -> None:
    dar = make_dar(cache_capacity=1)
    coa = coa_cga.address
    phkt = register(dar, other_hoa, mn_key, coa, seq=7)
    dar.on_message(make_bu(coa, other_hoa.address, 8, 0, phkt=phkt), 1.0)  # de-registered
    register(dar, hoa_cga, mn_key, coa)  # takes the one binding
    before = replace(dar.record(other_hoa.address))
    ba = ba_of(dar.on_message(make_bu(coa, other_hoa, 9, key=mn_key), 2.0))  # a PHKT renewal
    assert ba.status == 130 and ba.phkt_ciphertext is None and bad_ok(ba, kbm(phkt), coa)
    assert dar.record(other_hoa.address) == before


def test_h0_for_an_address_with_a_home_registration_gets_139(
    dar: DarCore, hoa_cga: Cga, coa_cga: Cga, mn_key: KeyPair
) -> None:
    """RFC 6275 §9.5.1: registration type change disallowed; nothing changes."""
    hoa, coa = hoa_cga.address, coa_cga.address
    phkt = register(dar, hoa_cga, mn_key, coa)
    effects = dar.on_message(make_bu(COA2, hoa, 101, phkt=phkt, home=False), 1.0)
    ba = ba_of(effects)
    assert (ba.status, ba.seq) == (139, 101) and bad_ok(ba, kbm(phkt), COA2)
    assert dar.binding(hoa).coa == coa and dar.record(hoa).last_seq == 100
    dereg = ba_of(dar.on_message(make_bu(coa, hoa, 102, 0, phkt=phkt, home=False), 2.0))
    assert dereg.status == 139 and dar.binding(hoa) is not None
    assert ba_of(dar.on_message(make_bu(COA2, hoa, 103, phkt=phkt), 3.0)).status == 0


def register_phkt(dar: DarCore, hoa: Cga) -> bytes:
    record = dar.record(hoa.address)
    assert record is not None
    return record.phkt


# ------------------------------------------------------------ de-registration (profile §6 step 5)


@pytest.mark.parametrize("where", ["from-elsewhere", "from-home", "coa-equals-hoa"])
def test_deregistration_removes_binding_and_tunnel_and_keeps_the_security_record(
    dar: DarCore, hoa_cga: Cga, coa_cga: Cga, mn_key: KeyPair, where: str
) -> None:
    hoa, coa = hoa_cga.address, coa_cga.address
    phkt = register(dar, hoa_cga, mn_key, coa)
    bu = {
        "from-elsewhere": make_bu(coa, hoa, 101, 0, phkt=phkt),
        "from-home": make_bu(hoa, hoa, 101, 0, phkt=phkt, hao=False),
        "coa-equals-hoa": make_bu(hoa, hoa, 101, 400, phkt=phkt),
    }[where]
    effects = dar.on_message(bu, 5.0)
    assert effects[0] == TunnelDown(DAR1, coa, hoa) and dar.binding(hoa) is None
    ba = ba_of(effects)
    assert (ba.status, ba.lifetime, ba.for_deregistration, ba.dst) == (0, 0, True, bu.src)
    assert ba.hoa == bu.hoa  # RH2 only when the BU had a HAO
    assert bad_ok(ba, kbm(phkt, deregistration=True), hoa)  # the HoA in place of the CoA
    record = dar.record(hoa)
    assert record is not None and (record.phkt, record.last_seq) == (phkt, 101)
    # a later BU from elsewhere needs no new CGA check, and old seqs still meet 135
    assert ba_of(dar.on_message(make_bu(coa, hoa, 101, phkt=phkt), 6.0)).status == 135
    assert ba_of(dar.on_message(make_bu(coa, hoa, 102, phkt=phkt), 6.0)).status == 0


def test_the_security_record_lives_until_the_address_would_expire(
    hoa_cga: Cga, coa_cga: Cga, mn_key: KeyPair
) -> None:
    dar = make_dar(valid_lifetime=1000, ra_interval=10_000.0)
    dar.on_timer(0.0)  # the first RA
    hoa, coa = hoa_cga.address, coa_cga.address
    phkt = register(dar, hoa_cga, mn_key, coa, now=0.0)
    dar.on_message(make_bu(coa, hoa, 101, 0, phkt=phkt), 100.0)
    assert dar.next_deadline() == 1100.0  # the last accepted BU + the prefix valid lifetime
    assert Notify("record-expired", {"hoa": hoa}) in dar.on_timer(1100.0)
    assert ba_of(dar.on_message(make_bu(coa, hoa, 102, phkt=phkt), 1101.0)).status == 147


def test_bindings_expire_on_the_timer(
    dar: DarCore, hoa_cga: Cga, coa_cga: Cga, mn_key: KeyPair
) -> None:
    hoa, coa = hoa_cga.address, coa_cga.address
    register(dar, hoa_cga, mn_key, coa, now=0.0)
    assert dar.next_deadline() == 0.0  # the first RA
    dar.on_timer(0.0)
    assert dar.next_deadline() == 400.0
    effects = dar.on_timer(400.0)
    assert TunnelDown(DAR1, coa, hoa) in effects and dar.binding(hoa) is None
    assert Notify("binding-expired", {"hoa": hoa, "coa": coa}) in effects


# ------------------------------------------------------------ DAR signature (RFC 4866 §4.3)


def test_a_cga_parameters_request_is_answered_with_the_dars_signature(
    hoa_cga: Cga, coa_cga: Cga, mn_key: KeyPair, dar_key: KeyPair
) -> None:
    dar_cga = cga_generate(P1, dar_key, sec=0, modifier=b"\x02" * 16)
    dar = DarCore(dar_cga.address, P1, rand=seeded(), keypair=dar_key, cga_params=dar_cga.params)
    coa = coa_cga.address
    bu = replace(make_bu(coa, hoa_cga, 1, key=mn_key, cga_request=True), dst=dar_cga.address)
    bu = carry(replace(bu, signature=None, sign_with=mn_key))
    ba = received(ba_of(dar.on_message(bu, 0.0)))
    assert ba.status == 0 and ba.cga_params == dar_cga.params
    assert verify_mh_signature(dar_key.public_der, coa, dar.address, ba.signed_data, ba.signature)
    # no request, or a refused BU: no signature (signing is the expensive RSA direction)
    plain = carry(replace(bu, seq=2, cga_request=False, signature=None, sign_with=mn_key))
    assert ba_of(dar.on_message(plain, 1.0)).cga_params is None
    refused = replace(plain, seq=3, cga_request=True, framing=("x",))
    assert ba_of(dar.on_message(refused, 1.0)).sign_with is None


def test_the_dar_checks_its_own_cga(dar_key: KeyPair, hoa_cga: Cga) -> None:
    with pytest.raises(ValueError, match="not a CGA"):
        DarCore(DAR1, P1, rand=seeded(), keypair=dar_key, cga_params=hoa_cga.params)
    with pytest.raises(ValueError, match="come together"):
        DarCore(DAR1, P1, rand=seeded(), keypair=dar_key)


# ---------------------------------------------------------------- secure mode (profile §5)


def care_of_token(dar: DarCore, coa: str, now: float) -> tuple[int, bytes]:
    (effect,) = dar.on_message(CareOfTestInit(coa, DAR1, b"cookie!!"), now)
    cot = effect.msg
    assert isinstance(cot, CareOfTest) and (cot.dst, cot.cookie) == (coa, b"cookie!!")
    return cot.index, cot.token


def test_secure_mode_needs_a_care_of_token(hoa_cga: Cga, coa_cga: Cga, mn_key: KeyPair) -> None:
    dar = make_dar(require_coa_test=True)
    hoa, coa = hoa_cga.address, coa_cga.address
    effects = dar.on_message(make_bu(coa, hoa_cga, 1, key=mn_key), 0.0)
    assert ba_of(effects).status == 137 and "secure mode" in refusal(effects)
    ba = ba_of(dar.on_message(make_bu(coa, hoa_cga, 1, key=mn_key, care_of=(77, bytes(8))), 0.0))
    assert ba.status == 137  # unknown nonce index
    index, token = care_of_token(dar, coa, 0.0)
    ba = ba_of(dar.on_message(make_bu(coa, hoa_cga, 1, key=mn_key, care_of=(index, token)), 0.1))
    assert ba.status == 0
    phkt = decrypt_phkt(mn_key, ba.phkt_ciphertext)
    assert bad_ok(ba, kbm(phkt, token), coa)  # the BA keys with the care-of token too
    # a later PHKT BU: early (no token) -> 137, complete -> 0; the 137 is keyed with zeros
    ba = ba_of(dar.on_message(make_bu(coa, hoa, 2, phkt=phkt), 1.0))
    assert ba.status == 137 and bad_ok(ba, kbm(phkt, ZERO_TOKEN), coa)
    assert (
        ba_of(dar.on_message(make_bu(coa, hoa, 3, phkt=phkt, care_of=(index, token)), 1.0)).status
        == 0
    )
    # a token made for another CoA does not verify: silent drop
    wrong = make_bu(COA2, hoa, 4, phkt=phkt, care_of=(index, token))
    assert [d.code for d in dar.on_message(wrong, 1.0)] == ["bad-authenticator"]
    # the nonce expires 240 s after its first use
    assert (
        ba_of(dar.on_message(make_bu(coa, hoa, 5, phkt=phkt, care_of=(index, token)), 240.5)).status
        == 137
    )
    # de-registration needs no care-of token (RFC 6275 §6.2.6)
    assert ba_of(dar.on_message(make_bu(coa, hoa, 6, 0, phkt=phkt), 241.0)).status == 0


def test_a_wrong_care_of_bad_on_a_cga_bu_costs_no_cga_budget(
    hoa_cga: Cga, coa_cga: Cga, mn_key: KeyPair
) -> None:
    dar = make_dar(require_coa_test=True, cga_burst=1)
    index, token = care_of_token(dar, coa_cga.address, 0.0)
    bad = make_bu(coa_cga.address, hoa_cga, 1, key=mn_key, care_of=(index, bytes(8)))
    assert [d.code for d in dar.on_message(bad, 0.0)] == ["bad-authenticator"]
    good = make_bu(coa_cga.address, hoa_cga, 1, key=mn_key, care_of=(index, token))
    assert ba_of(dar.on_message(good, 0.0)).status == 0  # the one token of the budget was left


def test_outside_secure_mode_a_care_of_index_is_still_honoured(
    dar: DarCore, hoa_cga: Cga, coa_cga: Cga, mn_key: KeyPair
) -> None:
    assert (
        ba_of(
            dar.on_message(
                make_bu(coa_cga.address, hoa_cga, 1, key=mn_key, care_of=(9, bytes(8))), 0.0
            )
        ).status
        == 137
    )
    index, token = care_of_token(dar, coa_cga.address, 0.0)
    assert (
        ba_of(
            dar.on_message(
                make_bu(coa_cga.address, hoa_cga, 1, key=mn_key, care_of=(index, token)), 0.0
            )
        ).status
        == 0
    )


# ---------------------------------------------------------------- DoS guard (profile §6)


def test_cga_flood_gets_130_while_a_phkt_bu_is_served(
    mn_key: KeyPair, hoa_cga: Cga, coa_cga: Cga
) -> None:
    dar = make_dar(
        cga_checks_per_second=2.0,
        cga_burst=3,
        cga_checks_per_prefix_per_second=100.0,
        cga_prefix_burst=100,
    )
    phkt = register(dar, hoa_cga, mn_key, coa_cga.address, seq=1)
    flood = [cga_generate(P1, mn_key, sec=0, modifier=bytes([i]) * 16) for i in range(3, 11)]
    statuses = []
    for i, victim in enumerate(flood):
        statuses.append(
            ba_of(
                dar.on_message(make_bu(f"2001:db8:{i + 10:x}::5", victim, 1, key=mn_key), 0.1)
            ).status
        )
        if i == 4:  # in the middle of the flood, the registered MN refreshes
            refresh = ba_of(
                dar.on_message(make_bu(coa_cga.address, hoa_cga.address, 2, phkt=phkt), 0.1)
            )
            assert refresh.status == 0
    assert statuses == [0, 0, 130, 130, 130, 130, 130, 130]  # burst 3, one spent on the register
    assert (
        ba_of(dar.on_message(make_bu("2001:db8:99::5", flood[-1], 2, key=mn_key), 0.6)).status == 0
    )


def test_the_per_prefix_budget_protects_other_sources(mn_key: KeyPair) -> None:
    dar = make_dar(cga_checks_per_prefix_per_second=0.1, cga_prefix_burst=1)
    a, b, c = (cga_generate(P1, mn_key, sec=0, modifier=bytes([i]) * 16) for i in (20, 21, 22))
    assert ba_of(dar.on_message(make_bu("2001:db8:7::1", a, 1, key=mn_key), 0.0)).status == 0
    effects = dar.on_message(make_bu("2001:db8:7::2", b, 1, key=mn_key), 0.0)
    assert ba_of(effects).status == 130 and "per-prefix" in refusal(effects)
    assert ba_of(dar.on_message(make_bu("2001:db8:8::1", c, 1, key=mn_key), 0.0)).status == 0


# ---------------------------------------------------------------- data plane (profile §8)


@pytest.fixture
def bound(dar: DarCore, hoa_cga: Cga, coa_cga: Cga, mn_key: KeyPair) -> tuple[DarCore, str, str]:
    register(dar, hoa_cga, mn_key, coa_cga.address)
    return dar, hoa_cga.address, coa_cga.address


def test_data_for_a_bound_hoa_is_tunnelled_to_the_coa(bound: tuple[DarCore, str, str]) -> None:
    dar, hoa, coa = bound
    data = Datagram(CN, hoa, 1, 2, b"x", hlim=50)
    (effect,) = dar.on_message(data, 1.0)
    assert effect == Send(Tunnelled(DAR1, coa, replace(data, hlim=49), hlim=64))


def test_other_data_is_routed_natively_or_delivered(bound: tuple[DarCore, str, str]) -> None:
    dar, hoa, coa = bound
    on_link = Datagram(CN, "2001:db8:1::77", 1, 2, b"x", hlim=50)
    assert dar.on_message(on_link, 1.0) == [Forward(replace(on_link, hlim=49))]
    mine = Datagram(CN, DAR1, 1, 2, b"x")
    assert dar.on_message(mine, 1.0) == [Deliver(mine)]
    dying = Datagram(CN, hoa, 1, 2, b"x", hlim=1)
    assert [d.code for d in dar.on_message(dying, 1.0)] == ["hop-limit"]
    transit = make_bu(coa, hoa, 5)
    other = replace(transit, dst="2001:db8:2::1")
    assert dar.on_message(other, 1.0) == [Forward(other)]  # signalling for another DAR


def test_a_packet_already_four_tunnels_deep_is_not_tunnelled_again(
    bound: tuple[DarCore, str, str],
) -> None:
    """RFC 2473 §4.1.3: bindings of two DARs pointing at each other's addresses loop."""
    dar, hoa, coa = bound
    packet: Datagram | Tunnelled = Datagram(CN, hoa, 1, 2, b"x")
    for _ in range(3):
        packet = Tunnelled("2001:db8:2::1", hoa, packet)
    (effect,) = dar.on_message(packet, 1.0)
    assert isinstance(effect, Send) and effect.msg.dst == coa and nesting(effect.msg) == 4
    deeper = Tunnelled("2001:db8:2::1", hoa, packet)
    assert [d.code for d in dar.on_message(deeper, 1.0)] == ["tunnel-nesting"]


def test_reverse_tunnel_is_decapsulated_only_from_the_registered_coa(
    bound: tuple[DarCore, str, str],
) -> None:
    dar, hoa, coa = bound
    inner = Datagram(hoa, CN, 1, 2, b"up", hlim=64)
    assert dar.on_message(Tunnelled(coa, DAR1, inner), 1.0) == [Forward(replace(inner, hlim=63))]
    to_dar = replace(inner, dst=DAR1)
    assert dar.on_message(Tunnelled(coa, DAR1, to_dar), 1.0) == [Deliver(to_dar)]
    for spoof in (
        Tunnelled(COA2, DAR1, inner),
        Tunnelled(coa, DAR1, replace(inner, src="2001:db8:1::66")),
    ):
        assert [d.code for d in dar.on_message(spoof, 1.0)] == ["spoofed-tunnel"]
    nested = Tunnelled(coa, DAR1, RouterSolicitation(hoa))
    assert [d.code for d in dar.on_message(nested, 1.0)] == ["tunnel-inner"]


# ---------------------------------------------------------------- Binding Errors (RFC 6275 §9.3.3)


def test_hao_without_a_binding_gets_a_rate_limited_binding_error(
    bound: tuple[DarCore, str, str],
) -> None:
    dar, hoa, coa = bound
    good = Datagram(coa, DAR1, 1, 2, b"x", hoa=hoa)
    assert dar.on_message(good, 1.0) == [Deliver(replace(good, src=hoa, hoa=None))]
    stray = Datagram(COA2, DAR1, 1, 2, b"x", hoa="2001:db8:1::42")
    answers = [dar.on_message(stray, 1.0) for _ in range(7)]
    errors = [e.msg for effects in answers for e in only(effects, Send)]
    assert errors == [BindingError(DAR1, COA2, 1, "2001:db8:1::42")] * 2  # its /64's burst
    assert all(only(effects, Drop)[0].code == "hao-without-binding" for effects in answers)
    assert "per-prefix" in only(answers[-1], Drop)[0].reason
    assert len(only(dar.on_message(stray, 6.0), Send)) == 1  # 0.2 a second for one /64


def test_one_sender_cannot_spend_everyones_binding_errors(
    bound: tuple[DarCore, str, str],
) -> None:
    """Profile §6: the limit is per source /64 as well as global (RFC 6275 §9.3.3)."""
    dar, _, _ = bound
    senders = [f"2001:db8:{i}::99" for i in (2, 2, 2, 3, 4, 5, 6, 7)]  # three from one /64
    sent = []
    for src in senders:
        effects = dar.on_message(Datagram(src, DAR1, 1, 2, b"x", hoa="2001:db8:1::42"), 1.0)
        sent += [e.msg.dst for e in only(effects, Send)]
    first = "2001:db8:2::99"
    assert sent == [first, first, "2001:db8:3::99", "2001:db8:4::99", "2001:db8:5::99"]
    late = dar.on_message(Datagram("2001:db8:6::99", DAR1, 1, 2, b"x", hoa=COA2), 1.0)
    assert "global" in only(late, Drop)[0].reason  # the global burst (5) is spent


def test_unknown_mobility_header_types_get_status_2_and_undecodables_are_dropped(
    dar: DarCore,
) -> None:
    effects = dar.on_message(UnknownMobility(COA2, DAR1, 42), 0.0)
    assert (
        effects[0] == Send(BindingError(DAR1, COA2, 2, "::"))
        and effects[1].code == "unknown-mh-type"
    )
    assert [d.code for d in dar.on_message(Undecodable(COA2, DAR1, "MH checksum wrong"), 0.0)] == [
        "undecodable"
    ]
    assert [d.code for d in dar.on_message(UnknownMobility("ff02::1", DAR1, 42), 0.0)] == [
        "unknown-mh-type"
    ]


def test_the_binding_error_for_an_unknown_type_names_the_hao(dar: DarCore) -> None:
    """RFC 6275 §9.3.3: the Home Address field is the HAO's address of the packet."""
    (be, _) = dar.on_message(UnknownMobility(COA2, DAR1, 42, hoa="2001:db8:1::7"), 0.0)
    assert be == Send(BindingError(DAR1, COA2, 2, "2001:db8:1::7"))


def test_an_unexpected_message_is_dropped_visibly(dar: DarCore) -> None:
    ba = BindingAck(COA2, DAR1, None, 0, 1, 0)
    assert [d.code for d in dar.on_message(ba, 0.0)] == ["unexpected"]
    coti = CareOfTestInit("fe80::1", DAR1, bytes(8))
    assert [d.code for d in dar.on_message(coti, 0.0)] == ["not-unicast"]


def test_same_inputs_same_outputs(hoa_cga: Cga, coa_cga: Cga, mn_key: KeyPair) -> None:
    runs = []
    for _ in range(2):
        dar = make_dar(require_coa_test=True)
        index, token = care_of_token(dar, coa_cga.address, 0.0)
        effects = dar.on_message(
            make_bu(coa_cga.address, hoa_cga, 1, key=mn_key, care_of=(index, token)), 0.0
        )
        ba = ba_of(effects)
        runs.append(
            (
                index,
                token,
                decrypt_phkt(mn_key, ba.phkt_ciphertext),
                replace(ba, phkt_ciphertext=None),
            )
        )
    assert runs[0] == runs[1]


def test_malformed_input_is_refused_not_crashed_on(
    dar: DarCore, hoa_cga: Cga, coa_cga: Cga, mn_key: KeyPair, dar_key: KeyPair
) -> None:
    link_local = make_bu("fe80::5", hoa_cga.address, 1)
    assert [d.code for d in dar.on_message(link_local, 0.0)] == ["not-unicast"]
    garbled = replace(make_bu(coa_cga.address, hoa_cga, 1, key=mn_key), cga_params=b"\x00" * 30)
    effects = dar.on_message(garbled, 0.0)
    assert ba_of(effects).status == 148 and "DER" in refusal(effects)
    dar_cga = cga_generate(P1, dar_key, sec=0)
    with pytest.raises(ValueError, match="another public key"):
        DarCore(dar_cga.address, P1, rand=seeded(), keypair=mn_key, cga_params=dar_cga.params)


def test_the_records_view_lists_every_security_record(
    dar: DarCore, hoa_cga: Cga, other_hoa: Cga, coa_cga: Cga, mn_key: KeyPair
) -> None:
    register(dar, hoa_cga, mn_key, coa_cga.address)
    register(dar, other_hoa, mn_key, coa_cga.address)
    assert {r.hoa for r in dar.records()} == {hoa_cga.address, other_hoa.address}


# ---------------------------------------------------------------- Mobility Headers to a group


@pytest.mark.parametrize("group", ["ff02::1", "ff02::2"])
def test_mobility_headers_to_a_group_are_dropped_silently_and_leave_no_state(
    dar: DarCore, hoa_cga: Cga, coa_cga: Cga, mn_key: KeyPair, group: str
) -> None:
    """RFC 6275 §6.1.7: a registration goes to a router of the home address's prefix, a
    unicast address; a BU, CoTI or unknown MH sent to the all-nodes or all-routers group gets
    no BA, CoT or Binding Error, and stores nothing. The CGA BU is one that, sent to DAR1,
    is accepted (its signature covers DAR1); the bare one would get 148."""
    coa = coa_cga.address
    signed = replace(make_bu(coa, hoa_cga, 7, key=mn_key), dst=group)
    bare = make_bu(coa, hoa_cga.address, 8)
    for msg in (
        signed,
        replace(bare, dst=group),
        CareOfTestInit(coa, group, b"cookie!!"),
        UnknownMobility(coa, group, 42),
    ):
        effects = dar.on_message(msg, 0.0)
        assert [type(e) for e in effects] == [Drop], (msg, effects)
        assert effects[0].code == "multicast-destination"
    assert dar.sizes() == (0, 0)
    # the same BUs to DAR1 itself: the CGA one accepted, the bare one then refused (149: a PHKT is held)
    assert ba_of(dar.on_message(replace(signed, dst=DAR1), 1.0)).status == 0
    assert ba_of(dar.on_message(bare, 1.0)).status == 149
