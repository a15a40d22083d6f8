"""Fixtures of the automata tests: the memlink network of ``memnet``, running.

Every automaton logs to one LogSink that keeps its records (and prints them,
so pytest shows them when a test fails); a test ends with no error record.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator

import pytest
from memnet import CN, DAR1, DAR2, P1, P2, Net

from scapy_fama.automata import DarAutomaton, LogSink, MnAutomaton
from scapy_fama.crypto import KeyPair
from scapy_fama.net.memlink import MemLink, MemRouter
from scapy_fama.proto import DarCore, MnConfig, MnCore


@pytest.fixture
def net(mn_key: KeyPair, request: pytest.FixtureRequest) -> Iterator[Net]:
    """The running network; ``indirect`` parametrisation gives the MN's UDP echo port."""
    log = LogSink(sys.stdout, keep=True)
    link1, link2, core = MemLink("link1"), MemLink("link2"), MemRouter()
    dars = [
        DarAutomaton(
            DarCore(address, prefix, rand=random.Random(n).randbytes),
            link.port(f"dar{n}"),
            upstream=core.port(prefix),
            name=f"dar{n}",
            log=log,
        )
        for n, (address, prefix, link) in enumerate(((DAR1, P1, link1), (DAR2, P2, link2)), 1)
    ]
    # DAD runs on the wall clock here: 1 s (RFC 4862 default) leaves a loaded CI machine time
    # to answer the probe in the DAD test
    mn_core = MnCore(mn_key, config=MnConfig(sec=0, dad_delay=1.0), rand=random.Random(3).randbytes)
    udp_echo = getattr(request, "param", None)
    mn = MnAutomaton(mn_core, link1.port("mn"), name="mn", log=log, udp_echo=udp_echo)
    automata = [*dars, mn]
    for automaton in automata:
        automaton.runbg()
    yield Net(log, link1, link2, core, core.port(CN + "/128"), *dars, mn)
    for automaton in automata:
        automaton.stop()
    assert not log.find(dir="error"), log.find(dir="error")
