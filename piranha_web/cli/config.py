"""``piranha-config``: command-line tools around lvs.cf and the console's data.

Subcommands are listed in :data:`SUBCOMMANDS` as ``name -> (spec, help)``
where ``spec`` is ``"module:function"``.  Only the module of the subcommand
being run is imported, so ``check``/``fmt`` never import Flask or SQLAlchemy;
``--help`` lists every subcommand from the registry without importing any.
Adding one is a one-line change here plus a module with::

    def register(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(...)
        parser.set_defaults(func=run)      # run(args) -> int exit status

Exit status: 0 success, 1 the input is bad or unreadable (a message, never a
traceback), 2 usage error (argparse).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Callable, Sequence

from ..config import DEFAULT_LVS_CF, lvs_cf_path

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "check": ("piranha_web.cli.config:register_check", "check an lvs.cf file (syntax and rules)"),
    "fmt": ("piranha_web.cli.config:register_fmt", "print an lvs.cf file in canonical form"),
    "audit": ("piranha_web.cli.config_audit:register", "verify or list the audit log"),
    "db": ("piranha_web.cli.config_db:register_db", "manage the console database (db upgrade)"),
    "import": ("piranha_web.cli.config_db:register_import", "import lvs.cf/JSON/keepalived into the DB"),
    "publish": ("piranha_web.cli.config_db:register_publish", "write lvs.cf from the DB and tell pulse"),
    "export": ("piranha_web.cli.config_export:register_export", "write lvs.cf as lvs.cf/JSON/keepalived"),
    "doctor": ("piranha_web.cli.config_doctor:register", "check this host has what pulse needs"),
    "install-units": ("piranha_web.cli.config_units:register", "install the systemd units"),
    "token": ("piranha_web.cli.config_token:register", "create, list or revoke REST API tokens"),
    "runtime": ("piranha_web.cli.config_runtime:register", "drain, maint, ready or reweight a server now"),
}


class UserError(Exception):
    """A problem the user can fix; printed as one line, exit status 1."""


# --------------------------------------------------------------------------- check / fmt

def _default_path() -> str:
    return lvs_cf_path()


def _read(path: str) -> str:
    """The file's text (``-`` is standard input); undecodable bytes survive as escapes."""
    if path == "-":
        data = sys.stdin.buffer.read()
        return data.decode("utf-8", errors="surrogateescape")
    try:
        with open(path, encoding="utf-8", errors="surrogateescape", newline="") as f:
            return f.read()
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def register_check(parser: argparse.ArgumentParser) -> None:
    """``check [FILE]``: parse and validate; every problem as ``FILE:LINE: message``."""
    parser.add_argument("file", nargs="?", default=None, metavar="FILE",
                        help=f"lvs.cf to check, - for standard input "
                             f"(default: $PIRANHA_LVS_CF or {DEFAULT_LVS_CF})")
    parser.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    from piranha_web.lvscf import LvsCfError, load, warnings

    path = args.file or _default_path()
    text = _read(path)
    path = "<stdin>" if path == "-" else path
    try:
        cfg = load(text)
    except LvsCfError as err:
        for p in err.problems:
            key = f"{p.key}: " if p.key else ""
            print(f"{path}:{p.line}: {key}{p.message}", file=sys.stderr)
        return 1
    for p in warnings(cfg):
        print(f"{path}:{p.line}: warning: {p.key}: {p.message}", file=sys.stderr)
    servers = sum(len(v.servers) for v in cfg.virtuals)
    active = len(cfg.active_virtuals())
    print(f"{path}: ok, {_plural(len(cfg.virtuals), 'virtual server')} ({active} active), "
          f"{_plural(servers, 'real server')}, {_plural(len(cfg.failovers), 'failover service')}")
    return 0


def register_fmt(parser: argparse.ArgumentParser) -> None:
    """``fmt FILE [--write|--check]``: canonical layout (GUI order, tabs)."""
    parser.add_argument("file", metavar="FILE", help="lvs.cf to format, - for standard input")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", "-w", action="store_true",
                      help="replace FILE atomically instead of printing")
    mode.add_argument("--check", action="store_true",
                      help="print nothing; exit 1 if FILE is not in canonical form")
    parser.set_defaults(func=run_fmt)


def run_fmt(args: argparse.Namespace) -> int:
    from piranha_web.lvscf import LvsCfError, dumps, parse
    from piranha_web.lvscf.files import write_atomic

    if args.file == "-" and args.write:
        raise UserError("--write needs a file, not standard input")
    text = _read(args.file)
    try:
        canonical = dumps(parse(text))
    except LvsCfError as err:
        for p in err.problems:
            key = f"{p.key}: " if p.key else ""
            print(f"{args.file}:{p.line}: {key}{p.message}", file=sys.stderr)
        return 1
    try:
        canonical.encode("utf-8")
    except UnicodeEncodeError:
        raise UserError(f"{args.file}: a value is not valid UTF-8; fix it by hand") from None
    if args.check:
        if canonical != text:
            print(f"{args.file}: not in canonical form", file=sys.stderr)
            return 1
        return 0
    if args.write:
        if canonical != text:
            try:
                mode = os.stat(args.file).st_mode & 0o7777
                write_atomic(args.file, canonical, mode=mode)
            except OSError as exc:
                raise UserError(f"{args.file}: cannot write: {exc.strerror or exc}") from None
        return 0
    sys.stdout.write(canonical)
    return 0


# --------------------------------------------------------------------------- dispatch

def _resolve(spec: str) -> Callable[[argparse.ArgumentParser], None] | None:
    """The ``register`` function named by ``spec``; None if its module is not installed."""
    module, _, func = spec.partition(":")
    try:
        loaded = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            return None
        raise
    return getattr(loaded, func)  # type: ignore[no-any-return]


def build_parser(selected: str | None) -> argparse.ArgumentParser:
    """The top-level parser; only ``selected``'s module is imported and registered."""
    parser = argparse.ArgumentParser(
        prog="piranha-config",
        description="Check, format and manage the lvs.cf configuration of piranha-web.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name, (spec, help_text) in SUBCOMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if name == selected:
            register = _resolve(spec)
            if register is not None:
                register(sub)
    return parser


def _selected(argv: Sequence[str]) -> str | None:
    """The subcommand name in ``argv`` (first non-option word), if it is a known one."""
    for word in argv:
        if word == "--":
            return None
        if not word.startswith("-"):
            return word if word in SUBCOMMANDS else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``piranha-config`` console script."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_selected(args_list))
    args = parser.parse_args(args_list)
    func = getattr(args, "func", None)
    if func is None:            # a registered subcommand that set no handler
        parser.error(f"subcommand {args.command!r} is not available")
    try:
        return int(func(args))
    except UserError as exc:
        print(f"piranha-config: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:     # `piranha-config fmt FILE | head`: not an error worth a trace
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
