"""The shell's commands through their Python API: tables, charts and errors, asserted by content."""

from __future__ import annotations

import io
import os
from pathlib import Path

import fama_shell.replay as replay_module
import pytest
from fama_shell.session import Session
from rich.console import Console
from shell_story import Story, figures

from scapy.layers.inet6 import IPv6
from scapy.packet import Packet

from scapy_fama.analysis.analyze import analyze
from scapy_fama.codec import decode, encode_bytes
from scapy_fama.craft import binding_ack, first_bu
from scapy_fama.crypto import KeyPair, cga_check, cga_generate, cga_with_prefix
from scapy_fama.layers import BU, SignatureOpt
from scapy_fama.proto.dar import DarCore
from scapy_fama.proto.effects import Send
from scapy_fama.proto.messages import BindingUpdate
from tests.corpus import shared_file


def test_default_topology_is_ready(session: Session) -> None:
    assert session.names() == ["dar1", "dar2", "dar3", "cn", "mn"]
    topo = session.topo()
    assert [(d.name, d.prefix, d.address) for d in topo.dars] == [
        (f"dar{i}", f"2001:db8:{i}::/64", f"2001:db8:{i}::1") for i in (1, 2, 3)
    ]
    assert topo.hosts == [("cn", "2001:db8:ff::1")] and topo.where("mn") is None
    assert "2001:db8:2::/64" in str(topo) and "detached" in str(topo)


def test_figure1_handover_shows_bu_via_dar2_and_the_binding(session: Session) -> None:
    session.attach("mn", "dar1")
    hoa1 = session.mn().current_address
    session.flow("cn", "mn")
    chart = session.handover("mn", "dar2")
    coa2 = session.mn().current_address
    assert session.topo().where("mn") == "dar2"
    bu, ba = chart.messages("BU"), chart.messages("BA")
    assert [(r.src, r.dst, r.via) for r in bu] == [("mn", "dar1", ("dar2",))]
    assert bu[0].label.endswith("mn@dar1 cga+sig")
    assert [(r.src, r.dst, r.status) for r in ba] == [("dar1", "mn", 0)]
    assert "mn moves dar1 -> dar2" in str(chart) and "created: mn@dar1 -> mn@dar2" in str(chart)
    table = session.bc("dar1")
    row = table.binding(hoa1)
    assert row is not None and row.coa == coa2 and row.phkt and row.lifetime == 86_400
    assert hoa1 in str(table) and coa2 in str(table)
    assert session.bc("dar2").rows == []


def test_figure3_second_handover_and_tables(story: Story) -> None:
    s = story.session
    chart = s.msc(since=6.0)
    bus = {r.dst: r.label for r in chart.messages("BU")}
    assert bus["dar1"].endswith("ni+bad") and bus["dar2"].endswith("cga+sig")  # figure 4 at dar1
    assert [r.status for r in chart.messages("BA")] == [0, 0]
    assert s.bc("dar1").binding(story.hoa1).coa == story.coa3  # type: ignore[union-attr]
    assert s.bc("dar2").binding(story.coa2).coa == story.coa3  # type: ignore[union-attr]
    bul = s.bul()
    assert bul.current == story.coa3
    assert {(r.address, r.dar, r.state, r.tunnel) for r in bul.rows if r.address != story.coa3} == {
        (story.hoa1, "dar1", "bound", True),
        (story.coa2, "dar2", "bound", True),
    }
    addrs = s.addrs()
    assert [(r.anchor, r.role, r.flows) for r in addrs.rows] == [
        ("dar1", "kept", 1),
        ("dar2", "kept", 1),
        ("dar3", "current (native)", 0),
    ]
    assert addrs.row(story.hoa1).keep == "keep (1 flow(s))"  # type: ignore[union-attr]
    flows = s.flows()
    assert [(r.number, r.address, r.state) for r in flows.rows] == [
        (0, story.hoa1, "running"),
        (1, story.coa2, "running"),
    ]
    assert s.addrs().as_dict()["rows"][0]["address"] == story.hoa1


def test_stopping_a_flow_releases_its_address(story: Story) -> None:
    s = story.session
    s.stop(1)
    chart = s.run(2)
    assert any("de-reg" in r.label and r.dst == "dar2" for r in chart.messages("BU"))
    assert s.bc("dar2").binding(story.coa2) is None
    assert story.coa2 not in [r.address for r in s.addrs().rows]


def test_step_stops_at_the_next_signalling(session: Session) -> None:
    session.attach("mn", "dar1", settle=0)
    chart = session.step()
    assert chart.rows and session.net.now < 1.0


def test_breakpoint_edit_and_release(session: Session) -> None:
    session.attach("mn", "dar1")
    hoa1 = session.mn().current_address
    session.flow("cn", "mn")
    session.brk("BU", node="mn")
    chart = session.handover("mn", "dar2")
    assert "STOPPED" in chart.title and session.net.now < 3.0 + 3.0
    held = session.held()
    assert (held.kind, held.node) == ("BU", "mn") and held.pkt[BU].seq != 99
    assert session.net.hops(type(held.msg)) == []  # nothing left the MN
    assert held.as_dict()["kind"] == "BU" and bytes.fromhex(held.as_dict()["bytes"]) == bytes(
        held.pkt
    )
    held.pkt[BU].seq = 99
    sent = session.release(held)
    assert sent.verdict is not None and sent.verdict.ok  # re-signed: the edit is authentic
    later = session.run(3)
    first_ba = later.messages("BA")[0]
    assert first_ba.status == 0 and "BA 0 seq 99" in first_ba.label
    assert session.bc("dar1").binding(hoa1) is not None
    with pytest.raises(ValueError, match="nothing is held"):
        session.release()


def test_drop_makes_the_mn_retransmit(session: Session) -> None:
    session.attach("mn", "dar1")
    session.flow("cn", "mn")
    session.brk("BU")
    session.handover("mn", "dar2")
    session.drop()
    chart = session.run(3)
    assert len(chart.messages("BU")) == 1 and chart.messages("BA")[0].status == 0
    assert any("DROPPED #1" in r.label for r in session.msc().rows)


def test_a_chart_does_not_note_again_what_the_chart_before_it_ended_with(story: Story) -> None:
    """The README's story: stop(f2); step(); step() ends at dar2's "deleted: mn@dar2", and the
    handover right after it, at the same instant, drew that note again; a run() after a hold drew
    the "HELD #1" the handover had ended with. Each note is on one command's chart; msc() has them all."""
    s = story.session

    def notes(chart: object, text: str) -> int:
        return sum(text in r.label for r in chart.rows)  # type: ignore[attr-defined]

    s.stop(1)
    assert notes(s.step(), "deleted: mn@dar2") == 0  # the de-registration on its way to dar2
    stepped = s.step()
    assert notes(stepped, "deleted: mn@dar2") == 1
    s.brk("BU", node="mn")
    moved = s.handover("mn", "dar2")
    assert "STOPPED: held #1" in moved.title and notes(moved, "HELD #1") == 1
    assert notes(moved, "deleted: mn@dar2") == 0  # step's, at this chart's first instant
    s.release()
    after = s.run(3)
    assert notes(after, "HELD #1") == 0 and notes(after, "RELEASED #1") == 1
    whole = s.msc()
    assert [notes(whole, t) for t in ("deleted: mn@dar2", "HELD #1", "RELEASED #1")] == [1, 1, 1]


def test_a_hold_outside_run_stops_the_clock_and_drop_takes_it(story: Story) -> None:
    """The README's ``brk("BU"); stop(f1); run(1)`` then ``drop()``: stopping flow 0 makes the MN
    de-register HoA1 at once (no clock run); the next run() must not move the clock past that
    hold, and drop() must take that BU, so the MN's retransmission is what dar1 answers."""
    s = story.session
    s.brk("BU")
    s.stop(0)  # the de-registration BU is held here, outside any run
    before = s.net.now
    stopped = s.run(1)
    assert s.net.now == before and "STOPPED: held #1 BU from mn" in stopped.title
    assert s.net.hops(BindingUpdate)[-1].time < before  # nothing left since
    held = s.held()
    assert held.number == 1 and held.pkt[BU].mhtime == 0  # the de-registration itself
    dropped = s.drop()
    assert dropped is held and dropped.fate == "dropped" and s.intercept.held == {}
    assert "never sent" in str(dropped) and "drop(" not in str(dropped)  # no stale hint
    after = s.run(3)
    (bu,) = after.messages("BU")
    assert "de-reg" in bu.label and bu.dst == "dar1" and bu.time >= before + 1.0  # retransmitted
    assert [r.status for r in after.messages("BA")] == [0]
    assert s.bc("dar1").binding(story.hoa1) is None
    assert "still held" not in after.title and "STOPPED" not in after.title


def test_held_release_and_drop_take_the_latest_hold(session: Session) -> None:
    session.attach("mn", "dar1")
    session.flow("cn", "mn")
    session.brk("BU", once=False)
    session.handover("mn", "dar2")
    first = session.held()
    assert "release(1)" in str(first) and "drop(1)" in str(first)  # the hint names its number
    chart = session.run(2)  # the MN retransmits: the retransmission is held too
    assert "STOPPED: held #2" in chart.title
    assert session.held().number == 2 and session.held(1) is first
    session.drop()
    assert sorted(session.intercept.held) == [1]
    assert "(still held: #1)" in session.run(0).title
    with pytest.raises(TypeError, match="a held message or its number"):
        session.release("1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="#2 is not held"):
        session.drop(2)


def test_bad_times_and_folders_are_one_line(session: Session) -> None:
    for bad in ("abc", None, True):
        with pytest.raises(TypeError, match=r"run\(seconds\) is a number of seconds"):
            session.run(bad)  # type: ignore[arg-type]
    for bad in (-1, float("nan"), float("inf")):  # inf ran the virtual clock for ever
        with pytest.raises(ValueError, match=r"run\(seconds\): 0 to 86400 seconds"):
            session.run(bad)
    with pytest.raises(ValueError, match=r"run\(seconds\): 0 to 86400 seconds, not 1000000000000.0"):
        session.run(1e12)  # ran the virtual clock for ever
    with pytest.raises(ValueError, match=r"no flow #5: no flow yet"):
        session.stop(5)
    with pytest.raises(ValueError, match=r"handover\(settle=...\)"):
        session.handover("mn", "dar1", settle=-2)
    assert session.mn().link is None  # refused before anything moved
    session.attach("mn", "dar1")
    session.flow("cn", "mn", interval=0.001)  # 2000 datagrams a second: 25 s fill a command's 50,000
    with pytest.raises(ValueError, match=r"^1 running flow\(s\) would send about 52,000 datagrams in 26 s"):
        session.run(26)
    assert session.mn().link is not None and session.net.now < 4  # refused before the clock moved
    assert "nothing to show within 25 s" in session.step().title  # not 30 s: 60,000 datagrams
    with pytest.raises(ValueError, match=r"save\(\): cannot write to /proc/x: No such file"):
        session.save("/proc/x")


def test_bytes_shorter_than_an_ipv6_header_are_one_line(session: Session) -> None:
    """b"xx" and b"garbage" raised Scapy's struct.error ("unpack requires a buffer of 3 bytes"),
    and show(b"") drew a packet Scapy made up, ::1 -> ::1."""
    for command in (session.show, session.verify, lambda raw: session.send_to("dar1", raw)):
        for raw in (b"", b"xx", b"garbage", bytes(39)):
            with pytest.raises(ValueError, match=rf"^{len(raw)} bytes are no IPv6 packet: its header alone is 40"):
                command(raw)
    assert session.net.events == []  # nothing was sent


def test_raw_release_with_a_stale_checksum_is_dropped(session: Session) -> None:
    session.attach("mn", "dar1")
    session.flow("cn", "mn")
    session.brk("BU")
    session.handover("mn", "dar2")
    session.held().pkt[BU].seq = 7
    session.release(raw=True)
    session.run(1)
    (row,) = session.msc().messages("??")
    assert row.fate == "dar1 drops it: undecodable"  # the MH checksum no longer matches


def test_send_to_shows_the_reply(session: Session) -> None:
    key = KeyPair.generate(1024)
    hoa = cga_generate("2001:db8:3::/64", key, sec=0)
    coa = cga_with_prefix(hoa, "2001:db8:2::/64")
    ok = session.send_to(
        "dar3", first_bu(coa.address, hoa.address, "2001:db8:3::1", 1, 60, key, hoa.params)
    )
    assert len(ok.replies) == 1 and ok.replies[0].status == 0
    assert "answers BA 0 seq 1" in str(ok) and session.bc("dar3").binding(hoa.address) is not None
    wrong = session.send_to(
        "dar1", first_bu(coa.address, hoa.address, "2001:db8:1::1", 1, 60, key, hoa.params)
    )
    assert "answers BA 132" in str(wrong)
    refusal = next(line for line in wrong.outcome if "bu-refused" in line)
    assert refusal.endswith("status=132)")  # no reason given, none shown (not "why=")


def test_verify_and_show_use_the_topology_keys(story: Story) -> None:
    s = story.session
    first, later = s.packets("BU")[0], s.packets("BU")[1]
    v = s.verify(first)
    assert v.ok and [r.name for r in v.rows] == ["framing", "checksum", "cga", "signature"]
    assert s.verify(later).check("bad").result == "pass"  # the PHKT comes from the topology
    ba = s.verify(s.packets("BA")[0])
    assert ba.ok and ba.check("phkt").result == "pass"
    tree = s.show(first)
    cga = tree.find("CGA Parameters (RFC 3972)")
    assert cga is not None and ("collision count", "0") in cga.fields
    assert any(c[0] == "signature" and c[1] == "pass" for c in tree.find("Signature").checks)  # type: ignore[union-attr]
    assert "rsaEncryption 1024 bits" in str(tree)


def test_errors_are_one_clear_line(session: Session) -> None:
    with pytest.raises(
        ValueError, match="unknown node 'dar9': the nodes are dar1, dar2, dar3, cn, mn"
    ):
        session.bc("dar9")
    with pytest.raises(TypeError, match="cn is not a DAR"):
        session.handover("mn", "cn")
    with pytest.raises(TypeError, match="a flow joins a host and an MN"):
        session.flow("dar1", "dar2")
    with pytest.raises(ValueError, match="has no address yet"):
        session.flow("cn", "mn")
    with pytest.raises(TypeError, match="an IPv6 packet"):
        session.verify("not a packet")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no message kind 'XX'") as refused:
        session.brk("XX")
    assert str(refused.value).endswith("one of RS, RA, BU, BA, BE, CoTI, CoT, DATA, TUN, MH")  # not "??"
    session.attach("mn", "dar1")
    with pytest.raises(ValueError, match="mn is on dar1 already"):
        session.handover("mn", "dar1")


def test_breakpoint_arguments_of_the_wrong_type_are_one_line(session: Session) -> None:
    """brk(None) was an AttributeError from inside kind_named; once="no" and raw="yes" were
    truthy, so the breakpoint fired once and release() sent the bytes unsigned."""
    with pytest.raises(TypeError, match=r"^a message kind \(RS, RA, BU, .*\) or a Mobility Header type number, not NoneType None$"):
        session.brk(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^brk\(once=\.\.\.\) is True or False, not str 'no'$"):
        session.brk("BU", once="no")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^a breakpoint number, not str 'x'$"):
        session.unbrk("x")  # type: ignore[arg-type]
    assert session.brks().rows == []
    session.attach("mn", "dar1")
    session.flow("cn", "mn")
    session.brk("BU", node="mn")
    session.handover("mn", "dar2")
    with pytest.raises(TypeError, match=r"^release\(raw=\.\.\.\) is True or False, not str 'yes'$"):
        session.release(raw="yes")  # type: ignore[arg-type]
    held = session.held()
    held.pkt = None  # type: ignore[assignment]
    with pytest.raises(TypeError, match=r"^held #1\.pkt: an IPv6 packet \(Scapy\) or its bytes, not NoneType$"):
        session.release()
    assert session.held() is held  # still held: nothing left


def test_stop_msc_save_and_packets_say_what_they_take(session: Session) -> None:
    """Python's own words came out instead: "'<=' not supported between instances of 'int' and
    'str'" (stop, msc), "expected str, bytes or os.PathLike object" (save), "unhashable type"."""
    session.attach("mn", "dar1")
    session.flow("cn", "mn")
    for call, text in [
        (lambda: session.stop("0"), r"a flow or its number \(flows\(\) lists them\), not str '0'"),  # type: ignore[arg-type]
        (lambda: session.msc(since="3"), r"msc\(since=\.\.\.\) is a number of seconds, not str '3'"),  # type: ignore[arg-type]
        (lambda: session.msc(until=None, data="yes"), r"msc\(data=\.\.\.\) is True or False, not str 'yes'"),  # type: ignore[arg-type]
        (lambda: session.save(None), r"save\(\) takes a folder, not NoneType None"),  # type: ignore[arg-type]
        (lambda: session.packets({"kind": "BU"}), r"packets\(kind=\.\.\.\) takes 'BU' or 'BA', not \{'kind': 'BU'\}"),  # type: ignore[arg-type]
    ]:  # fmt: skip
        with pytest.raises((TypeError, ValueError), match=f"^{text}$"):
            call()
    assert session.flows().rows[0].state == "running"


def test_a_held_packet_replaced_by_its_bytes_is_released_re_signed(session: Session) -> None:
    """``h.pkt = bytes(...)`` (an edit made on the bytes): release() took them for a Scapy packet
    and raised AttributeError 'bytes' object has no attribute 'payload'."""
    session.attach("mn", "dar1")
    session.flow("cn", "mn")
    session.brk("BU", node="mn")
    session.handover("mn", "dar2")
    held = session.held()
    edited = held.pkt.copy()
    edited[BU].seq = 99
    held.pkt = bytes(edited)  # type: ignore[assignment]  # its checksum and signature now stale
    assert held.as_dict()["packet"] == edited.summary()
    Console(file=io.StringIO()).print(held)  # still drawn as a tree
    sent = session.release()
    assert sent.verdict is not None and sent.verdict.ok  # re-signed and checksummed
    assert session.run(3).messages("BA")[0].label.startswith("BA 0 seq 99")


def test_a_held_bu_whose_options_were_edited_is_released_with_its_lengths_made_again(
    session: Session,
) -> None:
    """Without its Signature the BU is shorter: release() refused it ("finish_bytes() needs an
    IPv6 packet carrying a whole Mobility Header") as the IPv6 Payload Length and the MH Header
    Len were the held ones. CGA Parameters without a Signature: BA 148 (profile §6 step 4)."""
    session.attach("mn", "dar1")
    session.flow("cn", "mn")
    session.brk("BU", node="mn")
    session.handover("mn", "dar2")
    held = session.held()
    held.pkt[BU].options = [o for o in held.pkt[BU].options if not isinstance(o, SignatureOpt)]
    sent = session.release()
    assert sent.find("Signature") is None and sent.find("CGA Parameters") is not None
    assert session.run(1).messages("BA")[0].status == 148
    ip = session.packets("BU")[-1]  # as it crossed the links
    assert ip.plen == len(ip) - 40 and (ip[BU].len + 1) * 8 == len(ip[BU])  # lengths of the edit


def test_the_hint_of_a_held_message_is_an_edit_that_works(session: Session) -> None:
    """A held RS said 'held(1).pkt[RS].seq = 99' (no RS layer, no seq) and 'release(1)
    (re-signed)', which sends an RS's bytes as they are."""
    session.brk("RS", node="mn")
    session.attach("mn", "dar1")
    held = session.held()
    console = Console(width=400, record=True)
    console.print(held)
    text = console.export_text()
    assert "edit its .pkt (e.g. held(1).pkt[IPv6].hlim = 1), then release(1) (the bytes as edited) or drop(1)" in text
    held.pkt[IPv6].hlim = 1  # the hint, followed: the RS leaves with it
    session.release()
    session.run(0.1)
    assert [p.hlim for p in session.packets() if p.payload.name.endswith("Router Solicitation")] == [1]
    session.run(10)  # the DAR discards it (RFC 4861 §6.1.1); the MN solicits again
    session.brk("BU", node="mn")
    session.flow("cn", "mn")
    session.handover("mn", "dar2")
    console.print(session.held())
    assert ("held(2).pkt[BU].seq = 99), then release(2) (re-signed and checksummed), "
            "release(2, raw=True) (the bytes as edited) or drop(2)") in console.export_text()


def test_save_writes_one_pcap_per_link(story: Story, tmp_path: Path) -> None:
    saved = story.session.save(tmp_path)
    assert set(saved.paths) == {"backbone", "dar1", "dar2", "dar3"}
    assert all(Path(p).stat().st_size > 24 for p in saved.paths.values())


def test_topology_from_toml_and_python(tmp_path: Path) -> None:
    toml = tmp_path / "two.toml"
    toml.write_text(
        'seed = 7\n[[dar]]\nname = "a"\nprefix = "2001:db8:a::/64"\n'
        '[[dar]]\nname = "b"\nprefix = "2001:db8:b::/64"\n'
        '[[mn]]\nname = "m"\nsec = 0\nkeep = "all"\n[[cn]]\nname = "c"\naddress = "2001:db8:ff::9"\n'
    )
    s = Session.from_file(toml)
    assert s.names() == ["a", "b", "c", "m"]
    s.attach("m", "a")
    s.handover("m", "b")
    assert len(s.bc("a").rows) == 1  # keep policy "all": no flow needed
    script = tmp_path / "one.py"
    script.write_text('net.add_dar("d", "2001:db8:d::/64")\nnet.add_mn("m", keypair=mn_key())\n')
    assert Session.from_file(script).names() == ["d", "m"]
    bad = tmp_path / "bad.toml"
    bad.write_text('[[dar]]\nname = "a"\nprefx = "2001:db8:a::/64"\n')
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['prefx'\] in \[dar\]"):
        Session.from_file(bad)


def test_the_rfcs_conservative_timings_from_toml(tmp_path: Path) -> None:
    """Profile §2, §9: the switches back to RFC 4861/4862 behaviour are topology keys."""
    toml = tmp_path / "rfc.toml"
    toml.write_text(
        '[[dar]]\nname = "a"\nprefix = "2001:db8:a::/64"\nra_delay = 0.5\n'
        "min_delay_between_ras = 3\n"
        '[[mn]]\nname = "m"\nsec = 0\noptimistic = false\nrs_delay = 1\ndad_delay = 2\n'
    )
    s = Session.from_file(toml)
    dar, mn = s.net.node("a").core.config, s.net.node("m").core.config
    assert (dar.ra_delay, dar.min_delay_between_ras) == (0.5, 3.0)
    assert (mn.optimistic, mn.rs_delay, mn.dad_delay) == (False, 1.0, 2.0)
    toml.write_text('[[dar]]\nname = "a"\nprefix = "2001:db8:a::/64"\n[[mn]]\nname = "m"\nsec = 0\n')
    s = Session.from_file(toml)
    dar, mn = s.net.node("a").core.config, s.net.node("m").core.config
    assert (dar.ra_delay, dar.min_delay_between_ras) == (0.0, 0.03)  # the profile's
    assert (mn.optimistic, mn.rs_delay) == (True, 0.0)


def test_a_second_story_on_a_loaded_session_keeps_working(session: Session) -> None:
    story = figures(session)
    with pytest.raises(ValueError):
        session.attach("mn", "dar1")
    assert session.bc("dar1").binding(story.hoa1) is not None  # the error changed nothing


def test_replay_on_an_interface_sends_the_captured_bytes(
    story: Story, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The interface path with the link stood in for (the real one is in test_replay_netns.py):
    the captured BUs go out unchanged, the answers are charted; re-signing needs coa=."""

    sent: list[bytes] = []

    class Link:
        def __init__(self, iface: str, target: str, wait: float) -> None:
            assert (iface, target) == ("eth9", "2001:db8:1::1")
            self.wait = wait

        def exchange(self, pkt: Packet) -> Packet | None:
            sent.append(bytes(pkt))
            return binding_ack(pkt, status=135, lifetime=0, seq=pkt[BU].seq)

    monkeypatch.setattr(replay_module, "_Link", Link)
    saved = story.session.save(tmp_path)
    result = story.session.replay(saved.paths["backbone"], "2001:db8:1::1", iface="eth9")
    bus = [
        c.raw
        for c in replay_module.read_capture(saved.paths["backbone"])
        if c.msg.dst == "2001:db8:1::1" and type(c.msg).__name__ == "BindingUpdate"
    ]
    assert sent == bus and len(sent) == 2
    assert result.replayed.sequence() == [("BU", None), ("BA", 135), ("BU", None), ("BA", 135)]
    assert not result.accepted
    with pytest.raises(ValueError, match="re-signed replay on a real interface needs coa="):
        story.session.replay(saved.paths["backbone"], "2001:db8:1::1", mode="re-sign", iface="eth9")
    with pytest.raises(ValueError, match="coa: not an IPv6 address: 'here'"):
        story.session.replay(
            saved.paths["backbone"], "2001:db8:1::1", mode="re-sign", iface="eth9", coa="here"
        )


def test_replay_re_signed_on_an_interface_reproduces_the_handover_at_a_fresh_dar(
    story: Story, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The link stood in for by a DarCore of another prefix behind the codec (the real link is
    in test_replay_netns.py): the BUs come from the given CoA, the first CGA-signed with a HoA
    in the target's /64, the second authorised by the PHKT the first BA carried."""
    core = DarCore("2001:db8:a::1", "2001:db8:a::/64", rand=os.urandom)
    sent: list[BindingUpdate] = []

    class Link:
        def __init__(self, iface: str, target: str, wait: float) -> None:
            self.wait = wait

        def exchange(self, pkt: Packet) -> Packet | None:
            msg = decode(bytes(pkt))
            assert isinstance(msg, BindingUpdate), msg
            sent.append(msg)
            out = [e.msg for e in core.on_message(msg, float(len(sent))) if isinstance(e, Send)]
            return IPv6(encode_bytes(out[0])) if out else None

    monkeypatch.setattr(replay_module, "_Link", Link)
    saved = story.session.save(tmp_path)
    result = story.session.replay(
        saved.paths["backbone"], "2001:db8:a::1", mode="re-sign", iface="eth9", coa="2001:db8:b::7"
    )
    assert result.same and result.replayed.sequence() == [("BU", None), ("BA", 0)] * 2
    hoa = sent[0].home_address
    assert hoa.startswith("2001:db8:a:") and cga_check(hoa, sent[0].cga_params)
    assert [(m.src, m.home_address) for m in sent] == [("2001:db8:b::7", hoa)] * 2
    assert sent[1].cga_params is None and sent[1].seq == (sent[0].seq + 1) % 65536
    binding = core.binding(hoa)
    assert binding is not None and binding.coa == "2001:db8:b::7"


def test_a_re_signed_replay_keeps_one_identity_per_home_address(story: Story, tmp_path: Path) -> None:
    """A capture whose conversation with dar1 holds the MN's HoA and a crafted second one (a CGA
    of dar3's prefix, refused with 132): re-signed, each HoA is its own identity (key, sequence
    numbers, PHKT), the second made in another DAR's prefix, so dar1 answers as it did."""
    s = story.session
    key = KeyPair.generate(1024)
    other = cga_generate("2001:db8:3::/64", key, sec=0)
    coa = cga_with_prefix(other, "2001:db8:2::/64")
    s.send_to("dar1", first_bu(coa.address, other.address, "2001:db8:1::1", 1, 60, key, other.params))
    saved = s.save(tmp_path)
    result = s.replay(tmp_path, "dar1", mode="re-sign")
    assert result.original.sequence()[-2:] == [("BU", None), ("BA", 132)]
    assert result.same and result.verdict.startswith("reproduced")
    made = [line for line in result.outcome if "of the capture ->" in line]
    assert len(made) == 2 and story.hoa1 in made[0] and other.address in made[1]
    new_home = made[1].split("-> ")[1].split()[0]
    assert not new_home.startswith("2001:db8:1:")  # not the target's prefix: 132 again
    assert saved.paths


def test_replay_reads_the_ns3_home_address_after_the_mh_as_fama_analyze_does(session: Session) -> None:
    """ns-3 puts the HAO after the Mobility Header: the replay and fama-analyze both read it, so the
    BU registers 5001:db80::200:ff:fe00:9 (not a de-registration of its source), and re-signed
    the replay reproduces BU, BA 0."""
    pcap = shared_file("ns3mipv6_prefix2-n2-i1.pcap")
    (bu,) = [c.msg for c in replay_module.read_capture(pcap) if isinstance(c.msg, BindingUpdate)]
    assert bu.hoa == "5001:db80::200:ff:fe00:9" and not bu.deregistration
    ((binding,),) = [m.bindings for m in analyze([pcap]).mns]
    assert (binding.hoa, binding.state) == (bu.hoa, "registered")
    result = session.replay(pcap, "dar1", mode="re-sign")
    assert result.same and "de-reg" not in str(result.original)


def test_a_wait_the_clock_cannot_run_is_refused_before_anything_is_sent(session: Session, tmp_path: Path) -> None:
    """send_to(dar3, bu, wait=1e6) said "error: the time to run: 0 to 86400 seconds" after the BU
    had been put on the net: the next run() delivered it and dar3 bound it. attach and handover
    moved the MN, release() sent the held message, replay() its first BU, each before the same
    refusal; so did a wait that the running flows would fill with more than 50,000 datagrams."""
    key = KeyPair.generate(1024)
    hoa = cga_generate("2001:db8:3::/64", key, sec=0)
    coa = cga_with_prefix(hoa, "2001:db8:2::/64")
    bu = first_bu(coa.address, hoa.address, "2001:db8:3::1", 1, 60, key, hoa.params)
    with pytest.raises(ValueError, match=r"^send_to\(wait=\.\.\.\): 0 to 86400 seconds, not 1000000\.0$"):
        session.send_to("dar3", bu, wait=1e6)
    with pytest.raises(ValueError, match=r"^attach\(settle=\.\.\.\): 0 to 86400 seconds"):
        session.attach("mn", "dar1", settle=1e6)
    assert session.net.events == [] and session.net.nodes["mn"].link is None
    session.attach("mn", "dar1")
    session.save(tmp_path)
    session.flow("cn", "mn", interval=0.001)  # 2,000 datagrams a second: 25 s at the most
    session.brk("BU")
    session.handover("mn", "dar2")
    seen = len(session.net.events)
    with pytest.raises(ValueError, match=r"^1 running flow\(s\) would send about 60,000 datagrams in 30 s"):
        session.release(wait=30)
    with pytest.raises(ValueError, match=r"would send about 60,000 datagrams in 30 s"):
        session.send_to("dar3", bu, wait=30)
    with pytest.raises(ValueError, match=r"would send about 60,000 datagrams in 30 s"):
        session.replay(str(tmp_path), "dar1", wait=30)
    with pytest.raises(ValueError, match=r"^handover\(settle=\.\.\.\): 0 to 86400 seconds"):
        session.handover("mn", "dar3", settle=1e6)
    assert len(session.net.events) == seen and session.held().number == 1  # nothing sent, still held
    assert session.net.nodes["mn"].link.name == "dar2"
    session.unbrk()
    session.drop()
    session.run(1)
    assert session.bc("dar3").rows == []  # the refused send_to left no BU behind
