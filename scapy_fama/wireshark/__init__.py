"""The FAMA Wireshark plugin (``fama.lua``, package data) and where Wireshark looks for it.

Theory of operation
-------------------
``fama.lua`` is a Lua dissector that Wireshark and tshark load at start from their plugin
folders, or for one run with ``tshark -X lua_script:FILE``. It carries its own version on one
line (``local VERSION = "x.y.z"``), which :func:`plugin_version` reads back, so an installed
copy can be compared with the packaged one. Where Wireshark looks is Wireshark's to say:
``tshark -G folders`` prints the "Personal Lua Plugins" and "Global Lua Plugins" folders it
uses (Wireshark >= 2.5: ``$HOME/.local/lib/wireshark/plugins`` on Linux and macOS,
``%APPDATA%\\Wireshark\\plugins`` on Windows; XDG_CONFIG_HOME moves the configuration
folder, not this one). :func:`lua_folders` asks tshark when it is installed and falls back
to those defaults when it is not::

    fama-wireshark install  --> lua_folders() --tshark -G folders--> personal folder
                                              --no tshark---------> the default for this OS
                            --> copy fama.lua there (an older copy of ours is replaced; a
                                foreign file of that name is left alone)

A ``fama.lua`` is ours when it has both the version line and the plugin-info line naming
scapy-fama (``repository = "scapy-fama",``): a version line alone is a common Lua idiom that
another plugin of that name may well have. A symbolic link is never written or removed through:
a link to a copy of ours is replaced by a copy (or removed); a link to anything else, or to
nothing, is left alone like a foreign file.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

PLUGIN_NAME = "fama.lua"
_VERSION_LINE = re.compile(r'^local VERSION = "([^"]+)"$', re.M)
_OWNER_LINE = re.compile(r'^\s*repository = "scapy-fama",?$', re.M)  # in set_plugin_info
TSHARK_TIMEOUT = 30.0  # seconds for ``tshark -G folders`` (it loads every dissector)


def plugin_file() -> Path:
    """The packaged plugin (what ``tshark -X lua_script:`` takes)."""
    return Path(str(resources.files(__package__) / PLUGIN_NAME))


def plugin_version(path: Path | None = None) -> str | None:
    """The version of a FAMA plugin file (the packaged one by default); None if the file is not
    ours (no version line, or no plugin-info line naming scapy-fama) or cannot be read."""
    try:
        text = (path or plugin_file()).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    found = _VERSION_LINE.search(text)
    return found.group(1) if found and _OWNER_LINE.search(text) else None


def _present(target: Path) -> bool:
    """A file, a folder or a link (even one to nothing) is at ``target``."""
    return target.exists() or target.is_symlink()


@dataclass(frozen=True)
class LuaFolders:
    """Where Wireshark loads Lua plugins from, and who said so."""

    personal: Path
    system: Path | None  # None when no tshark could say
    source: str  # "tshark -G folders", or why Wireshark's default folder is taken: NO_TSHARK, NO_LUA


def _default_personal() -> Path:
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA", Path.home())) / "Wireshark" / "plugins"
    return Path.home() / ".local" / "lib" / "wireshark" / "plugins"


NO_TSHARK = "no tshark on PATH"
NO_LUA = "tshark lists no Lua plugin folders: it is built without Lua (tshark -v)"


def lua_folders(tshark: str | None = None) -> LuaFolders:
    """Wireshark's personal and global Lua plugin folders (``tshark -G folders`` when found;
    a Wireshark built without Lua lists none, and loads no Lua plugin)."""
    tshark = tshark or shutil.which("tshark")
    if tshark is not None:
        try:
            out = subprocess.run([tshark, "-G", "folders"], capture_output=True, text=True,
                                 timeout=TSHARK_TIMEOUT, check=True).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        folders = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        personal = folders.get("Personal Lua Plugins", "").strip()
        system = folders.get("Global Lua Plugins", "").strip()
        if personal:
            return LuaFolders(Path(personal), Path(system) if system else None, "tshark -G folders")
    return LuaFolders(_default_personal(), None, NO_TSHARK if tshark is None else NO_LUA)


def install(folder: Path) -> tuple[Path, str | None]:
    """Copy the plugin into ``folder``; returns the path and the version it replaced (or None).

    Refuses (ValueError) to overwrite a ``fama.lua`` that is not this plugin.
    """
    target = folder / PLUGIN_NAME
    previous = None
    if _present(target):
        previous = plugin_version(target)
        if previous is None:
            raise ValueError(f"{target} exists and is not the FAMA plugin: remove it first")
        if target.is_symlink():  # a copy in its place, not one written through the link
            target.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(plugin_file(), target)
    return target, previous


def uninstall(folder: Path) -> Path | None:
    """Remove the plugin from ``folder``; returns the removed path, None if it was not there.

    Refuses (ValueError) to remove a ``fama.lua`` that is not this plugin.
    """
    target = folder / PLUGIN_NAME
    if not _present(target):
        return None
    if plugin_version(target) is None:
        raise ValueError(f"{target} is not the FAMA plugin: left in place")
    target.unlink()
    return target
