"""pyproject.toml lists the packages by hand (shell/ installs as fama_shell, which package
discovery cannot express): every package directory must be in that list, or a plain
``pip install .`` would leave it out while an editable install hides the gap."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import fama_launch

ROOT = Path(__file__).resolve().parents[2]


def _package_inits() -> list[Path]:
    """The committed ``__init__.py`` files under scapy_fama/ (the tree's, outside a git checkout)."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "scapy_fama"], cwd=ROOT, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return list((ROOT / "scapy_fama").rglob("__init__.py"))
    return [ROOT / line for line in out.stdout.splitlines() if line.endswith("/__init__.py")]


def test_every_package_directory_is_listed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    assert config["package-dir"] == {"fama_shell": "shell"}
    found = {".".join(init.parent.relative_to(ROOT).parts) for init in _package_inits()}
    assert found <= listed, f"add {sorted(found - listed)} to [tool.setuptools] packages"
    assert "fama_shell" in listed and (ROOT / "shell" / "__init__.py").is_file()


def test_the_entry_point_is_declared() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["fama-shell"] == "fama_launch:fama_shell"
    assert fama_launch.COMMANDS["fama-shell"] == "fama_shell.cli:main"
