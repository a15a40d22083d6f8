"""Mutators and rendering checked against byte layouts computed here by hand.

Offsets: IPv6 header 40 bytes; a BU's Destination Options header with the HAO is
24 bytes (RFC 6275 §6.3), so the MH starts at 64; BU fields at MH offsets 6
(Sequence), 8 (flags), 10 (Lifetime), options from 12 (RFC 6275 §6.1.7).
"""

from __future__ import annotations

import dataclasses
import random
import socket
import struct

import pytest
from scapy.layers.inet6 import IPv6

from scapy_fama.crypto import ZERO_TOKEN
from scapy_fama.fuzz.frame import Ext, Frame, Opt, parse_frame, render
from scapy_fama.fuzz.mutators import FAMILIES, MUTATORS, apply_chain, cga_params, mutators_of
from scapy_fama.fuzz.seeds import World, build_world
from scapy_fama.verify import verify_ba, verify_bu

MH = 64  # MH offset in a BU with a HAO


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(11)


def ones_complement_checksum(src: bytes, dst: bytes, mh: bytes) -> int:
    """RFC 6275 §6.1.1 with the RFC 8200 §8.1 pseudo-header, written out independently."""
    data = src + dst + struct.pack("!I3xB", len(mh), 135) + mh[:4] + b"\0\0" + mh[6:]
    data += b"\0" * (len(data) % 2)
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF or 0xFFFF


def mutant(world: World, seed: str, chain: list, keep_valid: bool = False) -> bytes:
    s = world.seeds[seed]
    return render(apply_chain(parse_frame(s.raw), chain), world.seed_signer(s) if keep_valid else None)


def test_every_seed_renders_back_to_its_bytes(world: World) -> None:
    for seed in world.seeds.values():
        assert render(parse_frame(seed.raw)) == seed.raw
        assert render(parse_frame(seed.raw), world.seed_signer(seed)) == seed.raw  # re-signing is exact


def test_a_frame_key_tells_apart_frames_that_render_apart(world: World) -> None:
    """Campaign.render remembers bytes by Frame.key: every field of a frame, its extension
    headers' and its options' is in it (a field added later and left out would fail here)."""
    frame = parse_frame(world.seeds["first-bu"].raw)
    assert len(frame.key()) == len(dataclasses.fields(Frame))
    assert [len(k) for k in (frame.key()[3][0], frame.key()[6][0])] == [len(dataclasses.fields(Ext)),
                                                                         len(dataclasses.fields(Opt))]
    for chain in ([("seq", {"value": 7})], [("option-length", {"i": 0, "length": 3})], [("truncate", {"keep": 50})]):
        mutated = apply_chain(frame, chain)
        assert mutated.key() != frame.key() and render(mutated) != render(frame)
        assert apply_chain(frame, chain).key() == mutated.key()


def test_seq_is_written_at_mh_offset_6_and_the_checksum_follows(world: World) -> None:
    raw = mutant(world, "phkt-bu", [("seq", {"value": 0x8000})])
    seed = world.seeds["phkt-bu"].raw
    assert raw[MH + 6 : MH + 8] == b"\x80\x00"
    assert [i for i in range(len(raw)) if raw[i] != seed[i]] == [MH + 4, MH + 5, MH + 6, MH + 7] or raw[MH + 4 : MH + 6] != seed[MH + 4 : MH + 6]
    hoa = socket.inet_pton(socket.AF_INET6, world.hoa)  # pseudo-header source: the HAO (RFC 6275 §6.1.1)
    assert int.from_bytes(raw[MH + 4 : MH + 6], "big") == ones_complement_checksum(hoa, raw[24:40], raw[MH:])


def test_an_option_length_mutation_changes_exactly_that_byte(world: World) -> None:
    seed = world.seeds["phkt-bu"].raw  # options: Nonce Indices at MH 12, BAD at MH 18
    raw = mutant(world, "phkt-bu", [("option-length", {"i": 0, "length": 5})])
    assert seed[MH + 12 : MH + 14] == b"\x04\x04" and raw[MH + 13] == 5
    diff = [i for i in range(len(raw)) if raw[i] != seed[i]]
    assert set(diff) <= {MH + 4, MH + 5, MH + 13} and MH + 13 in diff


def test_lifetime_flags_and_header_len(world: World) -> None:
    raw = mutant(world, "first-bu", [("lifetime", {"units": 0xFFFF}), ("flags", {"value": 0x1000}),
                                     ("header-len", {"value": 255})])
    assert raw[MH + 10 : MH + 12] == b"\xff\xff" and raw[MH + 8 : MH + 10] == b"\x10\x00" and raw[MH + 1] == 255
    assert len(raw) == len(world.seeds["first-bu"].raw)  # the lie is only in the byte


def test_the_cga_split_sets_the_piece_lengths_on_the_wire(world: World) -> None:
    params = cga_params(parse_frame(world.seeds["first-bu"].raw))
    assert params is not None and len(params) < 255
    raw = mutant(world, "first-bu", [("cga-split", {"sizes": [100]})])
    first, second = MH + 12, MH + 12 + 2 + 100
    assert raw[first : first + 2] == bytes((12, 100)) and raw[second : second + 2] == bytes((12, len(params) - 100))
    assert raw[first + 2 : first + 102] + raw[second + 2 : second + 2 + len(params) - 100] == params


def test_cga_size_255_is_one_option_of_255_bytes_and_256_splits(world: World) -> None:
    raw = mutant(world, "first-bu", [("cga-size", {"size": 255, "fill": 0})])
    assert raw[MH + 12 : MH + 14] == bytes((12, 255)) and raw[MH + 14 + 255] == 13  # the Signature follows
    raw = mutant(world, "first-bu", [("cga-size", {"size": 256, "fill": 0})])
    assert raw[MH + 12 : MH + 14] == bytes((12, 255)) and raw[MH + 14 + 255 : MH + 14 + 257] == bytes((12, 1))


def test_truncation_and_payload_length(world: World) -> None:
    assert mutant(world, "coti", [("truncate", {"keep": 47})]) == world.seeds["coti"].raw[:47]
    raw = mutant(world, "coti", [("payload-length", {"delta": 8})])
    assert int.from_bytes(raw[4:6], "big") == len(raw) - 40 + 8


def test_extension_header_mutations(world: World) -> None:
    seed = world.seeds["phkt-bu"].raw
    gone = mutant(world, "phkt-bu", [("ext-headers", {"op": "hao-remove"})])
    assert gone[6] == 135 and gone[40:] [2] == 5 and len(gone) == len(seed) - 24
    doubled = mutant(world, "phkt-bu", [("ext-headers", {"op": "hao-double"})])
    assert doubled[6] == 60 and doubled[40] == 60 and doubled[64] == 135 and doubled[40 + 2 :64] == doubled[66:88]
    rh = mutant(world, "phkt-bu", [("ext-headers", {"op": "rh2-add"})])
    assert rh[6] == 43 and rh[40] == 60 and rh[42:44] == bytes((2, 1))  # type 2, Segments Left 1


def test_keep_valid_mutants_verify_and_plain_ones_do_not(world: World) -> None:
    chain = [("seq", {"value": 0x7FFF}), ("lifetime", {"units": 1}), ("option-swap", {"i": 2, "j": 3})]
    plain = IPv6(mutant(world, "first-bu-req", chain))
    signed = IPv6(mutant(world, "first-bu-req", chain, keep_valid=True))
    assert verify_bu(signed), verify_bu(signed)
    assert not verify_bu(plain) and verify_bu(plain)["signature"].ok is False
    phkt = IPv6(mutant(world, "phkt-bu", [("seq", {"value": 1})], keep_valid=True))
    assert verify_bu(phkt, phkt=world.phkt)
    ba = IPv6(mutant(world, "ba", [("lifetime", {"units": 1})], keep_valid=True))
    assert verify_ba(ba, mn_keypair=world.key)


def test_without_keep_valid_the_crypto_fields_are_mutated(world: World) -> None:
    names = {m.name for m in mutators_of("crypto", keep_valid=False)}
    assert {"signature-bits", "bad-bits", "checksum", "cga-contents"} <= names
    kept = {m.name for m in mutators_of("crypto", keep_valid=True)}
    assert "signature-bits" not in kept and "cga-contents" in kept
    raw = mutant(world, "first-bu", [("signature-bits", {"i": 1, "pos": 0, "mask": 1, "zero": False})])
    assert not verify_bu(IPv6(raw))["signature"].ok
    raw = mutant(world, "phkt-bu", [("checksum", {"value": 0x1234})])
    assert raw[MH + 4 : MH + 6] == b"\x12\x34"


def test_every_mutator_draws_and_applies_on_every_seed(world: World) -> None:
    rng = random.Random(5)
    for seed in world.seeds.values():
        for m in MUTATORS.values():
            frame = parse_frame(seed.raw)
            args = m.draw(rng, frame)
            if args is not None:
                m.apply(frame, args)
                render(frame, world.seed_signer(seed))
    assert {m.family for m in MUTATORS.values()} == set(FAMILIES)


def test_a_step_whose_option_is_gone_does_nothing(world: World) -> None:
    raw = mutant(world, "coti", [("option-length", {"i": 3, "length": 1}), ("option-remove", {"i": 0})])
    assert raw == world.seeds["coti"].raw


def test_signing_covers_the_zero_checksum_and_home_token(world: World) -> None:
    assert world.seed_signer(world.seeds["first-bu"]).home_token == ZERO_TOKEN
    assert world.seed_signer(world.seeds["phkt-bu"]).home_token == world.phkt


def test_every_step_the_minimiser_can_make_applies(world: World) -> None:
    """Minimising simplifies arguments (numbers to 0 or halved, strings and lists shorter): every
    mutator takes every such variant of every argument it draws without raising (a PadN of
    size 0 stopped a campaign in the minimiser once)."""
    from scapy_fama.fuzz.findings import _simpler

    rng = random.Random(5)
    for seed in world.seeds.values():
        base = parse_frame(seed.raw)
        for m in MUTATORS.values():
            for _ in range(8):
                args = m.draw(rng, base.copy())
                if args is None:
                    continue
                todo = [args]
                for _depth in range(5):
                    todo = [simpler for a in todo for simpler in _simpler(a)][:12]
                    for a in todo:
                        render(apply_chain(base, [(m.name, a)]))
