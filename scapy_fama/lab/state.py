"""What is up: the lab's record in its state directory, and tearing it all down by name.

Theory of operation
-------------------
``up`` writes ``<dir>/state.json`` (the number of DARs, the link emulation, the
secure mode, each role's pid and command, the DAR the MN is attached to);
``<dir>/logs/`` holds the roles' logs and the demo's files and stays after
``down`` for a post-mortem, until the next ``up`` clears it. The directory is
``$FAMA_LAB_DIR`` or ``/run/fama-lab``.

``down`` removes the record before it stops anything, and a command that changes the
lab rewrites the record only while it exists (:meth:`LabState.update`): a command
running when ``down`` began (``demo``, ``handover``) sees the record gone and says the lab
was taken down (:class:`LabGone`), not that a role it stopped exited, and does not bring
back the record of a lab that no longer exists.

The record is a convenience, never the truth about what exists: a lab is *up*
when any ``fama-lab-*`` namespace exists, and :func:`down` works from names
alone (after a crash, with no record or a stale one)::

    first:                           remove state.json
    fama-lab-mn:                     SIGTERM its processes (ip netns pids), SIGKILL after 5 s
    then every other fama-lab-*:     the same
    then:                            ip netns del each one (its links go with it)

The MN goes first because fama-mn de-registers its bindings at exit and waits
for the BAs (at most a second): with the DARs and the core still running they
come in a round trip, and the DARs' logs end with their ``binding-deleted``.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from scapy_fama.lab.emulation import Emulation
from scapy_fama.lab.links import LabError, delete_namespace, lab_namespaces, namespace_pids
from scapy_fama.lab.roles import Role, stop
from scapy_fama.lab.topology import Topology, namespace


class LabGone(LabError):
    """``fama-lab down`` removed the lab while a command was using it."""

    def __init__(self) -> None:
        super().__init__("the lab was taken down (fama-lab down) while this command ran")


def state_dir() -> Path:
    return Path(os.environ.get("FAMA_LAB_DIR", "/run/fama-lab"))


def log_dir() -> Path:
    return state_dir() / "logs"


def _state_file() -> Path:
    return state_dir() / "state.json"


@dataclass
class LabState:
    dars: int
    emulation: Emulation
    secure: bool
    rfc_timers: bool = False  # the RFCs' attachment timers, not the profile's (fama-lab up --rfc-timers)
    attached: int = 1
    pids: dict[str, int] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)

    @property
    def topology(self) -> Topology:
        return Topology(self.dars)

    def _text(self) -> str:
        return json.dumps(asdict(self), indent=1) + "\n"

    def save(self) -> None:
        """Write the record of a lab that ``up`` is building."""
        _state_file().write_text(self._text(), encoding="utf-8")

    def update(self) -> None:
        """Rewrite the record of the lab that is up; :class:`LabGone` when ``down`` has removed it."""
        try:
            with _state_file().open("r+", encoding="utf-8") as record:
                record.truncate()
                record.write(self._text())
        except FileNotFoundError:
            raise LabGone() from None

    @classmethod
    def load(cls) -> LabState | None:
        """The recorded lab, or None when there is no record or it does not parse."""
        try:
            data = json.loads(_state_file().read_text(encoding="utf-8"))
            return cls(
                dars=data["dars"],
                emulation=Emulation(**data["emulation"]),
                secure=data["secure"],
                rfc_timers=data.get("rfc_timers", False),
                attached=data["attached"],
                pids=data["pids"],
                roles={node: Role(r["node"], tuple(r["argv"])) for node, r in data["roles"].items()},
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None


def require_record() -> None:
    """:class:`LabGone` when the record is gone: ``down`` has begun."""
    if not _state_file().exists():
        raise LabGone()


def fresh_dirs() -> None:
    """An empty log directory for a new lab."""
    shutil.rmtree(log_dir(), ignore_errors=True)
    log_dir().mkdir(parents=True)


def down() -> list[str]:
    """Remove the record, stop every process in a ``fama-lab-*`` namespace, the MN's first,
    and delete the namespaces; their names."""
    _state_file().unlink(missing_ok=True)
    namespaces = lab_namespaces()
    mn = [ns for ns in namespaces if ns == namespace("mn")]
    for group in (mn, [ns for ns in namespaces if ns not in mn]):
        stop([pid for ns in group for pid in namespace_pids(ns)])
    for ns in namespaces:
        delete_namespace(ns)
    return namespaces
