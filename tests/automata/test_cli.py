"""fama-dar and fama-mn: --help, and one-line errors with exit code 2 for bad input."""

from __future__ import annotations

import os

import pytest

from scapy_fama.cli import dar, mn

GOOD_DAR = ["--prefix", "2001:db8:1::/64", "--address", "2001:db8:1::1"]


@pytest.mark.parametrize("command", [dar, mn])
def test_help(command: object, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        command.main(["--help"])  # type: ignore[attr-defined]
    assert exit_.value.code == 0
    assert "--iface" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("command", "argv", "message"),
    [
        (dar, ["--iface", "nope0", *GOOD_DAR], "fama-dar: error: unknown interface 'nope0'"),
        (mn, ["--iface", "nope0", "--sec", "0"], "fama-mn: error: unknown interface 'nope0'"),
        (
            dar,
            ["--iface", "lo", "--prefix", "2001:db8:1::/129", "--address", "2001:db8:1::1"],
            "fama-dar: error: bad prefix '2001:db8:1::/129'",
        ),
        (
            dar,
            ["--iface", "lo", "--prefix", "2001:db8:1::/64", "--address", "2001:db8:9::1"],
            "fama-dar: error: 2001:db8:9::1 must lie in 2001:db8:1::/64",
        ),
        (
            dar,
            ["--iface", "lo", "--prefix", "2001:db8:1::/64", "--address", "nonsense"],
            "fama-dar: error: bad address 'nonsense'",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    command: object, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert command.main(argv) == 2  # type: ignore[attr-defined]
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1, err


@pytest.mark.parametrize(("command", "argv"), [(dar, GOOD_DAR), (mn, ["--sec", "0"])])
def test_not_root_is_one_line_and_exit_2(
    command: object, argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert command.main(["--iface", "lo", *argv]) == 2  # type: ignore[attr-defined]
    assert "error: must run as root" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "port"), [([], None), (["--udp-echo"], 7), (["--udp-echo", "9007"], 9007)]
)
def test_mn_udp_echo_is_off_unless_asked_and_port_7_by_default(argv: list[str], port: int | None) -> None:
    assert mn.parser().parse_args(["--iface", "lo", *argv]).udp_echo == port


@pytest.mark.parametrize("bad", ["0", "65536", "echo"])
def test_mn_udp_echo_refuses_what_is_no_udp_port(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        mn.main(["--iface", "lo", "--udp-echo", bad])
    assert exit_.value.code == 2 and "is not a UDP port" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "coa_test"), [([], False), (["--coa-test"], True)])
def test_mn_coa_test_reaches_the_mn_config(argv: list[str], coa_test: bool) -> None:
    config = mn.config(mn.parser().parse_args(["--iface", "lo", "--keep", "all", "--sec", "0", *argv]))
    assert (config.coa_test, config.keep.value, config.sec) == (coa_test, "all", 0)


def test_mn_coa_test_takes_no_value(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        mn.main(["--iface", "lo", "--coa-test=1"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith("fama-mn: error: argument --coa-test") and err.count("\n") == 1, err
