"""The redundancy console area."""

from flask import Blueprint

bp = Blueprint("redundancy", __name__, url_prefix="/redundancy" or None)

from . import routes  # noqa: E402,F401  (registers the views on bp)
