"""REAL SERVER list and edit views of one virtual server."""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import abort, current_app, redirect, render_template, request, url_for

from .. import formkit as fk
from ..extensions import db
from ..models import RealServer, VirtualServer
from ..services import definitions, pulse_status
from ..viewkit import list_action, perform, read_form
from . import bp
from .forms import RealServerForm


@bp.get("/")
def index(vid: int) -> Any:
    """REAL SERVER list with ADD / DELETE / EDIT / (DE)ACTIVATE and pulse's health view."""
    vs = _virtual_or_404(vid)
    status = pulse_status.read_status(current_app.config["PULSE_STATUS_FILE"]) or {}
    health = (status.get("health") or {}).get(vs.name, {}) if isinstance(status.get("health"), dict) else {}
    return render_template("real/index.html", vs=vs, servers=vs.servers, health=health)


@bp.post("/")
def act(vid: int) -> Any:
    """The list's buttons."""
    _virtual_or_404(vid)
    return list_action("real server", back=url_for(".index", vid=vid), add=url_for(".new", vid=vid),
                       edit=lambda rid: url_for(".edit", vid=vid, rid=rid),
                       delete=partial(definitions.delete_real, vid),
                       toggle=partial(definitions.toggle_real, vid))


@bp.route("/new", methods=["GET", "POST"])
def new(vid: int) -> Any:
    """ADD: a blank REAL SERVER form (weight 1, inactive); ACCEPT creates it."""
    vs = _virtual_or_404(vid)
    if request.method == "GET":
        form = RealServerForm(data=fk.row_data(definitions.NEW_REAL, list(RealServerForm.CONVERTERS)))
        return render_template("real/edit.html", form=form, vs=vs, rs=None)
    form = RealServerForm()
    if request.form.get("action") == "cancel":
        return redirect(url_for(".index", vid=vid))
    values, ok = read_form(form)
    if ok and perform(definitions.create_real(vid, values), form):
        return redirect(url_for(".index", vid=vid))
    return render_template("real/edit.html", form=form, vs=vs, rs=None), 422


@bp.route("/<int:rid>", methods=["GET", "POST"])
def edit(vid: int, rid: int) -> Any:
    """EDIT one real server."""
    vs = _virtual_or_404(vid)
    rs = db.session.get(RealServer, rid)
    if rs is None or rs.virtual_id != vid:
        abort(404, "This real server does not exist (any more).")
    if request.method == "GET":
        form = RealServerForm(data=fk.row_data(rs, list(RealServerForm.CONVERTERS)))
        return render_template("real/edit.html", form=form, vs=vs, rs=rs)
    form = RealServerForm()
    if request.form.get("action") == "cancel":
        return redirect(url_for(".index", vid=vid))
    values, ok = read_form(form)
    if ok and perform(definitions.update_real(vid, rid, values, form.expected_version()), form):
        return redirect(url_for(".index", vid=vid))
    return render_template("real/edit.html", form=form, vs=vs, rs=rs), 422


def _virtual_or_404(vid: int) -> VirtualServer:
    vs = db.session.get(VirtualServer, vid)
    if vs is None:
        abort(404, "This virtual server does not exist (any more).")
    return vs
