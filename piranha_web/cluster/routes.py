"""CLUSTER: every director of an ECMP cluster as its pulse reports it, with DRAIN and UNDRAIN.

Everything shown comes from the console's own pulse (its status file holds
what the other directors told it over the authenticated peer channel); the
buttons make the same ``services.cluster`` call as the REST API.  The
readonly role gets 403 from the login guard before a POST reaches this.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..services import cluster
from ..services.runtime import Refused
from . import bp
from .forms import ACTIONS, DrainForm


@bp.get("/")
def index() -> Any:
    """The directors, or a note that the cluster mode is primary/backup."""
    found = cluster.overview()
    for row in found["directors"]:
        row["contact"] = _when(row["last_contact"])
    return render_template("cluster/index.html", cluster=found, form=DrainForm())


@bp.post("/")
def drain() -> Any:
    """DRAIN or UNDRAIN one director, then back to the list with what happened."""
    form = DrainForm()
    name, action = form.director.data or "", form.action.data or request.form.get("action", "")
    if not form.validate_on_submit() or action not in ACTIONS:
        flash(f"{name}: press DRAIN or UNDRAIN", "error")
        return redirect(url_for(".index"))
    try:
        cluster.set_drain(name, ACTIONS[action], current_user.username, request.remote_addr)
    except Refused as exc:
        flash(f"{name}: {exc.message}", "error")
    else:
        flash(f"{name}: {action} requested", "success")
    return redirect(url_for(".index"))


def _when(value: Any) -> str | None:
    """Epoch seconds as UTC text."""
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return None
