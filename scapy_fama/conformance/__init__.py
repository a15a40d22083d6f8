"""fama-conformance: conformance cases for FAMA DARs and MNs, their executors and reports.

Cases (``dar_*.py``, ``mn_cases.py``) judge; executors (``executor.py``, ``iface.py``,
``iface_mn.py``, ``inproc_mn.py``) own the link and the clock; ``runner.py`` runs a
selection and ``report.py`` writes the table, JUnit, JSON and pcaps. See the CLI,
:mod:`scapy_fama.cli.conformance`.
"""
