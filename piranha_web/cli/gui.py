"""``piranha-gui``: run the console under gunicorn (127.0.0.1:3636 by default).

Refuses to start without a console user (CVE-2000-0248: Piranha shipped a
default password): with a terminal it asks for one as ``piranha-passwd``
does, without one it exits 1 and names the command to run.  The schema
upgrade and the first-start lvs.cf import happen here, once, before the
workers are spawned.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Sequence

from ..config import DEFAULT_BIND, bind_address

DEFAULT_WORKERS = 2


def build_parser() -> argparse.ArgumentParser:
    """``--bind``, ``--workers``, ``--timeout``."""
    parser = argparse.ArgumentParser(prog="piranha-gui",
                                     description="Run the piranha-web console (gunicorn).")
    parser.add_argument("--bind", "-b", default=bind_address(),
                        help=f"address:port to listen on (default {DEFAULT_BIND}; "
                             "keep it local or behind TLS)")
    parser.add_argument("--workers", "-w", type=int, default=DEFAULT_WORKERS,
                        help=f"gunicorn worker processes (default {DEFAULT_WORKERS})")
    parser.add_argument("--timeout", type=int, default=30, help="gunicorn worker timeout in seconds")
    parser.add_argument("--prepare-only", action="store_true",
                        help="upgrade the database and make sure a console user exists "
                             "(asking on a terminal), then exit without serving")
    return parser


def gunicorn_argv(args: argparse.Namespace) -> list[str]:
    """The gunicorn command line (an argument list: nothing goes through a shell)."""
    argv = [sys.executable, "-m", "gunicorn", "--bind", args.bind,
            "--workers", str(max(1, args.workers)), "--timeout", str(args.timeout),
            "--graceful-timeout", "10", "--access-logfile", "-", "--error-logfile", "-"]
    if _gunicorn_has("control_socket_disable"):
        # gunicorn >= 24 opens a control socket in $HOME by default: not wanted for a console
        argv.append("--no-control-socket")
    return argv + ["piranha_web.wsgi:app"]


def _gunicorn_has(setting: str) -> bool:
    """Whether the installed gunicorn knows ``setting`` (options differ between versions)."""
    try:
        from gunicorn import config
    except ImportError:  # pragma: no cover - gunicorn is a dependency
        return False
    return any(s.name == setting for s in config.KNOWN_SETTINGS)


def ensure_user(app: object, interactive: bool) -> bool:
    """True when a console user exists (asking for a password first when interactive)."""
    from ..app import has_users

    if has_users(app):  # type: ignore[arg-type]
        return True
    if not interactive:
        print("piranha-gui: no console user has a password yet; refusing to start.\n"
              "Set one first with:  piranha-passwd", file=sys.stderr)
        return False
    from ..services.users import PasswordError, UserError
    from .passwd import prompt_and_set_password

    print("No console user yet: set the password of user 'piranha' (as piranha-passwd would).")
    try:
        with app.app_context():  # type: ignore[attr-defined]
            prompt_and_set_password(prompt=lambda text: getpass.getpass(text))
    except (PasswordError, UserError) as exc:
        print(f"piranha-gui: {exc}", file=sys.stderr)
        return False
    except (EOFError, KeyboardInterrupt):
        print("\npiranha-gui: aborted.", file=sys.stderr)
        return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: prepare the database, check for a user, then exec gunicorn."""
    args = build_parser().parse_args(argv)
    from ..app import create_app

    app = create_app()  # migrations + first-start import, before any worker exists
    if not ensure_user(app, interactive=sys.stdin.isatty()):
        return 1
    if args.prepare_only:
        return 0
    argv_exec = gunicorn_argv(args)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv_exec[0], argv_exec)
    return 0  # pragma: no cover - execv does not return


if __name__ == "__main__":
    sys.exit(main())
