"""The settings console area."""

from flask import Blueprint

bp = Blueprint("settings", __name__, url_prefix="/settings" or None)

from . import routes  # noqa: E402,F401  (registers the views on bp)
