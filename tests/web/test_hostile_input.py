"""No input makes the console or the API answer 5xx.

Every rule of ``app.url_map`` is walked, logged in (a session for the
console, a bearer token for the API), with ids beyond SQLite's integer
range, out-of-range numbers in every numeric field, NaN/Infinity and
deeply nested JSON, and bodies over the size limit.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest
from flask import Flask
from werkzeug.routing import IntegerConverter

from tests.support.webauth import LVS_CF

HUGE_ID = 99999999999999999999
BIG = str(2 ** 64)
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
NUMERIC_FIELDS = ("port", "weight", "fwmark", "persistent", "heartbeat_port", "syncd_id", "keepalive",
                  "deadtime", "timeout", "reentry")
HOSTILE_QUERY = {"before": str(HUGE_ID), "after": str(HUGE_ID), "page": BIG, "size": BIG, "rate": BIG,
                 "selected": f"{HUGE_ID}:1", "number": str(HUGE_ID)}
NESTED = "[" * 100_000 + "]" * 100_000
JSON_BODIES = ('{"keepalive": NaN}', '{"keepalive": Infinity}', '{"port": -Infinity}',
               json.dumps({"port": 2 ** 64, "weight": 2 ** 64, "keepalive": 1e308}),
               '{"name": "x", "address": "192.0.2.5", "port": 18446744073709551616}', NESTED)


def hostile_value(converter: object, real: bool) -> object:
    if isinstance(converter, IntegerConverter):
        return 1 if real else HUGE_ID
    kind = type(converter).__name__
    if kind == "AnyConverter":
        return sorted(getattr(converter, "items", ["x"]))[0]
    if kind == "PathConverter":
        return "web/x"
    return "web"


def every_path(app: Flask, real: bool) -> Iterator[tuple[str, str, set[str]]]:
    """(endpoint, path, methods) with hostile (or the sample's real) ids in the URL."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("static", "auth.logout", "auth.login"):
            continue
        values = {arg: hostile_value(conv, real) for arg, conv in rule._converters.items()}
        _, path = rule.build(values, append_unknown=False)
        yield rule.endpoint, path, set(rule.methods or ()) | {"GET"}


def form_bodies(token: str) -> list[dict[str, str]]:
    numbers = {name: BIG for name in NUMERIC_FIELDS}
    floats = {name: "1e400" for name in ("keepalive", "deadtime", "timeout", "reentry")}
    tiny = {name: "1e-320" for name in ("keepalive", "deadtime", "timeout", "reentry")}
    bodies = [{"action": a, "selected": f"{HUGE_ID}:{HUGE_ID}", "version": BIG} for a in
              ("edit", "delete", "toggle", "add", "accept")]
    bodies += [{"action": "accept", "name": "x", "version": BIG, **v} for v in (numbers, floats, tiny)]
    bodies.append({"action": "accept", "name": "x", "port": "-" + BIG, "weight": "-" + BIG})
    bodies.append({"action": "accept", "name": "x\x00y", "address": "192.0.2.1\x00", "send": "\x00" * 10,
                   "port": "9" * 5000, "weight": "1" * 5000, "timeout": "9" * 5000, "version": "9" * 5000})
    return [{"csrf_token": token, **b} for b in bodies]


@pytest.fixture
def walked(app_factory: Any, login_as: Any) -> tuple[Flask, Any, str]:
    app = app_factory(LVS_CF)
    console = login_as(app)
    from piranha_web.services import tokens

    with app.app_context():
        _, secret = tokens.create("piranha", "walk", "test")
    return app, console, secret


def _assert_no_5xx(response: Any, where: str) -> None:
    assert response.status_code < 500, f"{where} -> {response.status_code}: " \
                                       f"{response.get_data(as_text=True)[:300]}"


@pytest.mark.parametrize("real", [False, True], ids=["huge-ids", "real-ids"])
def test_no_route_answers_5xx_to_hostile_input(walked: tuple[Flask, Any, str], real: bool) -> None:
    app, console, secret = walked
    client = console.client
    bearer = {"Authorization": f"Bearer {secret}"}
    bodies = form_bodies(console.token())
    tried = 0
    for endpoint, path, methods in every_path(app, real):
        api = endpoint.startswith("api.")
        for method in METHODS:
            if method not in methods:
                continue
            where = f"{method} {path} ({endpoint})"
            if method in ("GET", "HEAD"):
                r = client.open(path, method=method, query_string=HOSTILE_QUERY,
                                headers=bearer if api else None)
                _assert_no_5xx(r, where)
                tried += 1
                continue
            if api:
                for body in JSON_BODIES:
                    r = client.open(path, method=method, data=body, content_type="application/json",
                                    headers={**bearer, "X-CSRFToken": console.token()})
                    _assert_no_5xx(r, f"{where} body {body[:40]!r}")
                    tried += 1
                continue
            for body in bodies:
                if real and body["action"] in ("delete", "toggle"):
                    continue  # keep the sample's objects for the other routes
                r = client.open(path, method=method, data=body, query_string=HOSTILE_QUERY)
                _assert_no_5xx(r, f"{where} body {body}")
                tried += 1
    assert tried > 100
    assert client.get("/").status_code == 200  # still logged in


def test_ids_beyond_the_integer_range_are_404(walked: tuple[Flask, Any, str]) -> None:
    app, console, secret = walked
    for path in (f"/virtual/{HUGE_ID}/", f"/virtual/{HUGE_ID}/monitoring", f"/virtual/1/real/{HUGE_ID}",
                 f"/virtual/{HUGE_ID}/real/", f"/failover/{HUGE_ID}", f"/revisions/{HUGE_ID}"):
        assert console.get(path).status_code == 404, path
    assert console.post(f"/tokens/{HUGE_ID}/revoke").status_code == 404
    assert console.post(f"/revisions/{HUGE_ID}/rollback").status_code == 404
    for arg in ("before", "after"):
        assert console.get("/audit/", query_string={arg: str(HUGE_ID)}).status_code == 404
    for action in ("delete", "toggle", "edit"):
        for panel in ("/virtual/", "/virtual/1/real/", "/failover/"):
            r = console.post(panel, data={"action": action, "selected": f"{HUGE_ID}:1"})
            assert r.status_code == 404, (panel, action)
    assert console.client.get(f"/api/v1/virtual-servers/{HUGE_ID}",
                              headers={"Authorization": f"Bearer {secret}"}).status_code == 404


@pytest.mark.parametrize("field,panel", [("port", "/virtual/1/"), ("weight", "/virtual/1/real/1"),
                                         ("port", "/virtual/1/real/1")])
def test_a_2_to_the_64_number_is_a_field_error(walked: tuple[Flask, Any, str], field: str,
                                               panel: str) -> None:
    _, console, _ = walked
    r = console.submit(panel, {field: BIG})
    assert r.status_code == 422
    assert 'id="' + field in r.get_data(as_text=True)


def test_a_post_over_one_megabyte_is_413(walked: tuple[Flask, Any, str]) -> None:
    _, console, secret = walked
    big = "x" * (1024 * 1024 + 10)
    assert console.post("/virtual/1/", data={"name": big}).status_code == 413
    r = console.client.patch("/api/v1/virtual-servers/1", data=json.dumps({"name": big}),
                             content_type="application/json", headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 413


@pytest.mark.parametrize("body", JSON_BODIES[:3] + (NESTED,), ids=["nan", "inf", "-inf", "nested"])
def test_api_non_finite_and_deep_json_are_4xx(walked: tuple[Flask, Any, str], body: str) -> None:
    _, console, secret = walked
    r = console.client.patch("/api/v1/redundancy", data=body, content_type="application/json",
                             headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code in (400, 422), r.get_data(as_text=True)[:300]
