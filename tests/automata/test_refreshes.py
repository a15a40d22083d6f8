"""Foreseen PHKT refreshes (wire/refresh.py, automata/refreshes.py, DarCore.refresh): the DAR that
takes a refresh like its binding's last one without reading it again answers every BU with the
same bytes, the same records and the same state as a DAR that reads every BU the general way.

The truth for the shapes' bytes is the codec (itself held to the layers, tshark and the
captures elsewhere): a shape reads what ``codec.decode`` reads and answers what
``codec.encode_bytes`` writes."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
from scapy.automaton import select_objects

from scapy_fama.automata import DarAutomaton, LogSink
from scapy_fama.automata.ports import Frame
from scapy_fama.automata.refreshes import _Accepted
from scapy_fama.codec import decode, encode_bytes
from scapy_fama.crypto import Cga, KeyPair, cga_generate, decrypt_phkt, kbm
from scapy_fama.net.memlink import MemLink, MemRouter, RouterPort
from scapy_fama.proto import DarCore
from scapy_fama.proto.config import DarConfig
from scapy_fama.proto.messages import BindingAck, BindingUpdate
from scapy_fama.wire import finish_bytes, parse
from scapy_fama.wire.link import ether, mac_bytes
from scapy_fama.crypto import addr_bytes
from scapy_fama.wire.numbers import HOP_BY_HOP
from scapy_fama.wire.refresh import BU_SEQ, CHECKSUM, refresh_shape, shape_key

DAR, PREFIX, COA, COA2 = "2001:db8:1::1", "2001:db8:1::/64", "2001:db8:2::77", "2001:db8:3::5"
MN_MAC = bytes.fromhex("02000000aa01")
LIFETIME = 600


@pytest.fixture(scope="module")
def hoa(mn_key: KeyPair) -> Cga:
    return cga_generate(PREFIX, mn_key, sec=0)


def refresh(hoa: Cga, seq: int, phkt: bytes, *, coa: str = COA, lifetime: int = LIFETIME, home: bool = True) -> bytes:
    """A PHKT-authorised BU (a de-registration with lifetime 0: its Kbm is SHA1(PHKT), profile §4)."""
    key = kbm(phkt, deregistration=lifetime == 0)
    return encode_bytes(BindingUpdate(coa, DAR, hoa.address, seq, lifetime, home=home, nonce_indices=(0, 0), auth_key=key))


def answer_to(bu: bytes, seq: int, key: bytes, lifetime: int = LIFETIME) -> bytes:
    msg = decode(bu)
    assert isinstance(msg, BindingUpdate)
    return encode_bytes(BindingAck(DAR, msg.src, msg.hoa, 0, seq, lifetime, auth_key=key))


# ---------------------------------------------------------------- the shape's bytes


def test_a_shape_reads_what_the_codec_reads_and_answers_what_it_writes(hoa: Cga) -> None:
    phkt = bytes(range(8))
    first = refresh(hoa, 7, phkt)
    info = parse(first)
    assert info is not None
    shape = refresh_shape(first, info, answer_to(first, 7, kbm(phkt)), (COA, DAR))
    assert shape is not None and shape_key(first) == addr_bytes(hoa.address)  # the HAO's address
    for seq in (8, 9, 0xFFFF, 0):
        again = refresh(hoa, seq, phkt)
        msg = decode(again)
        assert isinstance(msg, BindingUpdate)
        assert shape.read(again) == (msg.seq, msg.bad, msg.auth_data)
        assert shape.answer(seq, kbm(phkt)) == answer_to(again, seq, kbm(phkt))


def test_a_shape_reads_nothing_else(hoa: Cga) -> None:
    """Every byte but the checksum, the sequence number and the BAD is the shape's: a BU that
    differs anywhere else, checksum made right again, is not read (nor one whose checksum is
    wrong); one that differs in seq or BAD, checksum right, is read with them."""
    phkt = bytes(8)
    first = refresh(hoa, 7, phkt)
    info = parse(first)
    assert info is not None and info.mh is not None
    shape = refresh_shape(first, info, answer_to(first, 7, kbm(phkt)), (COA, DAR))
    assert shape is not None
    mh = info.mh.offset
    for at in range(len(first)):
        changed = bytearray(first)
        changed[at] ^= 0x01
        if mh + CHECKSUM <= at < mh + CHECKSUM + 2:
            assert shape.read(bytes(changed)) is None  # the checksum no longer adds up
            continue
        if at >= mh + CHECKSUM + 2:  # past the MH's checksum: the checksum made right again
            changed = bytearray(finish_bytes(bytes(changed)))
        read = shape.read(bytes(changed))
        if mh + BU_SEQ <= at < mh + BU_SEQ + 2 or at >= shape.bad:
            assert read is not None and (read[0], read[1]) == (int.from_bytes(changed[mh + 6 : mh + 8], "big"), bytes(changed[shape.bad :]))
        else:
            assert read is None, at
    assert shape.read(first[:-1]) is None and shape.read(first + b"\0") is None


def test_only_a_plain_refresh_and_its_plain_answer_make_a_shape(hoa: Cga, mn_key: KeyPair) -> None:
    phkt = bytes(8)
    plain = refresh(hoa, 7, phkt)
    info = parse(plain)
    assert info is not None
    ba = answer_to(plain, 7, kbm(phkt))
    signed = encode_bytes(BindingUpdate(COA, DAR, hoa.address, 7, LIFETIME, cga_params=hoa.params, sign_with=mn_key))
    signed_info = parse(signed)
    assert signed_info is not None
    with_phkt = encode_bytes(BindingAck(DAR, COA, hoa.address, 0, 7, LIFETIME, phkt_ciphertext=bytes(128), auth_key=kbm(phkt)))
    without_bad = encode_bytes(BindingAck(DAR, COA, hoa.address, 0, 7, LIFETIME))
    assert refresh_shape(plain, info, ba, (COA, DAR)) is not None
    assert refresh_shape(signed, signed_info, ba, (COA, DAR)) is None  # a Signature covers the seq
    assert refresh_shape(plain, info, with_phkt, (COA, DAR)) is None  # a first BU's answer
    assert refresh_shape(plain, info, without_bad, (COA, DAR)) is None
    assert refresh_shape(plain, info, plain, (COA, DAR)) is None  # not a BA
    padded = hop_by_hop(plain)
    padded_info = parse(padded)
    assert padded_info is not None and decode(padded) == decode(plain)  # the same BU to a reader
    assert refresh_shape(padded, padded_info, ba, (COA, DAR)) is None  # not the layout a shape takes


def hop_by_hop(bu: bytes) -> bytes:
    """``bu`` with an 8-byte Hop-by-Hop header (a PadN) before its Destination Options."""
    header = bytes((bu[6], 0, 1, 4, 0, 0, 0, 0))
    length = int.from_bytes(bu[4:6], "big") + len(header)
    return bu[:4] + length.to_bytes(2, "big") + bytes((HOP_BY_HOP,)) + bu[7:40] + header + bu[40:]


# ---------------------------------------------------------------- two DARs, one foreseeing


@dataclass
class Dar:
    """A DAR automaton whose thread never runs: frames are handed to its receive path, as the
    receive condition does, and its BAs read where its upstream delivers them."""

    automaton: DarAutomaton
    sink: RouterPort
    log: LogSink

    @classmethod
    def make(cls, foresee: bool, log: LogSink | None = None, config: DarConfig = DarConfig()) -> Dar:
        router, log = MemRouter("refreshes"), log or LogSink(keep=True)
        core = DarCore(DAR, PREFIX, rand=random.Random(5).randbytes, config=config)
        automaton = DarAutomaton(core, MemLink("access").port("dar"), upstream=router.port(PREFIX), name="dar", log=log)
        if not foresee:
            automaton.refreshes.capacity = 0
        return cls(automaton, router.port("2001:db8::/32"), log)

    def receive(self, ip: bytes, now: float, *, upstream: bool, to: bytes | None = None) -> list[bytes]:
        """``ip`` from upstream or, in a frame to ``to`` (the DAR's MAC unless given), the access link."""
        a = self.automaton
        a._receive(now, Frame(ip, upstream=True) if upstream else Frame(ether(to or mac_bytes(a.mac), MN_MAC, ip)))
        a._phase()
        got = []
        while select_objects([self.sink], 0):
            got.append(self.sink.recv_bytes())
        return got

    def state(self) -> tuple[object, ...]:
        core = self.automaton.core
        return (sorted(map(repr, core.bindings())), sorted(map(repr, core.records())), sorted(self.automaton.tunnels))

    def records(self) -> list[dict[str, object]]:
        return [{k: v for k, v in r.items() if k != "t"} for r in self.log.records or []]


def test_a_dar_that_foresees_refreshes_answers_every_bu_as_one_that_reads_them_all(hoa: Cga, mn_key: KeyPair) -> None:
    fast, slow = Dar.make(foresee=True), Dar.make(foresee=False)
    first = encode_bytes(BindingUpdate(COA, DAR, hoa.address, 1, LIFETIME, cga_params=hoa.params, sign_with=mn_key))
    phkts = []
    for dar in (fast, slow):  # the same PHKT, encrypted with padding of its own (RFC 4866 §4.7: RSA-OAEP)
        acks = [decode(o) for o in dar.receive(first, 1.0, upstream=True)]
        assert len(acks) == 1 and isinstance(acks[0], BindingAck) and acks[0].phkt_ciphertext is not None
        phkts.append(decrypt_phkt(mn_key, acks[0].phkt_ciphertext))
    assert phkts[0] == phkts[1]
    phkt = phkts[0]
    steps: list[tuple[str, bytes, float]] = []
    other = bytes(8)
    wrong_checksum = bytearray(refresh(hoa, 4, phkt))
    wrong_checksum[-1] ^= 0xFF
    steps += [
        ("first refresh: read, its shape kept", refresh(hoa, 2, phkt), 2.0),
        ("foreseen", refresh(hoa, 3, phkt), 3.0),
        ("replayed: seq not newer, BA 135", refresh(hoa, 3, phkt), 3.5),
        ("BAD of another key: dropped", refresh(hoa, 4, other), 4.0),
        ("checksum wrong: dropped", bytes(wrong_checksum), 4.5),
        ("another lifetime: read", refresh(hoa, 5, phkt, lifetime=300), 5.0),
        ("foreseen", refresh(hoa, 6, phkt, lifetime=300), 6.0),
        ("H=0 with a binding: BA 139", refresh(hoa, 7, phkt, lifetime=300, home=False), 7.0),
        ("from another CoA: read, binding moved", refresh(hoa, 8, phkt, coa=COA2, lifetime=300), 8.0),
        ("back from the first CoA: binding moved back", refresh(hoa, 9, phkt, lifetime=300), 9.0),
        ("foreseen", refresh(hoa, 10, phkt, lifetime=300), 10.0),
        ("after the binding expired: re-created", refresh(hoa, 11, phkt, lifetime=300), 400.0),
        ("foreseen", refresh(hoa, 12, phkt, lifetime=300), 401.0),
        ("de-registration", refresh(hoa, 13, phkt, lifetime=0), 402.0),
        ("H=0 without a binding: accepted", refresh(hoa, 14, phkt, lifetime=300, home=False), 403.0),
        ("H=0 again, now with a binding: BA 139", refresh(hoa, 15, phkt, lifetime=300, home=False), 404.0),
        ("de-registration", refresh(hoa, 16, phkt, lifetime=0), 405.0),
        ("no binding: one is created", refresh(hoa, 17, phkt, lifetime=300), 406.0),
    ]
    read: list[str] = []  # the steps the foreseeing DAR's core reads the general way
    core = fast.automaton.core
    general = core.on_message
    core.on_message = lambda msg, now: read.append(what) or general(msg, now)  # type: ignore[method-assign]
    for n, (what, bu, now) in enumerate(steps):
        upstream = n % 2 == 0
        got = fast.receive(bu, now, upstream=upstream)
        assert got == slow.receive(bu, now, upstream=upstream), what
        assert fast.state() == slow.state(), what
    assert fast.records() == slow.records()
    statuses = [r.get("status") for r in slow.records() if r["dir"] == "out" and r["kind"] == "BA"]
    assert statuses == [0, 0, 0, 135, 0, 0, 139, 0, 0, 0, 0, 0, 0, 0, 139, 0, 0]
    drops = [str(r["why"]).split(":")[0] for r in slow.records() if r["dir"] == "drop"]
    assert drops == ["bad-authenticator", "undecodable"]
    assert fast.automaton.foreseen == 4 and slow.automaton.foreseen == 0  # the four "foreseen" steps
    # cost before trust (profile §6): a forged refresh (BAD of another key, checksum right) costs
    # the foreseeing DAR one HMAC, as a foreseen one does; nothing of it is read again
    assert [what for what, _, _ in steps if what not in read] == ["foreseen", "BAD of another key: dropped"] + ["foreseen"] * 3


def test_a_new_phkt_is_the_one_a_foreseen_refresh_must_prove(hoa: Cga, mn_key: KeyPair) -> None:
    fast = Dar.make(foresee=True)
    phkts = []
    for seq, now in ((1, 1.0), (4, 4.0)):  # a CGA-signed BU again: the DAR issues a new PHKT
        bu = encode_bytes(BindingUpdate(COA, DAR, hoa.address, seq, LIFETIME, cga_params=hoa.params, sign_with=mn_key))
        ack = decode(fast.receive(bu, now, upstream=True)[0])
        assert isinstance(ack, BindingAck) and ack.phkt_ciphertext is not None
        phkts.append(decrypt_phkt(mn_key, ack.phkt_ciphertext))
        if seq == 1:
            fast.receive(refresh(hoa, 2, phkts[0]), 2.0, upstream=True)
            fast.receive(refresh(hoa, 3, phkts[0]), 3.0, upstream=True)
            assert fast.automaton.foreseen == 1
    assert fast.receive(refresh(hoa, 5, phkts[0]), 5.0, upstream=True) == []  # the old PHKT: dropped
    ack = decode(fast.receive(refresh(hoa, 6, phkts[1]), 6.0, upstream=True)[0])
    assert isinstance(ack, BindingAck) and (ack.status, ack.seq) == (0, 6) and fast.automaton.foreseen == 2


def test_a_binding_has_one_shape_whatever_its_bus_vary_and_only_the_toolkits_layout_has_one(hoa: Cga, mn_key: KeyPair) -> None:  # fmt: skip
    """Profile §6 "Bounded state" and "cost before trust": an MN that varies what a shape holds
    fixed (the flow label, a Hop-by-Hop header) gets its BUs read the general way, keeps one
    shape for its binding at most, and cannot make the DAR look a frame up more than once."""
    fast, slow = Dar.make(foresee=True), Dar.make(foresee=False)
    first = encode_bytes(BindingUpdate(COA, DAR, hoa.address, 1, LIFETIME, cga_params=hoa.params, sign_with=mn_key))
    phkt = b""
    for dar in (fast, slow):
        ack = decode(dar.receive(first, 1.0, upstream=True)[0])
        assert isinstance(ack, BindingAck) and ack.phkt_ciphertext is not None
        phkt = decrypt_phkt(mn_key, ack.phkt_ciphertext)
    for seq in range(2, 12):
        bu = bytearray(refresh(hoa, seq, phkt))
        bu[1:4] = (seq << 4).to_bytes(3, "big")  # a flow label of its own (RFC 6437)
        assert fast.receive(bytes(bu), float(seq), upstream=True) == slow.receive(bytes(bu), float(seq), upstream=True)
    assert len(fast.automaton.refreshes) == 1 and fast.automaton.foreseen == 0
    for seq in range(12, 16):
        bu = hop_by_hop(refresh(hoa, seq, phkt))
        assert fast.receive(bu, float(seq), upstream=True) == slow.receive(bu, float(seq), upstream=True)
    assert fast.automaton.foreseen == 0 and fast.records() == slow.records() and fast.state() == slow.state()
    assert len(fast.automaton.refreshes) == 1  # the flow-label BU's shape, never made: no later BU was like it


def test_a_frame_at_a_bindings_place_makes_its_shape_once(hoa: Cga, mn_key: KeyPair) -> None:
    """Cost before trust (profile §6): frames that carry a binding's home address where a shape
    has it but are no refresh like its last (here: a wrong checksum) make
    its shape once, not once a frame."""
    fast = Dar.make(foresee=True)
    first = encode_bytes(BindingUpdate(COA, DAR, hoa.address, 1, LIFETIME, cga_params=hoa.params, sign_with=mn_key))
    ack = decode(fast.receive(first, 1.0, upstream=True)[0])
    assert isinstance(ack, BindingAck) and ack.phkt_ciphertext is not None
    phkt = decrypt_phkt(mn_key, ack.phkt_ciphertext)
    fast.receive(refresh(hoa, 2, phkt), 2.0, upstream=True)  # accepted: kept, its shape not made
    made = []
    shape_of = _Accepted.shape
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_Accepted, "shape", lambda self: made.append(1) or shape_of(self))
        for n in range(5):
            bu = bytearray(refresh(hoa, 3, phkt))
            bu[-1] ^= 1 + n  # the BAD, so the checksum is wrong: dropped, by the general path
            assert fast.receive(bytes(bu), 3.0, upstream=True) == []
    assert made == [1]
    assert decode(fast.receive(refresh(hoa, 3, phkt), 3.0, upstream=True)[0]).status == 0
    assert fast.automaton.foreseen == 1


def test_what_nobody_looks_at_is_counted_and_what_someone_holds_is_made(hoa: Cga, mn_key: KeyPair) -> None:
    """Bytes first (DESIGN.md): a DAR whose log nobody reads answers a foreseen refresh without
    making its BU, event and BA as objects, yet counts the records a DAR that reads every BU
    counts; with BAs intercepted, it holds the BA the other holds, the same message and packet."""
    first = encode_bytes(BindingUpdate(COA, DAR, hoa.address, 1, LIFETIME, cga_params=hoa.params, sign_with=mn_key))
    for log in (lambda: LogSink(None, None), lambda: LogSink(keep=True)):
        fast, slow = Dar.make(foresee=True, log=log()), Dar.make(foresee=False, log=log())
        phkt = b""
        for dar in (fast, slow):
            ack = decode(dar.receive(first, 1.0, upstream=True)[0])
            assert isinstance(ack, BindingAck) and ack.phkt_ciphertext is not None
            phkt = decrypt_phkt(mn_key, ack.phkt_ciphertext)
        bus = [refresh(hoa, seq, phkt) for seq in range(2, 6)] + [refresh(hoa, 6, bytes(8))]  # the last forged
        for n, bu in enumerate(bus):
            assert fast.receive(bu, 2.0 + n, upstream=True) == slow.receive(bu, 2.0 + n, upstream=True)
        assert fast.log.counts == slow.log.counts and fast.log.counts["event", "binding-updated"] == 4
        assert fast.automaton.foreseen == 3 and fast.log.counts["drop", "BU"] == 1  # seq 3-5; 6 dropped
        assert fast.log.reading == (fast.log.records is not None)
    for dar in (fast, slow):
        dar.automaton.intercept("BA")
        assert dar.receive(refresh(hoa, 7, phkt), 7.0, upstream=True) == []
    held = [dar.automaton.next_held(timeout=5.0) for dar in (fast, slow)]
    assert held[0] is not None and held[1] is not None and fast.automaton.foreseen == 4
    assert held[0].msg == held[1].msg and held[0].msg.seq == 7
    assert bytes(held[0].packet) == bytes(held[1].packet) and fast.records() == slow.records()


def test_a_ba_held_by_a_dar_whose_log_nobody_reads_is_counted_as_the_general_path_counts_it(
    hoa: Cga, mn_key: KeyPair
) -> None:
    """With BAs intercepted and a log nobody reads, a foreseen refresh's BA is held (not routed)
    and its records counted as a DAR that reads every BU counts them: "held", not "out"."""
    first = encode_bytes(BindingUpdate(COA, DAR, hoa.address, 1, LIFETIME, cga_params=hoa.params, sign_with=mn_key))
    fast, slow = Dar.make(foresee=True, log=LogSink(None, None)), Dar.make(foresee=False, log=LogSink(None, None))
    phkt = b""
    for dar in (fast, slow):
        ack = decode(dar.receive(first, 1.0, upstream=True)[0])
        assert isinstance(ack, BindingAck) and ack.phkt_ciphertext is not None
        phkt = decrypt_phkt(mn_key, ack.phkt_ciphertext)
        assert dar.receive(refresh(hoa, 2, phkt), 2.0, upstream=True)  # the shape's template, answered
        dar.automaton.intercept("BA")
    for seq in (3, 4):
        assert fast.receive(refresh(hoa, seq, phkt), float(seq), upstream=True) == []
        assert slow.receive(refresh(hoa, seq, phkt), float(seq), upstream=True) == []
    held = [[dar.automaton.next_held(timeout=5.0) for _ in range(2)] for dar in (fast, slow)]
    assert [[h.msg.seq for h in hs if h is not None] for hs in held] == [[3, 4], [3, 4]]
    assert [bytes(h.packet) for h in held[0] if h] == [bytes(h.packet) for h in held[1] if h]
    assert fast.automaton.foreseen == 2 and fast.log.counts == slow.log.counts
    assert fast.log.counts["held", "BA"] == 2 and fast.log.counts["out", "BA"] == 2  # the first BU's and seq 2's
