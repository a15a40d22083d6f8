"""DrivenMn: the in-process MN executor with the application hook the data cases need.

Theory of operation
-------------------
On a host, applications make the MN send data; in-process the executor is that
host, so it offers ``app_send``, which hands a datagram to the core and puts
what the core sends on the link like any other frame::

    MnTester.app_send(src, dst) --> DrivenMn.app_send --> MnCore.send(...) --> Send(...) --> frames

An executor without ``app_send`` (an MN on an interface) reaches the MN's data
plane only through a UDP echo service the run names (``--mn-echo``), else the
data cases are inconclusive (:meth:`scapy_fama.conformance.mn_tester.MnTester.data_from`).
"""

from __future__ import annotations

from scapy_fama.conformance.executor import InprocMn

APP_PORT = 7000  # the UDP ports of the application datagrams


class DrivenMn(InprocMn):
    """:class:`InprocMn` whose application can send data (profile §8 cases)."""

    def app_send(self, src: str, dst: str, payload: bytes) -> None:
        what = f"sending the application's datagram at {self.virtual:.3f} s"
        self._run(what, lambda: self.mn.send(src, dst, APP_PORT, APP_PORT, payload, self.virtual))
