"""Where a shell's SimNet comes from: the default topology, a TOML or Python file, the MN key cache.

Theory of operation
-------------------
A topology is built on a :class:`~scapy_fama.net.sim.SimNet` with ``wire=True``
(every message goes through real bytes, so a held message is a Scapy packet and
``save()`` writes pcaps)::

    default:  dar1 2001:db8:1::/64   dar2 2001:db8:2::/64   dar3 2001:db8:3::/64
              cn 2001:db8:ff::1 on the backbone, mn detached (Sec 1, keep policy "flows")

    TOML:     seed = 1                      Python:  a script run with ``net`` (the SimNet)
              [[dar]]                                and ``mn_key()`` in its namespace:
              name = "dar1"                          net.add_dar("dar1", "2001:db8:1::/64")
              prefix = "2001:db8:1::/64"             net.add_mn("mn", keypair=mn_key())
              [[mn]]
              name = "mn"
              sec = 1                       TOML keys: dar: name prefix address coa_test delay loss
              keep = "flows"                                ra_delay min_delay_between_ras
              [[cn]]                                   mn: name sec keep coa_test optimistic
              name = "cn"                                   dad_delay rs_delay
              address = "2001:db8:ff::1"               cn: name address
                                                       top: seed delay loss

The RFCs' conservative timings are keys too (profile §2, §9; proto/config.py):
``optimistic = false`` waits DAD out, ``rs_delay = 1.0`` and ``ra_delay = 0.5`` bring
the random RS and RA delays back, ``min_delay_between_ras = 3.0`` RFC 4861's limit.

Start-up must take seconds, not the minutes of a cold RSA search: the MN's
RSA-1024 key is made once and kept in ``$XDG_CACHE_HOME/fama-shell/mn-key.pem``
(``~/.cache/fama-shell/`` by default; ``FAMA_SHELL_CACHE`` names another
folder, ``--fresh-key`` bypasses it). Sec 1 (the profile's default) costs one
Hash2 search of about 2^16 SHA-1s, a fraction of a second, at the MN's first
attachment only; later prefixes reuse the modifier (profile §2 step 2).

The real lab (``fama-lab``) is not a SimNet: ``fama-shell --lab`` gets a
:class:`~fama_shell.labsession.LabSession` instead.
"""

from __future__ import annotations

import math
import os
import runpy
import tomllib
import traceback
from pathlib import Path
from typing import Any

from scapy_fama.crypto import KeyPair
from scapy_fama.net.sim import SimNet
from scapy_fama.proto import DarConfig, KeepPolicy, MnConfig

DEFAULT_DARS = [(f"dar{i}", f"2001:db8:{i}::/64") for i in (1, 2, 3)]
DEFAULT_CN = ("cn", "2001:db8:ff::1")
KEY_FILE = "mn-key.pem"
DAR_TIMING = ("ra_delay", "min_delay_between_ras")  # seconds, DarConfig fields
MN_TIMING = ("dad_delay", "rs_delay")  # seconds, MnConfig fields
_KEYS = {
    "top": {"seed", "delay", "loss", "dar", "mn", "cn"},
    "dar": {"name", "prefix", "address", "coa_test", "delay", "loss", *DAR_TIMING},
    "mn": {"name", "sec", "keep", "coa_test", "optimistic", *MN_TIMING},
    "cn": {"name", "address"},
}


def cache_dir() -> Path:
    """Where the shell keeps its MN key: FAMA_SHELL_CACHE, else $XDG_CACHE_HOME/fama-shell."""
    if os.environ.get("FAMA_SHELL_CACHE"):
        return Path(os.environ["FAMA_SHELL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fama-shell"


class KeySource:
    """The MN key: loaded from the cache, or made (and cached when the folder is writable)."""

    def __init__(self, cached: bool = True) -> None:
        self.cached = cached
        self.origin = "not made yet"
        self._key: KeyPair | None = None

    def __call__(self) -> KeyPair:
        if self._key is None:
            self._key = self._load_or_make()
        return self._key

    def _load_or_make(self) -> KeyPair:
        path = cache_dir() / KEY_FILE
        if self.cached and path.is_file():
            try:
                key = KeyPair.load(path)
                self.origin = f"cached in {path}"
                return key
            except ValueError:
                pass  # unreadable or corrupt: make a new one below and overwrite it
        key = KeyPair.generate(1024)
        self.origin = "fresh (not cached)"
        if self.cached:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                key.save(path)
                self.origin = f"new, cached in {path}"
            except OSError as exc:
                self.origin = f"fresh (cannot cache: {exc.strerror})"
        return key


def default_topology(net: SimNet, key: KeySource) -> None:
    """Three DARs with their prefixes, a CN on the backbone, a detached MN."""
    for name, prefix in DEFAULT_DARS:
        net.add_dar(name, prefix)
    net.add_cn(*DEFAULT_CN)
    net.add_mn("mn", keypair=key(), config=MnConfig(sec=1))


def _check_keys(where: str, table: dict[str, Any]) -> None:
    unknown = set(table) - _KEYS[where]
    if unknown:
        raise ValueError(
            f"unknown key(s) {sorted(unknown)} in [{where}]: known {sorted(_KEYS[where])}"
        )


def _need(where: str, table: dict[str, Any], key: str) -> Any:
    if key not in table:
        raise ValueError(f"a [[{where}]] entry needs {key!r}: {table}")
    return table[key]


def _link(where: str, table: dict[str, Any], key: str, default: float | None) -> float | None:
    """A link's ``delay`` (seconds, 0 or more) or ``loss`` (a probability, 0 to 1)."""
    if key not in table:
        return default
    value = float(table[key])
    if not (0 <= value <= (1 if key == "loss" else math.inf)) or math.isinf(value):
        bound = "a probability from 0 to 1" if key == "loss" else "0 or more seconds"
        raise ValueError(f"[{where}] {key} = {table[key]!r}: {bound}")
    return value


def toml_topology(path: Path, key: KeySource) -> SimNet:
    """A SimNet built from a TOML file (keys in the module's docstring); a bad value is one
    line that names the file."""
    try:
        return _toml_topology(path, key)
    except (ValueError, TypeError) as exc:  # float("x"), KeepPolicy("bogus"), a bad prefix...
        raise ValueError(f"{path}: {exc}") from None


def _toml_topology(path: Path, key: KeySource) -> SimNet:
    try:
        spec = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"not valid TOML: {exc}") from None
    _check_keys("top", spec)
    net = SimNet(
        seed=int(spec.get("seed", 1)),
        wire=True,
        delay=_link("top", spec, "delay", 0.005),
        loss=_link("top", spec, "loss", 0.0),
    )
    for dar in spec.get("dar", []):
        _check_keys("dar", dar)
        net.add_dar(
            _need("dar", dar, "name"),
            _need("dar", dar, "prefix"),
            address=dar.get("address"),
            config=DarConfig(
                require_coa_test=bool(dar.get("coa_test", False)),
                **{k: float(dar[k]) for k in DAR_TIMING if k in dar},
            ),
            delay=_link("dar", dar, "delay", None),
            loss=_link("dar", dar, "loss", None),
        )
    for cn in spec.get("cn", []):
        _check_keys("cn", cn)
        net.add_cn(_need("cn", cn, "name"), _need("cn", cn, "address"))
    for mn in spec.get("mn", []):
        _check_keys("mn", mn)
        config = MnConfig(
            sec=int(mn.get("sec", 1)),
            keep=KeepPolicy(mn.get("keep", "flows")),
            coa_test=bool(mn.get("coa_test", False)),
            optimistic=bool(mn.get("optimistic", True)),
            **{k: float(mn[k]) for k in MN_TIMING if k in mn},
        )
        net.add_mn(_need("mn", mn, "name"), keypair=key(), config=config)
    return net


def python_topology(path: Path, key: KeySource, seed: int) -> SimNet:
    """A SimNet built by a Python script that gets ``net`` and ``mn_key`` in its namespace."""
    net = SimNet(seed=seed, wire=True)
    try:
        runpy.run_path(str(path), init_globals={"net": net, "mn_key": key})
    except Exception as exc:  # the user's script: its error on one line, with where it happened
        lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(path)]
        line = exc.lineno if isinstance(exc, SyntaxError) else (lines[-1] if lines else None)
        raise ValueError(f"{path}{f', line {line}' if line else ''}: {type(exc).__name__}: {exc}") from None
    return net


def load_topology(path: str | Path, key: KeySource, seed: int = 1) -> SimNet:
    """A SimNet from a ``.toml`` or ``.py`` file."""
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"no topology file {file}")
    if file.suffix == ".toml":
        return toml_topology(file, key)
    if file.suffix == ".py":
        return python_topology(file, key, seed)
    raise ValueError(f"{file}: a topology is a .toml or a .py file")
