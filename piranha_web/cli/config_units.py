"""``piranha-config install-units``: put pulse.service and piranha-gui.service in place.

The unit files in ``deploy/systemd/`` name the programs under
``/usr/local/bin`` (where ``pip install`` puts console scripts system-wide).
Installing rewrites that to the directory the programs really live in
(``--prefix``, default: the directory of the running ``piranha-config``, so
a virtualenv install just works), writes the units atomically to
``--unit-dir`` (default /etc/systemd/system) and runs ``systemctl
daemon-reload``.  It enables and starts nothing: that stays a decision.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from ..resources import data_dir
from .config import UserError

UNITS = ("pulse.service", "piranha-gui.service")
TEMPLATE_BINDIR = "/usr/local/bin"
UNIT_SOURCE = data_dir("deploy") / "systemd"
DEFAULT_UNIT_DIR = "/etc/systemd/system"


def default_bindir() -> Path:
    """Where this installation's console scripts are (beside the running interpreter's scripts)."""
    here = Path(sys.argv[0]).resolve().parent if sys.argv and sys.argv[0] else None
    if here is not None and (here / "pulse").exists():
        return here
    return Path(sys.executable).parent


def render(unit: str, bindir: Path, source: Path = UNIT_SOURCE) -> str:
    """The unit file ``unit`` with program paths pointing into ``bindir``."""
    try:
        text = (source / unit).read_text()
    except OSError as exc:
        raise UserError(f"{source / unit}: cannot read ({exc.strerror or exc}); the installation "
                        "lacks its systemd units (package data deploy/systemd)") from None
    return text.replace(f"{TEMPLATE_BINDIR}/", f"{bindir}/")


def install(unit_dir: Path, bindir: Path, source: Path = UNIT_SOURCE) -> list[Path]:
    """Write every unit into ``unit_dir``; return the paths written."""
    from piranha_web.lvscf.files import write_atomic

    missing = [name for name in ("pulse", "piranha-gui") if not (bindir / name).exists()]
    if missing:
        raise UserError(f"{bindir}: no {' or '.join(missing)} here; pass --prefix (the directory "
                        "holding bin/pulse) or --bindir")
    unit_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for unit in UNITS:
        target = unit_dir / unit
        write_atomic(target, render(unit, bindir, source), mode=0o644)
        written.append(target)
    return written


def register(parser: argparse.ArgumentParser) -> None:
    """``install-units [--prefix P | --bindir B] [--unit-dir D] [--no-reload]``."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--prefix", help="installation prefix: programs are in PREFIX/bin "
                                        "(default: where this piranha-config is)")
    where.add_argument("--bindir", help="directory holding pulse and piranha-gui")
    parser.add_argument("--unit-dir", default=DEFAULT_UNIT_DIR,
                        help=f"where to write the units (default: {DEFAULT_UNIT_DIR})")
    parser.add_argument("--no-reload", action="store_true", help="do not run systemctl daemon-reload")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Install, reload systemd, and say what to do next."""
    if args.bindir:
        bindir = Path(args.bindir)
    else:
        bindir = Path(args.prefix) / "bin" if args.prefix else default_bindir()
    try:
        written = install(Path(args.unit_dir), bindir.resolve())
    except OSError as exc:
        raise UserError(f"{args.unit_dir}: cannot write: {exc.strerror or exc}") from None
    for path in written:
        print(f"installed {path}")
    systemctl = shutil.which("systemctl")
    if not args.no_reload and systemctl and Path("/run/systemd/system").is_dir():
        subprocess.run([systemctl, "daemon-reload"], check=False, timeout=60)
    print("next: useradd --system --home-dir /var/lib/piranha piranha; mkdir -p /etc/sysconfig/ha; "
          "chown piranha: /etc/sysconfig/ha; piranha-config doctor; "
          "systemctl enable --now piranha-gui pulse")
    return 0
