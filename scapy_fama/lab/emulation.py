"""Delay and loss on the MN's access link: tc netem where the kernel has it, else the roles.

Theory of operation
-------------------
``--delay MS --loss P`` is meant for the access link, each way. With netem,
one qdisc on each end of the MN's veth (``fama-mn`` towards the DAR,
``fama-sw-mn`` towards the MN) delays and drops frames in the kernel, whatever
carries them. Where ``tc qdisc add ... netem`` fails (a kernel built without
sch_netem: "Specified qdisc kind is unknown"), fama-mn applies them itself to
what it sends and receives on its access interface (:mod:`scapy_fama.net.linkemu`:
each frame waits half of ``--link-delay`` and is lost with probability
``--link-loss``), so the lab passes ``--link-delay 2*MS --link-loss P/100``: MS
and P each way, as with netem. The frames the MN's kernel sends and receives
natively do not pass fama-mn, so this way only the signalling and the
tunnelled packets are delayed and lost::

    choose(delay, loss):  nothing asked -> "none"
                          tc netem on fama-mn works -> "netem" (and on fama-sw-mn)
                          else -> "roles" (fama-mn --link-delay/--link-loss), with netem's refusal

The choice is made once by ``up``, kept in the lab's state and shown by
``status``.
"""

from __future__ import annotations

from dataclasses import dataclass

from scapy_fama.lab.links import LabError, run
from scapy_fama.lab.topology import MN_IFACE, MN_PORT, namespace


@dataclass(frozen=True)
class Emulation:
    method: str  # "none", "netem" or "roles"
    delay_ms: float
    loss: float  # percent
    why: str = ""  # why netem is not used, when it was wanted

    def describe(self) -> str:
        """One line for ``up`` and ``status``: what is emulated, and by what."""
        if self.method == "none":
            return "none (no --delay or --loss)"
        what = f"{self.delay_ms:g} ms delay and {self.loss:g} % loss each way on the MN's access link"
        if self.method == "netem":
            return f"{what}, by tc netem"
        return f"{what}, applied by fama-mn to its signalling and tunnelled packets only (no tc netem: {self.why})"

    def mn_arguments(self) -> list[str]:
        if self.method != "roles":
            return []
        return ["--link-delay", f"{2 * self.delay_ms:g}", "--link-loss", f"{self.loss / 100:g}"]


def _netem(ns: str, iface: str, delay_ms: float, loss: float) -> None:
    run("tc", "-n", ns, "qdisc", "add", "dev", iface, "root", "netem",
        "delay", f"{delay_ms:g}ms", "loss", f"{loss:g}%")  # fmt: skip


def choose(delay_ms: float, loss: float) -> Emulation:
    """Apply netem to the MN's access link if the kernel has it; else leave it to fama-mn."""
    if delay_ms < 0 or not 0 <= loss <= 100:
        raise ValueError(f"--delay must be >= 0 ms and --loss 0 to 100 %, not {delay_ms:g} and {loss:g}")
    if delay_ms == 0 and loss == 0:
        return Emulation("none", 0.0, 0.0)
    try:
        _netem(namespace("mn"), MN_IFACE, delay_ms, loss)
    except LabError as exc:
        # tc's own reason, without its full stop: it is quoted inside a line (describe)
        return Emulation("roles", delay_ms, loss, why=str(exc).rsplit(": ", 1)[-1].rstrip("."))
    _netem(namespace("sw"), MN_PORT, delay_ms, loss)
    return Emulation("netem", delay_ms, loss)
