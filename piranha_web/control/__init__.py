"""The control console area."""

from flask import Blueprint

bp = Blueprint("control", __name__, url_prefix="" or None)

from . import routes, runtime  # noqa: E402,F401  (registers the views on bp)
