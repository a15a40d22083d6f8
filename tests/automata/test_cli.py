"""fama-dar and fama-mn: --help, one-line errors with exit code 2 for bad input, and kernel mode's
nftables table (kernel_table, with nft_claim and nft_release stood in for)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

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
        (dar, ["--iface", "nope0", *GOOD_DAR], "fama-dar: error: --iface nope0: no such interface"),
        (mn, ["--iface", "nope0", "--sec", "0"], "fama-mn: error: --iface nope0: no such interface"),
        (
            dar,
            ["--iface", "lo", "--prefix", "2001:db8:1::/129", "--address", "2001:db8:1::1"],
            "fama-dar: error: --prefix 2001:db8:1::/129: ",
        ),
        (
            dar,
            ["--iface", "lo", "--prefix", "2001:db8:1::/64", "--address", "2001:db8:9::1"],
            "fama-dar: error: 2001:db8:9::1 must lie in 2001:db8:1::/64",
        ),
        (
            dar,  # it said "2001:db8:1::1 must lie in 2001:db8:1::/48, a /64", of an address that did
            ["--iface", "lo", "--prefix", "2001:db8:1::/48", "--address", "2001:db8:1::1"],
            "fama-dar: error: the DAR's prefix is a /64 (profile §1), not 2001:db8:1::/48",
        ),
        (
            dar,
            ["--iface", "lo", "--prefix", "2001:db8:1::/64", "--address", "nonsense"],
            "fama-dar: error: --address nonsense: ",
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


def test_the_profile_s_fast_attachment_is_the_default_and_each_rfc_timer_a_switch_away() -> None:
    """Profile §2 and §9 against RFC 4861 §6.3.7 (MAX_RTR_SOLICITATION_DELAY 1 s), §6.2.6
    (MAX_RA_DELAY_TIME 0.5 s, MIN_DELAY_BETWEEN_RAS 3 s), RFC 6275 §7.5 (a mobility router's 30 ms
    floor) and RFC 4862 §5.4 (a tentative address is not used), the numbers typed from the RFCs."""
    fast_mn = mn.config(mn.parser().parse_args(["--iface", "lo"]))
    rfc_mn = mn.config(mn.parser().parse_args(["--iface", "lo", "--no-optimistic", "--rs-delay", "1"]))
    assert (fast_mn.optimistic, fast_mn.rs_delay) == (True, 0.0)
    assert (rfc_mn.optimistic, rfc_mn.rs_delay) == (False, 1.0)
    fast_dar = dar.config(dar.parser().parse_args(["--iface", "lo", *GOOD_DAR]))
    rfc_dar = dar.config(dar.parser().parse_args(["--iface", "lo", *GOOD_DAR, "--ra-delay", "0.5",
                                                  "--min-delay-between-ras", "3"]))  # fmt: skip
    assert (fast_dar.ra_delay, fast_dar.min_delay_between_ras) == (0.0, 0.03)
    assert (rfc_dar.ra_delay, rfc_dar.min_delay_between_ras) == (0.5, 3.0)


@pytest.mark.parametrize(
    ("command", "argv", "error"),
    [
        (mn, ["--rs-delay", "-0.1"], "fama-mn: error: argument --rs-delay: must be 0 to 10: '-0.1'"),
        (mn, ["--rs-delay", "nan"], "fama-mn: error: argument --rs-delay: "),
        (dar, [*GOOD_DAR, "--ra-delay", "11"], "fama-dar: error: argument --ra-delay: must be 0 to 10: '11'"),
        (dar, [*GOOD_DAR, "--min-delay-between-ras", "0"], "fama-dar: error: argument --min-delay-between-ras: "),
    ],
)
def test_attachment_timers_out_of_range_are_one_line(
    command: object, argv: list[str], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        command.main(["--iface", "lo", *argv])  # type: ignore[attr-defined]
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith(error) and err.count("\n") == 1, err


@pytest.mark.parametrize(("argv", "keep"), [([], "flows"), (["--kernel"], "all"), (["--kernel", "--keep", "none"], "none")])
def test_mn_keeps_all_by_default_in_kernel_mode(argv: list[str], keep: str) -> None:
    """--keep flows sees no kernel socket: a connection on the first address died at the first move."""
    assert mn.config(mn.parser().parse_args(["--iface", "lo", *argv])).keep.value == keep


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--keep", "flows"], "fama-mn: error: --keep flows does not combine with --kernel (it sees no kernel socket): "),
        (["--udp-echo"], "fama-mn: error: --udp-echo does not combine with --kernel (the kernel owns the addresses: "),
    ],
)
def test_mn_kernel_mode_refuses_what_it_cannot_do(argv: list[str], error: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        mn.main(["--iface", "lo", "--kernel", *argv])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith(error) and err.count("\n") == 1, err


def test_mn_coa_test_takes_no_value(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        mn.main(["--iface", "lo", "--coa-test=1"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith("fama-mn: error: argument --coa-test") and err.count("\n") == 1, err


def _kernel_args(*argv: str) -> argparse.Namespace:
    return dar.parser().parse_args(["--iface", "lo", *GOOD_DAR, "--kernel", *argv])


def test_a_role_without_nft_warns_in_one_line_and_runs_on(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def claim(pid: int) -> str:
        raise OSError("nft not found (install nftables)")

    monkeypatch.setattr(dar, "nft_claim", claim)
    monkeypatch.setattr(dar, "nft_release", lambda pid: pytest.fail("released a table it does not hold"))
    with dar.kernel_table("fama-dar", _kernel_args()) as fields:
        assert fields == {"state": "missing", "why": "nft not found (install nftables)"}
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("fama-dar: warning: cannot install the nftables table ip6 fama")
    assert "Parameter Problems" in err and "install nftables" in err and err.rstrip().endswith("}'")


@pytest.mark.parametrize(("state", "released"), [("installed", True), ("shared", True), ("present", False)])
def test_a_failed_start_releases_the_table_it_claimed(
    state: str, released: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    monkeypatch.setattr(dar, "nft_claim", lambda pid: state)
    monkeypatch.setattr(dar, "nft_release", calls.append)
    with pytest.raises(OSError, match="no TUN"), dar.kernel_table("fama-dar", _kernel_args()):
        raise OSError("no TUN")
    assert calls == ([os.getpid()] if released else [])


@pytest.mark.parametrize(("argv", "fields"), [(["--no-nft"], {"state": "off", "why": "--no-nft"}), ([], {})])
def test_no_nft_or_no_kernel_mode_leaves_nftables_alone(
    argv: list[str], fields: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dar, "nft_claim", lambda pid: pytest.fail("nft used"))
    args = dar.parser().parse_args(["--iface", "lo", *GOOD_DAR, *(["--kernel"] if argv else []), *argv])
    with dar.kernel_table("fama-dar", args) as found:
        assert found == fields


@pytest.mark.parametrize(
    ("kernel", "owns", "forwards", "starts"),
    [
        (False, False, False, []),
        (False, True, False, ["the kernel owns 2001:db8:1::1 on lo: "]),
        (False, False, True, ["the kernel forwards on lo (net.ipv6.conf.lo.forwarding=1): "]),
        (False, True, True, ["the kernel owns 2001:db8:1::1 on lo: ", "the kernel forwards on lo "]),
        (True, True, True, []),
        (True, False, False, ["the kernel does not forward on lo (net.ipv6.conf.lo.forwarding=0): in kernel mode "]),
    ],
)
def test_fama_dar_names_a_kernel_that_works_against_its_mode(
    kernel: bool, owns: bool, forwards: bool, starts: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --kernel the kernel must neither own the DAR's address nor forward; with it, it must
    forward: a kernel-mode DAR in a namespace that does not forward routed nothing and its kernel's
    NAs said R=0 (RFC 4861 §4.4), silently."""
    monkeypatch.setattr(dar, "_kernel_owns", lambda iface, address: owns)
    monkeypatch.setattr(dar, "_kernel_forwards", lambda iface: forwards)
    args = dar.parser().parse_args(["--iface", "lo", *GOOD_DAR, *(["--kernel"] if kernel else [])])
    lines = dar.start_warnings(args, "2001:db8:1::1")
    assert len(lines) == len(starts) and all(line.startswith(start) for line, start in zip(lines, starts)), lines
    assert all("\n" not in line for line in lines)


@pytest.mark.netns
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a network namespace")
def test_the_forwarding_a_kernel_mode_dar_needs_is_read_from_the_namespace_s_kernel() -> None:
    """In a new namespace IPv6 forwarding is off (its kernel's default): a kernel-mode DAR there is
    warned; once net.ipv6.conf.all.forwarding=1 it is not."""
    ns = f"fama-fwd-{os.getpid()}"
    ask = ("import sys; from scapy_fama.cli import dar; "
           "print(len(dar.start_warnings(dar.parser().parse_args(sys.argv[1:]), '2001:db8:1::1')))")  # fmt: skip
    warned = ["ip", "netns", "exec", ns, sys.executable, "-c", ask, "--iface", "lo", *GOOD_DAR, "--kernel"]
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        assert subprocess.run(warned, capture_output=True, text=True, check=True).stdout == "1\n"
        subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"], check=True)
        assert subprocess.run(warned, capture_output=True, text=True, check=True).stdout == "0\n"
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
