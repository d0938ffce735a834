"""The real console area."""

from flask import Blueprint

bp = Blueprint("real", __name__, url_prefix="/virtual/<int:vid>/real" or None)

from . import routes  # noqa: E402,F401  (registers the views on bp)
