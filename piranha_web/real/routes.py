"""REAL SERVER list and edit views of one virtual server."""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import current_app, render_template, url_for

from ..services import definitions, pulse_status
from ..viewkit import edit_panel, list_action, panel_form, real_or_404, virtual_or_404
from . import bp
from .forms import RealServerForm


@bp.get("/")
def index(vid: int) -> Any:
    """REAL SERVER list with ADD / DELETE / EDIT / (DE)ACTIVATE and pulse's health view."""
    vs = virtual_or_404(vid)
    status = pulse_status.read_status(current_app.config["PULSE_STATUS_FILE"]) or {}
    health = (status.get("health") or {}).get(vs.name, {}) if isinstance(status.get("health"), dict) else {}
    return render_template("real/index.html", vs=vs, servers=vs.servers, health=health)


@bp.post("/")
def act(vid: int) -> Any:
    """The list's buttons."""
    virtual_or_404(vid)
    return list_action("real server", back=url_for(".index", vid=vid), add=url_for(".new", vid=vid),
                       edit=lambda rid: url_for(".edit", vid=vid, rid=rid),
                       delete=partial(definitions.delete_real, vid),
                       toggle=partial(definitions.toggle_real, vid))


@bp.route("/new", methods=["GET", "POST"])
def new(vid: int) -> Any:
    """ADD: a blank REAL SERVER form (weight 1, inactive); ACCEPT creates it."""
    vs = virtual_or_404(vid)
    return edit_panel(panel_form(RealServerForm, definitions.NEW_REAL), "real/edit.html",
                      lambda values, _version: definitions.create_real(vid, values),
                      url_for(".index", vid=vid), cancel=url_for(".index", vid=vid),
                      context={"vs": vs, "rs": None})


@bp.route("/<int:rid>", methods=["GET", "POST"])
def edit(vid: int, rid: int) -> Any:
    """EDIT one real server."""
    vs = virtual_or_404(vid)
    rs = real_or_404(vid, rid)
    return edit_panel(panel_form(RealServerForm, rs), "real/edit.html",
                      lambda values, version: definitions.update_real(vid, rid, values, version),
                      url_for(".index", vid=vid), cancel=url_for(".index", vid=vid),
                      context={"vs": vs, "rs": rs})
