"""FAILOVER list and edit views (services moved between directors when service = fos)."""

from __future__ import annotations

from typing import Any

from flask import abort, redirect, render_template, request, url_for
from sqlalchemy import select

from .. import formkit as fk
from ..extensions import db
from ..models import FailoverService
from ..services import definitions
from ..services.lvsconfig import settings_row
from ..viewkit import list_action, perform, read_form
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
    if request.method == "GET":
        form = FailoverForm(data=fk.row_data(definitions.NEW_FAILOVER, list(FailoverForm.CONVERTERS)))
        return render_template("failover/edit.html", form=form, row=None)
    form = FailoverForm()
    if request.form.get("action") == "cancel":
        return redirect(url_for(".index"))
    values, ok = read_form(form)
    if ok and perform(definitions.create_failover(values), form):
        return redirect(url_for(".index"))
    return render_template("failover/edit.html", form=form, row=None), 422


@bp.route("/<int:fid>", methods=["GET", "POST"])
def edit(fid: int) -> Any:
    """EDIT one failover service."""
    row = db.session.get(FailoverService, fid)
    if row is None:
        abort(404, "This failover service does not exist (any more).")
    if request.method == "GET":
        form = FailoverForm(data=fk.row_data(row, list(FailoverForm.CONVERTERS)))
        form.vip_nmask.choices = fk.with_current(fk.netmasks(16), form.vip_nmask.data)
        return render_template("failover/edit.html", form=form, row=row)
    form = FailoverForm()
    form.vip_nmask.choices = fk.with_current(fk.netmasks(16), form.vip_nmask.data)
    if request.form.get("action") == "cancel":
        return redirect(url_for(".index"))
    values, ok = read_form(form)
    if ok and perform(definitions.update_failover(fid, values, form.expected_version()), form):
        return redirect(url_for(".index"))
    return render_template("failover/edit.html", form=form, row=row), 422
