"""AUDIT LOG views: filter by user/object/action/date, keyset pages of 50, diffs, exports."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any, Iterator

from flask import Response, abort, current_app, render_template, request, stream_with_context

from ..extensions import db
from ..models import row_id
from ..services import audit
from . import bp

CSV_COLUMNS = ("id", "ts", "username", "client_addr", "action", "object_type", "object_name",
               "revision", "detail", "prev_hash", "hash")


def _filters() -> tuple[audit.Filters, dict[str, str]]:
    """Filters from the query string (400 on an unreadable date) and their raw values."""
    names = ("user", "object", "action", "since", "until")
    raw = {k: (request.args.get(k) or "").strip()[:255] for k in names}
    try:
        filters = audit.Filters(
            user=raw["user"] or None, object=raw["object"] or None, action=raw["action"] or None,
            since=audit.parse_when(raw["since"]), until=audit.parse_when(raw["until"], end_of_day=True))
    except ValueError:
        abort(400, description="Dates must be ISO 8601, e.g. 2026-11-26 or 2026-11-26T07:30.")
    return filters, {k: v for k, v in raw.items() if v}


def _int_arg(name: str) -> int | None:
    value = request.args.get(name)
    if value is None or value == "":
        return None
    number = row_id(value)
    if number is None:  # digits beyond the id range name no entry
        abort(404 if value.isdigit() else 400, description=f"{name} must be an entry id")
    return number


@bp.get("/")
def index() -> Any:
    """The newest 50 matching entries, with links to older/newer pages."""
    filters, raw = _filters()
    size = int(current_app.config.get("PAGE_SIZE", 50))
    result = audit.page(db.session, filters, before=_int_arg("before"), after=_int_arg("after"), size=size)
    rows = [(entry, audit.describe_changes(_detail(entry))) for entry in result.entries]
    return render_template("audit/index.html", page=result, rows=rows, filters=raw)


def _detail(entry: Any) -> dict[str, Any]:
    try:
        value = json.loads(entry.detail or "{}")
    except ValueError:
        return {"_raw": entry.detail}
    return value if isinstance(value, dict) else {"_value": value}


def _download(body: Iterator[str], mimetype: str, filename: str) -> Response:
    response = Response(stream_with_context(body), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.get("/export.csv")
def export_csv() -> Response:
    """Every matching entry, oldest first, as CSV (detail as JSON text)."""
    filters, _ = _filters()

    def rows() -> Iterator[str]:
        buf = io.StringIO()
        writer = csv.writer(buf, quoting=csv.QUOTE_ALL)
        writer.writerow(CSV_COLUMNS)
        for entry in audit.iter_entries(db.session, filters):
            data = audit.entry_dict(entry)
            data["detail"] = json.dumps(data["detail"], sort_keys=True, ensure_ascii=False)
            writer.writerow([_csv_safe(data[c]) for c in CSV_COLUMNS])
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
        yield buf.getvalue()

    return _download(rows(), "text/csv", "piranha-audit.csv")


# A formula trigger at the start of the cell or right after something a spreadsheet may split
# cells on (comma, semicolon, pipe, tab, line break), optionally behind an opening quote.
_FORMULA_START = re.compile(r"""(^|[,;|\t\r\n])(["']?)(?=[=+\-@\t\r])""")


def _csv_safe(value: Any) -> Any:
    """Defuse spreadsheet formulas: user-chosen names must not run in whoever opens the export.

    Every place a spreadsheet could start reading a cell (the start, and after
    any separator it might be told to use on import) gets a ``'`` before a
    leading ``= + - @``, tab or CR, which makes the rest plain text.
    """
    if value is None:
        return ""
    if not isinstance(value, str):
        return value
    return _FORMULA_START.sub(lambda m: f"{m.group(1)}{m.group(2)}'", value)


@bp.get("/export.json")
def export_json() -> Response:
    """Every matching entry, oldest first, as one JSON array."""
    filters, _ = _filters()

    def chunks() -> Iterator[str]:
        yield "["
        first = True
        for entry in audit.iter_entries(db.session, filters):
            yield ("" if first else ",\n") + json.dumps(audit.entry_dict(entry), sort_keys=True,
                                                        ensure_ascii=False)
            first = False
        yield "]\n"

    return _download(chunks(), "application/json", "piranha-audit.json")
