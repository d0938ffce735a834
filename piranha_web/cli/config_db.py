"""``piranha-config db upgrade`` and ``piranha-config import FILE``: the console's database."""

from __future__ import annotations

import argparse
import sys


def register_db(parser: argparse.ArgumentParser) -> None:
    """``db upgrade``: bring the console database schema up to date."""
    sub = parser.add_subparsers(dest="db_command", metavar="ACTION")
    sub.required = True
    up = sub.add_parser("upgrade", help="apply pending database migrations")
    up.set_defaults(func=run_upgrade)


def run_upgrade(args: argparse.Namespace) -> int:
    """Create or migrate the database named by PIRANHA_DATABASE_URL / PIRANHA_INSTANCE."""
    from ..app import create_app

    app = create_app({"AUTO_IMPORT": False})  # create_app upgrades under the migration lock
    print(f"database up to date: {_safe_url(app.config['DATABASE_URL'])}")
    return 0


def register_import(parser: argparse.ArgumentParser) -> None:
    """``import FILE``: load an lvs.cf into the console database (as a new revision)."""
    parser.add_argument("file", metavar="FILE", help="lvs.cf, JSON or keepalived.conf to import")
    parser.add_argument("--format", "-f", choices=("lvs.cf", "json", "keepalived"), default=None,
                        help="format of FILE (default: detected from its content)")
    parser.set_defaults(func=run_import)


def run_import(args: argparse.Namespace) -> int:
    """Validate FILE and replace the console's definitions with it; the file is not modified."""
    from .. import lvscf
    from ..app import create_app
    from ..extensions import db
    from ..services import lvsconfig
    from ..services.users import system_actor
    from .config_export import as_lvs_cf

    try:
        with open(args.file, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        print(f"piranha-config: {args.file}: cannot read: {exc.strerror or exc}", file=sys.stderr)
        return 1
    try:  # JSON and keepalived.conf become lvs.cf text first (config_export.as_lvs_cf)
        text = as_lvs_cf(text, getattr(args, "format", None))
    except lvscf.LvsCfError as err:
        for p in err.problems:
            print(f"{args.file}:{p.line}: {p.key + ': ' if p.key else ''}{p.message}", file=sys.stderr)
        return 1
    app = create_app({"AUTO_IMPORT": False})
    with app.app_context():
        with lvsconfig.publish_lock():
            db.session.rollback()
            try:
                rev = lvsconfig.import_text(text, system_actor(), f"imported {args.file}")
            except lvscf.LvsCfError as err:
                db.session.rollback()
                for p in err.problems:
                    key = f"{p.key}: " if p.key else ""
                    print(f"{args.file}:{p.line}: {key}{p.message}", file=sys.stderr)
                return 1
            lvsconfig._audit(system_actor(), "import", "lvs.cf", args.file, None,
                             {"serial_no": rev.serial_no}, rev.id, None)
            db.session.commit()
        print(f"{args.file}: imported as revision {rev.id} (serial_no {rev.serial_no}); "
              f"the console publishes to {app.config['LVS_CF']} on the next ACCEPT")
    return 0


def _safe_url(url: str) -> str:
    """The URL without a password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
