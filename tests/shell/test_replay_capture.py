"""Reading a capture for replay: another tool's BU keeps its meaning (issue 13 lifetime bug), and
copies and folders are read as fama-analyze reads them (issue 16.8: one rule)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from fama_shell.replay import read_capture
from fama_shell.session import Session
from scapy_fama.craft import phkt_bu
from scapy_fama.proto.messages import BindingAck, BindingUpdate
from scapy_fama.wire import parse

DAR, HOA, COA = "2001:db8:1::1", "2001:db8:1::77", "2001:db8:2::77"


def _with_checksum_zero(raw: bytes) -> bytes:
    """As ns-3 sends its BUs: the MH checksum never computed (profile §6 step 1 refuses it)."""
    info = parse(raw)
    assert info is not None and info.mh is not None
    off = info.mh.offset
    return raw[: off + 4] + b"\0\0" + raw[off + 6 :]


def test_a_refused_bu_is_read_with_its_lifetime_in_seconds(tmp_path: Path) -> None:
    raw = _with_checksum_zero(bytes(phkt_bu(COA, HOA, DAR, 7, 600, bytes(8))))
    assert IPv6(raw)["Binding Update"].mhtime == 150  # 600 s in 4-second units (RFC 6275 §6.1.7)
    wrpcap(str(tmp_path / "other-tool.pcap"), [Ether(dst="02:00:00:00:00:01") / IPv6(raw)])  # a MAC given: Scapy would solicit one
    (captured,) = read_capture(tmp_path / "other-tool.pcap")
    bu = captured.msg
    assert isinstance(bu, BindingUpdate) and (bu.seq, bu.hoa, bu.lifetime) == (7, HOA, 600)
    assert any("checksum" in problem for problem in bu.framing)  # read leniently, and says why


PCAPS = Path(__file__).resolve().parents[2] / "pcaps"


def _sequence(path: Path) -> list[tuple[str, int | None]]:
    return [("BU", None) if isinstance(c.msg, BindingUpdate) else ("BA", c.msg.status) for c in read_capture(path)]


def test_a_bu_sent_again_is_read_again_and_its_copies_on_other_links_once(tmp_path: Path) -> None:
    """Two capture points (files) that see one BU within the window hold one transmission; the
    same bytes at one capture point three seconds later are a second one (a replayed BU)."""
    bu = IPv6(bytes(phkt_bu(COA, HOA, DAR, 7, 600, bytes(8))))
    at = {"a": [(100.0, bu), (103.0, bu)], "b": [(100.004, bu)]}
    for link, sent in at.items():
        pkts = []
        for when, pkt in sent:
            copy = pkt.copy()
            copy.time = when
            pkts.append(copy)
        wrpcap(str(tmp_path / f"{link}.pcap"), pkts)
    assert [c.time for c in read_capture(tmp_path)] == [100.0, 103.0]


def test_the_replayed_bu_of_fail135_is_replayed_too(session: Session) -> None:
    """fail135.pcapng: the MN's first BU seen on two links, then sent again byte for byte from the
    backbone and refused with 135 (its truth file, from the scenario). The replay reads the two
    BUs the truth holds and, re-signed, reproduces BA 0 then BA 135 (it read one BU before)."""
    truth = json.loads((PCAPS / "fail135.truth.json").read_text())
    captured = read_capture(PCAPS / "fail135.pcapng")
    bus = [c.msg for c in captured if isinstance(c.msg, BindingUpdate)]
    assert [(b.home_address, b.seq) for b in bus] == [(t["hoa"], t["seq"]) for t in truth["bus"]]
    statuses = sorted(c.msg.status for c in captured if isinstance(c.msg, BindingAck))
    assert statuses == sorted(int(s) for s, n in truth["statuses"].items() for _ in range(n))
    result = session.replay(PCAPS / "fail135.pcapng", "dar1", mode="re-sign")
    assert result.original.sequence() == [("BU", None), ("BA", 0), ("BU", None), ("BA", 135)]
    assert result.same, str(result.outcome)


@pytest.mark.parametrize("name", ["fig3.pcapng", "lab.pcap"])
def test_a_folder_is_read_as_fama_analyze_reads_it(name: str, tmp_path: Path) -> None:
    """A folder's captures are its *.pcap, *.pcapng and *.cap files, as for fama-analyze (a folder
    of pcapng files was 'no .pcap file')."""
    shutil.copy(PCAPS / name, tmp_path / name)
    assert _sequence(tmp_path) == _sequence(PCAPS / name) and _sequence(tmp_path)


@pytest.mark.parametrize("name", ["fail148", "fig3"])
def test_a_forged_bu_is_replayed_forged(name: str, session: Session) -> None:
    """fail148.pcapng: after figure 1, a BU with the MN's CGA Parameters and a signature that is not
    the MN's, refused with 148 (its truth file marks it forged). Re-signed, that BU alone is signed
    with another key and refused again for its signature: reproduced (it was accepted, BA 0)."""
    truth = json.loads((PCAPS / f"{name}.truth.json").read_text())
    result = session.replay(PCAPS / f"{name}.pcapng", "dar1", mode="re-sign")
    assert result.same, str(result.outcome)
    forged = [line for line in result.outcome if "signed with another key" in line]
    assert len(forged) == sum(1 for bu in truth["bus"] if bu["forged"] and bu["dar"] == "2001:db8:1::1")
    assert all("status=148, why=RSA signature does not verify" in line for line in forged)


def test_a_replay_that_differs_says_where(session: Session) -> None:
    """fail147.pcapng: DAR1 restarted and forgot its PHKTs, so the MN's PHKT BU got 147. That state
    is not in the packets: re-signed, the PHKT BU is accepted, and the verdict names that message."""
    result = session.replay(PCAPS / "fail147.pcapng", "dar1", mode="re-sign")
    assert result.original.sequence()[:4] == [("BU", None), ("BA", 0), ("BU", None), ("BA", 147)]
    assert result.verdict == ("NOT reproduced: the sequences differ at message 4: the capture's BA 147, "
                              "the replay's BA 0")


def test_proxy_bus_are_not_re_signed(shared_pcaps: Path, session: Session) -> None:
    """pmip6d's Proxy BUs all carry seq 0 (ordered by Timestamp, RFC 5213 §5.5): re-signed they
    became one repeated sequence number and a string of BA 135. There is no MN's own handover to
    re-make: refused in one line, naming the capture's first BU; as-is still plays them."""
    pcap = shared_pcaps / "oai-pmip6_lma2mags.pcap"
    with pytest.raises(ValueError, match=r"^re-sign: BU seq 0 at 0\.000 s of the capture is a Proxy BU \(RFC 5213\)"):
        session.replay(pcap, "dar1", mode="re-sign")
    assert [t for t, _ in session.replay(pcap, "dar1").original.sequence()][:2] == ["BU", "BA"]


@pytest.mark.parametrize(("pcap", "target", "captured"), [
    ("fig3.pcapng", "dar2", "2001:db8:1::1"),  # ours, the BUs to DAR 1
    ("ns3mipv6_prefix2-n2-i1.pcap", "dar1", "5001:db80::200:ff:fe00:6"),  # another tool's DAR
])  # fmt: skip
def test_as_is_against_another_dar_says_no_bu_was_for_it(
    pcap: str, target: str, captured: str, session: Session, shared_pcaps: Path
) -> None:
    """As-is keeps the captured destination: the target forwards the BUs (or cannot) and never
    answers them. The verdict said "no answer reached this host: the target dropped the BUs"."""
    path = PCAPS / pcap if (PCAPS / pcap).exists() else shared_pcaps / pcap
    result = session.replay(path, target)
    assert all(captured in line for line in result.outcome)  # forwarded towards it, or no route
    assert result.verdict == (
        f"not a test of {target}: as-is keeps the capture's destination, {captured}, "
        "so no BU was for it; mode='re-sign' plays the handover against it"
    )
    assert session.replay(PCAPS / "fig3.pcapng", "dar1").elsewhere is None  # its own DAR


def test_replay_arguments_are_checked_before_anything_is_sent(session: Session) -> None:
    """dar= in another spelling of the capture's DAR found 'no BU to 2001:db8:1:0::1'; coa= on
    SimNet was ignored without a word; wait=-1 was blamed on 'the time to run'; pcap=None was
    Python's 'expected str, bytes or os.PathLike object'."""
    pcap = PCAPS / "fig3.pcapng"
    assert session.replay(pcap, "dar1", dar="2001:db8:1:0:0::1").original.title.endswith("DAR 2001:db8:1::1")
    sent = len(session.net.events)
    for kwargs, error, text in [
        ({"dar": "garbage"}, ValueError, r"replay\(dar=\.\.\.\): not an IPv6 address: 'garbage'"),
        ({"coa": "2001:db8:2::7"}, ValueError, r"replay\(coa=\.\.\.\) is for a re-signed replay on a real interface \(iface=\)$"),
        ({"wait": -1}, ValueError, r"replay\(wait=\.\.\.\): 0 to 86400 seconds, not -1$"),  # a run of the clock
        ({"pcap": None}, TypeError, r"replay\(pcap=\.\.\.\) is a capture or a folder of them, not NoneType None$"),
    ]:  # fmt: skip
        with pytest.raises(error, match=f"^{text}"):
            session.replay(**{"pcap": pcap, "target": "dar1", "mode": "re-sign", **kwargs})
    assert len(session.net.events) == sent  # nothing was sent, no time ran


def test_an_accepted_as_is_replay_does_not_claim_the_target_held_no_record(session: Session) -> None:
    """fail147 after fail135 (one HoA): the DAR holds the binding at seq 16981 and answers the
    first replayed BU 135, then takes two with newer numbers. The verdict said "it held no record
    of this binding", which its own BA 135 had just contradicted."""
    session.replay(PCAPS / "fail135.pcapng", "dar1")
    result = session.replay(PCAPS / "fail147.pcapng", "dar1")
    assert result.replayed.sequence()[:2] == [("BU", None), ("BA", 135)]
    assert result.verdict == (
        "ACCEPTED: the target took 2 replayed BU(s): it held no record of the binding, "
        "or only an older sequence number (the one freshness check, RFC 6275 §9.5.1)"
    )


def _records(pcap: bytes) -> list[int]:
    """Where each record of a little-endian pcap file starts (its 24-byte file header, then a
    16-byte header per record whose third word is the bytes stored: pcap's format, read by hand)."""
    assert pcap[:4] == b"\xd4\xc3\xb2\xa1"
    starts, at = [], 24
    while at < len(pcap):
        starts.append(at)
        at += 16 + int.from_bytes(pcap[at + 8 : at + 12], "little")
    return starts


def test_a_capture_cut_short_is_replayed_up_to_the_break_and_says_so(session: Session, tmp_path: Path) -> None:
    """A pcap cut in the middle of a frame was replayed up to the break without a word, as if the
    handover had ended there: now one warning line says where it broke (as fama-analyze says)."""
    whole = (PCAPS / "lab.pcap").read_bytes()
    second_bu = 89  # lab.pcap's frames 31 and 32 are its first BU and BA, 89 the next BU (checked below)
    start, end = _records(whole)[second_bu - 1 : second_bu + 1]
    assert _sequence_of(whole[:end], tmp_path)[2:] == [("BU", None)]
    (tmp_path / "cut.pcap").write_bytes(whole[: start + 16 + 30])  # 30 bytes of its 80-odd
    result = session.replay(tmp_path / "cut.pcap", "dar1")
    assert result.original.sequence() == _sequence_of(whole[:start], tmp_path) == [("BU", None), ("BA", 0)]
    warned = [line for line in str(result).splitlines() if line.startswith("warning:")]
    assert warned == [f"warning: cut.pcap: cut short in the packet data of frame {second_bu} at byte {start + 46}: "
                      "its frames up to the break are read"]


def _sequence_of(pcap: bytes, tmp_path: Path) -> list[tuple[str, int | None]]:
    """The BU/BA sequence of a whole pcap file's bytes (no break in it)."""
    (tmp_path / "whole.pcap").write_bytes(pcap)
    return _sequence(tmp_path / "whole.pcap")


def test_a_folder_with_a_file_that_is_no_capture_replays_the_rest(session: Session, tmp_path: Path) -> None:
    """A file of a folder that is no capture stopped the replay with its error, where fama-analyze
    (whose reading the replay follows) warns of it and reads the rest: now the same, one line."""
    shutil.copy(PCAPS / "lab.pcap", tmp_path / "lab.pcap")
    (tmp_path / "notes.pcap").write_bytes(b"not a capture")
    result = session.replay(tmp_path, "dar1", mode="re-sign")
    alone = Session.default().replay(PCAPS / "lab.pcap", "dar1", mode="re-sign")
    assert result.original.sequence() == alone.original.sequence() and result.same and alone.cut == []
    assert result.cut == ["notes.pcap: not a pcap or pcapng file (magic 6e6f7420): skipped"]


def test_a_capture_cut_before_its_first_bu_is_one_line_naming_the_break(session: Session, tmp_path: Path) -> None:
    whole = (PCAPS / "lab.pcap").read_bytes()
    (tmp_path / "early.pcap").write_bytes(whole[:200])  # the first record whole, the second cut
    with pytest.raises(ValueError) as error:
        session.replay(tmp_path / "early.pcap", "dar1")
    assert str(error.value) == ("the capture holds no Binding Update to replay; early.pcap: cut short in the packet "
                                "data of frame 2 at byte 200: its frames up to the break are read")


def test_an_empty_path_is_one_line_not_the_current_folder(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """replay("", dar1): Path("") is ".", so an empty path replayed the captures of the folder the
    shell ran in (or said that folder held none). Now one line, and nothing is sent."""
    shutil.copy(PCAPS / "lab.pcap", tmp_path / "lab.pcap")
    monkeypatch.chdir(tmp_path)
    sent = len(session.net.events)
    with pytest.raises(ValueError, match="^an empty path names no capture: name a capture or a folder of them$"):
        session.replay("", "dar1")
    assert len(session.net.events) == sent


def test_a_capture_of_a_link_type_the_reader_does_not_know_says_which(session: Session, tmp_path: Path) -> None:
    """lab.pcap with link type 106 in its file header (pcap's link type: bytes 20-23): its frames
    are not read, and the error said only "holds no Binding Update", as if the capture had none."""
    whole = bytearray((PCAPS / "lab.pcap").read_bytes())
    assert whole[20:24] == (1).to_bytes(4, "little")  # Ethernet
    whole[20:24] = (106).to_bytes(4, "little")
    (tmp_path / "other-link.pcap").write_bytes(whole)
    skipped = (f"other-link.pcap: link type 106, which scapy-fama does not read (it reads IPv6 over raw IP, "
               f"Ethernet, Linux SLL/SLL2 and BSD loopback): its {len(_records(bytes(whole)))} frames were left unread")
    with pytest.raises(ValueError) as error:
        session.replay(tmp_path / "other-link.pcap", "dar1")
    assert str(error.value) == "the capture holds no Binding Update to replay; " + skipped
    shutil.copy(PCAPS / "lab.pcap", tmp_path / "lab.pcap")  # in a folder with a capture it reads: a warning
    assert session.replay(tmp_path, "dar1").cut == [skipped]
