"""fama-mn --kernel at SIGTERM: the binding it holds at its old DAR is de-registered before it stops,
and with --keep-bindings-at-exit it is not (profile §3, §4; proto/leaving.py).

The bed of test_kernel_mode.py: fama-dar --kernel in d1 and d2, fama-mn --kernel --keep all,
first on DAR 1's link, then moved to DAR 2's, so DAR 1 binds the MN's first address to the CoA
and its kernel routes that address into ``fama-tun``. Then fama-mn gets SIGTERM. The truth is
DAR 1's: its log (``binding-deleted``) and its kernel's route for the address.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_kernel_mode import DAR1, KernelLab, _missing, _until
from test_netns import built

from scapy_fama.net.kernel import TUN_NAME

pytestmark = pytest.mark.netns


@pytest.fixture
def klab(tmp_path: Path) -> Iterator[KernelLab]:
    yield from built(KernelLab(tmp_path), _missing())


def bound_away(klab: KernelLab, *mn_argv: str) -> tuple[str, str]:
    """The MN registered at DAR 1 from DAR 2's link; its first address and its CoA."""
    home = klab.roles(*mn_argv)
    klab.move(2)
    ba = klab.wait("mn", dir="in", kind="BA", src=DAR1, status=0)
    klab.wait("mn", dir="state", kind="BOUND")
    _until(lambda: TUN_NAME in tunnelled(klab, home), "DAR 1's kernel routes the address into the tunnel")
    return home, ba["dst"]


def tunnelled(klab: KernelLab, address: str) -> str:
    return klab.shows("d1", "-6", "route", "show", f"{address}/128")


def test_at_sigterm_the_old_dar_s_binding_and_route_are_gone(klab: KernelLab) -> None:
    home, coa = bound_away(klab)
    assert klab.stop("mn", signal.SIGTERM) == 0, klab.diagnosis("mn")  # its BA, not the deadline, ends it:
    deleted = klab.wait("dar1", dir="event", kind="binding-deleted")
    assert (deleted["hoa"], deleted["coa"]) == (home, coa)
    _until(lambda: TUN_NAME not in tunnelled(klab, home), "DAR 1's route for the address is gone")
    bu = [r for r in klab.records("dar1") if r["dir"] == "in" and r["kind"] == "BU"][-1]
    assert (bu["src"], bu["hoa"], bu["lifetime"], bu["cga"], bu["bad"]) == (coa, home, 0, False, True)
    records = klab.records("mn")
    done = [r for r in records if r["kind"] == "shutdown-done"]
    assert [(r["bindings"], r["deregistered"], r["abandoned"]) for r in done] == [(1, 1, 0)]  # (see above)
    kinds = [r["kind"] for r in records if r["dir"] == "state"]
    assert kinds[-2:] == ["LEAVING", "STOPPED"]
    klab.stop_roles(home, coa)


def test_with_keep_bindings_at_exit_the_old_dar_keeps_it(klab: KernelLab) -> None:
    home, coa = bound_away(klab, "--keep-bindings-at-exit")
    assert klab.stop("mn", signal.SIGTERM) == 0, klab.diagnosis("mn")
    assert TUN_NAME in tunnelled(klab, home)  # the DAR still tunnels to the CoA nobody holds
    assert not [r for r in klab.records("dar1") if r["kind"] == "binding-deleted"]
    assert not [r for r in klab.records("mn") if r["kind"] in ("shutdown-done", "LEAVING")]
    klab.stop_roles(home, coa)


def test_a_second_sigterm_ends_the_wait_for_a_silent_dar_at_once(klab: KernelLab) -> None:
    home, coa = bound_away(klab, "--exit-wait", "30")
    dar1 = klab.processes["dar1"]
    dar1.send_signal(signal.SIGSTOP)  # DAR 1 hears nothing now: no BA will come
    try:
        klab.processes["mn"].send_signal(signal.SIGTERM)
        klab.wait("mn", dir="state", kind="LEAVING")
        assert klab.stop("mn", signal.SIGTERM) == 0, klab.diagnosis("mn")
    finally:
        dar1.send_signal(signal.SIGCONT)
    (left,) = [r for r in klab.records("mn") if r["kind"] == "deregistration-abandoned"]
    assert (left["address"], left["dar"]) == (home, DAR1)
    assert not left["why"].startswith("no BA within 30")  # the second SIGTERM cut it short, not the 30 s
    klab.stop_roles(home, coa)
