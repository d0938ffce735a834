"""GLOBAL SETTINGS view: GET shows the row, POST (ACCEPT) validates and publishes."""

from __future__ import annotations

from typing import Any

from flask import url_for

from .. import formkit as fk
from ..services import definitions
from ..services.lvsconfig import settings_row
from ..viewkit import edit_panel, panel_form
from . import bp
from .forms import GlobalSettingsForm


@bp.route("/", methods=["GET", "POST"])
def index() -> Any:
    """The GLOBAL SETTINGS panel."""
    form = panel_form(GlobalSettingsForm, settings_row())
    form.nat_nmask.choices = fk.with_current(fk.netmasks(16), form.nat_nmask.data)
    return edit_panel(form, "settings/index.html",
                      lambda values, version: definitions.update_settings(values, version, "global"),
                      url_for(".index"))
