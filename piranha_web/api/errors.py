"""JSON errors for the API: one shape for every status, never an HTML page or a traceback."""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from . import bp


class ApiError(Exception):
    """An error response: ``status``, a message, and optional field errors / extra data."""

    def __init__(self, status: int, message: str, fields: list[dict[str, str]] | None = None,
                 **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = fields or []
        self.extra = extra


def error_response(status: int, message: str, fields: list[dict[str, str]] | None = None,
                   **extra: Any) -> Any:
    """``{"error": message, "status": status, "fields": [...], ...}`` with that status."""
    body: dict[str, Any] = {"error": message, "status": status}
    if fields:
        body["fields"] = fields
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="piranha-web"'
    return response


@bp.errorhandler(ApiError)
def _api_error(err: ApiError) -> Any:
    return error_response(err.status, err.message, err.fields, **err.extra)


@bp.errorhandler(HTTPException)
def http_error(err: HTTPException) -> Any:
    """Any HTTP error raised inside the API, as JSON."""
    response = error_response(err.code or 500, err.description or err.name)
    if isinstance(err, MethodNotAllowed) and err.valid_methods:
        response.headers["Allow"] = ", ".join(err.valid_methods)
    return response


# Code-specific handlers: the app registers HTML pages per code, which would beat a class handler.
for _code in (400, 401, 403, 404, 405, 409, 413, 415, 422, 500):
    bp.register_error_handler(_code, http_error)


@bp.errorhandler(Exception)
def _unexpected(err: Exception) -> Any:
    current_app.logger.exception("API error on %s %s", request.method, request.path)
    return error_response(500, "internal error (logged on the server)")


ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def method_not_allowed(**_: Any) -> Any:
    """405 with the methods the path does have."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = []
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        try:
            endpoint, _args = adapter.match(request.path, method=method)
        except HTTPException:
            continue
        if endpoint not in ("api._fallback", "api._method_not_allowed"):
            allowed.append(method)
    raise MethodNotAllowed(valid_methods=allowed)


@bp.route("/", defaults={"_path": ""}, methods=ALL_METHODS)
@bp.route("/<path:_path>", methods=ALL_METHODS)
def _fallback(_path: str) -> Any:
    """Unknown API paths, as JSON 404 (after the token check)."""
    raise NotFound(f"no API endpoint {request.path}")
