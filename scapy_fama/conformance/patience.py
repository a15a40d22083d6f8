"""How long a tester waits, and when silence may decide a case: the judgement both testers share.

Theory of operation
-------------------
No rule says how soon an IUT answers what the tester sent, and a real link may
lose what either side sends. So neither a slow IUT nor a lossy link decides a
case, DAR or MN alike::

    an expected answer misses the run's wait --> awaited the grace more: it came ->
                                                 INCONCLUSIVE (the IUT is slower than the tester waits,
                                                 or, on a link that may lose packets, this answer
                                                 retransmits a lost one)
    an answer never came, or a silence would  --> the link is probed (link_loss): up to PROBES probes,
    pass a case                                  some answered and some not -> the link loses
                                                 packets: INCONCLUSIVE; else the answer's absence
                                                 (FAIL) or the silence (PASS) stands

A wait set by a rule (a retransmission's time, RFC 4861's MAX_RA_DELAY_TIME)
gets no grace: an answer after it breaks the rule. A probe is the role's (the
tester's ``_probe``): a Router Solicitation, which a DAR answers with an RA
(RFC 4861 §6.2.6); a Neighbour Solicitation for the MN's address, which the MN
answers with an NA (RFC 4861 §7.2.4). The first probe waits the grace (LATE,
or ``--grace``) past the wait for a slow IUT; once a probe went unanswered, the
others wait the wait alone (an answer one of them gets, however late, still
shows the link losing), and the grace at the end lets a last late answer in. A first probe unanswered asks the
role whether the IUT is known to answer nothing at all (``_unresponsive``: the
role's liveness check, ``_check_alive``, a DAR's and an MN's alike): then no
probe can change the outcome, the probing stops, and the runner's liveness
check fails the case, the finding standing for it while the IUT stays silent
(``alive`` sends nothing more), so that a dead IUT costs one probe and one
check. What the IUT sends meanwhile goes back to the tester (``_heard``): the
answer a case awaits may come then. A case probes the link once: a later
question (the role's ``doubt`` of a FAIL that the probes let stand) takes that
finding, so a FAIL costs one round of probes, and its verdict is the one those
probes reached.
"""

from __future__ import annotations

from collections.abc import Callable

from scapy_fama.conformance.case import Fail, Inconclusive
from scapy_fama.conformance.executor import IUT, Executor, Frame

# No rule says how soon an IUT answers: an expected answer that misses the run's wait is
# awaited this much longer by default (--grace), so that a slow IUT is told from a silent one
# (INCONCLUSIVE, not FAIL).
LATE = 5.0
# Silence, or an answer that never came, is the IUT's only on a link that loses nothing: before
# either decides a case, up to this many probes test the link (see link_loss).
PROBES = 20

Until = Callable[[Frame], bool]


class Patience:
    """The shared judgement of the DAR and MN testers (see the module doc); a tester supplies
    ``x``, ``wait`` and the role's probe."""

    x: Executor
    wait: float  # the run's wait for an answer (seconds of the executor)
    grace: float = LATE  # how much longer an expected answer is awaited (--grace)
    PROBE: str  # what the probes are, for a verdict ("Router Solicitations to the DAR")
    _silent: tuple[int, str] | None = None  # the liveness check's finding in this case (begin clears it)
    _probed: tuple[str | None] | None = None  # link_loss's finding in this case, once probed (begin clears it)

    def _forget(self) -> None:
        """A new case: the liveness check's and the probes' findings were the last case's."""
        self._silent = self._probed = None

    def _probe(self) -> Until | None:
        """Send one probe of the link; what its answer looks like (None: nothing to probe with)."""
        raise NotImplementedError

    def _check_alive(self) -> str | None:
        """The role's liveness check: None if the IUT answers it, else what went unanswered."""
        raise NotImplementedError

    def alive(self) -> str | None:
        """None while the IUT answers the role's liveness check; otherwise what went unanswered
        (or how it crashed, where that is known). A silence found in this case stands, with
        nothing sent, while the IUT has sent nothing since (see the module doc)."""
        if self.x.crashed is not None:
            return f"it crashed: {self.x.crashed}"
        if self._silent is not None and not any(f.direction == IUT for f in self.x.frames[self._silent[0] :]):
            return self._silent[1]
        why = self._check_alive()
        self._silent = None if why is None else (len(self.x.frames), why)
        return why

    def ready(self) -> str | None:
        """Before the first case (an IUT that outlives the cases): None if the IUT answers the
        liveness check, else why no case can run."""
        why = self.alive()
        return None if why is None else f"the IUT does not answer before the first case: {why}"

    def _unresponsive(self) -> bool:
        """Whether the IUT is known to answer nothing at all (asked once a probe went unanswered)."""
        return self.alive() is not None

    def _heard(self, frames: list[Frame]) -> None:
        """The IUT's frames that came while the tester waited on its own account."""

    def late(self, what: str, until: Until, window: float, asked: float) -> None:
        """An answer that ``until`` accepts missed ``window`` (the run's wait, and what a case
        adds to it): INCONCLUSIVE if it comes within the grace (LATE seconds unless --grace
        says otherwise), saying what --wait would take it (``asked``: when the tester sent what
        it answers, case time)."""
        frames = self.x.wait(self.grace, until)
        if frames and until(frames[-1]):
            after = frames[-1].time - asked
            lost = "" if self.x.lossless else ", unless the link lost an earlier one and this is a retransmission"
            raise Inconclusive(
                f"{what} came {after:.1f} s after the tester's packet, past the wait of {window:g} s: "
                f"the IUT is slower than the tester waits (run again with a --wait above "
                f"{after - window + self.wait:.1f}){lost}"
            )
        self._heard(frames)

    def missing(self, why: str) -> Fail | Inconclusive:
        """What to raise when an answer ``why`` names did not come: FAIL, unless the link is seen
        to lose packets (then the answer may be lost: INCONCLUSIVE)."""
        loss = self.link_loss()
        return Fail(why) if loss is None else Inconclusive(f"{why}, but {loss}: the answer may be lost")

    def doubt(self, fail: Fail) -> Fail | Inconclusive:
        """What a case's FAIL stands as (the runner asks): FAIL, unless the role knows that a
        packet of the tester's lost on the link could have made the IUT do what failed it."""
        return fail

    def link_loss(self) -> str | None:
        """How the link is seen to lose packets: of up to PROBES probes, some were answered and
        some not (see the module doc for how long each waits). None: every one was answered, or
        none (an IUT that does not answer them, or none at all: loss cannot be told), or none
        was sent (the executor's link is lossless, or the role has nothing to probe with). The
        link is probed once a case: a later question (the runner's doubt of the FAIL the probes
        let stand) takes that finding."""
        if self.x.lossless:
            return None
        if self._probed is None:
            self._probed = (self._probe_link(),)
        return self._probed[0]

    def _probe_link(self) -> str | None:
        """link_loss's probes, and their finding."""
        answered = lost = 0
        until: Until | None = None
        while answered + lost < PROBES and not (answered and lost):
            until = self._probe()
            if until is None:
                return None
            frames = self.x.wait(self.wait if lost else self.wait + self.grace, until)
            self._heard(frames)
            if frames and until(frames[-1]):
                answered += 1
                continue
            lost += 1
            if lost == 1 and not answered and self._unresponsive():
                return None
        if until is not None and not answered:
            frames = self.x.wait(self.grace, until)
            self._heard(frames)
            answered = int(bool(frames and until(frames[-1])))
        if answered and lost:
            return f"{lost} of {answered + lost} {self.PROBE} went unanswered: the link loses packets"
        return None
