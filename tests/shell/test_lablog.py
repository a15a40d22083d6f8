"""The lab's JSON logs -> the shell's tables and charts, on lines recorded from a real lab run.

The files in ``lab_logs/`` are the roles' logs of ``fama-lab up --dars 2`` and a
``fama-shell --lab`` session: the MN starts on dar1, hands over to dar2 (BU and
BA 0 with dar1), the tester on dar1's bridge sends a first BU whose HoA has a
foreign prefix (BA 132), and the MN goes back to dar1 (de-registration there, a
binding at dar2 for its dar2 address).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from fama_shell.lablog import (
    Entry,
    LabLog,
    Names,
    RoleLog,
    chart_rows,
    dar_bindings,
    mn_addresses,
    mn_dar,
    record_label,
)

from scapy_fama.automata.log import LogSink

LOGS = Path(__file__).parent / "lab_logs"
HOA1 = "2001:db8:1:0:38cc:2b1a:163b:62c7"  # the MN's address at dar1
HOA2 = "2001:db8:2:0:2820:cf8b:806e:7e3"  # ... at dar2
T0 = {"dar1": 1000.0, "dar2": 1000.0, "mn": 1000.158}  # the roles' start times (wall clock)
HANDOVER_DONE = 6.0  # lab clock: after the first handover, before the tester's BU


def _logs(tmp_path: Path) -> LabLog:
    """The recorded logs, their mtimes set so that each role's t = 0 is T0 (mtime = t0 + t_last)."""
    for node, t0 in T0.items():
        path = tmp_path / f"{node}.json"
        shutil.copy(LOGS / f"{node}.json", path)
        last = path.read_text().splitlines()[-1]
        t_last = float(last.split('"t": ')[1].split(",")[0])
        os.utime(path, ns=(0, round((t0 + t_last) * 1e9)))
    log = LabLog(tmp_path, T0)
    log.refresh()
    return log


def _names(log: LabLog) -> Names:
    names = Names(
        {"dar1": ("2001:db8:1::1", "2001:db8:1::/64"), "dar2": ("2001:db8:2::1", "2001:db8:2::/64")},
        {"2001:db8:ff::1": "cn", "2001:db8:1::ee": "tester@dar1"},
    )
    names.learn(log.entries)
    return names


def test_the_roles_come_onto_one_clock(tmp_path: Path) -> None:
    log = _logs(tmp_path)
    assert log.epoch is not None and abs(log.epoch - 1000.0) < 0.01
    assert log.roles["mn"].t0 is not None and abs(log.roles["mn"].t0 - 1000.158) < 0.01
    times = [e.time for e in log.entries]
    assert times == sorted(times)
    # the MN's BU to dar1 comes before dar1's binding-created, which comes before the MN takes the BA
    bu = next(e for e in log.entries if e.node == "mn" and e.kind("out") == "BU")
    created = next(e for e in log.entries if e.kind("event") == "binding-created")
    ba = next(e for e in log.entries if e.node == "mn" and e.kind("in") == "BA")
    assert bu.time < created.time < ba.time


def test_the_warm_up_record_dates_a_log_whose_lines_were_written_late(tmp_path: Path) -> None:
    """A role's lines reach its file in the log writer's 50 ms rounds, so the file's mtime is up to
    that late for its last record: dar1's clock set from it put its binding-created (and so its
    BA) after the MN had taken the BA. The warm-up record's ``started`` dates t = 0 exactly."""
    late = {"dar1": 0.045, "dar2": 0.0, "mn": 0.0}  # seconds the last line waited for the writer
    for node, t0 in T0.items():
        path = tmp_path / f"{node}.json"
        warm = json.dumps({"t": 0.01, "node": node, "dir": "event", "kind": "warm-up", "ms": 10.0, "started": t0})
        lines = (LOGS / f"{node}.json").read_text().splitlines()
        path.write_text("\n".join([warm, *lines]) + "\n")
        t_last = json.loads(lines[-1])["t"]
        os.utime(path, ns=(0, round((t0 + t_last + late[node]) * 1e9)))
    log = LabLog(tmp_path, T0)
    log.refresh()
    assert {node: role.t0 for node, role in log.roles.items()} == T0
    bu = next(e for e in log.entries if e.node == "mn" and e.kind("out") == "BU")
    created = next(e for e in log.entries if e.kind("event") == "binding-created")
    ba = next(e for e in log.entries if e.node == "mn" and e.kind("in") == "BA")
    assert bu.time < created.time < ba.time


def test_a_log_sink_says_when_its_t_0_was() -> None:
    sink = LogSink(keep=True)
    before = time.time()
    sink.write("dar1", "event", "probe")
    after = time.time()
    (record,) = sink.records or []
    assert before - 0.001 <= sink.started + record["t"] <= after + 0.001


def test_a_half_written_line_waits_and_a_restart_starts_over(tmp_path: Path) -> None:
    path = tmp_path / "dar1.json"
    path.write_text('{"t": 1.0, "node": "dar1", "dir": "state", "kind": "ADVERTISING"}\n{"t": 2.0, "no')
    role = RoleLog(path)
    role.poll()
    assert [r["kind"] for r in role.records] == ["ADVERTISING"] and role.t0 is not None
    with path.open("a") as f:
        f.write('de": "dar1", "dir": "state", "kind": "SERVING"}\nnot json\n')
    role.poll()
    assert [r["kind"] for r in role.records] == ["ADVERTISING", "SERVING"]
    path.unlink()
    path.write_text('{"t": 0.5, "node": "dar1", "dir": "state", "kind": "ADVERTISING"}\n')
    assert role.poll() is True and len(role.records) == 1


def test_the_binding_cache_after_the_first_handover(tmp_path: Path) -> None:
    log = _logs(tmp_path)
    early = [e for e in log.entries if e.time < HANDOVER_DONE]
    (binding,) = dar_bindings(early, "dar1")
    assert (binding.hoa, binding.coa, binding.lifetime, binding.last_seq) == (HOA1, HOA2, 86400, 8170)
    assert binding.phkt and binding.expires is not None
    assert dar_bindings(early, "dar2") == []


def test_the_binding_caches_at_the_end(tmp_path: Path) -> None:
    log = _logs(tmp_path)
    (record,) = dar_bindings(log.entries, "dar1")  # de-registered: the PHKT's record stays
    assert (record.hoa, record.coa, record.last_seq, record.phkt) == (HOA1, None, 8171, True)
    (binding,) = dar_bindings(log.entries, "dar2")
    assert (binding.hoa, binding.coa, binding.last_seq) == (HOA2, HOA1, 22050)


def test_the_mn_addresses_and_their_bindings(tmp_path: Path) -> None:
    log = _logs(tmp_path)
    early = mn_addresses([e for e in log.entries if e.time < HANDOVER_DONE])
    assert list(early) == [HOA1, HOA2]
    assert (early[HOA1].dar, early[HOA1].state, early[HOA1].coa, early[HOA1].seq) == (
        "2001:db8:1::1", "bound", HOA2, 8170)  # fmt: skip
    assert early[HOA1].tunnel and early[HOA1].phkt
    assert early[HOA2].state == "idle" and early[HOA2].dar == "2001:db8:2::1"
    late = mn_addresses(log.entries)
    assert late[HOA1].state == "idle" and not late[HOA1].tunnel  # home again: de-registered
    assert (late[HOA2].state, late[HOA2].coa) == ("bound", HOA1)
    assert mn_dar(log.entries, _names(log)) == "dar1"


def test_the_chart_shows_the_figures_flows(tmp_path: Path) -> None:
    log = _logs(tmp_path)
    names = _names(log)
    rows = list(chart_rows(log.entries, names, T0))
    moves = [r.label for r in rows if r.move]
    assert moves == ["mn attaches to dar1", "mn moves dar1 -> dar2", "mn moves dar2 -> dar1"]
    arrows = [(r.src, r.dst, r.mtype, r.status) for r in rows if r.dst is not None]
    assert ("mn", "dar1", "BU", None) in arrows and ("dar1", "mn", "BA", 0) in arrows
    assert ("tester", "dar1", "BU", None) in arrows and ("dar1", "tester", "BA", 132) in arrows
    assert ("mn", "dar2", "RS", None) in arrows and ("dar2", "mn", "RA", None) in arrows
    bu = next(r for r in rows if r.src == "mn" and r.mtype == "BU")
    assert bu.label == "BU 8170 mn@dar1 cga+sig"
    dereg = next(r for r in rows if r.src == "mn" and r.mtype == "BU" and "de-reg" in r.label)
    assert dereg.label == "BU 8171 mn@dar1 de-reg ni+bad"
    notes = [r.label for r in rows if r.dst is None and not r.move]
    assert "created: mn@dar1 -> mn@dar2" in notes and "deleted: mn@dar1" in notes
    assert "address-configured mn@dar2" in notes


def test_labels_of_records() -> None:
    names = Names({"dar1": ("2001:db8:1::1", "2001:db8:1::/64")}, mn_addresses={HOA1})
    ba = {"kind": "BA", "status": 0, "seq": 7, "phkt": True, "signed": False, "bad": True}
    assert record_label(ba, names) == "BA 0 seq 7 phkt+bad"
    assert record_label({"kind": "BE", "status": 1, "hoa": HOA1}, names) == "BE 1 mn@dar1"
    assert names.node("2001:db8:1::1") == "dar1" and names.anchor("2001:db8:9::1") == "?"
    entry = Entry(1.0, {"t": 1.0, "node": "mn", "dir": "in", "kind": "RA"})
    assert entry.kind("in") == "RA" and entry.kind("out") is None
