"""``piranha-config audit verify|list``: check and read the HMAC-chained audit log.

``verify`` walks the chain with the instance's audit key and checkpoint and
names the first entry whose link or hash is wrong, or reports a truncated
tail (exit 1), else prints ``ok, N entries``.  ``list`` prints entries
oldest first, filtered like the AUDIT LOG panel, as text or JSON lines.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(parser: argparse.ArgumentParser) -> None:
    """Attach ``verify`` and ``list`` below ``audit``."""
    sub = parser.add_subparsers(dest="audit_command", metavar="ACTION")
    sub.required = True
    verify = sub.add_parser("verify", help="check the hash chain; exit 1 at the first broken link")
    verify.set_defaults(func=run_verify)
    lst = sub.add_parser("list", help="print audit entries, oldest first")
    lst.add_argument("--since", metavar="ISO", help="only entries at or after this date/time (UTC)")
    lst.add_argument("--until", metavar="ISO", help="only entries at or before this date/time (UTC)")
    lst.add_argument("--user", metavar="U", help="only entries by this user")
    lst.add_argument("--object", metavar="TEXT", help="only entries whose object type or name contains TEXT")
    lst.add_argument("--action", metavar="PREFIX", help="only actions starting with PREFIX (e.g. login)")
    lst.add_argument("--json", action="store_true", help="one JSON object per line")
    lst.set_defaults(func=run_list)


def _app_context() -> Any:
    from ..app import create_app

    return create_app({"AUTO_IMPORT": False}).app_context()


def run_verify(args: argparse.Namespace) -> int:
    """Exit 0 with ``ok, N entries`` or 1 naming the first broken entry."""
    from ..extensions import db
    from ..services import audit

    with _app_context():
        result = audit.verify(db.session)
    if result.ok:
        legacy = f" ({result.unkeyed} from before the audit key, unkeyed)" if result.unkeyed else ""
        print(f"ok, {result.count} entries{legacy}")
        return 0
    where = f"at entry {result.broken_id}" if result.broken_id is not None else "at its end"
    print(f"audit chain broken {where}: {result.reason} "
          f"({result.count} entries before it are intact)", file=sys.stderr)
    return 1


def run_list(args: argparse.Namespace) -> int:
    """Print the matching entries (text or ``--json`` lines)."""
    from ..extensions import db
    from ..services import audit

    try:
        filters = audit.Filters(user=args.user, object=args.object, action=args.action,
                                since=audit.parse_when(args.since),
                                until=audit.parse_when(args.until, end_of_day=True))
    except ValueError as exc:
        print(f"piranha-config: bad date: {exc}", file=sys.stderr)
        return 1
    with _app_context():
        for entry in audit.iter_entries(db.session, filters):
            data = audit.entry_dict(entry)
            if args.json:
                print(json.dumps(data, sort_keys=True, ensure_ascii=False))
            else:
                print(_text_line(data))
    return 0


def _text_line(data: dict[str, Any]) -> str:
    obj = data["object_type"] or ""
    if data["object_name"]:
        obj = f"{obj}/{data['object_name']}"
    rev = f" rev={data['revision']}" if data["revision"] is not None else ""
    changes = ", ".join(
        f"{k}: {v[0]!r} -> {v[1]!r}" if isinstance(v, list) and len(v) == 2 else f"{k}={v!r}"
        for k, v in data["detail"].items())
    return (f"{data['id']:>6} {data['ts']} {data['username']} {data['client_addr'] or '-'} "
            f"{data['action']} {obj or '-'}{rev}" + (f"  [{changes}]" if changes else ""))
