"""``piranha-config db upgrade``, ``import FILE [--publish]`` and ``publish``: the console's database.

``publish`` (and ``import --publish``) goes through the same path as ACCEPT
in the console (:func:`piranha_web.services.changes.publish`): a new
revision, lvs.cf written atomically, pulse told, its answer printed.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


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
    parser.add_argument("--publish", action="store_true",
                        help="then write lvs.cf and tell pulse, as ACCEPT in the console does")
    parser.add_argument("--lossy", action="store_true",
                        help="keepalived.conf: import even when some settings have no lvs.cf "
                             "equivalent, listing each as a warning with its line")
    parser.set_defaults(func=run_import)


def register_publish(parser: argparse.ArgumentParser) -> None:
    """``publish``: write the stored configuration to lvs.cf and tell pulse."""
    parser.add_argument("--comment", "-m", default="published from the command line",
                        help="revision comment (default: %(default)s)")
    parser.set_defaults(func=run_publish)


def run_publish(args: argparse.Namespace) -> int:
    """Publish what the database holds now."""
    from ..app import create_app

    return _publish(create_app({"AUTO_IMPORT": False}), args.comment)


def _publish(app: Any, comment: str) -> int:
    """ACCEPT's publish path; print the revision and pulse's answer; 1 unless lvs.cf was written."""
    from ..services import changes
    from ..services.users import system_actor

    with app.app_context():
        try:
            outcome = changes.publish(system_actor(), comment)
        except changes.Rejected as err:
            for msg in [m for ms in err.fields.values() for m in ms] + err.general:
                print(f"piranha-config: not published: {msg}", file=sys.stderr)
            return 1
    path = app.config["LVS_CF"]
    if outcome.write_error:
        print(f"piranha-config: revision {outcome.revision} stored, but lvs.cf was not written: "
              f"{outcome.write_error}", file=sys.stderr)
        return 1
    if not outcome.published:
        print("piranha-config: not published, the configuration is not complete yet: "
              + "; ".join(outcome.pending), file=sys.stderr)
        return 1
    pulse = outcome.pulse
    answer = "not-running" if pulse is None else pulse.state + (f": {pulse.error}" if pulse.error else "")
    print(f"{path}: published revision {outcome.revision} (serial_no {outcome.serial_no}); pulse: {answer}")
    return 1 if pulse is not None and pulse.state == "failed" else 0


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
        converted = as_lvs_cf(text, getattr(args, "format", None), args.file,
                              bool(getattr(args, "lossy", False)))
    except lvscf.LvsCfError as err:
        for p in err.problems:
            print(f"{args.file}:{p.line}: {p.key + ': ' if p.key else ''}{p.message}", file=sys.stderr)
        return 1
    if converted is None:       # settings lvs.cf cannot carry, listed by as_lvs_cf
        return 1
    text = converted
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
        if args.publish:
            print(f"{args.file}: imported as revision {rev.id} (serial_no {rev.serial_no})")
        else:
            print(f"{args.file}: imported as revision {rev.id} (serial_no {rev.serial_no}); "
                  f"the console publishes to {app.config['LVS_CF']} on the next ACCEPT "
                  "(or: piranha-config publish)")
    return _publish(app, f"published after importing {args.file}") if args.publish else 0


def _safe_url(url: str) -> str:
    """The URL without a password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
