"""fama-lab: a FAMA network on this machine, built of network namespaces (the ``fama-lab`` command).

Theory of operation
-------------------
::

    fama-lab-cn        fama-lab-core                fama-lab-darI              fama-lab-sw        fama-lab-mn
    CN (plain kernel)  kernel router                fama-dar --kernel          one bridge per
    2001:db8:ff::1 --- routes 2001:db8:I::/64 ----- upstream 2001:db8:fe:I::2  access link
                       to DAR I (forwarding on)     access 2001:db8:I::1 ----- fama-brI --------- fama-mn --kernel
                                                    (forwarding on)            (the MN's port     (forwarding off)
                                                                                moves on handover)

:mod:`~scapy_fama.lab.topology` names everything (every namespace ``fama-lab-*``,
every interface ``fama-*``) and holds the addressing plan;
:mod:`~scapy_fama.lab.links` builds namespaces, veth pairs and bridges with
iproute2; :mod:`~scapy_fama.lab.roles` starts, watches and stops the fama-dar
and fama-mn processes; :mod:`~scapy_fama.lab.emulation` chooses between tc
netem and the roles' own ``--link-delay/--link-loss``;
:mod:`~scapy_fama.lab.state` records what is up and tears it down by name,
also with no record left; :mod:`~scapy_fama.lab.apps` (TCP source and sink
with SHA-256, an ICMPv6 pinger) and :mod:`~scapy_fama.lab.capture` run inside
the namespaces; :mod:`~scapy_fama.lab.demo` is the scenario of ``fama-lab demo``.
"""
