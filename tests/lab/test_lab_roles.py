"""The lab with its roles (root, and the roles' kernel mode): the commands end to end, a crashed
role reported and restarted, and the demo: a TCP stream outlives three handovers with the same
SHA-256 at both ends, echoes are lost only in the handovers' gaps, and the connection on the
second address is native in a capture on its DAR's core side."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

from scapy_fama import schemas
from scapy_fama.lab import demo, links, roles
from scapy_fama.lab.topology import bridge, dar_address, dar_prefix

pytestmark = [pytest.mark.netns, pytest.mark.slow]
LAB = [sys.executable, "-m", "scapy_fama.cli.lab"]
Lab = Callable[..., subprocess.CompletedProcess[str]]  # the lab_up fixture


def _status(lab: Lab) -> dict:
    done = lab("status", "--json")
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)


def _wait(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _fifo_threads(pid: int) -> list[int]:
    """The threads of process ``pid`` under SCHED_FIFO, in the kernel's view (sched_getscheduler(2))."""
    tids = [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()]
    return [tid for tid in tids if os.sched_getscheduler(tid) == os.SCHED_FIFO]


def _kind(logs: Path, node: str, kind: str) -> list[dict]:  # type: ignore[type-arg]
    return [r for r in roles.records(logs, node) if r["kind"] == kind]


def test_status_exec_handover_capture_and_down(lab_up: Lab, lab_dir: Path) -> None:
    status = _status(lab_up)
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator(schemas.load("fama-lab-status/1")).validate(status)
    assert next(iter(status)) == "schema" and status["schema"] == "fama-lab-status/1"
    assert [(r["node"], r["running"]) for r in status["roles"]] == [
        ("dar1", True), ("dar2", True), ("dar3", True), ("mn", True)]  # fmt: skip
    first = status["mn_addresses"][0]
    assert first.startswith("2001:db8:1:") and status["bridge"] == bridge(1)
    for role in status["roles"]:  # every thread of every role at the roles' nice (proc(5): field 19)
        threads = list(Path(f"/proc/{role['pid']}/task").iterdir())
        nices = {int((t / "stat").read_text().rsplit(")", 1)[1].split()[16]) for t in threads}
        assert len(threads) > 1 and nices == {roles.ROLE_NICE}, (role["node"], nices)
        # where the machine allows it, the one thread the role names as its signalling thread runs
        # under SCHED_FIFO, every other not; elsewhere none (test_lab_units: what decides it)
        if roles.realtime_refusal() is not None:
            assert _fifo_threads(role["pid"]) == [], role["node"]
            continue
        records = partial(_kind, lab_dir / "logs", role["node"], "scheduling")
        _wait(lambda: bool(records()))  # logged once set, and written within a moment of that
        (said,) = records()
        assert _fifo_threads(role["pid"]) == [said["thread"]], said
        assert os.sched_getparam(said["thread"]).sched_priority == roles.ROLE_PRIORITY, said
    shown = lab_up("exec", "mn", "--", "ip", "-6", "addr", "show", "dev", "fama-mn")
    assert shown.returncode == 0 and first in shown.stdout  # the kernel owns the MN's address
    assert lab_up("exec", "mn", "--", "false").returncode == 1

    moved = lab_up("handover", "dar2")
    assert (moved.returncode, moved.stdout.strip()) == (0, "MN moved from DAR 1 to DAR 2")
    assert links.attached_bridge() == bridge(2)
    _wait(lambda: any(a.startswith("2001:db8:2:") for a in _status(lab_up)["mn_addresses"]))
    for bad, message in ((["handover", "2"], "the MN is already attached to DAR 2"),
                         (["handover", "7"], "no DAR 7: the lab has DARs 1 to 3"),
                         (["exec", "dar9", "--", "true"], "unknown node 'dar9'")):  # fmt: skip
        refused = lab_up(*bad)
        assert refused.returncode == 2 and refused.stderr.startswith(f"fama-lab: error: {message}"), refused.stderr

    pcap = lab_dir / "mn.pcap"
    # the capturer's own words were the error: "... did not start: capture: nosuch0: Interface 'nosuch0' not found !"
    refused = lab_up("capture", "dar2", str(pcap), "--iface", "nosuch0")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert refused.stderr.startswith("fama-lab: error: --iface nosuch0: no such interface on dar2 "
                                     "(it has lo, fama-d2-up, fama-d2-acc"), refused.stderr
    assert not pcap.exists()
    second = next(a for a in _status(lab_up)["mn_addresses"] if a.startswith("2001:db8:2:"))
    capturing = subprocess.Popen([*LAB, "capture", "mn", str(pcap), "--seconds", "6"], stdout=subprocess.PIPE, text=True)
    assert capturing.stdout is not None and capturing.stdout.readline().startswith("capturing mn fama-mn into")
    # a count, not "timeout 1": under load the app could still be importing when that second ran out
    pinged = lab_up("exec", "cn", "--", sys.executable, "-m", "scapy_fama.lab.apps", "ping", "--to", second, "--count", "20")
    echoes = json.loads(pinged.stdout.splitlines()[-1])["echoes"]
    assert capturing.wait(30) == 0
    assert echoes and all(rtt is not None for _, _, rtt in echoes), echoes  # the native address answers
    analysed = subprocess.run([sys.executable, "-m", "scapy_fama.cli.analyze", str(pcap), "--json"],
                              capture_output=True, text=True, check=False)  # fmt: skip
    assert analysed.returncode == 0 and json.loads(analysed.stdout)["totals"]["frames"] >= 2 * len(echoes)

    pids = [r["pid"] for r in status["roles"]]
    assert lab_up("down").returncode == 0
    assert links.lab_namespaces() == [] and not any(roles.alive(pid) for pid in pids)
    # fama-mn went first and de-registered its binding at DAR 1 while DAR 1 still answered
    logs = lab_dir / "logs"
    done = [r for r in roles.records(logs, "mn") if r["kind"] == "shutdown-done"]
    assert [(r["bindings"], r["deregistered"], r["abandoned"]) for r in done] == [(1, 1, 0)]
    assert [r["hoa"] for r in roles.records(logs, "dar1") if r["kind"] == "binding-deleted"] == [first]


@pytest.mark.parametrize("lab_up", [("--secure",)], indirect=True)
def test_on_the_secure_lab_the_mn_tests_its_coa_before_every_bu(lab_up: Lab, lab_dir: Path) -> None:
    """``up --secure``: the DARs require the care-of test and fama-mn runs it before every BU
    (--coa-test, profile §5), so over two handovers (DAR 1, then DAR 2 anchoring an address for
    the first time) no DAR refuses a BU with BA 137, and each BU follows a CoT from its DAR."""
    logs = {node: partial(roles.records, lab_dir / "logs", node) for node in ("dar1", "dar2", "dar3", "mn")}

    def dar_of(address: str) -> int:
        return next(i for i in (1, 2, 3) if demo.in_prefix(address, i))

    def configured(at: int) -> bool:
        return any(dar_of(a) == at for a in _status(lab_up)["mn_addresses"])

    def bound(hoas: list[str], since: int) -> bool:
        return set(hoas) <= {r["hoa"] for r in logs["mn"]()[since:] if r["kind"] == "BA" and r["status"] == 0}

    expected: set[tuple[str, str]] = set()  # (DAR, HoA) of every binding
    for to in (2, 3):
        anchored = [a for a in _status(lab_up)["mn_addresses"] if dar_of(a) != to]
        expected |= {(dar_address(dar_of(a)), a) for a in anchored}
        mark = len(logs["mn"]())
        assert lab_up("handover", f"dar{to}").returncode == 0
        _wait(partial(bound, anchored, mark))
        _wait(partial(configured, to))
    mn = logs["mn"]()
    bas = [r for r in mn if r["dir"] == "in" and r["kind"] == "BA"]
    assert {(r["src"], r["hoa"]) for r in bas} == expected and len(expected) == 2, bas
    refused = [r for node in ("dar1", "dar2", "dar3") for r in logs[node]() if r["kind"] == "BA" and r["status"] != 0]
    assert refused == [] and {r["status"] for r in bas} == {0}, refused or bas
    signalling = [r for r in mn if r["kind"] in ("BU", "BA", "CoTI", "CoT")]
    for k, bu in ((k, r) for k, r in enumerate(signalling) if r["dir"] == "out" and r["kind"] == "BU"):
        before = [r["kind"] for r in signalling[:k] if bu["dst"] in (r["src"], r["dst"])]
        assert before and before[-1] in ("CoT", "BU"), (bu, before)  # the CoT, or a retransmitted BU


def test_a_crashed_role_is_reported_then_restarted(lab_up: Lab) -> None:
    mn = next(r for r in _status(lab_up)["roles"] if r["node"] == "mn")
    os.kill(mn["pid"], signal.SIGKILL)
    _wait(lambda: not roles.alive(mn["pid"]))
    crashed = lab_up("status")
    assert crashed.returncode == 1 and "exited" in crashed.stdout
    restarted = lab_up("status", "--restart")
    assert restarted.returncode == 0 and "restarted mn" in restarted.stdout, restarted.stdout
    again = next(r for r in _status(lab_up)["roles"] if r["node"] == "mn")
    os.kill(again["pid"], signal.SIGKILL)
    _wait(lambda: not roles.alive(again["pid"]))
    as_json = lab_up("status", "--json", "--restart")  # "restarted mn" came first on stdout: no JSON
    assert (as_json.returncode, as_json.stderr) == (0, "restarted mn\n"), as_json.stderr
    assert all(r["running"] for r in json.loads(as_json.stdout)["roles"])


def test_a_handover_to_an_exited_role_says_so(lab_up: Lab) -> None:
    """handover said "MN moved" and exit 0 though the DAR it moved to (or the MN) had exited."""
    pids = {r["node"]: r["pid"] for r in _status(lab_up)["roles"]}
    for node, to in (("dar2", "2"), ("mn", "3")):
        os.kill(pids[node], signal.SIGKILL)
        _wait(partial(lambda pid: not roles.alive(pid), pids[node]))
        moved = lab_up("handover", to)
        assert moved.returncode == 1, moved.stdout + moved.stderr
        assert "MN moved from DAR" in moved.stdout and f"but {node} has exited:" in moved.stdout, moved.stdout


def test_a_role_that_exits_during_the_demo_ends_it_naming_the_role(lab_up: Lab, lab_dir: Path) -> None:
    """A DAR killed once the demo's stream had started: the demo waited 40 s for BAs that could not
    come, then said "no BA 0 for <HoA> ... (see mn.log)", naming neither the DAR nor its exit."""
    dar2 = next(r["pid"] for r in _status(lab_up)["roles"] if r["node"] == "dar2")
    out = lab_dir / "demo.out"
    with out.open("w") as stdout:
        running = subprocess.Popen([*LAB, "demo"], stdout=stdout, stderr=subprocess.PIPE, text=True)
    try:
        _wait(lambda: "stream and ping" in out.read_text())  # printed before the first handover
        os.kill(dar2, signal.SIGKILL)
        _, err = running.communicate(timeout=3 * demo.BIND_WAIT)
    finally:
        running.kill()
    assert running.returncode == 2 and err.splitlines() == [
        "fama-lab: error: dar2 exited: no message on stderr (fama-lab status --restart)"
    ], err
    mn = next(r["pid"] for r in _status(lab_up)["roles"] if r["node"] == "mn")
    _wait(lambda: links.namespace_pids("fama-lab-cn") == [] and links.namespace_pids("fama-lab-mn") == [mn])


def _demo_processes(lab_dir: Path) -> list[str]:
    """The command lines of the demo's applications (on the lab's addresses: the units' run on
    ::1) and capture (into the lab's logs) still running."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:  # not a process, or gone meanwhile
            continue
        app = "scapy_fama.lab.apps" in argv and any(a.startswith("2001:db8:") for a in argv)
        if app or any(a.startswith(str(lab_dir / "logs" / "demo-")) for a in argv):
            found.append(" ".join(argv))
    return found


@pytest.mark.parametrize("moment", ["stream and ping", "second connection to"])
def test_a_lab_taken_down_during_the_demo_is_said_so(lab_up: Lab, lab_dir: Path, moment: str) -> None:
    """``fama-lab down`` from another terminal while the demo ran: the demo said "mn exited: no
    message on stderr (fama-lab status --restart)", as if the MN had crashed, and a handover
    under way wrote the record of the lab again after down had removed it."""
    out = lab_dir / "demo.out"
    with out.open("w") as stdout:
        running = subprocess.Popen([*LAB, "demo"], stdout=stdout, stderr=subprocess.PIPE, text=True)
    try:
        _wait(lambda: moment in out.read_text())
        down = lab_up("down")
        _, err = running.communicate(timeout=3 * demo.BIND_WAIT)
    finally:
        running.kill()
    assert down.returncode == 0, down.stderr
    assert running.returncode == 2 and err.splitlines() == [
        "fama-lab: error: the lab was taken down (fama-lab down) while this command ran"
    ], out.read_text() + err
    assert links.lab_namespaces() == [] and not (lab_dir / "state.json").exists()
    _wait(lambda: _demo_processes(lab_dir) == [], timeout=10.0)  # killed, maybe not yet reaped


def test_a_demo_interrupted_in_its_second_connection_leaves_the_lab_usable(lab_up: Lab, lab_dir: Path) -> None:
    """SIGINT to the demo alone (``kill -INT``, ``timeout -s INT``; a terminal's Ctrl-C reaches its
    apps too) as its second connection starts: "interrupted", but the sink it had started stayed
    listening on the second address in the MN's namespace."""
    out = lab_dir / "demo.out"
    with out.open("w") as stdout:
        running = subprocess.Popen([*LAB, "demo"], stdout=stdout, stderr=subprocess.PIPE, text=True,
                                   preexec_fn=partial(signal.signal, signal.SIGINT, signal.default_int_handler))  # fmt: skip
    try:
        _wait(lambda: "second connection to" in out.read_text())
        running.send_signal(signal.SIGINT)
        _, err = running.communicate(timeout=3 * demo.BIND_WAIT)
    finally:
        running.kill()
    assert running.returncode == 130 and err.splitlines() == ["fama-lab: interrupted"], out.read_text() + err
    _wait(lambda: _demo_processes(lab_dir) == [], timeout=10.0)  # killed, maybe not yet reaped
    status = _status(lab_up)
    assert all(r["running"] for r in status["roles"]) and status["bridge"] == bridge(2), status
    port = links.ip("fama-lab-sw", "-o", "link", "show", "fama-sw-mn")
    assert "UP" in port.split("<")[1].split(">")[0].split(","), port


@pytest.mark.parametrize("lab_up", [("--dars", "2", "--rfc-timers")], indirect=True)
def test_with_rfc_timers_the_new_coa_is_used_only_once_dad_is_over(lab_up: Lab, lab_dir: Path) -> None:
    """``up --rfc-timers``: after a handover the MN's BU from its new CoA leaves no sooner than DAD
    can end (RFC 4862 §5.1: RetransTimer 1 s x DupAddrDetectTransmits 1) after the RA that gave the
    prefix reached the MN's kernel (its ``rx``, the kernel's receive stamp), the address tentative
    meanwhile, not optimistic; the profile's MN sends it at once (test_lab_optimistic.py)."""
    assert _status(lab_up)["rfc_timers"] is True
    mn = partial(roles.records, lab_dir / "logs", "mn")
    mark = len(mn())
    assert lab_up("handover", "dar2").returncode == 0

    def first_bu() -> dict | None:
        return next((r for r in mn()[mark:] if r["dir"] == "out" and r["kind"] == "BU" and demo.in_prefix(r["src"], 2)), None)

    _wait(lambda: first_bu() is not None)
    bu, moved = first_bu(), mn()[mark:]
    assert bu is not None
    ra = next(r for r in moved if r["dir"] == "in" and r["kind"] == "RA" and r["prefix"] == dar_prefix(2))
    states = [r["kind"] for r in moved if r["kind"].startswith("address-") and r.get("address") == bu["src"]]
    assert states[:2] == ["address-tentative", "address-configured"], states
    assert bu["t"] - ra["rx"] >= 1.0, (ra, bu)


@pytest.mark.parametrize("lab_up", [("--dars", "2")], indirect=True)
def test_the_default_demo_path_fits_a_lab_of_two(lab_up: Lab, lab_dir: Path) -> None:
    """On a 2-DAR lab `fama-lab demo` said "no DAR 3", from the default --path 2,3,1."""
    out = lab_dir / "demo.json"
    done = lab_up("demo", "--json", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text())
    assert [(h["from"], h["to"]) for h in result["handovers"]] == [(1, 2), (2, 1)]
    assert result["stream"]["intact"]


def test_demo_stream_outlives_three_handovers(lab_up: Lab, lab_dir: Path) -> None:
    out = lab_dir / "demo.json"
    done = lab_up("demo", "--json", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text())
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator(schemas.load(result["schema"])).validate(result)  # fama-lab-demo/1
    stream = result["stream"]
    assert stream["intact"] and stream["sent"]["sha256"] == stream["received"]["sha256"]
    assert stream["sent"]["bytes"] > 0 and stream["sent"]["error"] is None
    assert [(h["from"], h["to"]) for h in result["handovers"]] == [(1, 2), (2, 3), (3, 1)]
    for handover in result["handovers"]:
        assert handover["bindings"] and all(b["status"] == 0 for b in handover["bindings"]), handover
    assert result["ping"]["lost_outside_handovers"] == 0, result["ping"]
    # away from DAR 1 the ping's address stays tunnelled: each breakdown ends with the new
    # tunnel's first packet both ways, the second handover's as well as the first's
    first = result["first_address"]
    for handover in result["handovers"][:2]:
        ways = {s["what"] for s in handover["breakdown"]["steps"] if s["hoa"] == first}
        assert {"down", "up"} <= ways, (handover["from"], handover["to"], ways)
    second = result["second"]
    assert second["intact"] and second["native"], second
    assert second["address"].startswith("2001:db8:2:") and second["native_packets"] > 0
    # each role warmed its signalling path once before its first message (automata/warm.py), and
    # each BU a DAR read from upstream came with the kernel's receive time (KernelUpstream)
    logs = {node: roles.records(lab_dir / "logs", node) for node in ("dar1", "dar2", "dar3", "mn")}
    for node, records in logs.items():
        warm = [i for i, r in enumerate(records) if r["kind"] == "warm-up"]
        assert len(warm) == 1 and records[warm[0]]["ms"] > 0, node
        assert warm[0] < next(i for i, r in enumerate(records) if r["dir"] == "in"), node
    bus = [r for node in ("dar1", "dar2", "dar3") for r in logs[node] if r["dir"] == "in" and r["kind"] == "BU"]
    assert bus and all(r["t"] - 0.5 < r["rx"] <= r["t"] for r in bus), bus
