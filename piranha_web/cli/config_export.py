"""``piranha-config export`` and ``import``: move a configuration between formats and hosts.

``export`` reads the published lvs.cf (or any file ``--from`` names, in any
format) and writes it as lvs.cf, JSON or keepalived.conf, to stdout or
atomically to FILE.  It never touches the database, so it works on a
director without the console and imports no Flask.

``import FILE`` (registered by :mod:`.config_db`, which owns the database
side) accepts JSON and keepalived.conf too: :func:`as_lvs_cf` turns them
into lvs.cf text first.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..config import DEFAULT_LVS_CF, lvs_cf_path
from .config import UserError

FORMATS = ("lvs.cf", "json", "keepalived")


def _default_source() -> str:
    return lvs_cf_path()


def _print_problems(path: str, err: Any) -> None:
    for p in err.problems:
        key = f"{p.key}: " if p.key else ""
        print(f"{path}:{p.line}: {key}{p.message}", file=sys.stderr)


def _read_config(path: str, fmt: str | None, validate: bool = True) -> Any:
    """Read ``path`` in any format; raises UserError when it cannot be read at all."""
    from piranha_web.convert import loads_any

    try:
        with open(path, encoding="utf-8", newline="") as fh:
            text = fh.read()
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None
    return loads_any(text, fmt, validate=validate)


# --------------------------------------------------------------------------- export

def register_export(parser: argparse.ArgumentParser) -> None:
    """``export [--format F] [--from SRC] [--role R] [FILE]``."""
    parser.add_argument("file", nargs="?", default="-", metavar="FILE",
                        help="where to write (default: standard output)")
    parser.add_argument("--format", "-f", choices=FORMATS, default="lvs.cf",
                        help="output format (default: lvs.cf)")
    parser.add_argument("--from", dest="source", metavar="SRC", default=None,
                        help=f"configuration to export, any format "
                             f"(default: $PIRANHA_LVS_CF or {DEFAULT_LVS_CF})")
    parser.add_argument("--from-format", choices=FORMATS, default=None,
                        help="format of SRC (default: detected from its content)")
    parser.add_argument("--role", choices=("primary", "backup"), default="primary",
                        help="keepalived only: which director the file is for (VRRP state, priority)")
    parser.add_argument("--no-validate", action="store_true",
                        help="export even if the configuration breaks a rule (not for production)")
    parser.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    """Read, validate, convert, write; exit 1 naming every problem."""
    from piranha_web.convert import dumps_as
    from piranha_web.lvscf import LvsCfError
    from piranha_web.lvscf.files import write_atomic

    source = args.source or _default_source()
    try:
        cfg = _read_config(source, args.from_format, validate=not args.no_validate)
        text = dumps_as(cfg, args.format, role=args.role)
    except LvsCfError as err:
        _print_problems(source, err)
        return 1
    if args.file == "-":
        sys.stdout.write(text)
        return 0
    try:
        write_atomic(args.file, text, mode=0o600 if args.format != "lvs.cf" else 0o644)
    except OSError as exc:
        raise UserError(f"{args.file}: cannot write: {exc.strerror or exc}") from None
    print(f"{args.file}: wrote {args.format} ({len(cfg.virtuals)} virtual servers) from {source}",
          file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- import

def as_lvs_cf(text: str, fmt: str | None = None) -> str:
    """lvs.cf text for ``piranha-config import`` (config_db.run_import), whatever ``text`` is.

    lvs.cf passes through untouched (its comments and layout are kept in the
    revision); JSON and keepalived.conf are converted and validated here, so
    their errors name their own lines, and rendered in canonical lvs.cf.
    """
    from piranha_web.convert import detect_format, loads_any
    from piranha_web.lvscf import dumps

    fmt = fmt or detect_format(text)
    if fmt == "lvs.cf":
        return text
    return dumps(loads_any(text, fmt))
