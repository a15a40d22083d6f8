"""fama-wireshark as a user runs it: install, uninstall, path, --version, one-line errors.

Every run has its own HOME (Wireshark's personal plugin folder lives there), so nothing is
installed for the user running the tests. Where tshark with Lua is here, tshark itself says
where the plugin went (-G plugins) and that it dissects with it (a display filter on fama.*).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scapy_fama.analysis.reader import CaptureReader
from scapy_fama.wire import parse
from scapy_fama.wireshark import PLUGIN_NAME, plugin_file, plugin_version
from tests.wireshark.plugin_view import lua_skip_reason, tshark_home

ROOT = Path(__file__).resolve().parents[2]
needs_lua = pytest.mark.skipif(lua_skip_reason() is not None, reason=lua_skip_reason() or "")


def fama_wireshark(home: Path, *args: str | Path, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, HOME=str(home))
    if path is not None:
        env["PATH"] = path
    return subprocess.run([sys.executable, "-m", "scapy_fama.cli.wireshark", *map(str, args)],
                          capture_output=True, text=True, timeout=120, env=env)


def test_help_names_the_plugin_version(tmp_path: Path) -> None:
    out = fama_wireshark(tmp_path, "--help")
    version = plugin_version()
    assert out.returncode == 0 and version and f"(fama.lua {version})" in out.stdout


def test_path_prints_the_packaged_plugin(tmp_path: Path) -> None:
    out = fama_wireshark(tmp_path, "path")
    assert out.returncode == 0 and out.stdout == f"{plugin_file()}\n"
    assert plugin_version(Path(out.stdout.strip())) == plugin_version()


@pytest.mark.tshark
@needs_lua
def test_install_puts_it_where_wireshark_loads_it(tmp_path: Path) -> None:
    out = fama_wireshark(tmp_path, "install")
    assert out.returncode == 0, out.stderr
    folder = tmp_path / ".local" / "lib" / "wireshark" / "plugins"  # what tshark -G folders says for this HOME
    assert f"installed fama.lua {plugin_version()} in {folder}" in out.stdout
    assert (folder / PLUGIN_NAME).read_bytes() == plugin_file().read_bytes()
    plugins = tshark_home(tmp_path, "-G", "plugins").stdout
    assert f"fama.lua\t{plugin_version()}\tlua script\t{folder / PLUGIN_NAME}" in plugins
    fig1 = ROOT / "pcaps" / "fig1.pcapng"
    found = tshark_home(tmp_path, "-r", str(fig1), "-Y", "fama.cga.key_bits == 1024", "-T", "fields", "-e", "frame.number")
    signed = [number for number, _, ip, _, _ in CaptureReader(fig1)
              if (info := parse(ip or b"")) is not None and info.mh and any(o[0] == 12 for o in info.mh.options)]
    assert [int(n) for n in found.stdout.split()] == signed and signed  # the CGA-signed BU, on two links
    again = fama_wireshark(tmp_path, "install")
    assert again.returncode == 0 and f"(replaced {plugin_version()})" in again.stdout
    gone = fama_wireshark(tmp_path, "uninstall")
    assert gone.returncode == 0 and gone.stdout == f"removed {folder / PLUGIN_NAME}\n"
    assert "fama.lua" not in tshark_home(tmp_path, "-G", "plugins").stdout


def test_without_tshark_the_default_personal_folder_is_used(tmp_path: Path) -> None:
    out = fama_wireshark(tmp_path, "install", path="/nonexistent")
    assert out.returncode == 0, out.stderr
    folder = tmp_path / ".local" / "lib" / "wireshark" / "plugins"
    assert (folder / PLUGIN_NAME).is_file()
    assert out.stdout == (f"installed fama.lua {plugin_version()} in {folder}; Wireshark's default personal "
                          "Lua plugin folder, taken as no tshark on PATH\n")  # not "Wireshark loads it": unknown
    system = fama_wireshark(tmp_path, "install", "--system", path="/nonexistent")
    assert system.returncode == 2 and system.stdout == ""
    assert system.stderr == ("fama-wireshark: error: no tshark on PATH to say where Wireshark's global "
                             "plugin folder is: use --dir\n")


def test_a_tshark_without_lua_is_not_taken_to_load_the_plugin(tmp_path: Path) -> None:
    """A Wireshark built without Lua lists no Lua plugin folders in ``tshark -G folders`` (and
    loads no Lua plugin): the install says so instead of "Wireshark and tshark load it"."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "tshark"
    fake.write_text("#!/bin/sh\nprintf 'Temp:\\t\\t/tmp\\nPersonal configuration:\\t%s/.config/wireshark\\n"
                    "Global configuration:\\t/usr/share/wireshark\\n' \"$HOME\"\n")
    fake.chmod(0o755)
    out = fama_wireshark(tmp_path, "install", path=f"{bin_dir}:/usr/bin:/bin")
    assert out.returncode == 0, out.stderr
    assert out.stdout.endswith("; Wireshark's default personal Lua plugin folder, taken as tshark lists no Lua "
                               "plugin folders: it is built without Lua (tshark -v)\n"), out.stdout
    system = fama_wireshark(tmp_path, "install", "--system", path=f"{bin_dir}:/usr/bin:/bin")
    assert system.returncode == 2 and system.stderr == ("fama-wireshark: error: no tshark with Lua on PATH to say "
                                                        "where Wireshark's global plugin folder is: use --dir\n")
    chosen = fama_wireshark(tmp_path, "install", "--dir", tmp_path / "mine", path=f"{bin_dir}:/usr/bin:/bin")
    assert chosen.stdout.endswith("; Wireshark loads it from there if it is one of its plugin folders "
                                  "(tshark -G folders)\n"), chosen.stdout


def test_install_and_uninstall_in_a_chosen_folder(tmp_path: Path) -> None:
    folder = tmp_path / "plugins"
    assert fama_wireshark(tmp_path, "install", "--dir", folder).returncode == 0
    assert plugin_version(folder / PLUGIN_NAME) == plugin_version()
    assert fama_wireshark(tmp_path, "uninstall", "--dir", folder).returncode == 0
    missing = fama_wireshark(tmp_path, "uninstall", "--dir", folder)
    assert missing.returncode == 1 and missing.stderr == f"fama-wireshark: no fama.lua in {folder}\n"


FOREIGN = (
    "-- somebody else's plugin\n",
    # a version line is a common Lua idiom: it does not make a plugin ours
    'local VERSION = "2.1"\nset_plugin_info({ version = VERSION, description = "field-area mesh analyser" })\n',
)


@pytest.mark.parametrize("text", FOREIGN, ids=["no-version-line", "own-version-line"])
def test_a_foreign_fama_lua_is_left_alone(tmp_path: Path, text: str) -> None:
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / PLUGIN_NAME).write_text(text)
    for command in ("install", "uninstall"):
        out = fama_wireshark(tmp_path, command, "--dir", folder)
        assert out.returncode == 2 and len(out.stderr.splitlines()) == 1 and "not the FAMA plugin" in out.stderr
    assert (folder / PLUGIN_NAME).read_text() == text


def test_a_link_to_nothing_is_left_alone_and_not_written_through(tmp_path: Path) -> None:
    folder, elsewhere = tmp_path / "plugins", tmp_path / "elsewhere.lua"
    folder.mkdir()
    (folder / PLUGIN_NAME).symlink_to(elsewhere)
    for command in ("install", "uninstall"):
        out = fama_wireshark(tmp_path, command, "--dir", folder)
        assert out.returncode == 2 and len(out.stderr.splitlines()) == 1 and "not the FAMA plugin" in out.stderr
    assert (folder / PLUGIN_NAME).is_symlink() and not elsewhere.exists()


def test_a_link_to_the_packaged_plugin_is_replaced_by_a_copy(tmp_path: Path) -> None:
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / PLUGIN_NAME).symlink_to(plugin_file())
    packaged = plugin_file().read_bytes()
    out = fama_wireshark(tmp_path, "install", "--dir", folder)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"installed fama.lua {plugin_version()} in {folder} (replaced {plugin_version()})")
    target = folder / PLUGIN_NAME
    assert not target.is_symlink() and target.read_bytes() == packaged == plugin_file().read_bytes()
    target.unlink()
    target.symlink_to(plugin_file())
    out = fama_wireshark(tmp_path, "uninstall", "--dir", folder)
    assert out.returncode == 0 and not os.path.lexists(target) and plugin_file().read_bytes() == packaged


def test_a_folder_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = fama_wireshark(tmp_path, "install", "--dir", blocker / "plugins")
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1
    assert out.stderr.startswith("fama-wireshark: error: ") and "Traceback" not in out.stderr


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    for args in ((), ("frobnicate",), ("install", "--dir", "x", "--system")):
        out = fama_wireshark(tmp_path, *args)
        assert out.returncode == 2 and out.stderr.startswith("fama-wireshark") and ": error: " in out.stderr
        assert len(out.stderr.splitlines()) == 1, out.stderr
