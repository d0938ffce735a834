"""CONTROL/MONITORING's runtime buttons: DRAIN, MAINT, READY and a weight per real server.

A plain form post (CSRF-protected like every form; the readonly role gets
403 from the login guard before this runs) turned into the same
``services.runtime`` call the REST API and ``piranha-config runtime`` make.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for
from flask_login import current_user

from ..pulse.runtime.states import InvalidChange
from ..services import runtime
from . import bp

ACTIONS = {"drain": {"state": "drain"}, "maint": {"state": "maint"},
           "maint-now": {"state": "maint", "now": True}, "ready": {"state": "ready"}}


def change_from_form(form: Any) -> runtime.Change:
    """The button pressed (``action``) and, for ``weight``, the weight field."""
    action = form.get("action", "")
    if action == "weight":
        return runtime.parse_change({"weight": (form.get("weight") or "").strip()})
    if action not in ACTIONS:
        raise InvalidChange("action", "press DRAIN, MAINT, READY or SET WEIGHT")
    return runtime.parse_change(ACTIONS[action])


@bp.post("/runtime")
def runtime_set() -> Any:
    """Apply one runtime change and come back to the panel with what happened."""
    virtual, real = request.form.get("virtual", ""), request.form.get("real", "")
    try:
        change = change_from_form(request.form)
        server = runtime.set_state(virtual, real, change, current_user.username, request.remote_addr)
    except InvalidChange as exc:
        flash(f"{virtual}/{real}: {exc.field}: {exc.message}", "error")
    except runtime.Refused as exc:
        flash(f"{virtual}/{real}: {exc.message}", "error")
    else:
        flash(f"{virtual}/{real}: runtime state {server.get('display')}", "success")
    args = {k: v for k, v in request.args.items() if k in ("auto_update", "rate")}
    return redirect(url_for("control.index", **args) + "#health")
