"""CGA-signed BUs read from their bytes (codec.read_signed_bu, codec.issuing_ack, DarCore.on_bu,
DarAutomaton._signed_bu): the DAR that answers a first BU without the general reader answers every
BU with the same BA, the same records and the same state as a DAR that reads every BU the general way.

The truth for the reader is ``codec.decode`` (itself held to the layers, tshark and the captures
elsewhere) and the corpus' ground truth, built from the RFC 6275 §6.2 layout rules without the
codec; for the BA's bytes, ``codec.ack_bytes`` (held to hand-computed bytes in test_codec)."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.utils import rdpcap

from scapy_fama.automata import LogSink
from scapy_fama.codec import ack_bytes, decode, encode_bytes, issuing_ack, read_signed_bu
from scapy_fama.crypto import Cga, KeyPair, cga_generate, check_authenticator, decrypt_phkt, kbm
from scapy_fama.crypto import addr_bytes as a16
from scapy_fama.proto.config import DarConfig
from scapy_fama.proto.dar import ALL_ROUTERS, DarCore, Registered
from scapy_fama.proto.effects import Effects, Send
from scapy_fama.proto.messages import BindingAck, BindingUpdate, Message
from scapy_fama.wire.checksum import mh_checksum
from scapy_fama.wire.layout import cga_pieces
from scapy_fama.wire.link import group_mac
from scapy_fama.wire.numbers import BAD, BRA, BU, BU_A, BU_H, CGA_PARAMS, CGA_REQUEST, DEST_OPTS, HAO, MH, NONCE_INDICES, SIGNATURE
from scapy_fama.wire.numbers import OPT_PAD1 as PAD1, OPT_PADN as PADN
from scapy_fama.wire.read import addr
from scapy_fama.wire.write import bu_fixed, finish, mobility
from tests.automata.test_refreshes import COA, COA2, DAR, PREFIX, Dar, refresh
from tests.corpus import build_corpus

LIFETIME = 600


@pytest.fixture(scope="module")
def hoas(mn_key: KeyPair) -> list[Cga]:
    return [cga_generate(PREFIX, mn_key, sec=0) for _ in range(4)]


def signed(hoa: Cga, key: KeyPair, seq: int = 1, *, coa: str = COA, lifetime: int = LIFETIME, **kw: object) -> bytes:
    return encode_bytes(BindingUpdate(coa, DAR, hoa.address, seq, lifetime, cga_params=hoa.params, sign_with=key, **kw))  # type: ignore[arg-type]


# ---------------------------------------------------------------- the reader


def test_the_reader_reads_what_the_codec_reads(hoas: list[Cga], mn_key: KeyPair) -> None:
    variants: list[dict[str, object]] = [
        {}, {"nonce_indices": (0, 0)}, {"nonce_indices": (3, 9)}, {"ack": False}, {"home": False},
        {"lifetime": 0}, {"lifetime": 262140}, {"seq": 65535},
    ]  # fmt: skip
    for kw in variants:
        raw = signed(hoas[0], mn_key, **kw)  # type: ignore[arg-type]
        got = read_signed_bu(raw)
        assert got is not None and got == decode(raw), kw
        assert got.signed_data and got.cga_params == hoas[0].params and not got.framing


def test_the_reader_takes_nothing_else(hoas: list[Cga], mn_key: KeyPair) -> None:
    """What it leaves to the general reader: a BU with a CGA Parameters Request or a BAD (the
    DAR signs or checks more), any other header chain, a wrong checksum or length, padding
    bytes after the packet, a PHKT BU, other messages."""
    raw = signed(hoas[0], mn_key)
    wrong_checksum = bytearray(raw)
    wrong_checksum[68] ^= 1
    others = {
        "CGA Parameters Request": signed(hoas[0], mn_key, cga_request=True),
        "a BAD": signed(hoas[0], mn_key, auth_key=bytes(20)),
        "checksum wrong": bytes(wrong_checksum),
        "Ethernet padding after it": raw + bytes(6),
        "cut short": raw[:-8],
        "a PHKT BU": encode_bytes(BindingUpdate(COA, DAR, hoas[0].address, 2, 60, nonce_indices=(0, 0), auth_key=bytes(20))),
        "sent from home": encode_bytes(BindingUpdate(hoas[0].address, DAR, None, 3, 0, cga_params=hoas[0].params, sign_with=mn_key)),
        "a BA": ack_bytes(DAR, COA, hoas[0].address, 0, 1, 60, phkt_ciphertext=bytes(128), auth_key=bytes(20)),
    }  # fmt: skip
    for what, packet in others.items():
        assert read_signed_bu(packet) is None, what
        assert decode(packet) is not None  # the general reader still reads each
    assert all(read_signed_bu(raw[:cut]) is None for cut in range(len(raw)))  # every cut: never raises


def test_the_reader_agrees_with_the_codec_on_the_corpus_and_the_captures(shared_pcaps: Path) -> None:
    """Every corpus packet and every captured frame: not taken, or read as decode reads it; the
    corpus' signed BUs of the toolkit's layout are taken, with the fields they were built with."""
    taken = 0
    for entry in build_corpus():
        got = read_signed_bu(entry.raw)
        if got is None:
            continue
        taken += 1
        assert got == decode(entry.raw), entry.kind
        assert (entry.mhtype, got.seq, got.hoa, got.src) == (BU, entry.seq, entry.hao, entry.src), entry.kind
        assert got.lifetime == 4 * (entry.lifetime or 0) and got.ack == ("A" in entry.flags), entry.kind
    assert taken > 0
    for path in sorted(shared_pcaps.glob("*.pcap")):
        for pkt in rdpcap(str(path)):
            raw = bytes(pkt.getlayer("IPv6") or b"")
            got = read_signed_bu(raw) if raw else None
            assert got is None or got == decode(raw), path.name


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_a_mutated_signed_bu_is_not_taken_or_read_as_the_codec_reads_it(data: st.DataObject) -> None:
    raw = bytearray(_SAMPLE)
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    mutant = bytes(raw[:cut] if data.draw(st.booleans()) else raw)
    got = read_signed_bu(mutant)
    assert got is None or got == decode(mutant)


def test_the_reader_takes_the_bytes_like_packets_the_codec_takes(hoas: list[Cga], mn_key: KeyPair) -> None:
    """decode reads a bytearray or a memoryview of a packet as it reads the packet's bytes; so
    does the reader (a buffer a socket filled, a slice of a larger one)."""
    raw = signed(hoas[0], mn_key)
    for buffer in (bytearray(raw), memoryview(raw), memoryview(bytearray(b"pad" + raw))[3:]):
        assert decode(buffer) == decode(raw)
        assert read_signed_bu(buffer) == decode(raw), type(buffer).__name__


# the options a BU may carry, each (type, data): Pad1 and PadN (RFC 6275 §6.2.1), Nonce Indices of
# any size (§6.2.6: 4), and what makes a BU no signed one of the toolkit's layout (a CGA Parameters
# Request, a BAD, a Binding Refresh Advice, an unknown type, a stray CGA option)
_PADDING = st.one_of(
    st.just((PAD1, b"")),
    st.integers(0, 6).map(lambda n: (PADN, bytes(n))),
    st.integers(0, 6).map(lambda n: (NONCE_INDICES, bytes(range(1, n + 1)))),
)
_STRAY = st.sampled_from(
    [(CGA_REQUEST, b""), (BAD, bytes(12)), (BRA, bytes(2)), (0x42, b"x"), (SIGNATURE, b"s"), (CGA_PARAMS, b"c")]
)


def _hand_made(options: list[tuple[int, bytes]], seq: int, flags: int, checksum: int | None = None) -> bytes:
    """IPv6 | Destination Options (PadN, HAO) | MH BU with ``options`` as given, padded to 8n with
    a Pad1 or a PadN, checksum right (or ``checksum``): RFC 6275 §6.1.1, §6.1.7, §6.3, not the codec."""
    body = b"".join(bytes((t,)) if t == PAD1 else bytes((t, len(d))) + d for t, d in options)
    pad = -(12 + len(body)) % 8
    body += b"\0" if pad == 1 else bytes((PADN, pad - 2)) + bytes(pad - 2) if pad else b""
    mh = bytes((59, (12 + len(body)) // 8 - 1, BU, 0, 0, 0)) + seq.to_bytes(2, "big") + flags.to_bytes(2, "big")
    mh += (150).to_bytes(2, "big") + body
    right = mh_checksum(mh, _HOA, DAR) if checksum is None else checksum
    mh = mh[:4] + right.to_bytes(2, "big") + mh[6:]
    payload = bytes((MH, 2, PADN, 2, 0, 0, HAO, 16)) + a16(_HOA) + mh
    return bytes((0x60, 0, 0, 0)) + len(payload).to_bytes(2, "big") + bytes((DEST_OPTS, 64)) + a16(COA) + a16(DAR) + payload


_HOA = "2001:db8:1::abcd"


@settings(max_examples=600, deadline=None)
@given(st.lists(_PADDING, max_size=40), st.lists(st.integers(0, 255), min_size=1, max_size=3), st.integers(0, 255),
       st.lists(_PADDING, max_size=40), st.lists(_STRAY, max_size=2), st.integers(0, 90), st.integers(0, 0xFFFF),
       st.integers(0, 0xFFFF))  # fmt: skip
def test_a_signed_bu_of_any_option_layout_is_not_taken_or_read_as_the_codec_reads_it(
    before: list[tuple[int, bytes]], pieces: list[int], signature: int, after: list[tuple[int, bytes]],
    stray: list[tuple[int, bytes]], at: int, seq: int, flags: int,
) -> None:  # fmt: skip
    """Checksum right, whatever the options: pieces of CGA Parameters of any size and a Signature,
    padding and Nonce Indices of any size around them (64 options and more), options the layout
    does not have anywhere among them."""
    options = before + [(CGA_PARAMS, bytes((n,)) * n) for n in pieces] + [(SIGNATURE, bytes(signature))] + after
    for n, option in enumerate(stray):
        options.insert(min(at + n, len(options)), option)
    raw = _hand_made(options, seq, flags)
    got = read_signed_bu(raw)
    assert got is None or got == decode(raw)


def test_the_reader_reads_64_options_and_takes_no_65th() -> None:
    """Profile §6: a Mobility Header carries at most 64 options; the codec refuses a 65th."""
    signed_part = [(CGA_PARAMS, bytes(200)), (SIGNATURE, bytes(128))]  # 12 + 202 + 130: 8n bytes so far
    for count, taken in ((64, True), (65, False)):
        padn = -(count - 3 + 2) % 8  # a last PadN that ends the MH at 8n: no padding added after it
        raw = _hand_made(signed_part + [(PAD1, b"")] * (count - 3) + [(PADN, bytes(padn))], 1, BU_A)
        assert (read_signed_bu(raw) is not None) is taken and (read_signed_bu(raw) or decode(raw)) == decode(raw)
        assert isinstance(decode(raw), BindingUpdate) is taken


def test_a_checksum_that_sums_to_zero_is_read_as_the_codec_reads_it() -> None:
    """The one's complement sum has two zeros (RFC 1071): for a BU whose checksum comes to 0x0000,
    the reader agrees with the codec on the field as 0x0000 and as 0xFFFF."""
    options = [(CGA_PARAMS, bytes(200)), (SIGNATURE, bytes(128))]
    seq = next(s for s in range(1 << 16) if _hand_made(options, s, BU_A)[68:70] == b"\0\0")
    for field in (0, 0xFFFF):
        raw = _hand_made(options, seq, BU_A, checksum=field)
        got = read_signed_bu(raw)
        assert got is None or got == decode(raw), field
    assert read_signed_bu(_hand_made(options, seq, BU_A, checksum=0)) is not None  # as computed: taken


_KEY = KeyPair.generate(1024)
_CGA = cga_generate(PREFIX, _KEY, sec=0)
_SAMPLE = encode_bytes(BindingUpdate(COA, DAR, _CGA.address, 7, 60, nonce_indices=(0, 0), cga_params=_CGA.params,
                                     sign_with=_KEY))  # fmt: skip


# ---------------------------------------------------------------- the BA


def test_an_issuing_ba_is_what_the_codec_writes() -> None:
    rng = random.Random(13)
    for _ in range(200):
        hoa = f"2001:db8:1::{rng.randrange(1, 1 << 16):x}"
        seq, lifetime = rng.randrange(1 << 16), rng.choice([4, 600, 86400, 262140])
        ciphertext, key = os.urandom(rng.choice([128, 192])), os.urandom(20)
        for dar, coa in ((DAR, COA), ("2001:db8:9::1", COA2)):
            assert issuing_ack(dar, coa, hoa, seq, lifetime, ciphertext, key) == ack_bytes(
                dar, coa, hoa, 0, seq, lifetime, phkt_ciphertext=ciphertext, auth_key=key
            )


# ---------------------------------------------------------------- the core


def test_on_bu_decides_as_on_message(hoas: list[Cga], mn_key: KeyPair) -> None:
    """Two cores with the same randomness: on_bu's outcome is on_message's effects, an accepted
    BU as Registered (plain only for a first binding made without more) unless expiry is due."""
    cores = [DarCore(DAR, PREFIX, rand=random.Random(3).randbytes, config=DarConfig(cache_capacity=2)) for _ in range(2)]
    steps = [
        (signed(hoas[0], mn_key, 1), 1.0, True),
        (signed(hoas[0], mn_key, 1), 2.0, None),  # seq not newer: 135
        (signed(hoas[0], mn_key, 2, coa=COA2), 3.0, False),  # the binding moves
        (signed(hoas[1], mn_key, 1, cga_request=True), 4.0, True),  # no DAR key to sign with: plain
        (signed(hoas[2], mn_key, 1), 5.0, None),  # the cache full (capacity 2): 130
        (signed(hoas[0], mn_key, 3, lifetime=0), 6.0, False),  # de-registration
        (signed(hoas[2], mn_key, 2), 700.0, None),  # expiry due: on_message's effects, the expiry first
    ]
    for raw, now, plain in steps:
        bu = decode(raw)
        assert isinstance(bu, BindingUpdate)
        outcome, effects = cores[0].on_bu(bu, now), cores[1].on_message(bu, now)
        if plain is None:
            assert not isinstance(outcome, Registered) and _comparable(outcome, mn_key) == _comparable(effects, mn_key)
            continue
        assert isinstance(outcome, Registered) and outcome.plain is plain
        assert _comparable(cores[0].registered_effects(outcome), mn_key) == _comparable(effects, mn_key)
    assert [repr(b) for b in cores[0].bindings()] == [repr(b) for b in cores[1].bindings()]


def _comparable(effects: Effects, key: KeyPair) -> list[object]:
    """Effects with each BA's PHKT ciphertext decrypted (RSA-OAEP pads at random)."""
    out: list[object] = []
    for effect in effects:
        msg = effect.msg if isinstance(effect, Send) else None
        if isinstance(msg, BindingAck) and msg.phkt_ciphertext is not None:
            out.append(("BA", msg.status, msg.seq, msg.lifetime, msg.hoa, msg.auth_key, decrypt_phkt(key, msg.phkt_ciphertext)))
        else:
            out.append(effect)
    return out


# ---------------------------------------------------------------- two DARs, one reading signed BUs from bytes


def general(dar: Dar) -> Dar:
    """``dar``, reading every signed BU the general way."""
    dar.automaton._signed_bu = lambda ip, frame, now: False  # type: ignore[method-assign]
    return dar


@pytest.mark.parametrize("log", [lambda: LogSink(None, None), lambda: LogSink(keep=True)], ids=["unread", "kept"])
def test_a_dar_reading_signed_bus_from_bytes_answers_as_one_reading_them_all(
    hoas: list[Cga], mn_key: KeyPair, log: Callable[[], LogSink]
) -> None:
    fast, slow = Dar.make(foresee=True, log=log()), general(Dar.make(foresee=True, log=log()))
    bad_signature = bytearray(signed(hoas[3], mn_key))
    bad_signature[300] ^= 1  # inside the Signature (the checksum made right again below)
    bad_signature = _checksummed(bytes(bad_signature))
    steps = [
        ("first binding", signed(hoas[0], mn_key, 1), 1.0),
        ("a second HoA", signed(hoas[1], mn_key, 1, nonce_indices=(0, 0)), 1.5),
        ("again, seq not newer: 135", signed(hoas[1], mn_key, 1), 2.0),
        ("the binding moves", signed(hoas[0], mn_key, 2, coa=COA2), 2.5),
        ("Signature wrong: 148", bad_signature, 3.0),
        ("not of the DAR's prefix: 132", _other_prefix(mn_key), 3.5),
        ("a CGA Parameters Request", signed(hoas[2], mn_key, 1, cga_request=True), 4.0),
        ("de-registration", signed(hoas[0], mn_key, 3, lifetime=0), 4.5),
        ("after expiry", signed(hoas[3], mn_key, 1), 900.0),
    ]
    made: list[Registered] = []  # accepted BUs whose effects the fast DAR made as objects
    core = fast.automaton.core
    effects_of = core.registered_effects
    core.registered_effects = lambda r: made.append(r) or effects_of(r)  # type: ignore[method-assign]
    for n, (what, raw, now) in enumerate(steps):
        upstream = n % 2 == 0
        got = [_readable(decode(o), mn_key) for o in fast.receive(raw, now, upstream=upstream)]
        assert got == [_readable(decode(o), mn_key) for o in slow.receive(raw, now, upstream=upstream)], what
        assert fast.state() == slow.state(), what
    assert fast.log.counts == slow.log.counts and fast.records() == slow.records()
    assert fast.log.counts["event", "phkt-issued"] == 6 and fast.log.counts["out", "BA"] == 9
    # nobody reading, the first two bindings went without objects; of the other accepted BUs the
    # binding moved and the de-registration are no plain registrations, the CGA Parameters
    # Request is read the general way and the last BU meets due expiry (on_message)
    assert len(made) == (4 if fast.log.records is None else 6)


def test_a_spoofed_source_or_a_group_destination_goes_the_general_way(hoas: list[Cga], mn_key: KeyPair) -> None:
    """Ingress filtering (the DAR's own address as source) and a BU to a group are the general
    path's: dropped there with their lines, as before."""
    for raw in (signed(hoas[0], mn_key, coa=DAR), encode_bytes(BindingUpdate(COA, "ff02::2", hoas[0].address, 1, 60,
                                                                            cga_params=hoas[0].params, sign_with=mn_key))):  # fmt: skip
        fast, slow = Dar.make(foresee=True), general(Dar.make(foresee=True))
        assert fast.receive(raw, 1.0, upstream=False) == slow.receive(raw, 1.0, upstream=False) == []
        assert fast.records() == slow.records() and fast.log.counts["drop", "BU"] + fast.log.counts["drop", "spoofed-source"] == 1


def test_a_held_ba_of_a_signed_bu_is_the_general_paths(hoas: list[Cga], mn_key: KeyPair) -> None:
    fast, slow = Dar.make(foresee=True, log=LogSink(None, None)), general(Dar.make(foresee=True, log=LogSink(None, None)))
    for dar in (fast, slow):
        dar.automaton.intercept("BA")
        assert dar.receive(signed(hoas[0], mn_key), 1.0, upstream=True) == []
    held = [dar.automaton.next_held(timeout=5.0) for dar in (fast, slow)]
    assert held[0] is not None and held[1] is not None
    answers = [_readable(decode(bytes(h.packet)), mn_key) for h in held if h is not None]
    assert answers[0] == answers[1] and held[0].msg.seq == 1 and fast.log.counts == slow.log.counts
    assert fast.log.counts["held", "BA"] == 1 and fast.state() == slow.state()


def test_a_signed_bu_read_from_bytes_leaves_the_refresh_shapes_as_the_general_path_does(hoas: list[Cga], mn_key: KeyPair) -> None:
    """A forged first refresh (dropped, profile §6 step 4) leaves the general path's note of a
    foreseeable BU without its BA (DarAutomaton._asked); a signed BU answered from its bytes, its
    BA held, makes no shape of it; the next refreshes make and use their shape as the general path's."""
    fast, slow = Dar.make(foresee=True, log=LogSink(None, None)), general(Dar.make(foresee=True, log=LogSink(None, None)))
    ack = decode(fast.receive(signed(hoas[0], mn_key), 1.0, upstream=True)[0])
    assert isinstance(ack, BindingAck) and ack.phkt_ciphertext is not None and slow.receive(signed(hoas[0], mn_key), 1.0, upstream=True)
    phkt = decrypt_phkt(mn_key, ack.phkt_ciphertext)
    for dar in (fast, slow):
        assert dar.receive(refresh(hoas[0], 2, bytes(8)), 2.0, upstream=True) == []  # BAD of another key
        assert dar.automaton._asked is not None  # noted as foreseeable; no BA came to end the note
        dar.automaton.intercept("BA")
        assert dar.receive(signed(hoas[1], mn_key), 3.0, upstream=False) == []
        for seq in (3, 4, 5):
            assert dar.receive(refresh(hoas[0], seq, phkt), float(seq), upstream=seq % 2 == 0) == []
    held = [[_readable(decode(bytes(h.packet)), mn_key) for h in iter(lambda: dar.automaton.next_held(timeout=0.5), None)]
            for dar in (fast, slow)]  # fmt: skip
    assert held[0] == held[1] and len(held[0]) == 4 and fast.log.counts == slow.log.counts
    assert (fast.automaton.foreseen, len(fast.automaton.refreshes)) == (slow.automaton.foreseen, len(slow.automaton.refreshes)) == (2, 1)


def _readable(msg: object, key: KeyPair) -> object:
    """A BA with its PHKT decrypted, and its BAD checked against that PHKT's Kbm (profile §4: for
    a de-registration, SHA1(PHKT) over the home address in the care-of address's place)."""
    if not isinstance(msg, BindingAck) or msg.phkt_ciphertext is None:
        return msg
    phkt, deleted = decrypt_phkt(key, msg.phkt_ciphertext), msg.lifetime == 0
    coa = msg.hoa if deleted and msg.hoa else msg.dst
    assert msg.bad is not None and check_authenticator(msg.bad, kbm(phkt, deregistration=deleted), coa, msg.src, msg.auth_data)
    return (msg.src, msg.dst, msg.hoa, msg.status, msg.seq, msg.lifetime, phkt)


def _checksummed(raw: bytes) -> bytes:
    """``raw`` with its MH checksum made right again (RFC 6275 §6.1.1: over the HAO's address)."""
    fixed = bytearray(raw)
    fixed[68:70] = mh_checksum(raw[64:], addr(raw, 48), addr(raw, 24)).to_bytes(2, "big")
    return bytes(fixed)


def _to(raw: bytes, dst: str) -> bytes:
    """``raw`` sent to ``dst``, checksum right; its Signature still covers the DAR's global
    address, the correspondent the DAR verifies it with (profile §6 step 4)."""
    return _checksummed(raw[:24] + a16(dst) + raw[40:])


def _from_home(hoa: Cga, key: KeyPair, seq: int) -> bytes:
    """A signed BU from the home address that carries a HAO of that same address: a
    de-registration whatever its lifetime (RFC 6275 §9.5.1), signed over the home address in the
    care-of address's place (profile §4). The codec leaves such a HAO out; a hand-made BU may not."""
    options = [(CGA_PARAMS, piece) for piece in cga_pieces(hoa.params)] + [(SIGNATURE, bytes(key.bits // 8))]
    frame = mobility(hoa.address, DAR, BU, bu_fixed(seq, BU_A | BU_H, 15), options, hoa=hoa.address)
    return finish(frame, coa=hoa.address, correspondent=DAR, keypair=key)


class _KernelMode:
    """What the receive path asks of kernel mode (DarKernel): a frame from the access link is
    taken only when it is for the DAR itself, whatever its MAC (the kernel forwards the rest)."""

    closed = True

    def answers(self, target: str) -> bool:
        return True


_OTHER_MAC = bytes.fromhex("02000000bb02")


@pytest.mark.parametrize("kernel", [False, True], ids=["user", "kernel"])
@pytest.mark.parametrize("log", [lambda: LogSink(None, None), lambda: LogSink(keep=True)], ids=["unread", "kept"])
def test_every_way_a_signed_bu_comes_and_every_answer_it_gets_is_the_general_paths(
    hoas: list[Cga], mn_key: KeyPair, log: Callable[[], LogSink], kernel: bool
) -> None:
    """The frames of the access link the DAR takes (its MAC; a group's frame only in kernel mode;
    never another node's), a BU to the link-local address, one from home with a HAO of its own
    (RFC 6275 §9.5.1), the cache full (130, profile §6 step 6), a record displaced (profile §6
    "Bounded state"), the DoS guard refusing (130) and expiry due: the same BAs, state, records."""
    config = DarConfig(cache_capacity=2, record_capacity=2, cga_prefix_burst=3, cga_checks_per_prefix_per_second=0.001)
    fast, slow = Dar.make(foresee=True, log=log(), config=config), general(Dar.make(foresee=True, log=log(), config=config))
    if kernel:
        for dar in (fast, slow):
            dar.automaton.kernel = _KernelMode()  # type: ignore[assignment]
    group = group_mac(ALL_ROUTERS)
    up, own = "upstream", None  # own: a frame to the DAR's MAC

    def bu(n: int, seq: int = 1, coa: str = COA) -> bytes:
        return signed(hoas[n], mn_key, seq, coa=coa, lifetime=60)

    steps = [
        ("first binding", bu(0), 1.0, up),
        ("to the link-local address", _to(bu(1), fast.automaton.core.link_local), 1.1, own),
        ("in a group's frame: taken in kernel mode, the cache full: 130", bu(2, coa=COA2), 1.2, group),
        ("in a frame to another node: not taken", bu(2), 1.3, _OTHER_MAC),
        ("the cache full: 130", bu(2), 1.4, up),
        ("from home with a HAO of its own: de-registration", _from_home(hoas[0], mn_key, 2), 1.5, own),
        ("a record displaced", bu(2, coa=COA2), 1.6, own),
        ("the DoS guard, per prefix: 130", bu(3), 1.7, up),
        ("expiry due", bu(3, coa=COA2), 100.0, own),
    ]
    general_reads: list[str] = []  # the steps the fast DAR's core reads through on_message
    core = fast.automaton.core
    on_message = core.on_message
    core.on_message = lambda msg, now: general_reads.append(what) or on_message(msg, now)  # type: ignore[method-assign]
    for what, raw, now, way in steps:
        assert read_signed_bu(raw) == decode(raw), what
        answers = [dar.receive(raw, now, upstream=way == up, to=None if way == up else way) for dar in (fast, slow)]
        assert [_readable(decode(o), mn_key) for o in answers[0]] == [_readable(decode(o), mn_key) for o in answers[1]], what
        assert fast.state() == slow.state(), what
    assert fast.log.counts == slow.log.counts and fast.records() == slow.records()
    counts = fast.log.counts
    assert (counts["out", "BA"], counts["event", "bu-refused"], counts["event", "record-evicted"]) == (7 + kernel, 2 + kernel, 2)
    assert (counts["event", "binding-deleted"], counts["event", "binding-expired"]) == (1, 2)
    assert general_reads == [steps[2][0]] * kernel + ["expiry due"]  # the group's frame, and on_bu's expiry first


def _other_prefix(key: KeyPair) -> bytes:
    other = cga_generate("2001:db8:5::/64", key, sec=0)
    return encode_bytes(BindingUpdate(COA, DAR, other.address, 1, 60, cga_params=other.params, sign_with=key))


def test_a_core_that_redefines_on_message_sees_every_bu(hoas: list[Cga], mn_key: KeyPair) -> None:
    """A DarCore subclass that redefines on_message (a planted defect, a researcher's variant) is
    driven through it alone: no signed BU and no refresh passes it by way of on_bu or refresh."""
    seen: list[int] = []

    class Watching(DarCore):
        def on_message(self, msg: Message, now: float) -> Effects:
            if isinstance(msg, BindingUpdate):
                seen.append(msg.seq)
            return super().on_message(msg, now)

    dar = Dar.make(foresee=True, log=LogSink(None, None))
    dar.automaton.core = Watching(DAR, PREFIX, rand=random.Random(5).randbytes)
    ack = decode(dar.receive(signed(hoas[0], mn_key, 1), 1.0, upstream=True)[0])
    assert isinstance(ack, BindingAck) and ack.status == 0 and ack.phkt_ciphertext is not None
    phkt = decrypt_phkt(mn_key, ack.phkt_ciphertext)
    for seq in range(2, 6):  # refreshes like the last one: a DarCore's would be foreseen from seq 3 on
        bu = encode_bytes(BindingUpdate(COA, DAR, hoas[0].address, seq, LIFETIME, nonce_indices=(0, 0), auth_key=kbm(phkt)))
        assert decode(dar.receive(bu, float(seq), upstream=True)[0]).status == 0  # type: ignore[union-attr]
    assert seen == [1, 2, 3, 4, 5] and dar.automaton.foreseen == 0


def test_a_bu_from_the_dars_own_address_is_dropped_however_it_comes(hoas: list[Cga], mn_key: KeyPair) -> None:
    """Profile §6 strictness (RFC 3704 §2): a BU whose source is the DAR's own address makes no
    binding, whether it comes on the access link (ingress filtering) or from upstream (the
    core); before, from upstream, the DAR bound the HoA to itself and answered itself."""
    for upstream in (False, True):
        fast, slow = Dar.make(foresee=True), general(Dar.make(foresee=True))
        for dar in (fast, slow):
            assert dar.receive(signed(hoas[0], mn_key, coa=DAR), 1.0, upstream=upstream) == []
            assert dar.automaton.core.bindings() == [] and dar.automaton.tunnels == {}
        why = [str(r.get("why")) for r in fast.records() if r["dir"] == "drop"]
        assert len(why) == 1 and why[0].startswith("own-address: 2001:db8:1::1"), why
        assert fast.records() == slow.records()
