"""seqno: RFC 6275 §9.5.1 modular comparison, at the 32768 and 65535 wraps."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from scapy_fama.proto.seqno import seq_add, seq_distance, seq_newer

seqs = st.integers(0, 65535)


def test_the_rfc_example_for_last_15() -> None:
    # RFC 6275 §9.5.1: with l = 15, both 0..15 and 32783..65535 are "less than or equal"
    assert not any(seq_newer(s, 15) for s in range(0, 16))
    assert not any(seq_newer(s, 15) for s in range(32783, 65536))
    assert all(seq_newer(s, 15) for s in range(16, 32783))


def test_the_half_way_point() -> None:
    assert seq_newer(32767, 0) and not seq_newer(32768, 0)
    assert seq_newer(0, 32769) and not seq_newer(0, 32768)  # 0 - 32768 = 32768: not newer


def test_the_65535_wrap() -> None:
    assert seq_add(65535) == 0 and seq_add(65530, 10) == 4
    assert seq_newer(0, 65535) and seq_newer(4, 65530) and not seq_newer(65535, 0)
    assert seq_distance(2, 65534) == 4


@given(seqs, seqs)
def test_exactly_one_of_newer_older_or_equal_or_opposite(s: int, last: int) -> None:
    forward, backward = seq_newer(s, last), seq_newer(last, s)
    assert not (forward and backward)
    assert forward or backward or s == last or (s - last) % 65536 == 32768


@given(seqs, st.integers(1, 32767))
def test_adding_up_to_32767_is_always_newer(s: int, n: int) -> None:
    assert seq_newer(seq_add(s, n), s)
    assert seq_distance(seq_add(s, n), s) == n
