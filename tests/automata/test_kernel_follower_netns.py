"""fama-mn --kernel takes the BA of a move while its kernel is still being brought into line.

The lab of test_kernel_mode (two fama-dar --kernel, the MN on bridge 1, then bridge 2). The
MN runs through a wrapper that holds MnKernel.sync at the move, where the kernel is given the
new CoA while the first address becomes a kept one: as a kernel whose RTM_NEWADDR waits for
its locks would, only longer. The hold ends when the MN's log has the BA from DAR1, or after
HOLD seconds. The BA must end it: the automaton's thread does not wait for the kernel
(automata/follower.py). Then the kernel reaches the move's state all the same: the first
address on the TUN with its rule, the CoA on the link, and a TCP stream from the CN to the first
address, begun before the move, arrives whole (SHA-256) through DAR1's tunnel.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_kernel_mode import DAR1, KernelLab, _missing, _until
from test_netns import built

from scapy_fama.net.kernel import TUN_NAME

pytestmark = pytest.mark.netns

HOLD = 30.0  # seconds the kernel's work for the move is held at most

# fama-mn, its MnKernel.sync held at the move (see the module): `WRAPPER MARKER fama-mn's argv`
WRAPPER = """
import json, sys, time
from pathlib import Path
from scapy_fama.automata.kernel_path import MnKernel
from scapy_fama.cli import mn

marker, sys.argv = Path(sys.argv[1]), [sys.argv[0], *sys.argv[2:]]
log = Path(sys.argv[sys.argv.index("--json-log") + 1])
sync = MnKernel.sync

def ba_handled():
    return any(r.get("dir") == "in" and r.get("kind") == "BA"
               for r in (json.loads(line) for line in log.read_text().splitlines() if line.endswith("}")))

def held(self, native, gateway, kept, tunnels, optimistic=False):
    if kept and native is not None and native != self.native and not marker.exists():  # the move
        deadline = time.monotonic() + HOLD
        while not ba_handled() and time.monotonic() < deadline:
            time.sleep(0.01)
        marker.write_text("BA" if ba_handled() else "the deadline")
    sync(self, native, gateway, kept, tunnels, optimistic)

MnKernel.sync = held
sys.exit(mn.main())
""".replace("HOLD", repr(HOLD))


@pytest.fixture
def klab(tmp_path: Path) -> Iterator[KernelLab]:
    yield from built(KernelLab(tmp_path), _missing())


def test_the_ba_of_a_move_is_taken_while_the_kernel_follows_the_move(klab: KernelLab) -> None:
    klab.start("dar1", "d1", "dar", "--prefix", "2001:db8:1::/64", "--address", DAR1, "--kernel")
    klab.start("dar2", "d2", "dar", "--prefix", "2001:db8:2::/64", "--address", "2001:db8:2::1", "--kernel")
    wrapper, marker = klab.tmp / "held_mn.py", klab.tmp / "held.txt"
    wrapper.write_text(WRAPPER)
    command = [
        "ip", "netns", "exec", klab.ns("mn"), sys.executable, str(wrapper), str(marker),
        "--iface", "fama-mn", "--name", "mn", "--json-log", str(klab.tmp / "mn.json"),
        "--log", str(klab.tmp / "mn.log"), "--kernel", "--keep", "all", "--key", str(klab.tmp / "mn.pem"),
    ]  # fmt: skip
    with open(klab.tmp / "mn.err", "wb") as err:
        klab.processes["mn"] = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)
    home = str(klab.wait("mn", dir="event", kind="address-configured")["address"])
    _until(lambda: home in klab.shows("mn", "-6", "addr", "show", "dev", "fama-mn"), "the kernel has it")

    klab.stream(home, 150)  # 8 KiB every 20 ms, over the move
    klab.move(2)
    _until(marker.exists, "the kernel's work for the move began", timeout=HOLD + 20)
    assert marker.read_text() == "BA", klab.diagnosis("mn")  # not the deadline: nothing waited for the kernel
    ba = klab.wait("mn", dir="in", kind="BA")
    assert (ba["status"], ba["hoa"], ba["src"]) == (0, home, DAR1)
    coa = ba["dst"]

    def rules() -> str:
        return klab.shows("mn", "-6", "rule")

    _until(lambda: f"from {home} lookup 100" in rules(), "the kept address's rule")
    _until(lambda: f"{home}/128" in klab.shows("mn", "-6", "addr", "show", "dev", TUN_NAME), "it on the TUN")
    _until(lambda: f"{coa}/64" in klab.shows("mn", "-6", "addr", "show", "dev", "fama-mn"), "the CoA on the link")

    klab.streamed(150)  # all of it, byte for byte: the rest came through DAR1's tunnel
    assert not [r for r in klab.records("mn") if r["dir"] == "error"], klab.diagnosis("mn")
    klab.stop_roles(home, coa)
