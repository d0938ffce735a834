"""REST API under /api/v1: JSON over the same service layer as the console's panels.

Authentication is a bearer token only (``Authorization: Bearer pwt_...``);
session cookies are ignored here, which is why CSRF does not apply and the
console's login guard lets this blueprint through (security.require_login).
Every change goes through ``services.changes.run`` exactly like an ACCEPT
on a panel: whole-config validation, atomic lvs.cf write, revision, audit
entry under the token's user, pulse notification.

Reads return ``version`` and an ``ETag``; writes may send ``If-Match`` and
get 409 when the object changed meanwhile.  Validation errors are 422 with
``{"error": ..., "fields": [{"field", "message"}]}``.  The OpenAPI 3
document is at /api/v1/openapi.json.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

# the routes register on bp
from . import auth, cluster, errors, history, resources, openapi, runtime  # noqa: E402,F401


def init_app(app: object) -> None:
    """Exempt the API from cookie CSRF (it never reads cookies) and register it."""
    from ..extensions import csrf

    csrf.exempt(bp)
    app.register_blueprint(bp)  # type: ignore[attr-defined]
    _add_method_not_allowed_rules(app)


def _add_method_not_allowed_rules(app: Any) -> None:
    """Route each API path's other methods to a JSON 405 inside the blueprint.

    Werkzeug would otherwise raise 405 while routing, before any blueprint
    code (token check, JSON errors) could run.
    """
    from .errors import method_not_allowed

    methods: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api.") and rule.endpoint != "api._fallback":
            methods.setdefault(rule.rule, set()).update(rule.methods or ())
    for path, allowed in methods.items():
        missing = sorted({"GET", "POST", "PUT", "PATCH", "DELETE"} - allowed)
        if missing:
            app.add_url_rule(path, endpoint="api._method_not_allowed", view_func=method_not_allowed,
                             methods=missing)
