"""VIRTUAL SERVERS list, VIRTUAL SERVER edit and MONITORING SCRIPTS views."""

from __future__ import annotations

from typing import Any

from flask import current_app, render_template, request, url_for
from sqlalchemy import func, select

from ..extensions import db
from ..models import RealServer, VirtualServer
from ..services import definitions
from ..viewkit import edit_panel, list_action, page_number, panel_form, virtual_or_404
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
    return edit_panel(
        _virtual_form(definitions.NEW_VIRTUAL), "virtual/edit.html",
        lambda values, _version: definitions.create_virtual(values),
        lambda outcome: url_for(".edit", vid=outcome.target[1]) if outcome.target else url_for(".index"),
        cancel=url_for(".index"), context={"vs": None})


@bp.route("/<int:vid>/", methods=["GET", "POST"])
def edit(vid: int) -> Any:
    """VIRTUAL SERVER sub-panel of one virtual server."""
    vs = virtual_or_404(vid)
    return edit_panel(_virtual_form(vs), "virtual/edit.html",
                      lambda values, version: definitions.update_virtual(vid, values, version),
                      url_for(".edit", vid=vid), cancel=url_for(".index"), context={"vs": vs})


@bp.route("/<int:vid>/monitoring", methods=["GET", "POST"])
def monitoring(vid: int) -> Any:
    """MONITORING SCRIPTS sub-panel: send/expect strings or a sending program."""
    vs = virtual_or_404(vid)
    return edit_panel(panel_form(MonitoringScriptsForm, vs), "virtual/monitoring.html",
                      lambda values, version: definitions.update_virtual(vid, values, version, "monitoring"),
                      url_for(".monitoring", vid=vid), cancel=url_for(".edit", vid=vid), context={"vs": vs})


def _virtual_form(source: object) -> VirtualServerForm:
    """The VIRTUAL SERVER form, with values loaded from a file kept selectable."""
    form = panel_form(VirtualServerForm, source, virtual_form_data)
    form.fit_choices()
    return form
