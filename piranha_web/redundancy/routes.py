"""REDUNDANCY view: backup ENABLE/DISABLE and the heartbeat settings."""

from __future__ import annotations

from typing import Any

from flask import redirect, url_for

from .. import formkit as fk
from ..models import row_id
from ..services import definitions
from ..services.changes import Mutation
from ..services.lvsconfig import settings_row
from ..viewkit import edit_panel, panel_form, perform
from . import bp
from .forms import RedundancyForm, ToggleForm


@bp.route("/", methods=["GET", "POST"])
def index() -> Any:
    """The REDUNDANCY panel; ACCEPT publishes."""
    row = settings_row()

    def change(values: dict[str, Any], version: int | None) -> Mutation:
        if not row.primary_private:
            values.pop("backup_private", None)  # the field is only offered with a private primary
        return definitions.update_settings(values, version, "redundancy")

    form = panel_form(RedundancyForm, row, _initial)
    return edit_panel(form, "redundancy/index.html", change, url_for(".index"),
                      context={"row": row, "toggle_form": ToggleForm(data={"version": str(row.version)})})


def _initial(row: Any) -> dict[str, Any]:
    """The row as the form shows it (``monitor_links`` is stored as 0/1, the checkbox wants a bool)."""
    return {**fk.row_data(row, list(RedundancyForm.CONVERTERS)), "monitor_links": bool(row.monitor_links)}


@bp.post("/toggle")
def toggle() -> Any:
    """ENABLE / DISABLE the backup director (``backup_active``)."""
    form = ToggleForm()
    row = settings_row()
    if form.validate_on_submit():
        perform(definitions.update_settings({"backup_active": not row.backup_active},
                                            row_id(form.version.data), "redundancy"))
    return redirect(url_for(".index"))
