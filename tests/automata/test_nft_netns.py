"""Kernel mode's nftables table ``ip6 fama``, installed and removed by the roles themselves (root).

    fama-f-<id>-n: fama-n0 ==veth== fama-n1    the access link of a role (both ends in the namespace)
                   fama-n2 ==veth== fama-n3    a second role's

A role started with ``--kernel`` in a namespace without the table installs it (the kernel's own
listing, ``nft list tables ip6``, shows it while the role runs) and removes it when it stops on
SIGTERM or SIGINT, also while it starts; a start that fails after the install removes it too (``nft monitor`` saw it come
and go). A table that was there before (the lab's, one loaded by hand) is left as it was, and a
second role that fails in a namespace where the first one installed the table leaves it to the
first (the set ``roles`` holds only the first one's pid), which removes it at its exit (the
ownership rule of scapy_fama.net.kernel). Without nft on PATH the role warns in one line and runs;
``--no-nft`` leaves nftables alone, without a warning.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from test_kernel_mode import _missing
from test_netns import Lab, built

from scapy_fama.net.kernel import NFT_COMMAND, nft_install

pytestmark = pytest.mark.netns
DEADLINE = 60.0  # seconds: a role imports Scapy in about one, much slower on a loaded machine
POLL = 0.1
DAR = ("dar", "--prefix", "2001:db8:1::/64", "--address", "2001:db8:1::1", "--kernel")
MN = ("mn", "--kernel", "--sec", "0")


def _until(check: Callable[[], bool], what: str, poll: float = POLL) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < deadline, f"not within {DEADLINE:g} s: {what}"
        time.sleep(poll)


@dataclass
class NftLab(Lab):
    tag: str = field(default_factory=lambda: f"fama-f-{os.getpid() % 100000}")

    def build(self) -> None:
        self.run("ip", "netns", "add", self.ns("n"))
        self.namespaces.append(self.ns("n"))
        self.ip("n", "link", "set", "lo", "up")
        for a, b in (("fama-n0", "fama-n1"), ("fama-n2", "fama-n3")):
            self.ip("n", "link", "add", a, "type", "veth", "peer", "name", b)
            self.ip("n", "link", "set", a, "up")
            self.ip("n", "link", "set", b, "up")

    def role(self, name: str, iface: str, module: str, *argv: str, path: str | None = None) -> None:
        """``module`` (fama-dar or fama-mn) on ``iface``, with PATH ``path`` if one is given."""
        command = [
            str(shutil.which("ip")), "netns", "exec", self.ns("n"), sys.executable, "-m", f"scapy_fama.cli.{module}",
            "--iface", iface, "--name", name, "--json-log", str(self.tmp / f"{name}.json"),
            "--log", str(self.tmp / f"{name}.log"), *argv,
        ]  # fmt: skip
        env = os.environ if path is None else {**os.environ, "PATH": path}
        with open(self.tmp / f"{name}.err", "wb") as err:
            self.processes[name] = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, env=env)

    def nft(self, *argv: str) -> str:
        done = subprocess.run(["ip", "netns", "exec", self.ns("n"), "nft", *argv], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def has_table(self) -> bool:
        return "table ip6 fama" in self.nft("list", "tables", "ip6").splitlines()

    def roles_set(self) -> list[int]:
        """The pids in the table's set ``roles``, from nft's JSON."""
        listed = json.loads(self.nft("-j", "list", "set", "ip6", "fama", "roles"))["nftables"]
        return sorted(next(item["set"] for item in listed if "set" in item).get("elem", []))

    def err(self, name: str) -> list[str]:
        """The role's stderr but fama-dar's warning that the namespace does not forward: the DAR and
        the MN share one here, and an MN's must not (tests/automata/test_cli.py has that warning)."""
        lines = (self.tmp / f"{name}.err").read_text().splitlines()
        return [line for line in lines if not line.startswith("fama-dar: warning: the kernel does not forward on ")]

    def stopped(self, name: str, sig: int) -> None:
        """Stop ``name`` with ``sig``: exit 0, its log ending with STOPPED."""
        assert self.stop(name, sig) == 0, self.diagnosis(name)
        assert self.records(name)[-1]["kind"] == "STOPPED", self.diagnosis(name)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[NftLab]:
    yield from built(NftLab(tmp_path), _missing())


@pytest.mark.parametrize(("role", "sig"), [(DAR, signal.SIGTERM), (MN, signal.SIGINT)], ids=["dar-SIGTERM", "mn-SIGINT"])
def test_a_role_installs_the_missing_table_and_removes_it_at_exit(lab: NftLab, role: tuple[str, ...], sig: int) -> None:
    assert not lab.has_table()
    lab.role("r", "fama-n0", *role)
    _until(lab.has_table, "nft list tables ip6 shows table ip6 fama")
    assert lab.wait("r", kind="nft-table")["state"] == "installed"
    assert lab.roles_set() == [lab.processes["r"].pid]  # ip netns exec became the role
    ruleset = lab.nft("list", "table", "ip6", "fama")
    assert "icmpv6 type parameter-problem drop" in ruleset and "ip6 nexthdr ipv6 drop" in ruleset
    lab.stopped("r", sig)
    assert not lab.has_table()
    assert lab.err("r") == []


def test_sigterm_while_the_role_starts_leaves_no_table(lab: NftLab) -> None:
    lab.role("r", "fama-n0", *DAR)
    _until(lab.has_table, "nft list tables ip6 shows table ip6 fama", poll=0.005)
    code = lab.stop("r", signal.SIGTERM)  # most often in the warm-up or the TUN's set-up (exit 130)
    assert (code, lab.err("r")) in ((130, ["fama-dar: interrupted"]), (0, [])), lab.diagnosis("r")
    assert not lab.has_table()


def test_a_start_that_fails_after_the_install_removes_the_table(lab: NftLab) -> None:
    lab.ip("n", "link", "add", "fama-tun", "type", "veth", "peer", "name", "fama-tunp")  # no TUN of that name
    monitor = subprocess.Popen(
        ["ip", "netns", "exec", lab.ns("n"), "nft", "monitor", "tables"], stdout=subprocess.PIPE, text=True
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in monitor.stdout or ()], daemon=True).start()
    try:
        lab.nft("add", "table", "ip6", "probe")  # the monitor listens once it reports this one
        assert lines.get(timeout=DEADLINE).split() == ["add", "table", "ip6", "probe"]
        lab.nft("delete", "table", "ip6", "probe")
        lab.role("r", "fama-n0", *DAR)
        assert lab.processes["r"].wait(DEADLINE) == 2
        assert lab.err("r") == ["fama-dar: error: cannot create the TUN device fama-tun: Invalid argument"]
        seen = [lines.get(timeout=DEADLINE).split() for _ in range(3)]
    finally:
        monitor.terminate()
        monitor.wait()
    assert [" ".join(words[1:]) for words in seen] == ["table ip6 probe", "table ip6 fama", "table ip6 fama"]
    assert [words[0] for words in seen] in (["delete", "add", "delete"], ["delete", "create", "delete"])
    assert not lab.has_table()


def test_a_table_someone_else_installed_stays(lab: NftLab) -> None:
    nft_install(lab.ns("n"))  # as fama-lab up does
    before = lab.nft("list", "table", "ip6", "fama")
    lab.role("r", "fama-n0", *DAR)
    assert lab.wait("r", kind="nft-table")["state"] == "present"
    lab.stopped("r", signal.SIGTERM)
    assert lab.nft("list", "table", "ip6", "fama") == before
    assert lab.err("r") == []


def test_a_second_role_leaves_the_first_ones_table(lab: NftLab) -> None:
    lab.role("first", "fama-n0", *DAR)
    assert lab.wait("first", kind="nft-table")["state"] == "installed"
    lab.role("second", "fama-n2", *MN)  # shares the table, then fails: fama-tun is the first one's
    assert lab.processes["second"].wait(DEADLINE) == 2
    assert lab.err("second") == ["fama-mn: error: cannot create the TUN device fama-tun: Device or resource busy"]
    assert lab.roles_set() == [lab.processes["first"].pid]
    lab.stopped("first", signal.SIGTERM)
    assert not lab.has_table()


def _path_without_nft(tmp: Path) -> str:
    """This PATH with nft taken out: each folder holding one is replaced by one of links to the rest
    of it (/sbin and /usr/sbin may both be on PATH, one a link to the other)."""
    folders = []
    for number, folder in enumerate(Path(p) for p in os.environ["PATH"].split(os.pathsep)):
        if (folder / "nft").exists():
            masked = tmp / f"bin{number}"
            masked.mkdir()
            for tool in folder.iterdir():
                if tool.name != "nft":
                    (masked / tool.name).symlink_to(tool)
            folder = masked
        folders.append(str(folder))
    return os.pathsep.join(folders)


@pytest.mark.parametrize("nft", ["not on PATH", "--no-nft"])
def test_without_the_table_the_role_runs(lab: NftLab, nft: str) -> None:
    if nft == "--no-nft":
        lab.role("r", "fama-n0", *DAR, "--no-nft")
        expected = {"state": "off", "why": "--no-nft"}
    else:
        lab.role("r", "fama-n0", *DAR, path=_path_without_nft(lab.tmp))
        expected = {"state": "missing", "why": "nft not found (install nftables)"}
    record = lab.wait("r", kind="nft-table")
    assert {key: record.get(key) for key in expected} == expected
    lab.wait("r", dir="out", kind="RA")  # it serves
    warnings = lab.err("r")
    if nft == "--no-nft":
        assert warnings == []
    else:
        assert len(warnings) == 1 and warnings[0].startswith("fama-dar: warning: cannot install the nftables table"), warnings
        assert "ICMPv6 Parameter Problems" in warnings[0] and "install nftables" in warnings[0]
        assert warnings[0].endswith(NFT_COMMAND)
    assert not lab.has_table()
    lab.stopped("r", signal.SIGTERM)
    assert lab.err("r") == warnings
