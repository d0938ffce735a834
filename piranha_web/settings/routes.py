"""GLOBAL SETTINGS view: GET shows the row, POST (ACCEPT) validates and publishes."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for

from .. import formkit as fk
from ..services import definitions
from ..services.lvsconfig import settings_row
from ..viewkit import perform, read_form
from . import bp
from .forms import GlobalSettingsForm


@bp.route("/", methods=["GET", "POST"])
def index() -> Any:
    """The GLOBAL SETTINGS panel."""
    row = settings_row()
    if request.method == "GET":
        form = GlobalSettingsForm(data=fk.row_data(row, list(GlobalSettingsForm.CONVERTERS)))
    else:
        form = GlobalSettingsForm()
    form.nat_nmask.choices = fk.with_current(fk.netmasks(16), form.nat_nmask.data)
    if request.method == "POST":
        values, ok = read_form(form)
        if ok and perform(definitions.update_settings(values, form.expected_version(), "global"), form):
            return redirect(url_for(".index"))
        return render_template("settings/index.html", form=form), 422
    return render_template("settings/index.html", form=form)
