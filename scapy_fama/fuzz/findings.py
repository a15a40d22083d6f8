"""Findings: a pcap and a JSON document each, minimised, replayable.

Theory of operation
-------------------
A finding is saved as two files named after its id (target, oracle and a hash
of the failure's signature)::

    <id>.pcap   packet 1: the minimised mutant, packet 2: the case as generated
                (raw IPv6, linktype 101: the exact bytes, also when truncated)
    <id>.json   fama-fuzz-finding/1: target, seed, case, family, --keep-valid,
                seed message, mutation chain and minimal chain, the failure, whether it
                replays alone (null: a Ctrl-C or SIGTERM cut that check short), how far
                the chain was minimised (:data:`MINIMISED`), and the engine ("blind", or
                "libfuzzer": the bytes of a harness input, no chain)

``fama-fuzz --replay <id>.json`` rebuilds the world from the seed, gives the
target a fresh state, runs packet 1 and applies the oracles again: the finding
reproduces when the same failure signature comes back. Minimisation is greedy
and deterministic: drop each mutation step that is not needed, then try simpler
arguments (numbers toward 0, byte strings and lists shorter) while the same
signature still comes out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from scapy.error import Scapy_Exception
from scapy.utils import RawPcapReader, RawPcapWriter

from scapy_fama.crypto.files import read_at_most
from scapy_fama.fuzz.mutators import Args
from scapy_fama.fuzz.oracles import Failure
from scapy_fama.net.sim_topology import LINKTYPE_RAW
from scapy_fama.schemas import document

FORMAT = "fama-fuzz-finding/1"
MAX_FINDING = 16 << 20  # bytes: far above any saved finding (its reproducer is in the pcap)
Chain = list[tuple[str, Args]]
# Finding.minimised: how far its minimal chain was minimised (None: a file from before it was recorded)
MINIMISED = (
    "done",  # minimised to the end (as far as minimise's budget of tries goes)
    "cut-short",  # a Ctrl-C or SIGTERM came while minimising: the shortest chain that triggered by then
    "off",  # --no-minimise: the chain as generated
    "not-alone",  # the case needs the cases before it, so no shorter chain can be tried alone
    "alone-unknown",  # a Ctrl-C or SIGTERM came while the case was run alone, before any minimising
    "no-chain",  # libFuzzer's input, no mutation chain to minimise
)


@dataclass
class Finding:
    target: str
    seed: int
    case: int
    family: str
    keep_valid: bool
    seed_message: str
    chain: Chain
    minimal_chain: Chain
    failure: Failure
    raw: bytes
    minimal_raw: bytes
    reproduced_alone: bool | None  # None: not known, its check was interrupted (Campaign.finding)
    target_options: dict[str, Any] = field(default_factory=dict)
    duplicates: int = 0
    engine: str = "blind"  # or "libfuzzer": found by a harness, no mutation chain
    minimised: str | None = None  # one of MINIMISED

    def __post_init__(self) -> None:
        if self.minimised is not None and self.minimised not in MINIMISED:
            raise ValueError(f"minimised must be one of {', '.join(MINIMISED)}, not {self.minimised!r}")

    @property
    def id(self) -> str:
        digest = hashlib.sha1(self.failure.signature.encode()).hexdigest()[:8]
        return f"{self.target.replace(':', '-').replace('.', '-')}-{self.failure.oracle}-{digest}"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            id=self.id, failure=self.failure.as_dict(), pcap=f"{self.id}.pcap",
            raw=self.raw.hex(), minimal_raw=self.minimal_raw.hex(),
            chain=[[n, a] for n, a in self.chain], minimal_chain=[[n, a] for n, a in self.minimal_chain],
        )
        return document(FORMAT, data)

    def summary(self, path: Path | None) -> dict[str, Any]:
        """Its entry in a fama-fuzz/1 summary; ``path``: its saved JSON (None: not saved)."""
        f = self.failure
        return {"id": self.id, "signature": f.signature, "oracle": f.oracle, "kind": f.kind, "case": self.case,
                "family": self.family, "duplicates": self.duplicates, "reproduced_alone": self.reproduced_alone,
                "minimised": self.minimised, "json": None if path is None else str(path)}


def save(finding: Finding, out: Path) -> Path:
    """Write ``<id>.pcap`` and ``<id>.json`` into ``out``; the JSON's path."""
    out.mkdir(parents=True, exist_ok=True)
    with RawPcapWriter(str(out / f"{finding.id}.pcap"), linktype=LINKTYPE_RAW, sync=True) as writer:
        for raw in (finding.minimal_raw, finding.raw):
            writer.write(raw)
    path = out / f"{finding.id}.json"
    path.write_text(json.dumps(finding.as_dict(), indent=1) + "\n")
    return path


def load(path: Path) -> Finding:
    """A saved finding; the reproducer bytes come from its pcap. What makes it unusable is one
    ValueError ``PATH: problem`` about the JSON file ``path`` (not there, not a finding, a key
    missing, its pcap unreadable or not one)."""
    raw = read_at_most(path, MAX_FINDING, "a fama-fuzz finding")
    try:
        data = json.loads(raw)
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ValueError(f"{path}: not a fama-fuzz finding ({exc})") from None
    # findings saved before the key was named "schema" call it "format"
    if not isinstance(data, dict) or data.get("schema", data.get("format")) != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} document")
    try:
        pcap = Path(path).with_name(data["pcap"])
        found = _finding(data)
    except (KeyError, TypeError, ValueError) as exc:  # a key missing, of another type, a bad name
        problem = f"no {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ValueError(f"{path}: not a usable {FORMAT} document ({problem})") from None
    found.minimal_raw, found.raw = _packets(path, pcap)
    return found


def _packets(path: Path, pcap: Path) -> list[bytes]:
    """The two packets of the pcap of finding ``path``: the minimised mutant, the case as generated."""
    try:
        packets = [bytes(p) for p, _ in RawPcapReader(str(pcap))]
    except (OSError, EOFError, Scapy_Exception) as exc:  # Scapy: "Not a supported capture file"
        raise ValueError(f"{path}: its pcap {pcap}: {getattr(exc, 'strerror', None) or exc}") from None
    if len(packets) != 2:
        raise ValueError(f"{path}: its pcap {pcap} holds {len(packets)} packets, not 2 (minimised, original)")
    return packets


def _finding(data: dict[str, Any]) -> Finding:
    """The finding of document ``data``, its packets not yet read (empty)."""
    return Finding(
        str(data["target"]), int(data["seed"]), int(data["case"]), str(data["family"]), bool(data["keep_valid"]),
        str(data["seed_message"]), [(n, a) for n, a in data["chain"]], [(n, a) for n, a in data["minimal_chain"]],
        Failure.from_dict(data["failure"]), b"", b"", _known(data["reproduced_alone"]),
        dict(data.get("target_options", {})), int(data.get("duplicates", 0)), str(data.get("engine", "blind")),
        data.get("minimised"),
    )


def _known(alone: object) -> bool | None:
    """``reproduced_alone`` as filed: true, false, or null (not known)."""
    return None if alone is None else bool(alone)


def _simpler(args: Args) -> Iterator[Args]:
    """Simpler variants of one step's arguments."""
    for key, value in args.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, int) and value:
            yield {**args, key: 0}
            if abs(value) > 1:
                yield {**args, key: value // 2}
        elif isinstance(value, str) and len(value) > 2 and all(c in "0123456789abcdef" for c in value):
            yield {**args, key: value[: len(value) // 2 // 2 * 2]}
        elif isinstance(value, list) and value:
            yield {**args, key: value[:-1]}


def minimise(chain: Chain, triggers: Callable[[Chain], bool], budget: int = 80) -> Chain:
    """The smallest chain (fewest steps, then simpler arguments) that still ``triggers``."""
    tries = 0

    def attempt(candidate: Chain) -> bool:
        nonlocal tries
        tries += 1
        return tries <= budget and triggers(candidate)

    for k in reversed(range(len(chain))):
        candidate = chain[:k] + chain[k + 1 :]
        if candidate and attempt(candidate):
            chain = candidate
    for k in range(len(chain)):
        improved = True
        while improved and tries < budget:
            improved = False
            name, args = chain[k]
            for simpler in _simpler(args):
                candidate = chain[:k] + [(name, simpler)] + chain[k + 1 :]
                if attempt(candidate):
                    chain, improved = candidate, True
                    break
    return chain
