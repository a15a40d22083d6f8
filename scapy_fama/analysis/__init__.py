"""Capture analysis (fama-analyze): handovers, bindings, verification, tunnels and findings.

Theory of operation
-------------------
A tool layer over the bridge (DESIGN.md): it reads captures, never sends. The
modules form one pipeline, each stage cheaper per packet than the next is::

    reader       pcap/pcapng records -> IPv6 bytes             ~1 µs a frame, memory flat
    classify     wire.parse: data counted, signalling on        ~1-3 µs a data frame
    signalling   a Signal per MH / ND packet (Scapy only here)  tens of µs to 1 ms
    reconstruct  bindings, exchanges, verification, MNs, handovers, address tests (CoTI/HoTI)
    pmip         PMIPv6 (RFC 5213, and pmip6d's older numbers): proxy BUs/BAs, LMA, MAGs, nodes
    findings     what is wrong, with packet numbers
    analyze      the driver: files in, an Analysis out
    report       the fama-analyze/1 JSON document and the rich report
    plot         a PNG timeline per MN (matplotlib, imported on demand)

Only :mod:`scapy_fama.cli.analyze` imports this package.
"""
