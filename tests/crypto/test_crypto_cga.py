"""scapy_fama.crypto.cga against RFC 3972 Appendix A, the sendd vectors and hashlib by hand."""

import hashlib
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scapy_fama.crypto import cga as cga_module
from scapy_fama.crypto import (
    Cga,
    CgaCancelled,
    CgaParams,
    CgaStep,
    KeyPair,
    address_sec,
    cga_check,
    cga_generate,
    cga_public_key,
    cga_verify,
    cga_with_prefix,
    ext_fields,
    hash1,
    hash2,
    next_collision,
)
from tests.corpus import shared_file

APPENDIX_A_PK = bytes.fromhex(
    "305c300d06092a864886f70d0101010500034b003048024100c2c2f137305454f10bd9cea36844b530"
    "e9211a4b262b16467cb7dfba1f595c0194f275be5a4d386f2c3c2382508773c7867f9b3b9e63a09c"
    "7bc48f7a54ebefaf0203010001"
)
APPENDIX_A_START = bytes.fromhex("89a8a8b2e858d8b8f2633f44d2d4ce9a")
APPENDIX_A_ADDRESS = "fe80::3c4a:5bf6:ffb4:ca6c"
# SOURCES.md: the three parameter files and the addresses they verify to.
DOCUMENTED = {
    "sendd_rfc3972_example.params": APPENDIX_A_ADDRESS,
    "sendd_mn1.cga.params": "2003::3049:deeb:fd31:70b0",
    "sendd_mn2.cga.params": "2003::206d:250:e986:4ab4",
}
EXT = b"\xff\xfd\x00\x03abc"  # one RFC 4581 TLV of the experimental type Exp_FFFD


def _sha1(data: bytes) -> bytes:
    return hashlib.sha1(data).digest()


def _hash2_by_hand(modifier: bytes, pk: bytes, ext: bytes = b"") -> bytes:
    return _sha1(modifier + bytes(9) + pk + ext)[:14]


def _first_qualifying(start: int, pk: bytes, sec: int, ext: bytes = b"") -> int:
    """Brute force RFC 3972 §4 steps 2-3 with hashlib alone (128-bit wrap-around)."""
    m = start
    while _sha1(m.to_bytes(16, "big") + bytes(9) + pk + ext)[: 2 * sec] != bytes(2 * sec):
        m = (m + 1) % (1 << 128)
    return m


def _assert_is_cga_by_hand(cga: Cga, prefix: bytes, pk: bytes, sec: int, ext: bytes = b"") -> None:
    """Recompute the address from the params bytes with hashlib and the RFC 3972 formulas."""
    p = cga.params
    assert p[16:24] == prefix and p[25 : 25 + len(pk)] == pk and p[25 + len(pk) :] == ext
    assert _hash2_by_hand(p[:16], pk, ext)[: 2 * sec] == bytes(2 * sec)
    h1 = _sha1(p)[:8]
    iid = bytes([(sec << 5) | (h1[0] & 0x1C)]) + h1[1:]
    assert cga.address == socket.inet_ntop(socket.AF_INET6, prefix + iid)
    assert cga.sec == sec


def _with_iid_byte0(address: str, change: Callable[[int], int]) -> str:
    raw = bytearray(socket.inet_pton(socket.AF_INET6, address))
    raw[8] = change(raw[8])
    return socket.inet_ntop(socket.AF_INET6, bytes(raw))


# --- RFC 3972 Appendix A -------------------------------------------------------------------


def test_appendix_a_hashes() -> None:
    assert hash2(APPENDIX_A_START, APPENDIX_A_PK).hex() == "436b9a70dbfddbf1926e6e6629c0"
    ce9b = bytes.fromhex("89a8a8b2e858d8b8f2633f44d2d4ce9b")
    assert hash2(ce9b, APPENDIX_A_PK).hex() == "000001ca680b83888d0912dffcce"
    params = ce9b + bytes.fromhex("fe80000000000000") + b"\x00" + APPENDIX_A_PK
    assert hash1(params).hex() == "fd4a5bf6ffb4ca6c"


@pytest.mark.parametrize("workers", [1, 2])
def test_appendix_a_generation(workers: int) -> None:
    cga = cga_generate("fe80::/64", APPENDIX_A_PK, 1, modifier=APPENDIX_A_START, workers=workers)
    assert cga.modifier.hex() == "89a8a8b2e858d8b8f2633f44d2d4ce9b"
    assert cga.address == APPENDIX_A_ADDRESS
    assert cga.collision_count == 0 and cga.prefix == bytes.fromhex("fe80000000000000")
    assert hash2(cga.modifier, APPENDIX_A_PK).hex() == "000001ca680b83888d0912dffcce"
    assert hash1(cga.params).hex() == "fd4a5bf6ffb4ca6c"
    # The sendd file holds exactly modifier | prefix | collision count | public key.
    assert cga.params == shared_file("cga", "sendd_rfc3972_example.params").read_bytes()


# --- the parameter files and every verification step -------------------------------------


@pytest.mark.parametrize(("name", "address"), sorted(DOCUMENTED.items()))
def test_vectors_verify_to_their_documented_address(name: str, address: str) -> None:
    params = shared_file("cga", name).read_bytes()
    result = cga_check(address, params)
    assert result and result.step is CgaStep.OK, result.reason
    assert cga_verify(address, params)
    assert address_sec(address) == 1
    assert CgaParams.decode(params).encode() == params


def _appendix_a() -> tuple[bytes, bytearray]:
    params = shared_file("cga", "sendd_rfc3972_example.params").read_bytes()
    return params, bytearray(params)


@pytest.mark.parametrize(
    ("offset", "step"),
    [(0, CgaStep.HASH1), (15, CgaStep.HASH1), (16, CgaStep.PREFIX), (23, CgaStep.PREFIX),
     (60, CgaStep.HASH1), (118, CgaStep.HASH1)],
)
def test_a_flipped_bit_fails_at_the_right_step(offset: int, step: CgaStep) -> None:
    _, params = _appendix_a()
    params[offset] ^= 0x01
    result = cga_check(APPENDIX_A_ADDRESS, bytes(params))
    assert not result and result.step is step
    assert result.reason and "\n" not in result.reason


@pytest.mark.parametrize(
    ("count", "step"),
    [(1, CgaStep.HASH1), (2, CgaStep.HASH1), (3, CgaStep.COLLISION_COUNT),
     (255, CgaStep.COLLISION_COUNT)],
)
def test_collision_count_step(count: int, step: CgaStep) -> None:
    _, params = _appendix_a()
    params[24] = count
    assert cga_check(APPENDIX_A_ADDRESS, bytes(params)).step is step


def test_collision_count_is_checked_before_the_prefix() -> None:
    _, params = _appendix_a()
    params[24] = 7
    params[16] ^= 0xFF
    assert cga_check(APPENDIX_A_ADDRESS, bytes(params)).step is CgaStep.COLLISION_COUNT


@pytest.mark.parametrize(
    "params",
    [b"", bytes(24), bytes(25), bytes(25) + b"\x31\x03abc", bytes(25) + APPENDIX_A_PK[:-1],
     bytes(25) + b"\x30\x80"],
)
def test_malformed_params(params: bytes) -> None:
    result = cga_check(APPENDIX_A_ADDRESS, params)
    assert result.step is CgaStep.MALFORMED and not result


def test_decode_messages() -> None:
    with pytest.raises(ValueError, match="too short: 24 bytes"):
        CgaParams.decode(bytes(24))
    with pytest.raises(ValueError, match="DER SEQUENCE"):
        CgaParams.decode(bytes(26))
    with pytest.raises(ValueError, match="claims 94 bytes, only 93 follow"):
        CgaParams.decode(bytes(25) + APPENDIX_A_PK[:-1])


@settings(max_examples=300, deadline=None)
@given(head=st.binary(max_size=30), key=st.sampled_from([APPENDIX_A_PK, APPENDIX_A_PK[:-1], b"\x30\x80", b""]),
       tail=st.binary(max_size=8))
def test_cga_public_key_is_decode_s(head: bytes, key: bytes, tail: bytes) -> None:
    """cga_public_key gives the key CgaParams.decode finds, or its ValueError, whatever the bytes."""
    params = head + key + tail
    try:
        expected: bytes | str = CgaParams.decode(params).public_key
    except ValueError as exc:
        expected = str(exc)
    try:
        got: bytes | str = cga_public_key(params)
    except ValueError as exc:
        got = str(exc)
    assert got == expected


def test_a_foreign_prefix_fails_at_step_2() -> None:
    params, _ = _appendix_a()
    assert cga_check("fe81::3c4a:5bf6:ffb4:ca6c", params).step is CgaStep.PREFIX


def test_sec_and_ug_bits() -> None:
    params, _ = _appendix_a()
    # u and g (0x02, 0x01 of IID byte 0) are ignored (RFC 3972 §5 step 4).
    for ug in (0x01, 0x02, 0x03):
        assert cga_verify(_with_iid_byte0(APPENDIX_A_ADDRESS, lambda b: b | ug), params)
    # A lower Sec needs fewer zero bits: Sec 0 passes.
    sec0 = _with_iid_byte0(APPENDIX_A_ADDRESS, lambda b: b & 0x1F)
    assert cga_check(sec0, params).step is CgaStep.OK
    # Hash2 = 000001ca...: only 16 leading zero bits, so every Sec 2-7 fails at the Hash2 step.
    for sec in range(2, 8):
        address = _with_iid_byte0(APPENDIX_A_ADDRESS, lambda b: (b & 0x1F) | sec << 5)
        assert address_sec(address) == sec
        result = cga_check(address, params)
        assert result.step is CgaStep.HASH2, (sec, result)
        assert f"{16 * sec} leading zero bits" in result.reason


def test_a_sec7_address_is_checked_over_all_112_bits() -> None:
    # Params whose Hash2 is not all zero: Sec 7 demands the whole Hash2 (RFC 3972 §5 step 7).
    params, _ = _appendix_a()
    address = _with_iid_byte0(APPENDIX_A_ADDRESS, lambda b: b | 0xE0)
    assert cga_check(address, params).step is CgaStep.HASH2


# --- generation ----------------------------------------------------------------------------


@pytest.mark.parametrize("sec", [0, 1])
def test_generated_cgas_verify_by_hand(sec: int, kp1024: KeyPair) -> None:
    cga = cga_generate("2001:db8:1::/64", kp1024, sec)
    _assert_is_cga_by_hand(cga, bytes.fromhex("20010db800010000"), kp1024.public_der, sec)
    assert cga_verify(cga.address, cga.params)


def test_sec0_keeps_the_given_modifier() -> None:
    cga = cga_generate("2001:db8::", APPENDIX_A_PK, 0, modifier=APPENDIX_A_START)
    assert cga.modifier == APPENDIX_A_START
    _assert_is_cga_by_hand(cga, bytes.fromhex("20010db800000000"), APPENDIX_A_PK, 0)


@pytest.mark.parametrize("workers", [1, 2])
def test_search_returns_the_lowest_qualifying_modifier(workers: int) -> None:
    # From modifier 0 the first hit lies past several pooled chunks (brute-forced here).
    expected = _first_qualifying(0, APPENDIX_A_PK, 1)
    assert expected > 1 << 16
    cga = cga_generate("fe80::", APPENDIX_A_PK, 1, modifier=bytes(16), workers=workers)
    assert int.from_bytes(cga.modifier, "big") == expected


def test_a_pool_started_beside_other_threads_uses_forkserver() -> None:
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert cga_module._start_method() == "forkserver"  # fork is unsafe beside threads
        cga = cga_generate("fe80::", APPENDIX_A_PK, 1, modifier=bytes(16), workers=3)  # new pool
    finally:
        release.set()
        other.join()
    assert int.from_bytes(cga.modifier, "big") == _first_qualifying(0, APPENDIX_A_PK, 1)


def test_search_with_extensions_and_wrap_around() -> None:
    start = (1 << 128) - 300
    expected = _first_qualifying(start, APPENDIX_A_PK, 1, EXT)
    assert expected < start  # the search wrapped past 2^128 - 1
    cga = cga_generate(
        "fe80::", APPENDIX_A_PK, 1, modifier=start.to_bytes(16, "big"), extensions=EXT, workers=2
    )
    assert int.from_bytes(cga.modifier, "big") == expected
    _assert_is_cga_by_hand(cga, bytes.fromhex("fe80000000000000"), APPENDIX_A_PK, 1, EXT)
    assert cga.parsed.extensions == EXT and ext_fields(cga.parsed.extensions) == [(0xFFFD, b"abc")]


@pytest.mark.parametrize("sec", [3, 4, 7])
def test_unregistered_sec_is_refused(sec: int) -> None:
    with pytest.raises(ValueError, match="no registered generation procedure.*RFC 4982"):
        cga_generate("fe80::", APPENDIX_A_PK, sec)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"sec": 8}, "Sec must be 0, 1 or 2"), ({"sec": -1}, "Sec must be"),
     ({"collision_count": 3}, "collision count 3"), ({"modifier": bytes(15)}, "16 bytes"),
     ({"extensions": b"\x00\x01\x00\x05ab"}, "past the end"), ({"workers": 0}, "at least 1"),
     ({"prefix": "fe80::/10"}, "/64")],
)
def test_generate_rejects(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"prefix": "fe80::", "keypair_or_public_der": APPENDIX_A_PK, "sec": 0}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        cga_generate(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize("pk", [b"junk", APPENDIX_A_PK + b"\x00", APPENDIX_A_PK[:-1]])
def test_generate_rejects_a_bad_public_key(pk: bytes) -> None:
    with pytest.raises(ValueError, match="DER SubjectPublicKeyInfo"):
        cga_generate("fe80::", pk, 0)


def test_modifier_reuse_for_a_new_prefix(kp1024: KeyPair) -> None:
    old = cga_generate("2001:db8:1::/64", kp1024, 1)
    new = cga_with_prefix(old, "2001:db8:2::/64")
    assert new.modifier == old.modifier and new.sec == 1 and new.collision_count == 0
    _assert_is_cga_by_hand(new, bytes.fromhex("20010db800020000"), kp1024.public_der, 1)
    # From bare parameters the Sec is the highest the modifier meets: 1 for Appendix A.
    params, _ = _appendix_a()
    moved = cga_with_prefix(params, "2001:db8:3::", collision_count=1)
    assert moved.sec == 1 and moved.collision_count == 1 and cga_verify(moved.address, moved.params)
    assert cga_with_prefix(CgaParams.decode(params), "fe80::").address == APPENDIX_A_ADDRESS


def test_collision_count_0_1_2_then_error() -> None:
    first = cga_generate("fe80::", APPENDIX_A_PK, 1, modifier=APPENDIX_A_START)
    second = next_collision(first)
    third = next_collision(second)
    assert [c.collision_count for c in (first, second, third)] == [0, 1, 2]
    assert len({first.address, second.address, third.address}) == 3
    for cga in (second, third):
        assert cga.modifier == first.modifier
        _assert_is_cga_by_hand(cga, bytes.fromhex("fe80000000000000"), APPENDIX_A_PK, 1)
    with pytest.raises(ValueError, match="RFC 3972 §4 step 8"):
        next_collision(third)


def test_ext_fields() -> None:
    assert ext_fields(b"") == []
    assert ext_fields(EXT + b"\x00\x12\x00\x00") == [(0xFFFD, b"abc"), (0x0012, b"")]
    for bad in (b"\x00", b"\x00\x01\x00", b"\x00\x01\x00\x02a"):
        with pytest.raises(ValueError):
            ext_fields(bad)


@given(st.lists(st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=40)), max_size=5))
def test_ext_fields_reads_tlvs_built_by_hand(fields: list[tuple[int, bytes]]) -> None:
    raw = b"".join(t.to_bytes(2, "big") + len(d).to_bytes(2, "big") + d for t, d in fields)
    assert ext_fields(raw) == fields


@settings(max_examples=200)
@given(st.binary(max_size=140))
def test_cga_check_never_raises_on_arbitrary_params(params: bytes) -> None:
    assert cga_check(APPENDIX_A_ADDRESS, params).step is not CgaStep.OK


# --- the worker pool: progress, cancel, recovery ---------------------------------------------


def _descendants() -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [os.getpid()]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total


def test_progress_is_called_with_increasing_counts() -> None:
    calls: list[int] = []
    cga = cga_generate(
        "fe80::", APPENDIX_A_PK, 1, modifier=bytes(16), workers=2, progress=calls.append
    )
    hit = int.from_bytes(cga.modifier, "big")
    assert len(calls) >= 3
    assert all(a < b for a, b in zip(calls, calls[1:]))
    assert calls[-1] >= hit + 1  # every modifier below the hit was hashed


@pytest.mark.parametrize("workers", [1, 2])
def test_cancel_stops_a_sec2_search_promptly(workers: int) -> None:
    cga_generate("fe80::", APPENDIX_A_PK, 1, workers=workers)  # the pool, if any, is warm
    cancel = threading.Event()
    set_at: list[float] = []

    def fire() -> None:
        set_at.append(time.monotonic())
        cancel.set()

    timer = threading.Timer(0.3, fire)
    timer.start()
    with pytest.raises(CgaCancelled):
        cga_generate("fe80::", APPENDIX_A_PK, 2, workers=workers, cancel=cancel)
    latency = time.monotonic() - set_at[0]
    timer.join()
    assert latency < 1.0
    pids = _descendants()
    before = _cpu_ticks(pids)
    time.sleep(0.5)
    busy = (_cpu_ticks(pids) - before) / os.sysconf("SC_CLK_TCK")
    assert busy < 0.1, f"worker processes used {busy:.2f} s of CPU after the cancel"


def _kill_the_busiest_descendant() -> None:
    """Kill a pool worker: the descendant that burns the most CPU during a search."""
    pids = _descendants()
    before = {pid: _cpu_ticks([pid]) for pid in pids}
    time.sleep(0.3)
    busiest = max(pids, key=lambda pid: _cpu_ticks([pid]) - before[pid])
    os.kill(busiest, signal.SIGKILL)


def test_a_killed_worker_breaks_one_search_only() -> None:
    cga_generate("fe80::", APPENDIX_A_PK, 1, modifier=bytes(16), workers=2)  # start the pool
    cancel = threading.Event()  # a safety net: without the kill the Sec=2 search would run on
    killer = threading.Timer(0.2, _kill_the_busiest_descendant)
    safety = threading.Timer(10, cancel.set)
    killer.start()
    safety.start()
    with pytest.raises(BrokenProcessPool):
        cga_generate("fe80::", APPENDIX_A_PK, 2, workers=2, cancel=cancel)
    safety.cancel()
    killer.join()
    cga = cga_generate("fe80::", APPENDIX_A_PK, 1, modifier=bytes(16), workers=2)
    assert int.from_bytes(cga.modifier, "big") == _first_qualifying(0, APPENDIX_A_PK, 1)


def test_a_sec_or_a_cga_of_the_wrong_type_is_one_clear_line(kp1024: KeyPair) -> None:
    """sec="1" was "'<=' not supported between instances of 'int' and 'str'"; an address where
    cga_with_prefix wants the CGA was "string argument without an encoding"."""
    with pytest.raises(TypeError, match=r"^Sec is a whole number 0, 1 or 2, not str '1'$"):
        cga_generate("fe80::", APPENDIX_A_PK, "1")  # type: ignore[arg-type]
    cga = cga_generate("2001:db8:1::/64", kp1024, 0)
    with pytest.raises(TypeError) as info:
        cga_with_prefix(cga.address, "2001:db8:2::/64")  # type: ignore[arg-type]
    assert str(info.value) == (
        "cga_with_prefix() takes a Cga (as cga_generate returns it), its CgaParams or their bytes, "
        f"not str {cga.address!r}"
    )
    assert cga_with_prefix(bytearray(cga.params), "2001:db8:2::/64").address == cga_with_prefix(cga, "2001:db8:2::/64").address
