"""The virtual console area."""

from flask import Blueprint

bp = Blueprint("virtual", __name__, url_prefix="/virtual" or None)

from . import routes  # noqa: E402,F401  (registers the views on bp)
