"""step(): one instant a step, and the whole path of every message that left then.

Truth: SimNet's own hops (who sent what to whom, when it arrived) and the routing of
the default topology (an MN at dar2 reaches dar1 through dar2, the backbone next)."""

from __future__ import annotations

from fama_shell.session import Session

from scapy_fama.net.sim_events import Hop
from scapy_fama.proto.messages import BindingAck, BindingUpdate


def _held_handover(session: Session) -> None:
    session.attach("mn", "dar1")
    session.flow("cn", "mn")
    session.brk("BU", node="mn")
    session.handover("mn", "dar2")


def _hops(session: Session, kind: type) -> list[Hop]:
    return [h for h in session.net.events if isinstance(h, Hop) and isinstance(h.msg, kind)]


def test_a_released_bu_is_the_next_step_drawn_whole(session: Session) -> None:
    _held_handover(session)
    session.release()  # sent at once, without running the clock: no chart showed it
    chart = session.step()
    sent, relayed = _hops(session, BindingUpdate)  # mn -> dar2, then dar2 forwards it to dar1
    assert (sent.src, sent.dst, relayed.src, relayed.dst, relayed.forwarded) == ("mn", "dar2", "dar2", "dar1", True)
    assert [(r.src, r.dst, r.via) for r in chart.messages("BU")] == [("mn", "dar1", ("dar2",))]
    assert chart.messages("BA") == []  # dar1's answer is the next instant's
    assert chart.title.startswith(f"step to t={sent.time:.3f} s") and session.net.now == relayed.arrival


def test_each_step_is_the_next_exchange(session: Session) -> None:
    _held_handover(session)
    session.release()
    session.step()
    answer = session.step()
    bu_arrival = _hops(session, BindingUpdate)[-1].arrival
    ba_sent, ba_relayed = _hops(session, BindingAck)
    assert ba_sent.time == bu_arrival  # dar1 answers where the BU arrived: that instant is this step
    assert [(r.src, r.dst, r.via, r.status) for r in answer.messages("BA")] == [("dar1", "mn", ("dar2",), 0)]
    assert "created: mn@dar1 -> mn@dar2" in str(answer) and "phkt-issued" in str(answer)
    assert session.net.now == ba_relayed.arrival
    registered = session.step()  # the MN takes the BA: every event of that instant is noted
    assert registered.rows and all(r.time == ba_relayed.arrival and r.dst is None for r in registered.rows)
    assert {"phkt-stored mn@dar1", "binding-registered mn@dar1"} <= {r.label for r in registered.rows}


def test_a_message_lost_on_its_way_ends_the_step_where_it_was_lost(session: Session) -> None:
    _held_handover(session)
    session.net.lose(BindingUpdate)  # the MN's first hop
    session.release()
    chart = session.step()
    (lost,) = _hops(session, BindingUpdate)
    assert lost.lost is not None
    assert [(r.src, r.dst, r.fate) for r in chart.messages("BU")] == [("mn", "dar2", f"lost: {lost.lost}")]
    assert session.net.now == lost.time  # nothing to wait for
