"""LogSink never stops a role (issue 14 item 3): failing and blocked streams, floods summarised."""

from __future__ import annotations

import errno
import io
import json
import os
import threading
from pathlib import Path

import pytest

from scapy_fama.automata import log as logmod
from scapy_fama.automata.log import Limit, LogSink
from scapy_fama.proto.messages import BindingAck, BindingUpdate, kind

WAIT = 10.0
ENOSPC = f"OSError: [Errno {errno.ENOSPC}] {os.strerror(errno.ENOSPC)}"


class Flaky(io.StringIO):
    """A stream that fails with ENOSPC while ``full`` is set, as a file on a full disk does."""

    name = "flaky.log"

    def __init__(self) -> None:
        super().__init__()
        self.full = False

    def write(self, text: str) -> int:
        if self.full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(text)


def _json(stream: io.StringIO) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_failing_stream_is_said_once_and_the_others_carry_on(capsys: pytest.CaptureFixture[str]) -> None:
    text, lines = Flaky(), io.StringIO()
    sink = LogSink(text, lines)
    sink.write("dar", "state", "ADVERTISING")
    assert sink.flush(WAIT)
    text.full = True
    for n in range(3):
        sink.write("dar", "event", "binding-created", hoa=f"2001:db8:1::{n}")
        assert sink.flush(WAIT)
    sink.close()
    assert text.getvalue().splitlines()[0].endswith(" dar @ ADVERTISING")
    assert len(text.getvalue().splitlines()) == 1
    written = [(r["dir"], r["kind"], r.get("stream"), r.get("why")) for r in _json(lines)]
    assert written == [
        ("state", "ADVERTISING", None, None),
        ("error", "log-write", "flaky.log", ENOSPC),  # said once, after the first failure
        ("event", "binding-created", None, None),
        ("event", "binding-created", None, None),
        ("event", "binding-created", None, None),
    ]
    assert capsys.readouterr().err.splitlines() == [
        f"log: cannot write to flaky.log ({ENOSPC}); its lines are counted, not written"
    ]


def test_the_stream_that_comes_back_says_how_many_lines_it_lost() -> None:
    text = Flaky()
    sink = LogSink(None, text)
    sink.write("mn", "state", "DETACHED")
    assert sink.flush(WAIT)
    text.full = True
    for _ in range(4):
        sink.write("mn", "event", "link-down")
        assert sink.flush(WAIT)
    text.full = False
    sink.write("mn", "event", "link-up")
    sink.close()
    kinds = [(r["kind"], r.get("lost"), r.get("after")) for r in _json(text)]
    assert kinds == [("DETACHED", None, None), ("log-resumed", 4, ENOSPC), ("link-up", None, None)]


def test_a_closed_stdout_stops_nothing() -> None:
    stdout = io.StringIO()
    stdout.close()
    sink = LogSink(stdout)
    sink.write("dar", "state", "ADVERTISING")
    assert sink.flush(WAIT)  # written, or rather failed and counted
    sink.close()


def test_a_blocked_stream_blocks_only_the_writer_and_records_are_counted_as_lost() -> None:
    read_end, write_end = os.pipe()
    blocked = os.fdopen(write_end, "w")  # nobody reads: the pipe fills, then its write() blocks
    sink = LogSink(blocked, limit=Limit(burst=10**9, per_second=0))
    total = 3 * logmod.QUEUE
    try:
        for n in range(total):  # the role's calls all return
            sink.write("dar", "drop", "??", why=f"undecodable: garbage {n}")
        assert sink.counts["drop", "??"] == total
        assert sink.lost >= total - logmod.QUEUE - logmod.BATCH - 65536 // 40  # what the pipe held
    finally:
        reader = threading.Thread(target=_read_all, args=(read_end,), daemon=True)
        reader.start()
        sink.close()
        blocked.close()
        reader.join(WAIT)


def _read_all(fd: int) -> None:
    with os.fdopen(fd, "rb") as pipe:
        while pipe.read(1 << 16):
            pass


def test_a_flood_is_rate_limited_per_kind_and_summarised() -> None:
    sink = LogSink(keep=True, limit=Limit(burst=5, per_second=0.0, summary_every=3600))
    for n in range(1000):
        sink.write("dar", "drop", "??", why=f"undecodable: MH options: more than 64 options #{n}")
    sink.write("dar", "drop", "BU", why="bad-authenticator: BAD wrong")  # another kind: its own budget
    sink.write("dar", "state", "SERVING")
    assert len(sink.find(dir="drop", kind="??")) == 5
    assert sink.find(dir="drop", kind="BU") and sink.find(dir="state", kind="SERVING")
    assert not sink.find(kind="log-suppressed")
    sink.close()  # the pending summary is written at the end
    (summary,) = sink.find(kind="log-suppressed")
    assert (summary["node"], summary["of"], summary["count"]) == ("dar", "drop/??/undecodable", 995)
    assert sink.counts["drop", "??"] == 1000 and sink.suppressed == 995


def test_a_sink_nobody_reads_counts_every_record_and_holds_no_limit_state() -> None:
    """A role run without a log (a bench, a SimNet of thousands) pays for a count per record:
    no rate-limit bucket is kept, nothing is suppressed or summarised."""
    sink = LogSink(limit=Limit(burst=5, per_second=0.0, summary_every=3600))
    for n in range(1000):
        sink.write("dar", "drop", "??", why=f"undecodable: #{n}")
    assert sink.counts["drop", "??"] == 1000 and sink.keys == 0 and sink.suppressed == 0
    sink.close()
    assert not sink.reading and sink.records is None


def test_a_sink_nobody_reads_counts_what_a_kept_one_counts() -> None:
    """write() and message() count a record by (direction, kind) the same whether or not anyone
    reads it: a role's counts do not depend on its log (proto.messages.kind names a message)."""
    bu = BindingUpdate("2001:db8:2::5", "2001:db8:1::1", "2001:db8:1::5", 1, 400)
    ba = BindingAck("2001:db8:1::1", "2001:db8:2::5", "2001:db8:1::5", 0, 1, 400)
    sinks = LogSink(), LogSink(keep=True)
    for sink in sinks:
        sink.message("dar", "in", bu)
        sink.write("dar", "event", "tunnel-up", src="a", dst="b", hoa="c")
        sink.message("dar", "out", ba)
        sink.message("dar", "drop", bu, why="bad-authenticator: x")
    unread, kept = sinks
    assert unread.counts == kept.counts == {("in", kind(bu)): 1, ("event", "tunnel-up"): 1, ("out", kind(ba)): 1,
                                           ("drop", "BU"): 1}  # fmt: skip
    assert kept.records is not None and [r["kind"] for r in kept.records] == ["BU", "tunnel-up", "BA", "BU"]
    for sink in sinks:
        sink.close()


def test_summaries_come_while_the_flood_lasts(tmp_path: Path) -> None:
    limit = Limit(burst=2, per_second=0.0, summary_every=0.05)
    sink = LogSink.open(tmp_path / "dar.log", tmp_path / "dar.json", limit=limit)
    sink.records = []  # keep them as well, to wait on
    for _ in range(10):
        sink.write("dar", "in", "RS", src="::", dst="ff02::2")
    assert sink.wait(WAIT, kind="log-suppressed", count=8), sink.records
    sink.close()
    lines = [json.loads(line) for line in (tmp_path / "dar.json").read_text().splitlines()]
    assert [(r["kind"], r.get("of"), r.get("count")) for r in lines] == [
        ("RS", None, None), ("RS", None, None), ("log-suppressed", "in/RS", 8)
    ]  # fmt: skip
    text = (tmp_path / "dar.log").read_text().splitlines()
    assert [line.split()[1:] for line in text[:2]] == [["dar", "<", "RS", "::", "->", "ff02::2"]] * 2
    assert text[2].split()[1:5] == ["dar", "*", "log-suppressed", "of=in/RS"] and " count=8 " in text[2]


def test_a_log_file_that_cannot_be_opened_is_an_error_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        LogSink.open(tmp_path / "dar.log", tmp_path / "missing" / "dar.json")
    assert (tmp_path / "dar.log").exists()  # opened first, and closed again
