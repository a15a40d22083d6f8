"""memlink: hub delivery, moving ports between links, the routed core, SuperSocket behaviour."""

from __future__ import annotations

from memnet import receive
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.sendrecv import sniff

from scapy_fama.net.memlink import MemLink, MemRouter


def frame(n: int) -> Ether:
    return Ether(src="02:00:00:00:00:01", dst="33:33:00:00:00:01") / IPv6(src="fe80::1", dst="ff02::1", hlim=n)


def test_a_link_is_a_hub_that_does_not_echo() -> None:
    link = MemLink("l")
    a, b, c = link.port("a"), link.port("b"), link.port("c")
    a.send(frame(7))
    assert receive(b, 1)[IPv6].hlim == 7
    assert receive(c, 1)[IPv6].hlim == 7
    assert receive(a, 0.05) is None
    assert a.mac != b.mac


def test_moving_a_port_is_a_handover() -> None:
    one, two = MemLink("one"), MemLink("two")
    mn, dar1, dar2 = one.port("mn"), one.port("dar1"), two.port("dar2")
    assert (mn.carrier, mn.epoch) == (True, 1)
    two.attach(mn)
    assert (mn.carrier, mn.epoch, mn.link) == (True, 2, two)
    mn.send(frame(1))
    assert receive(dar2, 1) is not None and receive(dar1, 0.05) is None
    mn.detach()
    assert not mn.carrier
    mn.send(frame(2))  # lost: no link
    assert receive(dar2, 0.05) is None


def test_a_closed_port_leaves_its_link() -> None:
    link = MemLink("l")
    a, b = link.port("a"), link.port("b")
    b.close()
    assert link.ports == [a]
    a.send(frame(3))  # nobody to deliver to, and no error


def test_the_router_delivers_by_longest_prefix() -> None:
    core = MemRouter()
    wide, narrow, cn = core.port("2001:db8::/32"), core.port("2001:db8:1::/64"), core.port("2001:db8:ff::1/128")
    cn.send(IPv6(src="2001:db8:ff::1", dst="2001:db8:1::9"))
    cn.send(IPv6(src="2001:db8:ff::1", dst="2001:db8:7::9"))
    cn.send(IPv6(src="2001:db8:ff::1", dst="2001:db9::1"))  # nobody's: dropped
    assert receive(narrow, 1).dst == "2001:db8:1::9"
    assert receive(wide, 1).dst == "2001:db8:7::9"
    assert receive(wide, 0.05) is None and receive(cn, 0.05) is None
    narrow.close()
    cn.send(IPv6(src="2001:db8:ff::1", dst="2001:db8:1::9"))
    assert receive(wide, 1).dst == "2001:db8:1::9"


def test_ports_work_with_scapy_sniff() -> None:
    link = MemLink("l")
    a, b = link.port("a"), link.port("b")
    for n in (1, 2):
        a.send(frame(n))
    packets = sniff(opened_socket=b, count=2, timeout=2)
    assert [p[IPv6].hlim for p in packets] == [1, 2]
