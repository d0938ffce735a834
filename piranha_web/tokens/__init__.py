"""The TOKENS console area: create and revoke REST API tokens."""

from flask import Blueprint

bp = Blueprint("tokens", __name__, url_prefix="/tokens")

from . import routes  # noqa: E402,F401  (registers the views on bp)
