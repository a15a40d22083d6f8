"""Reading a capture for replay: another tool's BU keeps its meaning (issue 13 lifetime bug)."""

from __future__ import annotations

from pathlib import Path

from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from fama_shell.replay import read_capture
from scapy_fama.craft import phkt_bu
from scapy_fama.proto.messages import BindingUpdate
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
