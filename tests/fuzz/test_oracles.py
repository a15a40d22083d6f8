"""The oracles: the liveness probe's idea of a correct BA, the time limit, failure signatures."""

from __future__ import annotations

import random
import time

import pytest
from scapy.layers.inet6 import IPv6

from scapy_fama.codec import decode, encode_bytes
from scapy_fama.fuzz.oracles import Failure, guarded
from scapy_fama.fuzz.seeds import DAR1, PREFIX1, World, build_world
from scapy_fama.fuzz.targets import InprocTarget, make_probe, probe_problem
from scapy_fama.proto.effects import Send
from scapy_fama.proto.messages import BindingUpdate
from scapy_fama.verify import verify_bu


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(21)


def test_the_probe_is_a_fresh_mns_valid_first_bu(world: World) -> None:
    probe = make_probe(world, random.Random(3), coa=world.coa, dar=DAR1, prefix=PREFIX1)
    assert probe.hoa != world.hoa and probe.hoa.startswith("2001:db8:1:")  # a new CGA of the DAR's prefix
    bu = decode(probe.raw)
    assert isinstance(bu, BindingUpdate) and bu.hoa == probe.hoa and bu.seq == probe.seq
    assert verify_bu(IPv6(probe.raw))  # CGA, signature, checksum


def test_a_correct_ba_passes_and_each_defect_is_named(world: World) -> None:
    target = InprocTarget()
    target.setup(world)
    probe = make_probe(world, random.Random(4), coa=world.coa, dar=DAR1, prefix=PREFIX1)
    (ba,) = [encode_bytes(e.msg) for e in target.core("dar").on_message(decode(probe.raw), 3.0) if isinstance(e, Send)]
    assert probe_problem([ba], probe, world) is None
    bad = ba[:-1] + bytes((ba[-1] ^ 1,))  # the BAD is the last option: its last byte
    assert "BAD does not verify" in str(probe_problem([bad], probe, world))
    status = bytearray(ba)
    status[40 + 24 + 6] = 148  # BA status behind the 24-byte RH2
    assert "BA 148" in str(probe_problem([bytes(status)], probe, world))
    assert probe_problem([], probe, world) == "no answer to a fresh MN's first BU"


def test_a_hang_becomes_a_failure_and_exceptions_keep_their_place() -> None:
    hang = guarded(lambda: time.sleep(5), 0.2)
    assert isinstance(hang, Failure) and hang.oracle == "hang"
    crash = guarded(lambda: [][1], 1.0)
    assert isinstance(crash, Failure) and crash.kind == "IndexError" and crash.where.startswith("test_oracles.py:")
    assert guarded(lambda: "fine", 1.0) == "fine"
