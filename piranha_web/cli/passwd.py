"""``piranha-passwd [USER]``: set a console user's password (creates the user if new).

Replaces Piranha's shell script around ``htpasswd`` (CVE-2000-0322: never a
shell): prompts ``New Password:`` and ``Verify:`` without echo, or reads one
line with ``--stdin`` for scripts; stores an argon2id hash in the console's
database, found through the same settings as the console (PIRANHA_INSTANCE,
PIRANHA_DATABASE_URL), after bringing the schema up to date.  Changing a
password ends every open session of that user.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any, Callable, Sequence, TextIO

from ..services.users import DEFAULT_USERNAME, MIN_PASSWORD_LENGTH


def build_parser() -> argparse.ArgumentParser:
    """Arguments: optional user name, ``--stdin``, ``--role``."""
    parser = argparse.ArgumentParser(
        prog="piranha-passwd",
        description="Set the password of a piranha-web console user (created if it does not exist). "
                    f"Passwords need at least {MIN_PASSWORD_LENGTH} characters.")
    parser.add_argument("user", nargs="?", default=DEFAULT_USERNAME,
                        help=f"user name (default: {DEFAULT_USERNAME})")
    parser.add_argument("--stdin", action="store_true",
                        help="read the password from one line of standard input (no prompt, no verify)")
    parser.add_argument("--role", choices=("admin", "readonly"), default=None,
                        help="role of the user (default: admin for a new user, unchanged otherwise)")
    return parser


def read_password(args: argparse.Namespace, *, stdin: TextIO | None = None,
                  prompt: Callable[[str], str] = getpass.getpass) -> str:
    """The new password from stdin (one line) or the two no-echo prompts; policy checked."""
    from ..services.users import check_password_policy

    if args.stdin:
        line = (stdin or sys.stdin).readline()
        password = line[:-1] if line.endswith("\n") else line
        password = password[:-1] if password.endswith("\r") else password
        check_password_policy(password)
        return password
    return read_new_password(prompt)


def read_new_password(prompt: Callable[[str], str] = getpass.getpass) -> str:
    """Ask ``New Password:`` then ``Verify:`` without echo; raise PasswordError if refused."""
    from ..services.users import PasswordError, check_password_policy

    password = prompt("New Password: ")
    if not password:
        raise PasswordError("Empty password refused.")
    verify = prompt("Verify: ")
    check_password_policy(password, verify)
    return password


def prompt_and_set_password(username: str = DEFAULT_USERNAME, *,
                            prompt: Callable[[str], str] = getpass.getpass) -> Any:
    """``piranha-gui``'s first start: prompt, then store and audit in the current app's database.

    Raises PasswordError / UserError with a printable message when refused.
    """
    from ..services.users import store_password

    return store_password(username, read_new_password(prompt))


def main(argv: Sequence[str] | None = None, *, stdin: TextIO | None = None,
         prompt: Callable[[str], str] = getpass.getpass) -> int:
    """Entry point of the ``piranha-passwd`` console script; 0 on success, 1 if refused."""
    from ..services.users import PasswordError, UserError, check_username

    args = build_parser().parse_args(argv)
    try:
        username = check_username(args.user)
        password = read_password(args, stdin=stdin, prompt=prompt)
    except (PasswordError, UserError) as exc:
        print(f"piranha-passwd: {exc}", file=sys.stderr)
        return 1
    except (EOFError, KeyboardInterrupt):
        print("\npiranha-passwd: aborted, password unchanged.", file=sys.stderr)
        return 1
    try:
        user = _store(username, password, args.role)
    except (PasswordError, UserError) as exc:
        print(f"piranha-passwd: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # database unreachable / not writable: one line, no traceback
        print(f"piranha-passwd: cannot store the password: {exc}", file=sys.stderr)
        return 1
    print(f"Password for {user.username} updated.")
    return 0


def _store(username: str, password: str, role: str | None):  # type: ignore[no-untyped-def]
    """Build the app from the environment (migrations run), then hash, store and audit."""
    from ..app import create_app
    from ..services.users import store_password

    app = create_app({"AUTO_IMPORT": False})
    with app.app_context():
        return store_password(username, password, role=role)


if __name__ == "__main__":
    sys.exit(main())
