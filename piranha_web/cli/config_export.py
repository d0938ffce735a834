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


def print_notes(path: str, notes: list[Any], lossy: bool) -> None:
    """What a conversion could not carry, one ``FILE:LINE: [warning: ]KEYWORD: message`` each."""
    label = "warning: " if lossy else ""
    for p in notes:
        key = f"{p.key}: " if p.key else ""
        print(f"{path}:{p.line}: {label}{key}{p.message}", file=sys.stderr)
    if notes and not lossy:
        print(f"piranha-config: {path}: {len(notes)} setting(s) cannot be carried into lvs.cf; nothing "
              "was converted (--lossy converts the rest and lists these as warnings)", file=sys.stderr)


def _read_config(path: str, fmt: str | None, validate: bool = True, lossy: bool = False) -> Any:
    """Read ``path`` in any format; raises UserError when it cannot be read at all.

    Settings lvs.cf cannot carry are printed; without ``lossy`` they stop the
    command (LvsCfError with no problems, so nothing is printed twice).
    """
    from piranha_web.convert import read_noted
    from piranha_web.lvscf import LvsCfError
    from piranha_web.lvscf import validate as check

    try:
        with open(path, encoding="utf-8", newline="") as fh:
            text = fh.read()
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None
    cfg, notes = read_noted(text, fmt)
    print_notes(path, notes, lossy)
    if notes and not lossy:
        raise LvsCfError([])
    if validate:
        check(cfg)
    return cfg


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
    parser.add_argument("--lossy", action="store_true",
                        help="keepalived.conf source: convert even what lvs.cf cannot carry all of, "
                             "listing each left-out setting as a warning with its line")
    parser.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    """Read, validate, convert, write; exit 1 naming every problem."""
    from piranha_web.convert import dumps_as
    from piranha_web.lvscf import LvsCfError
    from piranha_web.lvscf.files import write_atomic

    source = args.source or _default_source()
    try:
        cfg = _read_config(source, args.from_format, validate=not args.no_validate, lossy=args.lossy)
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

def as_lvs_cf(text: str, fmt: str | None = None, path: str = "-", lossy: bool = False) -> str | None:
    """lvs.cf text for ``piranha-config import`` (config_db.run_import), whatever ``text`` is;
    None when a keepalived.conf holds settings lvs.cf cannot carry and ``lossy`` is not given.

    lvs.cf passes through untouched (its comments and layout are kept in the
    revision); JSON and keepalived.conf are converted and validated here, so
    their errors name their own lines, and rendered in canonical lvs.cf.
    What the conversion leaves out is printed first (:func:`print_notes`).
    """
    from piranha_web.convert import detect_format, read_noted
    from piranha_web.lvscf import dumps, validate

    fmt = fmt or detect_format(text)
    if fmt == "lvs.cf":
        return text
    cfg, notes = read_noted(text, fmt)
    print_notes(path, notes, lossy)
    if notes and not lossy:
        return None
    validate(cfg)
    return dumps(cfg)
