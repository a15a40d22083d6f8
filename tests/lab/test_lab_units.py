"""The lab's pieces that need no root: names, the addressing plan, parsing, the demo's arithmetic,
and the one-line refusals of a user who is not root and of a machine without iproute2."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scapy_fama.cli import dar, mn
from scapy_fama import latency
from scapy_fama.lab import apps, breakdown, capture, control, demo, emulation, roles
from scapy_fama.latency import breakdown as steps
from scapy_fama.lab.emulation import Emulation
from scapy_fama.lab.links import LabError
from scapy_fama.lab.topology import IFNAMSIZ, MAX_DARS, NAMESPACE_PREFIX, Topology, default_iface


def test_every_name_is_fama_and_fits_an_interface_name() -> None:
    topology = Topology(MAX_DARS)
    assert all(len(name) < IFNAMSIZ and name.startswith("fama-") for name in topology.interfaces())
    assert len(set(topology.interfaces())) == len(topology.interfaces())
    assert all(ns.startswith(NAMESPACE_PREFIX) for ns in topology.namespaces)
    assert all(default_iface(node) in topology.interfaces() for node in topology.nodes)


@pytest.mark.parametrize("dars", [0, MAX_DARS + 1])
def test_the_number_of_dars_is_bounded(dars: int) -> None:
    with pytest.raises(ValueError, match="--dars must be 1 to"):
        Topology(dars)


def test_a_dar_is_named_by_number_or_name() -> None:
    assert control.dar_number("2") == control.dar_number("dar2") == 2
    with pytest.raises(ValueError, match="bad DAR 'x'"):
        control.dar_number("x")
    with pytest.raises(ValueError, match="no DAR 4"):
        Topology(3).check_dar(4)


def test_only_role_emulation_passes_options_to_the_mn() -> None:
    assert Emulation("roles", 20, 1, why="unknown").mn_arguments() == ["--link-delay", "40", "--link-loss", "0.01"]
    assert Emulation("netem", 20, 1).mn_arguments() == Emulation("none", 0, 0).mn_arguments() == []
    assert "fama-mn" in Emulation("roles", 20, 0, why="unknown").describe()


def test_up_says_in_one_sentence_which_mechanism_emulates_the_link(monkeypatch: pytest.MonkeyPatch) -> None:
    """tc's refusal ends with a full stop: quoted inside the line it made "unknown.): 10 ms"."""

    def no_netem(*argv: str) -> str:
        raise LabError(f"{' '.join(argv)}: Specified qdisc kind is unknown.")

    monkeypatch.setattr(emulation, "run", no_netem)
    assert emulation.choose(10, 1).describe() == (
        "10 ms delay and 1 % loss each way on the MN's access link, applied by fama-mn to its "
        "signalling and tunnelled packets only (no tc netem: Specified qdisc kind is unknown)")  # fmt: skip
    applied: list[tuple[str, ...]] = []
    monkeypatch.setattr(emulation, "run", lambda *argv: applied.append(argv) or "")
    assert emulation.choose(10, 1).describe() == "10 ms delay and 1 % loss each way on the MN's access link, by tc netem"
    assert [argv[2] for argv in applied] == ["fama-lab-mn", "fama-lab-sw"]  # both ends of the MN's veth


@pytest.mark.parametrize("secure", [False, True])
def test_in_secure_mode_the_dars_require_the_care_of_test_and_the_mn_runs_it(secure: bool) -> None:
    argvs = {role.node: role.argv for role in roles.roles(Topology(2), Emulation("none", 0, 0), secure)}
    assert {node: "--require-coa-test" in argv for node, argv in argvs.items() if node != "mn"} == {
        "dar1": secure, "dar2": secure}  # fmt: skip
    assert ("--coa-test" in argvs["mn"], "--require-coa-test" in argvs["mn"]) == (secure, False)


@pytest.mark.parametrize("rfc_timers", [False, True])
def test_with_rfc_timers_the_roles_attach_at_the_rfcs_pace(rfc_timers: bool) -> None:
    """Each role's command line, read by that role's own parser: the RFCs' numbers (RFC 4861
    §6.3.7: 1 s; §6.2.6: 0.5 s and 3 s; RFC 4862: no optimistic address) or the profile's."""
    argvs = {role.node: role.argv for role in roles.roles(Topology(2), Emulation("none", 0, 0), False, rfc_timers)}
    mn_config = mn.config(mn.parser().parse_args(list(argvs["mn"][1:])))
    dar_configs = [dar.config(dar.parser().parse_args(list(argvs[node][1:]))) for node in ("dar1", "dar2")]
    assert (mn_config.optimistic, mn_config.rs_delay) == ((False, 1.0) if rfc_timers else (True, 0.0))
    for config in dar_configs:
        assert (config.ra_delay, config.min_delay_between_ras) == ((0.5, 3.0) if rfc_timers else (0.0, 0.03))


def test_interruption_is_the_loss_run_of_each_handover() -> None:
    answered = lambda seq: [seq, seq * 0.1, 0.001]  # noqa: E731
    lost = lambda seq: [seq, seq * 0.1, None]  # noqa: E731
    echoes = [answered(s) if s not in (3, 4, 5, 12, 20, 21, 22, 23) else lost(s) for s in range(1, 30)]
    runs, picked, elsewhere = latency.interruptions(echoes, [0.35, 1.95])
    assert [(pytest.approx(a), pytest.approx(b), n) for a, b, n in runs] == [(0.2, 0.6, 3), (1.1, 1.3, 1), (1.9, 2.4, 4)]
    assert [demo._ms(run) for run in picked] == [pytest.approx(400.0), pytest.approx(500.0)]  # 1.9-2.4 is the second's
    assert elsewhere == 1  # echo 12


def test_an_echo_whose_answer_was_in_flight_when_the_move_began_is_the_handover_s() -> None:
    """Echoes every 20 ms with 45 ms round trips (a 20 ms link each way); the move at 1.0 s.
    Echo 48 (sent 0.96 s, answer due 1.005 s) is lost, 49 answered (its answer made it), 50
    on lost: all the move's. Echo 30 (sent 0.6 s, answer due 0.645 s) is lost outside it."""
    def echo(seq: int) -> list[object]:
        return [seq, seq * 0.02, None if seq in (30, 48) or 50 <= seq <= 54 else 0.045]

    echoes = [echo(s) for s in range(1, 80)]
    runs, picked, elsewhere = latency.interruptions(echoes, [1.0])
    assert [(n, round(a, 2), round(b, 2)) for a, b, n in runs] == [(1, 0.58, 0.62), (1, 0.94, 0.98), (5, 0.98, 1.1)]
    assert picked == [runs[2]] and elsewhere == 1
    assert latency.in_flight(echoes, 1.0) == pytest.approx(0.045)


def _as_nobody() -> list[str] | None:
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    return None if setpriv is None else [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


@pytest.mark.parametrize("command", [["up"], ["down"], ["status"], ["handover", "2"]])
def test_not_root_is_one_line(command: list[str]) -> None:
    prefix = _as_nobody()
    if prefix is None:
        pytest.skip("running as root without setpriv: cannot drop to an unprivileged user")
    done = subprocess.run([*prefix, sys.executable, "-m", "scapy_fama.cli.lab", *command],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == "fama-lab: error: must run as root (network namespaces, veth pairs, bridges)\n"


@pytest.mark.parametrize("seconds", ["-1", "0", "nan", "x"])
def test_a_capture_time_that_is_not_positive_is_one_line(seconds: str) -> None:
    """-1 and 0 wrote an empty capture at once and exited 0 ("Ctrl-C to stop" for 0); nan never ended."""
    done = subprocess.run([sys.executable, "-m", "scapy_fama.cli.lab", "capture", "dar2", "x.pcap",
                           "--seconds", seconds], capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert done.stderr.startswith("fama-lab capture: error: argument --seconds: ")


@pytest.mark.parametrize(("interval", "shown"), [("0", "0.0"), ("-1", "-1.0"), ("nan", "nan"), ("1e9", "1000000000.0")])
def test_the_pinger_refuses_an_interval_out_of_range(interval: str, shown: str) -> None:
    """0, a negative interval and NaN sent echoes back to back (tens of thousands a second);
    a huge one waited that long between two echoes. Refused before any socket is opened."""
    done = subprocess.run([sys.executable, "-m", "scapy_fama.lab.apps", "ping", "--to", "::1", "--interval", interval],
                          capture_output=True, text=True, check=False, timeout=60)  # fmt: skip
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.splitlines()[-1] == (f"python -m scapy_fama.lab.apps ping: error: argument --interval: "
                                            f"must be 0.001 to 1 s: {shown}")  # fmt: skip


@pytest.fixture
def here(monkeypatch: pytest.MonkeyPatch) -> None:
    """Apps run in this namespace: what start() and finish() say needs no lab."""
    monkeypatch.setattr(apps, "in_namespace", lambda ns, command: command)


def test_an_app_that_exits_before_ready_says_why(here: None) -> None:
    with pytest.raises(LabError, match=r"^ping in fama-lab-cn did not start: python -m scapy_fama.lab.apps ping: "
                                       r"error: argument --interval: must be 0.001 to 1 s: 0.0$"):  # fmt: skip
        apps.start("fama-lab-cn", "ping", "--to", "::1", "--interval", "0")


def test_an_app_ended_by_a_signal_says_which(here: None) -> None:
    """A pinger that died without a word under a full suite was reported as "an app gave no
    result: no message": which app, and how it ended, were lost."""
    sink = apps.start("fama-lab-mn", "sink", "--bind", "::1", "--port", "0")
    sink.kill()
    with pytest.raises(LabError, match="^sink in fama-lab-mn gave no result: ended by SIGKILL with nothing on stderr$"):
        apps.finish(sink, stop=False)


def test_a_sink_stopped_before_its_connection_reports_at_once(here: None) -> None:
    """The sink took no notice of SIGTERM (its accept and reads blocked on sockets): it ran on
    for its 60 s socket timeout, though every app is to report at SIGTERM."""
    sink = apps.start("fama-lab-mn", "sink", "--bind", "::1", "--port", "0")
    result = apps.finish(sink, stop=True, timeout=30.0)
    assert (result["bytes"], result["error"]) == (0, "stopped (SIGTERM or SIGINT) before a connection came")


def test_an_app_that_does_not_end_is_killed_and_says_so(here: None) -> None:
    sink = apps.start("fama-lab-mn", "sink", "--bind", "::1", "--port", "0")  # waits for a connection
    with pytest.raises(LabError, match=r"^sink in fama-lab-mn gave no result within 0.5 s: killed$"):
        apps.finish(sink, stop=False, timeout=0.5)
    assert sink.returncode == -9


def test_a_capturer_that_gives_up_is_refused_before_it_is_seen_to_exit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """tcpdump on a missing interface closes its stderr a moment before it exits: seen in that
    moment, it was taken as listening (about one time in four), and fama-lab capture said
    "capturing" and exited 0 with no file."""
    gives_up = "echo 'tcpdump: nonexist0: No such device exists' >&2; exec 2>&-; sleep 2"
    monkeypatch.setattr(capture, "in_namespace", lambda ns, command: command)
    monkeypatch.setattr(capture, "_command", lambda iface, file: ["sh", "-c", gives_up])
    with pytest.raises(LabError, match="^capture on nonexist0 in fama-lab-dar2 did not start: "
                                       "tcpdump: nonexist0: No such device exists$"):  # fmt: skip
        capture.start("fama-lab-dar2", "nonexist0", tmp_path / "x.pcap")


def test_a_missing_tool_is_one_line(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: as another user the root check answers first")
    env = {**os.environ, "PATH": str(tmp_path), "FAMA_LAB_DIR": str(tmp_path / "lab")}  # no ip, no sysctl
    done = subprocess.run([sys.executable, "-m", "scapy_fama.cli.lab", "up"], capture_output=True, text=True,
                          check=False, env=env)  # fmt: skip
    assert (done.returncode, done.stderr) == (2, "fama-lab: error: ip not found: install the iproute2 package\n")


def _moved_to(coa: str) -> list[dict[str, object]]:
    """The MN's records of a move, up to its new CoA: link down at 10 s, up 50 ms later, RS 0.2
    ms after, RA 1.0 ms, the optimistic CoA 1.1 ms from the link-up."""
    return [
        {"t": 10.000, "dir": "event", "kind": "link-down"},
        {"t": 10.050, "dir": "event", "kind": "link-up"},
        {"t": 10.0502, "dir": "out", "kind": "RS", "src": "::", "dst": "ff02::2"},
        {"t": 10.0510, "dir": "in", "kind": "RA", "src": "fe80::1", "dst": "ff02::1"},
        {"t": 10.0511, "dir": "event", "kind": "address-configured", "address": coa},
    ]


def test_a_lab_handover_step_by_step_from_the_mns_log() -> None:
    """A secure handover as an MN without --coa-test logs it (times in seconds): the move,
    RS/RA, the optimistic CoA, a BU answered 137, the care-of test, the BU again and its BA 0,
    the first packet of the new tunnel each way (the data plane's events). The BU and its 137
    are steps, as fama-analyze shows them (profile §5): the lab hid them, and had the 2 ms from
    the CoA to the CoTI "to signal". By hand, in ms from the link-up."""
    hoa, coa, dar1, dar2 = "2001:db8:1::5", "2001:db8:2::7", "2001:db8:1::1", "2001:db8:2::1"
    bu = {"dir": "out", "kind": "BU", "src": coa, "dst": dar1, "hoa": hoa, "lifetime": 400}
    records = [
        *_moved_to(coa),
        {"t": 10.0512, **bu},
        {"t": 10.0530, "dir": "in", "kind": "BA", "src": dar1, "dst": coa, "status": 137},
        {"t": 10.0531, "dir": "out", "kind": "CoTI", "src": coa, "dst": dar1},
        {"t": 10.0550, "dir": "in", "kind": "CoT", "src": dar1, "dst": coa},
        {"t": 10.0551, **bu},
        {"t": 10.0560, "dir": "event", "kind": "first-packet", "hoa": hoa, "way": "down"},
        {"t": 10.0570, "dir": "in", "kind": "BA", "src": dar1, "dst": coa, "status": 0},
        {"t": 10.0580, "dir": "event", "kind": "first-packet", "hoa": hoa, "way": "up"},
        {"t": 10.0590, "dir": "in", "kind": "RA", "src": "fe80::1", "dst": dar2},  # later: not this attachment's
    ]
    found = steps(breakdown.moments(records))
    assert found is not None
    table = [(s["what"], s["status"], s["at_ms"], s["since_ms"], s["phase"]) for s in found.as_dict()["steps"]]
    assert table == [
        ("link-down", None, -50.0, None, None),
        ("link-up", None, 0.0, 50.0, "link-layer handover"),
        ("RS", None, 0.2, 0.2, "trigger"),
        ("RA", None, 1.0, 0.8, "router discovery"),
        ("CoA", None, 1.1, 0.1, "address configuration"),
        ("BU", None, 1.2, 0.1, "to signal"),  # without a care-of token
        ("BA-refused", 137, 3.0, 1.8, "registration"),
        ("CoTI", None, 3.1, 0.1, "to test the CoA"),
        ("CoT", None, 5.0, 1.9, "care-of test"),
        ("BU", None, 5.1, 0.1, "to register"),
        ("BA", 0, 7.0, 1.9, "registration"),
        ("down", None, 6.0, -1.0, "resumption DAR -> MN"),  # the DAR tunnels as its BA leaves
        ("up", None, 8.0, 1.0, "resumption MN -> DAR"),
    ]
    assert breakdown.moments(records).bindings[0].bus == 2
    assert found.as_dict()["link_layer_ms"] == 50.0 and found.as_dict()["to_data_ms"] == 6.0


def test_a_lab_handover_with_a_bu_sent_again() -> None:
    """A plain handover whose first BU gets no answer: the MN sends it again 1 s later (profile
    §7, a new seq) and the BA answers that one. By hand, in ms from the link-up: BU 1.2, the BU
    sent again 1001.2 (1000 with no answer), BA 1003.0 (1.8 of registration, from the second)."""
    hoa, coa, dar1 = "2001:db8:1::5", "2001:db8:2::7", "2001:db8:1::1"
    bu = {"dir": "out", "kind": "BU", "src": coa, "dst": dar1, "hoa": hoa, "lifetime": 400}
    records = [
        *_moved_to(coa),
        {"t": 10.0512, **bu, "seq": 5},
        {"t": 11.0512, **bu, "seq": 6},
        {"t": 11.0530, "dir": "in", "kind": "BA", "src": dar1, "dst": coa, "status": 0, "seq": 6},
    ]
    found = steps(breakdown.moments(records))
    assert found is not None
    table = [(s["what"], s["at_ms"], s["since_ms"], s["phase"]) for s in found.as_dict()["steps"] if s["hoa"]]
    assert table == [("BU", 1.2, 0.1, "to signal"), ("BU-again", 1001.2, 1000.0, "no answer"),
                     ("BA", 1003.0, 1.8, "registration")]  # fmt: skip
    assert breakdown.moments(records).bindings[0].bus == 2


def test_a_lab_handover_with_a_bu_refused_147_and_sent_again_with_cga() -> None:
    """The DAR restarted and forgot the PHKT: the MN's BU is answered 147 and sent again at once
    with CGA (profile §7), answered 0. By hand, in ms from the link-up: BU 1.2, BA 147 at 2.5
    (1.3 of registration), the BU again at 2.6 (0.1 to signal again: answered, not lost), BA 0
    at 5.0 (2.4 of registration, from the second BU)."""
    hoa, coa, dar1 = "2001:db8:1::5", "2001:db8:2::7", "2001:db8:1::1"
    bu = {"dir": "out", "kind": "BU", "src": coa, "dst": dar1, "hoa": hoa, "lifetime": 400}
    ba = {"dir": "in", "kind": "BA", "src": dar1, "dst": coa}
    records = [
        *_moved_to(coa),
        {"t": 10.0512, **bu, "seq": 5},
        {"t": 10.0525, **ba, "status": 147, "seq": 5},
        {"t": 10.0526, **bu, "seq": 6},
        {"t": 10.0550, **ba, "status": 0, "seq": 6},
    ]
    found = steps(breakdown.moments(records))
    assert found is not None
    table = [(s["what"], s["status"], s["at_ms"], s["since_ms"], s["phase"]) for s in found.as_dict()["steps"]
             if s["hoa"]]  # fmt: skip
    assert table == [("BU", None, 1.2, 0.1, "to signal"), ("BA-refused", 147, 2.5, 1.3, "registration"),
                     ("BU-again", None, 2.6, 0.1, "to signal again"), ("BA", 0, 5.0, 2.4, "registration")]  # fmt: skip
    assert found.as_dict()["to_last_ba_ms"] == 5.0


def test_a_lab_handover_that_releases_an_address_has_its_data_back_with_the_kept_ones() -> None:
    """The MN keeps HoA1 at DAR1 and releases HoA2 at DAR2 (lifetime 0, profile §3): no tunnel
    of HoA2 comes after it. By hand, in ms from the link-up: data of HoA1 back at 4.0."""
    hoa1, hoa2, coa, dar1, dar2 = "2001:db8:1::5", "2001:db8:2::5", "2001:db8:3::7", "2001:db8:1::1", "2001:db8:2::1"
    records = [
        *_moved_to(coa),
        {"t": 10.0512, "dir": "out", "kind": "BU", "src": coa, "dst": dar1, "hoa": hoa1, "lifetime": 400},
        {"t": 10.0512, "dir": "out", "kind": "BU", "src": coa, "dst": dar2, "hoa": hoa2, "lifetime": 0},
        {"t": 10.0530, "dir": "in", "kind": "BA", "src": dar1, "dst": coa, "status": 0},
        {"t": 10.0531, "dir": "in", "kind": "BA", "src": dar2, "dst": coa, "status": 0},
        {"t": 10.0540, "dir": "event", "kind": "first-packet", "hoa": hoa1, "way": "down"},
    ]
    found = steps(breakdown.moments(records))
    assert found is not None
    assert (found.as_dict()["to_last_ba_ms"], found.as_dict()["to_data_ms"]) == (3.1, 4.0)


def test_the_mns_log_is_cut_at_each_link_down() -> None:
    """The first attachment (no link-down), then one part a move, each starting at its link-down."""
    log = [{"t": t, "dir": d, "kind": k} for t, d, k in [
        (0.1, "event", "link-up"), (0.2, "out", "RS"),
        (5.0, "event", "link-down"), (5.1, "event", "link-up"), (5.2, "out", "BU"),
        (9.0, "event", "link-down"), (9.1, "event", "link-up"),
    ]]  # fmt: skip
    assert [[r["t"] for r in part] for part in breakdown.attachments(log)] == [[0.1, 0.2], [5.0, 5.1, 5.2], [9.0, 9.1]]
    assert [len(p) for p in breakdown.attachments(log[2:])] == [3, 2]  # a log that starts with a move
    assert breakdown.attachments([]) == []


def test_a_handover_s_records_start_at_its_link_event() -> None:
    """A record made before the move but written after the demo counted the log (the writer
    wakes every 50 ms) is not the handover's: a refresh's BA 0 must not count as its binding."""
    stray_ba = {"t": 9.98, "dir": "in", "kind": "BA", "status": 0, "hoa": "2001:db8:1::7", "seq": 4}
    down = {"t": 10.0, "dir": "event", "kind": "link-down", "epoch": 3}
    up = {"t": 10.06, "dir": "event", "kind": "link-up", "epoch": 4}
    ba = {"t": 10.07, "dir": "in", "kind": "BA", "status": 0, "hoa": "2001:db8:1::7", "seq": 5}
    assert demo._from_move([stray_ba, down, up, ba]) == [down, up, ba]
    assert demo._from_move([stray_ba, up, ba]) == [up, ba]  # a down the MN never saw
    assert demo._from_move([stray_ba]) == []  # not written yet: nothing of the handover


@pytest.mark.skipif(os.geteuid() != 0, reason="a raw ICMPv6 socket needs root")
def test_the_pinger_stops_after_count_echoes() -> None:
    """--count ends the pinger by itself (a test's "timeout 1" could end it before it was set up)."""
    done = subprocess.run([sys.executable, "-m", "scapy_fama.lab.apps", "ping", "--to", "::1", "--interval", "0.01",
                           "--count", "3"], capture_output=True, text=True, check=False, timeout=60)  # fmt: skip
    echoes = json.loads(done.stdout.splitlines()[-1])["echoes"]
    assert [seq for seq, _, _ in echoes] == [1, 2, 3] and all(rtt is not None for _, _, rtt in echoes)  # ::1 answers


@pytest.mark.skipif(os.geteuid() != 0, reason="a raw ICMPv6 socket needs root")
def test_the_pinger_runs_ahead_of_the_roles_it_measures() -> None:
    """The probe's send times make the interruption: it runs at nice PROBE_NICE, above the
    roles' (an echo it sent late stretched a handover's interruption by as much)."""
    done = subprocess.run([sys.executable, "-m", "scapy_fama.lab.apps", "ping", "--to", "::1", "--interval", "0.01",
                           "--count", "2"], capture_output=True, text=True, check=False, timeout=60)  # fmt: skip
    assert json.loads(done.stdout.splitlines()[-1])["nice"] == apps.PROBE_NICE < roles.ROLE_NICE


def test_the_pinger_keeps_a_fixed_schedule_and_never_catches_up_in_a_burst() -> None:
    """The n-th echo is due n intervals after the first (a sleep of one interval after each
    send drifted a 5 ms ping to 5.7 ms); one sent late is followed by one at once, and the
    schedule goes on from there."""
    due, dues = 0.0, []
    for now in (0.0, 0.0051, 0.0102, 0.0231, 0.0232, 0.0282):  # sent at; a 13 ms wait for a core at the fourth
        due = apps.next_due(due, 0.005, now)
        dues.append(due)
    assert dues == pytest.approx([0.005, 0.010, 0.015, 0.0231, 0.0281, 0.0331])
    assert apps.next_due(0.0, 0.005, 0.0001) == 0.005  # on time: one interval on, whatever the send took
    assert apps.next_due(0.010, 0.005, 0.0231) == 0.0231  # late: the next at once, not the three missed
    assert apps.next_due(0.0231, 0.005, 0.0232) == 0.0281  # then the schedule again, from the late one


@pytest.mark.parametrize("count", ["0", "-2", "65536"])
def test_the_pinger_refuses_a_count_out_of_range(count: str) -> None:
    done = subprocess.run([sys.executable, "-m", "scapy_fama.lab.apps", "ping", "--to", "::1", "--count", count],
                          capture_output=True, text=True, check=False, timeout=60)  # fmt: skip
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.splitlines()[-1] == f"python -m scapy_fama.lab.apps ping: error: argument --count: must be 1 to 65535: {count}"


def test_the_second_connection_counts_its_own_segments_only(tmp_path: Path) -> None:
    """After the MN left DAR 2, DAR 1's tunnel to the second address (then the MN's CoA) can
    still bring a ping there, which DAR 2 tunnels on to the new CoA: IPv6 in IPv6 in IPv6 with
    the second address inside. That packet is not the connection's; a demo counted it as the
    connection tunnelled ("NOT native") and, by its outer address, the tunnel's packets as native."""
    from scapy.layers.inet import TCP
    from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap

    second, cn, hoa1 = "2001:db8:2::77", "2001:db8:ff::1", "2001:db8:1::55"
    connection = [IPv6(src=cn, dst=second) / TCP(sport=40000, dport=demo.SECOND_PORT),
                  IPv6(src=second, dst=cn) / TCP(sport=demo.SECOND_PORT, dport=40000)] * 3  # fmt: skip
    dar1_tunnel = IPv6(src="2001:db8:1::1", dst=second) / IPv6(src=cn, dst=hoa1) / ICMPv6EchoRequest()
    onward = IPv6(src="2001:db8:2::1", dst="2001:db8:3::88") / dar1_tunnel
    other_port = IPv6(src=cn, dst=second) / TCP(sport=40001, dport=demo.STREAM_PORT)
    pcap = tmp_path / "core.pcap"
    wrpcap(str(pcap), [Ether() / p for p in [*connection, dar1_tunnel, onward, other_port]])
    assert demo._native(pcap, second) == {"native_packets": 6, "tunnelled_packets": 0}
    tunnelled = IPv6(src="2001:db8:2::1", dst="2001:db8:3::88") / connection[0]
    wrpcap(str(pcap), [Ether() / p for p in [*connection, tunnelled]])
    assert demo._native(pcap, second) == {"native_packets": 6, "tunnelled_packets": 1}


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv")
def test_the_lab_asks_for_sched_fifo_only_where_the_machine_allows_it() -> None:
    """Root here may put a thread under SCHED_FIFO; a process without CAP_SYS_NICE (a container's
    root) may not, and its lab starts the roles without --realtime instead of roles that fail."""
    probe = [sys.executable, "-c", "from scapy_fama.lab import roles; print(roles.scheduling(roles.realtime_refusal()))"]
    allowed = subprocess.run(probe, capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    assert allowed == f"signalling threads: SCHED_FIFO {roles.ROLE_PRIORITY} (--realtime)"
    contained = subprocess.run(["setpriv", "--inh-caps=-sys_nice", "--bounding-set=-sys_nice", *probe],
                               capture_output=True, text=True, check=True, timeout=60).stdout.strip()  # fmt: skip
    assert contained == "signalling threads: the ordinary policy (SCHED_FIFO refused here: Operation not permitted)"
    assert roles.realtime_refusal() is None and os.sched_getscheduler(0) == os.SCHED_OTHER  # the trial thread's alone
