"""Scapy Automata for the FAMA roles, driving the sans-I/O cores on a memlink or a real interface.

Theory of operation
-------------------
Each automaton owns its sockets and thread, calls its core (:mod:`scapy_fama.proto`)
with ``time.monotonic()`` and carries out the effects; the protocol stays in the
core. Its named states are the role's life cycle, so ``graph()``, breakpoints and
interception work from a shell::

    DarAutomaton:  ADVERTISING <-> SERVING                       (dar.py)
    MnAutomaton:   DETACHED -> SOLICITING -> TENTATIVE -> ATTACHED
                                  -> SIGNALLING <-> BOUND        (mn.py)

    link1, link2, core = MemLink("link1"), MemLink("link2"), MemRouter()
    dar1 = DarAutomaton(dar1_core, link1.port("dar1"), upstream=core.port(P1), name="dar1")
    mn = MnAutomaton(mn_core, link1.port("mn"), name="mn")
    dar1.runbg(); mn.runbg(); mn.wait_for("ATTACHED", 5)
    mn.intercept("BU"); link2.attach(mn.access)          # a handover
    held = mn.next_held(5); mn.release(held)             # or drop(held), or release(held, edited)

Modules: ``base`` (what both share: effects, ND, interception, Scapy 2.8
pitfalls), ``dar``, ``mn``, ``nd`` (neighbour discovery), ``ports`` (the
automaton's socket), ``log`` (one line per message).
"""

from scapy_fama.automata.base import FamaAutomaton, Held
from scapy_fama.automata.dar import DarAutomaton
from scapy_fama.automata.log import LogSink
from scapy_fama.automata.mn import MnAutomaton

__all__ = ["DarAutomaton", "FamaAutomaton", "Held", "LogSink", "MnAutomaton"]
