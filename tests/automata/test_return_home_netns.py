"""fama-dar --kernel on a return home: another DAR's BA to the MN comes after the home
de-registration, and reaches the MN on the link, never the CoA it has left (profile §7).

The bed of the adversarial tests (hostile.py): fama-dar in a namespace of its own whose
kernel forwards, this process on the veth's other end playing the MN and, beyond the
link, another DAR. The MN registers its HoA from a CoA beyond the link (a CGA-signed BU,
the BA brings the PHKT), so the DAR's kernel routes the HoA into the tunnel. Then the MN
is back: its home de-registration and, right behind it, the BA a second DAR sends to the
MN's new CoA, the HoA itself, reach the DAR's kernel while the DAR's process is stopped
(late, as a loaded machine makes it: the binding is still in the kernel's routes). The BA
must come out on the link to the HoA once the DAR has handled the de-registration, with
one hop taken, and not go into the tunnel to the CoA the MN has left. The frames are read
here by hand after RFC 8200 §3 (Next Header, Hop Limit) and RFC 6275 §6.1 (the MH's type
at byte 2).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostile import DAR, PREFIX, Bed, Identity, Seen, a16, ba_fields, bed, dst_of, ipv6, is_ba, kernel_echo, mh, run, unusable, until

from scapy_fama.codec import encode_bytes
from scapy_fama.crypto import KeyPair, kbm
from scapy_fama.proto.messages import BindingUpdate

pytestmark = pytest.mark.netns

COA = "2001:db8:2::7"  # the MN's CoA beyond the link (routed via us)
OTHER_DAR = "2001:db8:3::1"
IPV6_IN_IPV6, MH = 41, 135


@pytest.fixture
def dar(tmp_path: Path) -> Iterator[Bed]:
    """fama-dar --kernel on the veth, forwarding, its prefix on the link, ready (first RA)."""
    if (why := unusable()) is not None:
        pytest.skip(why)
    with bed(tmp_path) as made:
        run("ip", "netns", "exec", made.role_ns, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
        run("ip", "-n", made.role_ns, "-6", "route", "add", PREFIX, "dev", "fama-hr")
        made.start_dar("--kernel")
        yield made
        assert made.stop() == 0, made.diagnosis()


def _mh_type(seen: Seen) -> int | None:
    ip = seen.ip
    return ip[42] if len(ip) > 42 and ip[6] == MH else None


def _other_ba(seen: Seen) -> bool:
    """The second DAR's BA, on the link or inside a tunnel (its source behind the outer header)."""
    ip = seen.ip
    inner = ip[40:] if len(ip) > 80 and ip[6] == IPV6_IN_IPV6 else ip
    return len(inner) > 42 and inner[6] == MH and inner[42] == 6 and inner[8:24] == a16(OTHER_DAR)


def test_another_dar_s_ba_after_the_home_de_registration_reaches_the_mn_on_the_link(dar: Bed) -> None:
    wire = dar.wire
    assert wire is not None
    mn = Identity.make(KeyPair.generate(1024))
    wire.answers[mn.hoa] = wire.mac  # the MN, home again, answers the NS for its HoA

    wire.to(dar.role_mac, mn.first_bu(COA))  # registered away: the kernel tunnels the HoA
    ba = wire.collect(lambda s: is_ba(s.ip))[-1]
    assert ba_fields(ba.ip) == (0, mn.seq) and dst_of(ba) == COA
    mn.take(ba.ip)
    until(lambda: "fama-tun" in run("ip", "-n", dar.role_ns, "-6", "route", "show", mn.hoa), "the HoA's route")

    mn.seq += 1  # back home: the de-registration (RFC 6275 §11.5.4), PHKT-authorised (profile §4)
    # from the HoA, so no HAO; Kbm of the home token alone (RFC 6275 §5.2.5)
    home = BindingUpdate(mn.hoa, DAR, None, mn.seq, 0, nonce_indices=(0, 0), auth_key=kbm(mn.phkt, deregistration=True))
    # RFC 6275 §6.1.8: status 0, K clear, sequence 9, lifetime 0, PadN of 2 bytes (§6.2.1)
    other = ipv6(OTHER_DAR, mn.hoa, MH, mh(6, bytes.fromhex("0000 0009 0000 0102 0000"), OTHER_DAR, mn.hoa))
    assert dar.process is not None
    dar.process.send_signal(signal.SIGSTOP)  # the DAR late, as a loaded machine makes it
    try:
        wire.to(dar.role_mac, encode_bytes(home))
        wire.to(dar.role_mac, other)
        fenced = kernel_echo(dar)  # the kernel has taken both, the binding still in its routes
    finally:
        dar.process.send_signal(signal.SIGCONT)

    answered: set[str] = set()

    def both(seen: Seen) -> bool:
        if _other_ba(seen):
            answered.add("other")
        if is_ba(seen.ip) and seen.ip[8:24] == a16(DAR) and ba_fields(seen.ip)[1] == mn.seq:
            answered.add("home")
        return answered == {"home", "other"}

    for early in fenced:  # the home BA is not among them: the DAR was stopped
        both(early)
    seen = [*fenced, *wire.collect(both)]
    (came,) = [s for s in seen if _other_ba(s)]  # one copy, on the link or in the tunnel
    assert came.ip[6] == MH and dst_of(came) == mn.hoa  # on the link, not into the tunnel to COA
    assert came.ip[7] == 63 and came.ip[8:] == other[8:]  # one hop taken, the rest as sent
    assert came.frame[:6] == wire.mac and came.frame[6:12] == dar.role_mac
