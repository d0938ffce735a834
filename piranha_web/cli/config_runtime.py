"""``piranha-config runtime set VIRTUAL REAL drain|maint|maint-now|ready|weight=N|weight=N%`` and
``piranha-config runtime show [--json]``: pulse's runtime states from the command line.

The same service as the console's buttons and the REST API: pulse is asked
over its runtime socket and each change is an audit entry by ``cli:$USER``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(parser: argparse.ArgumentParser) -> None:
    """Attach ``set`` and ``show`` below ``runtime``."""
    sub = parser.add_subparsers(dest="runtime_command", metavar="ACTION")
    sub.required = True
    put = sub.add_parser("set", help="set a real server's runtime state or weight")
    put.add_argument("virtual", help="virtual server name (lvs.cf)")
    put.add_argument("real", help="real server name (lvs.cf)")
    put.add_argument("change", metavar="drain|maint|maint-now|ready|weight=N|weight=N%")
    put.set_defaults(func=run_set)
    show = sub.add_parser("show", help="every real server's runtime state")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=run_show)


def _context() -> Any:
    from ..app import create_app

    return create_app({"AUTO_IMPORT": False}).app_context()


def run_set(args: argparse.Namespace) -> int:
    from ..pulse.runtime.states import InvalidChange
    from ..services import runtime
    from ..services.users import system_actor

    try:
        change = runtime.parse_word(args.change)
    except InvalidChange as exc:
        print(f"piranha-config: runtime: {exc.field}: {exc.message}", file=sys.stderr)
        return 2
    with _context():
        try:
            server = runtime.set_state(args.virtual, args.real, change, system_actor(), None)
        except runtime.Refused as exc:
            print(f"piranha-config: runtime: {exc.message}", file=sys.stderr)
            return 1
    print(f"{args.virtual}/{args.real}: {server.get('display')}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from ..services import runtime

    with _context():
        try:
            servers = runtime.listing()
        except runtime.Refused as exc:
            print(f"piranha-config: runtime: {exc.message}", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps(servers, indent=2))
        return 0
    print(f"{'VIRTUAL':<16} {'REAL':<16} {'STATE':<12} {'ACTIVE':>7} {'CONN/S':>8}  SET BY")
    for s in servers:
        active = "-" if s.get("active") is None else s["active"]
        cps = "-" if s.get("cps") is None else f"{s['cps']:.1f}"
        print(f"{s['virtual']:<16} {s['real']:<16} {s.get('display', ''):<12} {active:>7} {cps:>8}  "
              f"{s.get('by') or '-'}")
    return 0
