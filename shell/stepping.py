"""One step of the shell's ``step()``: the next notable instant, and the paths of what left then.

Theory of operation
-------------------
A step is an instant and its consequences on the wire, so that a handover reads
one exchange a step (a mover's RS, the RA, the BUs, each BA) with every arrow
drawn whole::

    events not charted yet --first notable--> instant T (a signalling message leaves,
        (a BU release() sent, ...)            a node notes an event, a node moves)
    run the rest of T --> the messages that left at T, each followed over the routers
                          that relay it (forwarded, or inside a DAR's tunnel) until it
                          arrives or is lost: the clock runs to each arrival in turn
    chart = the events of T + those relays (+ why a message ended where it did)

What a message causes where it arrives (a binding, the answer) happens at a later
instant: the next step's. Data alone is never notable (a flow's datagrams would
make every step a few milliseconds long). A breakpoint that holds a message stops
the clock wherever it happens, also in the middle of a path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fama_shell.msc import SIGNALLING, MscRow, carries
from scapy_fama.net.sim import SimNet
from scapy_fama.net.sim_events import Change, Event, Hop, NodeEffect, Undelivered
from scapy_fama.proto.effects import Drop, Notify
from scapy_fama.proto.messages import Message


def notable(event: Event) -> bool:
    """A signalling message leaving its sender, a node's event, a move."""
    if isinstance(event, Hop):
        return isinstance(event.msg, SIGNALLING) and not event.forwarded
    return isinstance(event, Change) or (isinstance(event, NodeEffect) and isinstance(event.effect, Notify))


def first_notable(events: Sequence[Event], start: int) -> int | None:
    """The index of the first notable event at or after ``start``."""
    return next((i for i in range(start, len(events)) if notable(events[i])), None)


def first_after(items: Sequence[Event | MscRow], start: int, at: float) -> int:
    """The index of the first of ``items`` (in time order) at or after ``start`` that is later than ``at``."""
    return next((i for i in range(start, len(items)) if items[i].time > at), len(items))


def follow(net: SimNet, at: float, start: int, stopped: Callable[[], bool]) -> list[Event]:
    """Finish instant ``at`` and run until each signalling message that left then has arrived
    or was lost (or ``stopped()``); the events of ``at`` (from index ``start`` on), the hops
    that relayed those messages and the ends that explain a message that got no further."""
    net.run_until(stopped, timeout=0.0)  # the rest of the instant
    events = net.events
    instant = [e for e in events[start:] if e.time == at]
    roots: dict[int, Message] = {
        id(h): h.msg for h in instant if isinstance(h, Hop) and not h.forwarded and isinstance(h.msg, SIGNALLING)
    }
    travelling = [h for h in instant if isinstance(h, Hop) and id(h) in roots and h.lost is None]
    relays: list[Event] = []
    ends: list[Hop] = [h for h in instant if isinstance(h, Hop) and id(h) in roots and h.lost is not None]
    seen = len(events)
    while travelling and not stopped():
        arrival = min(h.arrival for h in travelling)
        net.run_until(stopped, timeout=arrival - net.now)
        if net.now < arrival:  # a hold stopped the clock before it
            break
        new, seen = events[seen:], len(events)
        arrived = [h for h in travelling if h.arrival <= arrival]
        travelling = [h for h in travelling if h.arrival > arrival]
        for hop in arrived:
            root = roots[id(hop)]
            on = [e for e in new if isinstance(e, Hop) and e.src == hop.dst and e.time == hop.arrival and carries(e, root)]
            if not on:
                ends.append(hop)
            for nxt in on:
                roots[id(nxt)] = root
                relays.append(nxt)
                (travelling if nxt.lost is None else ends).append(nxt)
    why = [e for e in events[start:] if _explains(e, ends)]
    return instant + relays + [e for e in why if e.time != at]


def _explains(event: Event, ends: list[Hop]) -> bool:
    """``event`` says why one of the paths ended where it did (undeliverable, dropped)."""
    if not isinstance(event, (Undelivered, NodeEffect)):
        return False
    if isinstance(event, NodeEffect) and not isinstance(event.effect, Drop):
        return False
    return any(event.node == hop.dst and event.time == hop.arrival for hop in ends)
