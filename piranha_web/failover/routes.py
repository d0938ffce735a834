"""FAILOVER list and edit views (services moved between directors when service = fos)."""

from __future__ import annotations

from typing import Any

from flask import render_template, url_for
from sqlalchemy import select

from .. import formkit as fk
from ..extensions import db
from ..models import FailoverService
from ..services import definitions
from ..services.lvsconfig import settings_row
from ..viewkit import edit_panel, failover_or_404, list_action, panel_form
from . import bp
from .forms import FailoverForm


@bp.get("/")
def index() -> Any:
    """FAILOVER list: ADD / DELETE / EDIT / (DE)ACTIVATE."""
    rows = db.session.scalars(select(FailoverService).order_by(FailoverService.position, FailoverService.id))
    return render_template("failover/index.html", rows=list(rows), service=settings_row().service)


@bp.post("/")
def act() -> Any:
    """The list's buttons."""
    return list_action("failover service", back=url_for(".index"), add=url_for(".new"),
                       edit=lambda fid: url_for(".edit", fid=fid),
                       delete=definitions.delete_failover, toggle=definitions.toggle_failover)


@bp.route("/new", methods=["GET", "POST"])
def new() -> Any:
    """ADD a failover service."""
    return edit_panel(panel_form(FailoverForm, definitions.NEW_FAILOVER), "failover/edit.html",
                      lambda values, _version: definitions.create_failover(values),
                      url_for(".index"), cancel=url_for(".index"), context={"row": None})


@bp.route("/<int:fid>", methods=["GET", "POST"])
def edit(fid: int) -> Any:
    """EDIT one failover service."""
    row = failover_or_404(fid)
    form = panel_form(FailoverForm, row)
    form.vip_nmask.choices = fk.with_current(fk.netmasks(16), form.vip_nmask.data)
    return edit_panel(form, "failover/edit.html",
                      lambda values, version: definitions.update_failover(fid, values, version),
                      url_for(".index"), cancel=url_for(".index"), context={"row": row})
