"""``piranha-config token create|list|revoke``: API tokens from the command line.

The secret is printed once, on creation, and never again (only its hash is
stored).  Each create and revoke is an audit entry by ``cli:$USER``, like the
other command-line changes.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(parser: argparse.ArgumentParser) -> None:
    """Attach ``create``, ``list`` and ``revoke`` below ``token``."""
    sub = parser.add_subparsers(dest="token_command", metavar="ACTION")
    sub.required = True
    create = sub.add_parser("create", help="create a token for a console user; prints the secret once")
    create.add_argument("user", help="console user the token acts as (same role)")
    create.add_argument("--name", required=True, help="what the token is for (e.g. ci, prometheus)")
    create.set_defaults(func=run_create)
    lst = sub.add_parser("list", help="list tokens (never their secrets)")
    lst.add_argument("--user", default=None, help="only this user's tokens")
    lst.add_argument("--all", action="store_true", help="include revoked tokens")
    lst.add_argument("--json", action="store_true", help="print JSON")
    lst.set_defaults(func=run_list)
    revoke = sub.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("id", type=int, help="token id (from `token list`)")
    revoke.set_defaults(func=run_revoke)


def _actor() -> str:
    from ..services.users import system_actor

    return system_actor()


def _context() -> Any:
    from ..app import create_app

    return create_app({"AUTO_IMPORT": False}).app_context()


def run_create(args: argparse.Namespace) -> int:
    from ..services import tokens

    with _context():
        try:
            row, secret = tokens.create(args.user, args.name, _actor())
        except tokens.TokenError as exc:
            print(f"piranha-config: {exc}", file=sys.stderr)
            return 1
        print(f"token {row.id} for {args.user} ({row.name}); store it now, it is not shown again:",
              file=sys.stderr)
    print(secret)
    return 0


def run_list(args: argparse.Namespace) -> int:
    from ..services import tokens

    with _context():
        rows = [t.as_dict() for t in tokens.listing(args.user, include_revoked=args.all)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        state = "revoked" if r["revoked"] else f"last used {r['last_used_at'] or 'never'}"
        print(f"{r['id']:>4}  {r['user']:<16} {r['name']:<20} {r['prefix']}...  created {r['created_at']}, "
              f"{state}")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    from ..services import tokens

    with _context():
        try:
            row = tokens.revoke(args.id, _actor())
        except tokens.TokenError as exc:
            print(f"piranha-config: {exc}", file=sys.stderr)
            return 1
        print(f"token {row.id} ({row.user.username}/{row.name}) revoked")
    return 0
