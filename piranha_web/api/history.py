"""Revisions (list, show, diff, rollback), publish, pulse status, audit entries, whole config."""

from __future__ import annotations

from datetime import timezone
from typing import Any

from flask import Response, current_app, jsonify, request

from ..convert import dumps_as, to_dict
from ..extensions import db
from ..lvscf import LvsCfError
from ..services import audit, lvsconfig, pulse_status, revisions
from . import bp
from .common import outcome_dict, run
from .errors import ApiError

MAX_LIMIT = 500


def _int_arg(name: str, default: int | None = None, low: int = 1, high: int = 2 ** 31 - 1) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or len(raw) > 19 or not low <= int(raw) <= high:
        raise ApiError(422, f"{name} must be an integer {low}..{high}",
                       [{"field": name, "message": f"expected an integer {low}..{high}"}])
    return int(raw)


def _iso(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        ts = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return ts.isoformat().replace("+00:00", "Z")
    return value


def _revision_meta(rev: Any) -> dict[str, Any]:
    data = dict(rev) if isinstance(rev, dict) else {
        k: getattr(rev, k) for k in ("id", "serial_no", "created_at", "username", "comment", "pulse_result",
                                     "sha256")}
    data["created_at"] = _iso(data.get("created_at"))
    return data


@bp.get("/revisions")
def list_revisions() -> Response:
    """Published revisions, newest first (``?limit=``, default 50)."""
    limit = _int_arg("limit", 50, 1, MAX_LIMIT)
    return jsonify({"items": [_revision_meta(r) for r in revisions.listing(limit or 50)]})


def _revision(rid: int) -> Any:
    try:
        return revisions.get(rid)
    except revisions.NotFound as err:
        raise ApiError(404, str(err)) from None


@bp.get("/revisions/<int:rid>")
def get_revision(rid: int) -> Response:
    """One revision with its lvs.cf text."""
    rev = _revision(rid)
    return jsonify({**_revision_meta(rev), "text": rev.text})


@bp.get("/revisions/<int:rid>/diff")
def diff_revision(rid: int) -> Response:
    """Unified diff from revision ``rid`` to ``?against=N`` (default: the current definitions)."""
    against = _int_arg("against", None)
    _revision(rid)
    other = _revision(against).text if against is not None else None
    lines = revisions.diff(rid, other)
    return jsonify({"from": rid, "to": against if against is not None else "current",
                    "diff": "\n".join(lines)})


@bp.post("/revisions/<int:rid>/rollback")
def rollback_revision(rid: int) -> Response:
    """Make the definitions what revision ``rid`` said and publish them (a new revision)."""
    _revision(rid)
    return jsonify(outcome_dict(run(revisions.rollback(rid))))


@bp.post("/publish")
def publish() -> Response:
    """Write the current definitions to lvs.cf as a new revision (e.g. over a hand-edited file)."""
    return jsonify(outcome_dict(run(revisions.overwrite_disk())))


@bp.get("/config")
def get_config() -> Response:
    """The whole current configuration: JSON export format, or ``?format=lvs.cf|keepalived`` as text."""
    fmt = request.args.get("format", "json")
    if fmt not in ("json", "lvs.cf", "keepalived"):
        raise ApiError(422, "format must be json, lvs.cf or keepalived",
                       [{"field": "format", "message": "one of json, lvs.cf, keepalived"}])
    last = lvsconfig.last_revision()
    built = lvsconfig.build(serial_no=last.serial_no if last else None)
    if fmt == "json":
        return jsonify(to_dict(built.cfg))
    try:
        text = dumps_as(built.cfg, fmt)
    except LvsCfError as err:
        raise ApiError(422, f"the current definitions cannot be written as {fmt}: {err}") from None
    return Response(text, mimetype="text/plain")


@bp.get("/status")
def status() -> Response:
    """pulse as the CONTROL/MONITORING panel shows it: role, serial, IPVS table, health."""
    cfg = current_app.config
    summary = pulse_status.summary(cfg["PULSE_PID_FILE"], cfg["PULSE_STATUS_FILE"])
    last = lvsconfig.last_revision()
    return jsonify({
        "running": summary["running"], "pid": summary["pid"], "role": summary["role"],
        "serial_no": summary["serial_no"], "published_serial_no": last.serial_no if last else None,
        "last_reload": summary["last_reload"], "updated": summary["updated"],
        "ipvs": summary["ipvs"], "health": summary["health"],
    })


@bp.get("/audit")
def audit_entries() -> Response:
    """Audit entries, newest first; filters ``user action object since until``; keyset ``before``."""
    try:
        filters = audit.Filters(user=request.args.get("user") or None,
                                object=request.args.get("object") or None,
                                action=request.args.get("action") or None,
                                since=audit.parse_when(request.args.get("since")),
                                until=audit.parse_when(request.args.get("until"), end_of_day=True))
    except ValueError:
        raise ApiError(422, "since/until must be ISO dates",
                       [{"field": "since", "message": "ISO date expected"}]) from None
    page = audit.page(db.session, filters, before=_int_arg("before", None),
                      size=_int_arg("limit", 50, 1, MAX_LIMIT) or 50)
    return jsonify({"items": [audit.entry_dict(e) for e in page.entries], "total": page.total,
                    "next_before": page.older_than})
