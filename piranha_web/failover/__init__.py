"""The failover console area."""

from flask import Blueprint

bp = Blueprint("failover", __name__, url_prefix="/failover" or None)

from . import routes  # noqa: E402,F401  (registers the views on bp)
