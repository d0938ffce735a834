"""The cluster console area (cluster = ecmp: the active directors)."""

from flask import Blueprint

bp = Blueprint("cluster", __name__, url_prefix="/cluster")

from . import routes  # noqa: E402,F401  (registers the views on bp)
