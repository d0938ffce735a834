"""CONTROL/MONITORING views."""

from flask import render_template

from . import bp


@bp.get("/")
def index() -> str:
    """The landing page."""
    return render_template("control/index.html")
