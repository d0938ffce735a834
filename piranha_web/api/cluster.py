"""The ECMP cluster over REST: GET /cluster, POST /cluster/directors/{name}/drain and .../undrain.

The same ``services.cluster`` calls the CLUSTER page makes; the readonly
role's POST gets 403 from the token check before this runs.  Outside
``cluster = ecmp`` the listing says the mode is primary/backup and a drain
is 409; a name lvs.cf does not have is 404.
"""

from __future__ import annotations

from flask import Response, jsonify, request

from ..services import cluster
from ..services.runtime import Refused
from . import bp
from .auth import actor
from .errors import ApiError


@bp.get("/cluster")
def cluster_get() -> Response:
    """The cluster mode and every director with what its pulse last reported."""
    return jsonify(cluster.overview())


@bp.post("/cluster/directors/<name>/drain")
def cluster_drain(name: str) -> Response:
    """Withdraw the director's routes (as ``pulse --drain`` on it); audited."""
    return _drain(name, True)


@bp.post("/cluster/directors/<name>/undrain")
def cluster_undrain(name: str) -> Response:
    """Announce the director's routes again (as ``pulse --undrain`` on it); audited."""
    return _drain(name, False)


def _drain(name: str, drain: bool) -> Response:
    try:
        return jsonify(cluster.set_drain(name, drain, actor(), request.remote_addr))
    except Refused as exc:
        raise ApiError(exc.status, exc.message) from None
