"""Request/response plumbing shared by the API resources: bodies, ETags, running changes."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Response, jsonify, request

from ..convert.jsonfmt import check_fields
from ..lvscf import LvsCfError
from ..models import MAX_ROW_ID, row_id
from ..services import changes
from ..services.changes import Conflict, Mutation, NotFound, Outcome, Rejected
from .auth import actor
from .errors import ApiError


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 400/415/422 ApiError."""
    if not request.is_json:
        raise ApiError(415, "send a JSON body with Content-Type: application/json")
    data = request.get_json(silent=True)  # strict: see piranha_web.strictjson
    if data is None:
        raise ApiError(400, "request body is not valid JSON (NaN, Infinity and deep nesting are refused)")
    if not isinstance(data, dict):
        raise ApiError(422, "request body must be a JSON object",
                       [{"field": "", "message": "expected a JSON object"}])
    return data


def fields_of(model: type, data: dict[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
    """Typed values for ``allowed`` keys of ``data``, or 422 naming each bad field."""
    try:
        values = check_fields(model, data, allowed)
    except LvsCfError as err:
        raise ApiError(422, "invalid fields", [{"field": p.key or "", "message": p.message}
                                               for p in err.problems]) from None
    bad = [{"field": k, "message": why} for k, v in values.items() if (why := _storable(v))]
    if bad:
        raise ApiError(422, "invalid fields", bad)
    return values


def _storable(value: Any) -> str | None:
    """Why the database could not hold ``value`` (None when it can): checked before any write."""
    if isinstance(value, int) and not isinstance(value, bool) and not -MAX_ROW_ID - 1 <= value <= MAX_ROW_ID:
        return "integer out of range"
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "text is not valid Unicode"
        if "\x00" in value:
            return "text contains a NUL character"
    return None


def if_match() -> int | None:
    """The version an ``If-Match`` header names (``"v7"``, ``W/"v7"``, ``7``); None = unconditional."""
    raw = request.headers.get("If-Match")
    if raw is None or raw.strip() == "*":
        return None
    tag = raw.split(",")[0].strip()
    tag = tag[2:] if tag.startswith("W/") else tag
    tag = tag.strip('"')
    tag = tag[1:] if tag.startswith("v") else tag
    version = row_id(tag)
    if version is None:
        raise ApiError(400, f"If-Match {raw[:40]!r} is not a version tag from an ETag (like \"v3\")")
    return version


def etag(version: int) -> str:
    """The ETag of an object at ``version``."""
    return f'"v{version}"'


def with_etag(data: dict[str, Any], status: int = 200) -> Response:
    """JSON response carrying the object's version as its ETag."""
    response = jsonify(data)
    response.status_code = status
    if "version" in data:
        response.headers["ETag"] = etag(int(data["version"]))
    return response


def listing(items: list[dict[str, Any]]) -> Response:
    """A collection; its ETag changes whenever any member (or membership) changes."""
    response = jsonify({"items": items})
    digest = hashlib.sha256(json.dumps(items, sort_keys=True, default=str).encode()).hexdigest()[:16]
    response.headers["ETag"] = f'"{digest}"'
    return response


def outcome_dict(outcome: Outcome) -> dict[str, Any]:
    """What happened to lvs.cf and pulse after a change."""
    pulse = outcome.pulse
    return {"changed": outcome.changed, "published": outcome.published, "revision": outcome.revision,
            "serial_no": outcome.serial_no, "pending": outcome.pending,
            "write_error": outcome.write_error,
            "pulse": {"state": pulse.state, "error": pulse.error, "directors": pulse.directors}
            if pulse else None}


def run(mutation: Mutation) -> Outcome:
    """Apply a change exactly as a panel's ACCEPT does; refusals become 404/409/422."""
    try:
        return changes.run(mutation, actor(), request.remote_addr)
    except Rejected as err:
        fields = [{"field": key, "message": m}
                  for key, ms in err.fields.items() if key != "_form" for m in ms]
        general = list(err.general) + [m for m in err.fields.get("_form", [])]
        raise ApiError(422, str(err) if fields or general else "validation failed", fields,
                       general=general) from None
    except Conflict as err:
        current = err.current or {}
        raise ApiError(409, "the object changed since you read it; re-read it and retry with its new ETag",
                       current=current) from None
    except NotFound as err:
        raise ApiError(404, str(err)) from None
