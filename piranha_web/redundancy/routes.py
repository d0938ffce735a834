"""REDUNDANCY view: backup ENABLE/DISABLE and the heartbeat settings."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for

from .. import formkit as fk
from ..models import row_id
from ..services import definitions
from ..services.lvsconfig import settings_row
from ..viewkit import perform, read_form
from . import bp
from .forms import RedundancyForm, ToggleForm


@bp.route("/", methods=["GET", "POST"])
def index() -> Any:
    """The REDUNDANCY panel; ACCEPT publishes."""
    row = settings_row()
    if request.method == "GET":
        form = RedundancyForm(data=fk.row_data(row, list(RedundancyForm.CONVERTERS)))
        form.monitor_links.data = bool(row.monitor_links)
    else:
        form = RedundancyForm()
    if request.method == "POST":
        values, ok = read_form(form)
        if not row.primary_private:
            values.pop("backup_private", None)  # the field is only offered with a private primary
        if ok and perform(definitions.update_settings(values, form.expected_version(), "redundancy"), form):
            return redirect(url_for(".index"))
        return _render(form, row, 422)
    return _render(form, row)


@bp.post("/toggle")
def toggle() -> Any:
    """ENABLE / DISABLE the backup director (``backup_active``)."""
    form = ToggleForm()
    row = settings_row()
    if form.validate_on_submit():
        perform(definitions.update_settings({"backup_active": not row.backup_active},
                                            row_id(form.version.data), "redundancy"))
    return redirect(url_for(".index"))


def _render(form: RedundancyForm, row: Any, status: int = 200) -> Any:
    toggle_form = ToggleForm(data={"version": str(row.version)})
    return render_template("redundancy/index.html", form=form, row=row, toggle_form=toggle_form), status
