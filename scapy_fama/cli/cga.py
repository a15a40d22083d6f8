"""fama-cga: generate, verify and show CGAs (RFC 3972), like SEND's cgatool.

    fama-cga gen --prefix 2001:db8:1::/64 --sec 1 --key mn.pem --out mn.params
    fama-cga verify 2001:db8:1::2c3f:... mn.params
    fama-cga show mn.params

``gen`` refuses a prefix with host bits set (they would be dropped), says on stderr when
its new key is not saved (no ``--key``: nothing can sign for the address) and, before a
Sec 2 search, how many Hash2 trials it expects (RFC 3972 §4: 2^(16*Sec)). With ``--json``
each prints one document, named in its first key ``schema`` (:data:`SCHEMAS`, a JSON Schema
each in scapy_fama/schemas/), and stdout carries nothing else.
"""

from __future__ import annotations

import argparse
import json
import sys
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from scapy_fama.cli.common import (
    EXIT_NEGATIVE,
    EXIT_OK,
    Parser,
    nonempty_path,
    nonempty_text,
    rich_console,
    run,
    version,
    writable_file,
    writing,
)
from scapy_fama.crypto import (
    CgaCancelled,
    CgaParams,
    KeyPair,
    cga_check,
    cga_generate,
    ext_fields,
    hash1,
    hash2,
    spki_info,
)
from scapy_fama.crypto.addr import addr_text
from scapy_fama.crypto.files import read_at_most
from scapy_fama.interrupt import deferred
from scapy_fama.schemas import document

PROG = "fama-cga"
EXPECTED_TRIALS = {0: 1, 1: 1 << 16, 2: 1 << 32}  # RFC 3972 §4: 2^(16*Sec) modifiers on average
ANNOUNCED_FROM = 2  # the Sec whose search is announced: Sec 1 takes a fraction of a second
MAX_PARAMS = 1 << 16  # bytes: far above any key's CGA Parameters (RFC 3972 §3)
SCHEMAS = {"gen": "fama-cga-gen/1", "verify": "fama-cga-verify/1", "show": "fama-cga-show/1"}  # --json's documents


def _print_json(command: str, body: dict[str, Any]) -> None:
    """``command``'s result as its document (:data:`SCHEMAS`), one line on stdout."""
    print(json.dumps(document(SCHEMAS[command], body)))


def _subnet_prefix(text: str) -> str:
    """``--prefix``: the /64 subnet prefix (RFC 3972 §3), without a length read as /64; host bits
    set are refused (they were dropped without a word)."""
    address, _, length = (part.strip() for part in text.partition("/"))
    try:
        network = IPv6Network(f"{address}/{length or 64}", strict=False)
    except ValueError as exc:
        raise ValueError(f"--prefix {text!r}: not an IPv6 prefix ({exc})") from None
    if network.prefixlen != 64:
        raise ValueError(f"--prefix {text!r}: only /64 prefixes are supported (RFC 3972 §3)")
    if IPv6Address(address) != network.network_address:
        raise ValueError(f"--prefix {text!r}: host bits set; the /64 prefix is {network}")
    return str(network)


def _note(text: str) -> None:
    print(f"{PROG}: note: {text}", file=sys.stderr)


def _key(path: Path | None, bits: int, console: Console) -> KeyPair:
    """The key of ``--key`` (fama-cga gen, fama-mn): loaded where the file exists, else made and
    saved there, its path checked before the key is made; without ``--key`` a new one, not saved."""
    if path is not None and path.exists() and not path.is_dir():
        try:
            return KeyPair.load(path)
        except ValueError as exc:  # "PATH: problem", unreadable or not a PEM private key
            raise ValueError(f"--key {exc}") from None
    if path is not None:
        writable_file("--key", path)
    try:
        key = KeyPair.generate(bits)
    except ValueError as exc:
        raise ValueError(f"--bits {bits}: {exc}") from None
    if path is not None:
        with writing("--key", path):
            key.save(path)
        console.print(f"new RSA-{bits} key written to {path}")
    return key


def _generate(args: argparse.Namespace, console: Console) -> int:
    prefix = _subnet_prefix(args.prefix)  # refused before a new key is written
    if args.out is not None:
        writable_file("--out", args.out)  # before the search, not after it
    key = _key(args.key, args.bits, console)
    if args.sec >= ANNOUNCED_FROM:
        _note(f"Sec {args.sec}: about {EXPECTED_TRIALS[args.sec]:,} Hash2 trials expected (2^{16 * args.sec}, "
              "RFC 3972 §4), minutes to hours; Ctrl-C stops the search")
    columns = (TextColumn("Hash2 search"), BarColumn(), TextColumn("{task.completed:,.0f} hashes"), TimeElapsedColumn())
    shown = console.is_terminal and not args.json and args.sec > 0  # in a pipe it left a blank line first
    # Ctrl-C sets cancel, which the search polls: never raised inside the worker pool's start
    with Progress(*columns, console=console, transient=True, disable=not shown) as bar, deferred() as cancel:
        task = bar.add_task("search", total=EXPECTED_TRIALS[args.sec] if args.sec in EXPECTED_TRIALS else None)
        try:
            cga = cga_generate(
                prefix, key, sec=args.sec, progress=lambda n: bar.update(task, completed=n), cancel=cancel
            )
        except CgaCancelled as exc:
            raise KeyboardInterrupt from exc
    if args.out is not None:
        with writing("--out", args.out):
            args.out.write_bytes(cga.params)
    if args.json:
        _print_json("gen", {"address": cga.address, "sec": cga.sec, "params": cga.params.hex(),
                            "params_file": str(args.out) if args.out else None})
    else:
        console.print(f"{cga.address}")
        if args.out is not None:
            console.print(f"parameters ({len(cga.params)} bytes) written to {args.out}")
    if args.key is None:
        _note(f"the new RSA-{args.bits} key was not saved, so nothing can sign for this address; "
              "--key FILE keeps it")
    return EXIT_OK


def _params_file(path: Path) -> bytes:
    data = read_at_most(path, MAX_PARAMS, "CGA Parameters")
    try:
        CgaParams.decode(data)  # a clear error for a file that is not CGA Parameters
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return data


def _verify(args: argparse.Namespace, console: Console) -> int:
    result = cga_check(args.address, _params_file(args.params))
    if args.json:
        _print_json("verify", {"address": args.address, "valid": bool(result), "step": result.step.name,
                               "reason": result.reason})
    else:
        console.print(result.reason if result else f"NOT a CGA of these parameters: {result.reason}")
    return EXIT_OK if result else EXIT_NEGATIVE


def describe(data: bytes) -> dict[str, Any]:
    """The fields of a CGA Parameters block, for ``show``."""
    p = CgaParams.decode(data)
    algorithm, bits = spki_info(p.public_key)
    h2 = hash2(p.modifier, p.public_key, p.extensions)
    zero_bits = next((i for i in range(112) if h2[i // 8] >> (7 - i % 8) & 1), 112)
    return {
        "length": len(data),
        "modifier": p.modifier.hex(),
        "subnet_prefix": addr_text(p.prefix + bytes(8)) + "/64",
        "collision_count": p.collision_count,
        "public_key": {"algorithm": algorithm, "bits": bits, "der_length": len(p.public_key)},
        "extensions": [{"type": t, "length": len(d), "data": d.hex()} for t, d in ext_fields(p.extensions)],
        "hash1": hash1(data).hex(),
        "hash2": h2.hex(),
        "max_sec": min(zero_bits // 16, 7),
    }


def _show(args: argparse.Namespace, console: Console) -> int:
    info = describe(_params_file(args.params))
    if args.json:
        _print_json("show", info)
        return EXIT_OK
    table = Table(title=f"CGA Parameters: {args.params} ({info['length']} bytes)", show_header=False)
    key = info["public_key"]
    rows = [
        ("modifier", info["modifier"]),
        ("subnet prefix", info["subnet_prefix"]),
        ("collision count", str(info["collision_count"])),
        ("public key", f"{key['algorithm']} {key['bits']} bits (SPKI {key['der_length']} bytes)"),
        ("extensions", ", ".join(f"type 0x{e['type']:04x} ({e['length']} bytes)" for e in info["extensions"]) or "none"),
        ("Hash1", info["hash1"]),
        ("Hash2", f"{info['hash2']} (good for Sec <= {info['max_sec']})"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    ap = Parser(prog=PROG, description="Generate, verify and show Cryptographically Generated Addresses (RFC 3972).")
    sub = ap.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("gen", help="generate a CGA for a /64 prefix")
    gen.add_argument("--prefix", required=True, type=nonempty_text,
                     help="the /64 subnet prefix, e.g. 2001:db8:1::/64 (no host bits set)")
    gen.add_argument("--sec", type=int, default=1, choices=(0, 1, 2),
                     help="Sec value (default 1): about 2^(16*Sec) Hash2 trials (RFC 3972 §4); Sec 2 takes "
                          "minutes to hours")
    gen.add_argument("--key", type=nonempty_path,
                     help="RSA key (PEM): loaded if it exists, else created there; without it a new key is used "
                          "and not saved (nothing can sign for the address)")
    gen.add_argument("--bits", type=int, default=1024, help="size of a new key: 1024 (default) or 1536")
    gen.add_argument("--out", type=nonempty_path, help="write the CGA Parameters (binary) to this file")
    gen.add_argument("--json", action="store_true", help="print the result as JSON")
    ver = sub.add_parser("verify", help="verify that ADDRESS is a CGA of PARAMS_FILE (RFC 3972 §5)")
    ver.add_argument("address", type=nonempty_text)
    ver.add_argument("params", type=nonempty_path, metavar="PARAMS_FILE")
    ver.add_argument("--json", action="store_true")
    show = sub.add_parser("show", help="show the fields of a CGA Parameters file")
    show.add_argument("params", type=nonempty_path, metavar="PARAMS_FILE")
    show.add_argument("--json", action="store_true")
    return version(ap)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    console = rich_console(stderr=args.json)  # with --json, stdout carries only the JSON
    handler = {"gen": _generate, "verify": _verify, "show": _show}[args.command]
    return run(PROG, lambda: handler(args, console))


if __name__ == "__main__":
    sys.exit(main())
