"""VIRTUAL SERVERS list, VIRTUAL SERVER edit and MONITORING SCRIPTS views."""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, redirect, render_template, request, url_for
from sqlalchemy import func, select

from .. import formkit as fk
from ..extensions import db
from ..models import RealServer, VirtualServer
from ..services import definitions
from ..viewkit import list_action, page_number, perform, read_form
from . import bp
from .forms import MonitoringScriptsForm, VirtualServerForm, virtual_form_data

LIST_COLUMNS = (VirtualServer.id, VirtualServer.version, VirtualServer.name, VirtualServer.active,
                VirtualServer.address, VirtualServer.vip_nmask, VirtualServer.port,
                VirtualServer.protocol, VirtualServer.device, VirtualServer.fwmark)


@bp.get("/")
def index() -> Any:
    """VIRTUAL SERVERS: one radio per row, ADD / DELETE / (DE)ACTIVATE / EDIT (paginated)."""
    size = _page_size()
    page = page_number()
    total = db.session.scalar(select(func.count()).select_from(VirtualServer)) or 0
    pages = max(1, -(-total // size))
    page = min(page, pages)
    rows = db.session.execute(
        select(*LIST_COLUMNS).order_by(VirtualServer.position, VirtualServer.id)
        .limit(size).offset((page - 1) * size)).all()
    counts = dict(db.session.execute(
        select(RealServer.virtual_id, func.count()).where(RealServer.virtual_id.in_([r.id for r in rows]))
        .group_by(RealServer.virtual_id)).all())
    return render_template("virtual/index.html", rows=rows, counts=counts, page=page, pages=pages,
                           total=total)


def _page_size() -> int:
    """Rows per list page: ``?size=N`` (1-500) or PAGE_SIZE."""
    try:
        wanted = int(request.args.get("size", "0"))
    except ValueError:
        wanted = 0
    return min(500, wanted) if wanted > 0 else int(current_app.config.get("PAGE_SIZE", 50))


@bp.post("/")
def act() -> Any:
    """The list's buttons: ADD goes to a blank form, the others act on the selected row."""
    return list_action("virtual server", back=url_for(".index", page=request.form.get("page") or None),
                       add=url_for(".new"), edit=lambda vid: url_for(".edit", vid=vid),
                       delete=definitions.delete_virtual, toggle=definitions.toggle_virtual)


@bp.route("/new", methods=["GET", "POST"])
def new() -> Any:
    """ADD: a VIRTUAL SERVER form with Piranha's defaults; ACCEPT creates it."""
    form = _virtual_form(definitions.NEW_VIRTUAL)
    if request.method == "POST":
        if request.form.get("action") == "cancel":
            return redirect(url_for(".index"))
        values, ok = read_form(form)
        outcome = perform(definitions.create_virtual(values), form) if ok else None
        if outcome is not None:
            return redirect(url_for(".edit", vid=outcome.target[1]) if outcome.target else url_for(".index"))
        return render_template("virtual/edit.html", form=form, vs=None), 422
    return render_template("virtual/edit.html", form=form, vs=None)


@bp.route("/<int:vid>/", methods=["GET", "POST"])
def edit(vid: int) -> Any:
    """VIRTUAL SERVER sub-panel of one virtual server."""
    vs = _virtual_or_404(vid)
    form = _virtual_form(vs)
    if request.method == "POST":
        if request.form.get("action") == "cancel":
            return redirect(url_for(".index"))
        values, ok = read_form(form)
        if ok and perform(definitions.update_virtual(vid, values, form.expected_version()), form):
            return redirect(url_for(".edit", vid=vid))
        return render_template("virtual/edit.html", form=form, vs=vs), 422
    return render_template("virtual/edit.html", form=form, vs=vs)


@bp.route("/<int:vid>/monitoring", methods=["GET", "POST"])
def monitoring(vid: int) -> Any:
    """MONITORING SCRIPTS sub-panel: send/expect strings or a sending program."""
    vs = _virtual_or_404(vid)
    if request.method == "GET":
        form = MonitoringScriptsForm(data=fk.row_data(vs, list(MonitoringScriptsForm.CONVERTERS)))
    else:
        form = MonitoringScriptsForm()
    if request.method == "POST":
        if request.form.get("action") == "cancel":
            return redirect(url_for(".edit", vid=vid))
        values, ok = read_form(form)
        mutation = definitions.update_virtual(vid, values, form.expected_version(), "monitoring")
        if ok and perform(mutation, form):
            return redirect(url_for(".monitoring", vid=vid))
        return render_template("virtual/monitoring.html", form=form, vs=vs), 422
    return render_template("virtual/monitoring.html", form=form, vs=vs)


def _virtual_form(source: object) -> VirtualServerForm:
    """The VIRTUAL SERVER form: ``source``'s values on GET, the posted ones on POST."""
    if request.method == "GET":
        form = VirtualServerForm(data=virtual_form_data(source))
    else:
        form = VirtualServerForm()
    form.fit_choices()
    return form


def _virtual_or_404(vid: int) -> VirtualServer:
    vs = db.session.get(VirtualServer, vid)
    if vs is None:
        abort(404, "This virtual server does not exist (any more).")
    return vs
