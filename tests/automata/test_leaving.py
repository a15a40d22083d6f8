"""MnAutomaton.leave on memlinks: the MN de-registers its binding at DAR 1 on its way out, waits
for the BA a bounded time, and a DAR that keeps silent is reported, never waited for without end."""

from __future__ import annotations

import threading
import time

from memnet import DAR1, WAIT, Net
from scapy_fama.interrupt import Latch
from test_automata import handover


def test_leaving_deregisters_the_binding_and_the_dar_tunnels_no_more(net: Net) -> None:
    hoa, coa = handover(net)
    net.mn.leave(WAIT)  # the BA ends it (nothing abandoned, below), not the deadline
    assert net.dar1.core.binding(hoa) is None and not net.dar1.tunnels
    bu = net.log.find(node="dar1", dir="in", kind="BU")[-1]
    assert (bu["src"], bu["hoa"], bu["lifetime"], bu["cga"], bu["bad"]) == (coa, hoa, 0, False, True)
    assert net.log.find(node="dar1", kind="binding-deleted", hoa=hoa)
    assert net.log.find(node="mn", dir="in", kind="BA", status=0, hoa=hoa)
    (done,) = net.log.find(node="mn", kind="shutdown-done")
    assert (done["bindings"], done["deregistered"], done["abandoned"]) == (1, 1, 0)
    assert net.mn.state.state == "LEAVING" and not net.mn.tunnels


def test_a_silent_dar_is_reported_at_the_deadline(net: Net) -> None:
    hoa, _ = handover(net)
    net.dar1.intercept("BA")  # DAR 1 takes the de-registration; its BA never leaves
    start = time.monotonic()
    net.mn.leave(0.5)
    assert time.monotonic() - start >= 0.5  # the deadline is waited out; the record below says why it ended
    (left,) = net.log.find(node="mn", kind="deregistration-abandoned")
    assert (left["address"], left["dar"]) == (hoa, DAR1) and left["why"].startswith("no BA within 0.5")
    (done,) = net.log.find(node="mn", kind="shutdown-done")
    assert (done["deregistered"], done["abandoned"]) == (0, 1)


def test_a_second_interrupt_ends_the_wait_at_once(net: Net) -> None:
    hoa, _ = handover(net)
    net.dar1.intercept("BA")
    hurry = Latch()
    threading.Timer(0.2, hurry.set).start()  # the second Ctrl-C, as serve() passes it on
    net.mn.leave(30.0, hurry)
    (left,) = net.log.find(node="mn", kind="deregistration-abandoned")
    assert left["address"] == hoa and left["why"] != "no BA within 30 s"  # cut short, not the 30 s
    assert net.log.find(node="mn", kind="shutdown-done")
