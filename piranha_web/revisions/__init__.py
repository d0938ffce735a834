"""The revisions console area."""

from flask import Blueprint

bp = Blueprint("revisions", __name__, url_prefix="/revisions" or None)

from . import routes  # noqa: E402,F401  (registers the views on bp)
