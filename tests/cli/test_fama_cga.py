"""fama-cga as a user runs it: exit codes, one-line errors, the sendd test vectors."""

from __future__ import annotations

import json
import os
import resource
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# SOURCES.md: the addresses sendd's parameter files verify to
VECTORS = {
    "sendd_rfc3972_example.params": "fe80::3c4a:5bf6:ffb4:ca6c",
    "sendd_mn1.cga.params": "2003::3049:deeb:fd31:70b0",
    "sendd_mn2.cga.params": "2003::206d:250:e986:4ab4",
}


def fama_cga(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """``fama-cga ARGS`` with stdout to a pipe and no COLUMNS (readline in the test process may
    have put its terminal's 80 in the environment the command inherits)."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    return subprocess.run(
        [sys.executable, "-m", "scapy_fama.cli.cga", *map(str, args)], capture_output=True, text=True, timeout=120, env=env
    )


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_verify_sendd_vectors(shared_pcaps: Path, name: str) -> None:
    out = fama_cga("verify", VECTORS[name], shared_pcaps / "cga" / name, "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["valid"] is True


def test_verify_wrong_address_is_negative(shared_pcaps: Path) -> None:
    out = fama_cga("verify", "2003::3049:deeb:fd31:70b1", shared_pcaps / "cga" / "sendd_mn1.cga.params")
    assert out.returncode == 1 and "NOT a CGA" in out.stdout


def test_show_rfc_example(shared_pcaps: Path) -> None:
    out = fama_cga("show", shared_pcaps / "cga" / "sendd_rfc3972_example.params", "--json")
    info = json.loads(out.stdout)
    # RFC 3972 Appendix A: RSA-512 key, Hash1 fd4a5bf6ffb4ca6c, Hash2 000001ca680b83888d0912dffcce
    assert info["public_key"] == {"algorithm": "rsaEncryption", "bits": 512, "der_length": 94}
    assert info["hash1"] == "fd4a5bf6ffb4ca6c" and info["hash2"] == "000001ca680b83888d0912dffcce"
    assert info["subnet_prefix"] == "fe80::/64" and info["max_sec"] == 1


def test_gen_then_verify(tmp_path: Path) -> None:
    gen = fama_cga("gen", "--prefix", "2001:db8:7::/64", "--sec", "1", "--key", tmp_path / "k.pem",
                   "--out", tmp_path / "k.params", "--json")
    assert gen.returncode == 0, gen.stderr
    address = json.loads(gen.stdout)["address"]
    assert address.startswith("2001:db8:7:0:") and (tmp_path / "k.pem").exists()
    assert fama_cga("verify", address, tmp_path / "k.params").returncode == 0
    again = fama_cga("gen", "--prefix", "2001:db8:8::/64", "--sec", "0", "--key", tmp_path / "k.pem", "--json")
    assert "new RSA" not in again.stdout  # the existing key was reused


@pytest.mark.parametrize(
    "args, message",
    [
        (("show", "/etc/hostname"), "CGA Parameters"),
        (("show", "/nonexistent/file"), "fama-cga: error: /nonexistent/file: No such file or directory"),  # no [Errno 2]
        (("show", "/"), "fama-cga: error: /: Is a directory"),
        (("gen", "--prefix", "2001:db8::/48"), "/64"),
        # the host bits were dropped without a word: a CGA of 2001:db8:1::/64 for what was asked
        (("gen", "--prefix", "2001:db8:1::5/64"),
         ("--prefix '2001:db8:1::5/64': host bits set; the /64 prefix is 2001:db8:1::/64")),
        (("gen", "--prefix", "nonsense"), "nonsense"),
        (("gen", "--prefix", "2001:db8::/64", "--bits", "2048"), "255"),
    ],
)
def test_bad_input_is_one_clear_line(args: tuple[str, ...], message: str) -> None:
    out = fama_cga(*args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fama-cga: error:") and message in lines[0]
    assert "Traceback" not in out.stderr


def test_a_bad_prefix_writes_no_key(tmp_path: Path) -> None:
    """The key was created and saved before the prefix was read."""
    out = fama_cga("gen", "--prefix", "2001:db8::/48", "--key", str(tmp_path / "new.pem"))
    assert out.returncode == 2 and "/64" in out.stderr
    assert not (tmp_path / "new.pem").exists() and "new RSA" not in out.stdout


def test_a_key_that_is_not_kept_is_said_so() -> None:
    """Without --key the new key was dropped without a word: nothing could ever sign for the address."""
    out = fama_cga("gen", "--prefix", "2001:db8:7::/64", "--sec", "0", "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["address"].startswith("2001:db8:7:0:")
    assert out.stderr == ("fama-cga: note: the new RSA-1024 key was not saved, so nothing can sign for this "
                          "address; --key FILE keeps it\n")


def test_a_kept_key_gets_no_note(tmp_path: Path) -> None:
    out = fama_cga("gen", "--prefix", "2001:db8:7::/64", "--sec", "0", "--key", tmp_path / "k.pem")
    assert out.returncode == 0 and (tmp_path / "k.pem").exists()
    assert "note" not in out.stderr


def _sec_2_search(tmp_path: Path) -> subprocess.Popen[str]:
    """``fama-cga gen --sec 2`` in a session of its own (its workers with it), Ctrl-C taken as at a terminal."""
    return subprocess.Popen(
        [sys.executable, "-m", "scapy_fama.cli.cga", "gen", "--prefix", "2001:db8:7::/64", "--sec", "2",
         "--key", str(tmp_path / "k.pem")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
        # a shell's background job (.ci/run under nohup or &) ignores SIGINT, and so would the child
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip


def _announced(proc: subprocess.Popen[str]) -> str:
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stderr, selectors.EVENT_READ)  # type: ignore[arg-type]
        assert sel.select(timeout=120), "no word from fama-cga --sec 2"
    return proc.stderr.readline()  # type: ignore[union-attr]


def _interrupted(proc: subprocess.Popen[str]) -> str:
    """Ctrl-C, then what fama-cga said; its whole session is killed if it is not gone within 120 s
    (a search left behind holds the stderr pipe and both cores for the rest of the suite)."""
    proc.send_signal(signal.SIGINT)
    try:
        return proc.communicate(timeout=120)[1]
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the session: workers that outlived it too
        except ProcessLookupError:
            pass
        proc.wait()


def test_a_sec_2_search_is_announced_before_it_starts(tmp_path: Path) -> None:
    """--sec 2 searched for minutes to hours without a word; RFC 3972 §4: 2^(16*Sec) = 2^32 trials expected."""
    proc = _sec_2_search(tmp_path)
    try:
        line = _announced(proc)
    finally:
        rest = _interrupted(proc)
    assert line == ("fama-cga: note: Sec 2: about 4,294,967,296 Hash2 trials expected (2^32, RFC 3972 §4), "
                    "minutes to hours; Ctrl-C stops the search\n")
    assert proc.returncode == 130 and rest == "fama-cga: interrupted\n"


@pytest.mark.parametrize("after", [0.0, 0.005, 0.02, 0.1, 0.3])
def test_ctrl_c_while_the_workers_start_stops_all_of_it(tmp_path: Path, after: float) -> None:
    """Ctrl-C right after the note, while the worker pool starts: KeyboardInterrupt raised inside
    the pool's start left fama-cga waiting at exit for workers nobody had stopped (the suite hung
    on it under load). The search must end, its workers with it, and say so in one line."""
    proc = _sec_2_search(tmp_path)
    try:
        _announced(proc)
        time.sleep(after)  # where the Ctrl-C falls: the instants of the pool's start
    finally:
        rest = _interrupted(proc)
    assert (proc.returncode, rest) == (130, "fama-cga: interrupted\n")
@pytest.mark.parametrize("flag", ["--key", "--out"])
def test_an_output_that_cannot_be_written_is_refused_before_the_search(flag: str) -> None:
    """--out in a missing folder failed after the search (and after writing a new key)."""
    out = fama_cga("gen", "--prefix", "2001:db8:7::/64", "--sec", "0", flag, "/nonexistent/x")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr == f"fama-cga: error: {flag} /nonexistent/x: no such directory /nonexistent\n"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_a_failed_write_names_the_flag_and_path(tmp_path: Path) -> None:
    """It said "[Errno 28] No space left on device" and no path."""
    out = fama_cga("gen", "--prefix", "2001:db8:7::/64", "--sec", "0", "--key", tmp_path / "k.pem",
                   "--out", "/dev/full")
    assert out.returncode == 2
    assert out.stderr.splitlines()[-1] == "fama-cga: error: --out /dev/full: No space left on device"


def _limit_memory() -> None:  # before the fix the key file was read whole: bounded, it fails, the machine lives
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_an_endless_key_file_is_refused() -> None:
    """--key /dev/zero read without end until the kernel killed fama-cga (24 GB, exit 137)."""
    out = subprocess.run([sys.executable, "-m", "scapy_fama.cli.cga", "gen", "--prefix", "2001:db8:7::/64",
                          "--sec", "0", "--key", "/dev/zero"], capture_output=True, text=True, timeout=120,
                         preexec_fn=_limit_memory, check=False)
    assert out.returncode == 2
    assert out.stderr == "fama-cga: error: --key /dev/zero: not a PEM private key (more than 65536 bytes)\n"


def test_piped_output_is_whole_lines(tmp_path: Path) -> None:
    """In a pipe gen's Sec 1 search left a blank line before the address (its progress bar, gone),
    and verify's refusal was cut at 80 columns: the README's width rule (COLUMNS, else 160)."""
    key = tmp_path / "k.pem"
    assert fama_cga("gen", "--prefix", "2001:db8:7::/64", "--sec", "0", "--key", key).returncode == 0
    gen = fama_cga("gen", "--prefix", "2001:db8:7::/64", "--sec", "1", "--key", key, "--out", tmp_path / "k.params")
    address, written = gen.stdout.splitlines()
    assert address.startswith("2001:db8:7:0:") and written == f"parameters (187 bytes) written to {tmp_path / 'k.params'}"
    refused = fama_cga("verify", "2001:db8:7::1", tmp_path / "k.params")
    (line,) = refused.stdout.splitlines()
    assert refused.returncode == 1 and len(line) > 80
    assert line.startswith("NOT a CGA of these parameters: Hash1 ") and line.endswith(
        " does not match the interface identifier 0000000000000001")
