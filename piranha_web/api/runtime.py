"""Runtime states over REST (GET/PUT /runtime/virtual-servers/{virtual}/real-servers/{real}) and
POST /preview (what a publish would do).

Names, not ids: the states belong to pulse's running configuration (lvs.cf
names), not to the console's database rows.  Bodies are
``{"state": "drain"}``, ``{"state": "maint", "now": true}``,
``{"state": "ready"}``, ``{"weight": 5}`` or ``{"weight": "50%"}``; the
readonly role's PUT gets 403 from the token check before this runs.
"""

from __future__ import annotations

from flask import Response, jsonify, request

from ..lvscf import LvsCfError
from ..pulse.runtime.states import InvalidChange
from ..services import preview, runtime
from . import bp
from .auth import actor
from .common import json_body
from .errors import ApiError

PATH = "/runtime/virtual-servers/<virtual>/real-servers/<real>"


def _refused(exc: runtime.Refused) -> ApiError:
    fields = [{"field": exc.field, "message": exc.message}] if exc.field else None
    return ApiError(exc.status, exc.message, fields)


@bp.get("/runtime")
def runtime_list() -> Response:
    """Every real server pulse runs, with its runtime state."""
    try:
        return jsonify({"items": runtime.listing()})
    except runtime.Refused as exc:
        raise _refused(exc) from None


@bp.get(PATH)
def runtime_get(virtual: str, real: str) -> Response:
    """One real server's runtime state."""
    try:
        return jsonify(runtime.get_state(virtual, real))
    except runtime.Refused as exc:
        raise _refused(exc) from None


@bp.put(PATH)
def runtime_put(virtual: str, real: str) -> Response:
    """Set DRAIN, MAINT (now), READY or a weight override; audited under the token's user."""
    try:
        change = runtime.parse_change(json_body())
        return jsonify(runtime.set_state(virtual, real, change, actor(), request.remote_addr))
    except InvalidChange as exc:
        fields = [{"field": exc.field, "message": exc.message}]
        raise ApiError(422, "invalid runtime change", fields) from None
    except runtime.Refused as exc:
        raise _refused(exc) from None


@bp.post("/preview")
def preview_config() -> Response:
    """What publishing this whole configuration (JSON export format) would do; changes nothing."""
    try:
        return jsonify(preview.of_export(json_body()).to_dict())
    except LvsCfError as err:
        fields = [{"field": p.key or "", "message": str(p.message)} for p in err.problems]
        raise ApiError(422, f"the configuration is not valid: {err}", fields) from None
