"""fama-wireshark: put the FAMA Lua dissector where Wireshark loads it, or say where it is.

    fama-wireshark install              # into Wireshark's personal Lua plugin folder
    fama-wireshark install --system     # into the global one (as root), or --dir DIR
    fama-wireshark uninstall
    fama-wireshark path                 # the packaged plugin: tshark -X lua_script:$(fama-wireshark path)

``--help`` names the plugin's own version (the line ``local VERSION`` of fama.lua); ``--version``
is the package's, as for every command.

The folders are those ``tshark -G folders`` reports (see :mod:`scapy_fama.wireshark`); Wireshark
and tshark load the plugin when they start. Exit codes: 0 done; 1 nothing to uninstall; 2 bad
input (a foreign fama.lua in the way, a folder that cannot be written, --system without tshark).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scapy_fama.cli.common import EXIT_NEGATIVE, EXIT_OK, Parser, nonempty_path, run, version, writable_folder
from scapy_fama.wireshark import NO_LUA, NO_TSHARK, install, lua_folders, plugin_file, plugin_version, uninstall

PROG = "fama-wireshark"


def parser() -> argparse.ArgumentParser:
    ap = version(Parser(
        prog=PROG, description=f"Install the FAMA Wireshark plugin (fama.lua {plugin_version()}) where Wireshark "
                               f"loads it, or say where it is."))
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in (("install", "copy the plugin into Wireshark's Lua plugin folder"),
                       ("uninstall", "remove the plugin from Wireshark's Lua plugin folder")):
        cmd = sub.add_parser(name, help=text, description=text)
        where = cmd.add_mutually_exclusive_group()
        where.add_argument("--dir", type=nonempty_path, metavar="DIR", help="this folder instead")
        where.add_argument("--system", action="store_true", help="the global folder (for every user)")
    sub.add_parser("path", help="print where the packaged plugin is (for tshark -X lua_script: or a system install)")
    return ap


def _folder(args: argparse.Namespace) -> tuple[Path, str]:
    """Where the plugin goes, and what the install line says of it."""
    loads = "Wireshark and tshark load it when they start (tshark -G plugins lists it)"
    if args.dir is not None:
        return args.dir, "Wireshark loads it from there if it is one of its plugin folders (tshark -G folders)"
    folders = lua_folders()
    if args.system:
        if folders.system is None:
            why = "no tshark on PATH" if folders.source == NO_TSHARK else "no tshark with Lua on PATH"
            raise ValueError(f"{why} to say where Wireshark's global plugin folder is: use --dir")
        return folders.system, loads
    if folders.source in (NO_TSHARK, NO_LUA):  # not asked: the default folder, and why
        return folders.personal, f"Wireshark's default personal Lua plugin folder, taken as {folders.source}"
    return folders.personal, loads


def _main(args: argparse.Namespace) -> int:
    if args.command == "path":
        print(plugin_file())
        return EXIT_OK
    folder, said = _folder(args)
    if args.command == "install":
        writable_folder("--dir" if args.dir is not None else "plugin folder", folder)
        target, previous = install(folder)
        replaced = f" (replaced {previous})" if previous else ""
        print(f"installed fama.lua {plugin_version()} in {target.parent}{replaced}; {said}")
        return EXIT_OK
    removed = uninstall(folder)
    if removed is None:
        print(f"{PROG}: no fama.lua in {folder}", file=sys.stderr)
        return EXIT_NEGATIVE
    print(f"removed {removed}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return run(PROG, lambda: _main(args))


if __name__ == "__main__":
    sys.exit(main())
