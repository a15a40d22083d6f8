"""retransmit: RFC 6275 §11.8 back-off (1.5 / 1 s doubling to 32 s) and MAX_UPDATE_RATE."""

from __future__ import annotations

from scapy_fama.proto.retransmit import Backoff, RateWindow


def waits(backoff: Backoff) -> list[float]:
    out = [backoff.wait]
    while backoff.expired():
        out.append(backoff.wait)
    return out


def test_first_registration_starts_at_1_5_s_and_gives_up_after_the_32_s_step() -> None:
    assert waits(Backoff(first_registration=True)) == [1.5, 3, 6, 12, 24, 32]


def test_later_exchanges_start_at_1_s() -> None:
    assert waits(Backoff(first_registration=False)) == [1, 2, 4, 8, 16, 32]


def test_at_most_three_sends_per_second_per_key() -> None:
    window = RateWindow()
    for t in (0.0, 0.1, 0.2):
        assert window.allowed_at("dar1", t) == t
        window.note("dar1", t)
    assert window.allowed_at("dar1", 0.3) == 1.0  # the fourth waits for the first to age out
    assert window.allowed_at("dar2", 0.3) == 0.3  # another peer is not affected
    assert window.allowed_at("dar1", 1.0) == 1.0
    window.note("dar1", 1.0)
    assert window.allowed_at("dar1", 1.05) == 1.1


def test_a_send_held_to_the_end_of_the_window_leaves_room_for_three_only() -> None:
    """1.3 + 1.0 is 2.3 but 2.3 - 1.0 is not 1.3 in floats: the window's own sum decides."""
    window = RateWindow()
    for _ in range(3):
        window.note("dar1", 1.3)
    at = window.allowed_at("dar1", 1.3)
    sent = []
    while len(sent) < 4:
        sent.append(window.allowed_at("dar1", at))
        window.note("dar1", sent[-1])
    assert sent[:3] == [at] * 3 and sent[3] == at + 1.0
