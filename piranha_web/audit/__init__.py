"""AUDIT LOG panel (blueprint ``audit``): read-only view and CSV/JSON exports."""

from flask import Blueprint

bp = Blueprint("audit", __name__, url_prefix="/audit")

from . import routes  # noqa: E402,F401  (registers the views on bp)
