"""One line per message: what the automata log, as text for people and JSON lines for scripts.

Theory of operation
-------------------
Every message a node receives, sends, forwards, holds or drops, every core
event (``Notify``) and every life-cycle state becomes one :class:`Record`,
written by a :class:`LogSink` as a text line and/or a JSON object::

    t        node dir  kind src            dst               fields
    12.345   dar1 <    BU   2001:db8:2::5 -> 2001:db8:1::1    seq=7 hoa=2001:db8:1::5 lifetime=86400 A H cga
    12.351   dar1 >    BA   2001:db8:1::1 -> 2001:db8:2::5    status=0 seq=7 lifetime=86400 hoa=... phkt bad
    12.352   dar1 *    binding-created                        hoa=2001:db8:1::5 coa=2001:db8:2::5
    12.360   mn   @    BOUND

    {"t": 12.345, "node": "dar1", "dir": "in", "kind": "BU", "src": ..., "seq": 7, "cga": true, ...}

Directions: ``in`` <, ``out`` >, ``fwd`` = (routed on), ``held`` ? (intercepted),
``released`` +, ``drop`` !, ``event`` *, ``state`` @, ``error`` !!. ``t`` counts
seconds from the sink's creation, so automata sharing a sink share a clock.
A sink may keep its records (``keep=True``) for tests and shells to wait on.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from scapy_fama.proto.messages import Message, fields, kind

Record = dict[str, Any]

SYMBOLS = {
    "in": "<",
    "out": ">",
    "fwd": "=",
    "held": "?",
    "released": "+",
    "drop": "!",
    "event": "*",
    "state": "@",
    "error": "!!",
}


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


def render(record: Record) -> str:
    """The text line of a record."""
    head = [f"{record['t']:.3f}", record["node"], SYMBOLS[record["dir"]], record["kind"]]
    if "src" in record:
        head += [record["src"], "->", record["dst"]]
    rest = [
        key if value is True else f"{key}={_text(value)}"
        for key, value in record.items()
        if key not in ("t", "node", "dir", "kind", "src", "dst")
        and value is not None
        and value is not False
    ]
    return " ".join(head + rest)


class LogSink:
    """Writes records as text lines and/or JSON lines, one per line, flushed at once."""

    def __init__(
        self, text: TextIO | None = None, json_lines: TextIO | None = None, *, keep: bool = False
    ) -> None:
        self._text = text
        self._json = json_lines
        self._t0 = time.monotonic()
        self._changed = threading.Condition()
        self.records: list[Record] | None = [] if keep else None
        self._owned: list[TextIO] = []

    @classmethod
    def open(cls, text: Path | None, json_lines: Path | None) -> LogSink:
        """Text to ``text`` (stdout when None), JSON lines to ``json_lines`` if given."""
        sink = cls(sys.stdout, None)
        if text is not None:
            sink._text = sink._own(text)
        if json_lines is not None:
            sink._json = sink._own(json_lines)
        return sink

    def _own(self, path: Path) -> TextIO:
        stream = path.open("w", encoding="utf-8")
        self._owned.append(stream)
        return stream

    def close(self) -> None:
        for stream in self._owned:
            stream.close()

    # ---------------------------------------------------------------- writing

    def write(self, node: str, direction: str, kind: str, **fields: Any) -> None:
        record: Record = {
            "t": round(time.monotonic() - self._t0, 6),
            "node": node,
            "dir": direction,
            "kind": kind,
            **fields,
        }
        with self._changed:
            if self._text is not None:
                print(render(record), file=self._text, flush=True)
            if self._json is not None:
                print(json.dumps(record, default=_text), file=self._json, flush=True)
            if self.records is not None:
                self.records.append(record)
                self._changed.notify_all()

    def message(self, node: str, direction: str, msg: Message, **extra: Any) -> None:
        self.write(node, direction, kind(msg), src=msg.src, dst=msg.dst, **fields(msg), **extra)

    # ---------------------------------------------------------------- reading (keep=True)

    def find(self, **match: Any) -> list[Record]:
        """The kept records whose fields equal ``match``."""
        with self._changed:
            return [r for r in self.records or [] if all(r.get(k) == v for k, v in match.items())]

    def wait(self, timeout: float, **match: Any) -> Record | None:
        """The first kept record matching ``match``, waiting up to ``timeout`` for it."""
        with self._changed:  # an RLock: find() may take it again
            found = self._changed.wait_for(lambda: self.find(**match), timeout)
        return found[0] if found else None
