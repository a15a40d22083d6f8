"""The warm-up a role runs before it serves (automata/warm.py): a whole exchange in memory whose
answers are checked, so that a cryptography backend answering wrong stops the role with one line."""

from __future__ import annotations

import pytest
from cryptography.exceptions import UnsupportedAlgorithm

from scapy_fama.automata import warm
from scapy_fama.cli import dar as dar_cli
from scapy_fama.crypto import PhktError


def test_the_warm_up_runs_whole_exchanges_and_says_how_long() -> None:
    assert warm.warm_up(rounds=1) > 0


def test_a_phkt_that_decrypts_to_the_wrong_token_fails_the_self_test(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(warm, "decrypt_phkt", lambda key, ciphertext: bytes(8))  # not the token the DAR drew
    with pytest.raises(warm.WarmUpError, match="BU seq 2 got"):  # the PHKT BU's BAD is refused
        warm.warm_up(rounds=1)


def test_a_phkt_that_does_not_decrypt_fails_the_self_test(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(key: object, ciphertext: bytes) -> bytes:
        raise PhktError("decryption failed")

    monkeypatch.setattr(warm, "decrypt_phkt", broken)
    with pytest.raises(warm.WarmUpError, match="does not decrypt"):
        warm.warm_up(rounds=1)


def test_a_role_whose_self_test_fails_stops_with_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def failing() -> float:
        raise warm.WarmUpError("warm-up: BU seq 1 got [], not one BA 0")

    monkeypatch.setattr(dar_cli, "warm_up", failing)
    monkeypatch.setattr(dar_cli, "require_root", lambda: None)
    code = dar_cli.main(["--iface", "lo", "--prefix", "2001:db8:1::/64", "--address", "2001:db8:1::1"])
    err = capsys.readouterr().err
    assert code == 2 and err == "fama-dar: error: warm-up: BU seq 1 got [], not one BA 0\n"


def test_what_the_backend_raises_on_the_way_fails_the_self_test_with_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    def unsupported(*args: object, **kwargs: object) -> bytes:
        raise UnsupportedAlgorithm("RSA encryption is not supported by this backend")

    monkeypatch.setattr("scapy_fama.proto.dar.encrypt_phkt", unsupported)  # the DAR issuing the PHKT
    monkeypatch.setattr(dar_cli, "require_root", lambda: None)
    code = dar_cli.main(["--iface", "lo", "--prefix", "2001:db8:1::/64", "--address", "2001:db8:1::1"])
    err = capsys.readouterr().err
    assert code == 2
    assert err == "fama-dar: error: warm-up: UnsupportedAlgorithm: RSA encryption is not supported by this backend\n"
