"""REST API /api/v1: token auth, CRUD through the service layer, ETag/If-Match, 422, audit, OpenAPI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from piranha_web.services import tokens
from piranha_web.api.openapi import document
from piranha_web.extensions import db
from piranha_web.lvscf import load
from piranha_web.services import audit

from ..conftest import add_user  # noqa: TID252

SEED_GLOBALS = {"primary": "210.220.230.1", "network": "nat", "nat_router": "192.168.1.10",
                "nat_router_device": "eth1:1", "nat_nmask": "255.255.255.0"}


class Api:
    """A test client that sends the bearer token and JSON."""

    def __init__(self, client: FlaskClient, token: str | None) -> None:
        self.client = client
        self.token = token

    def call(self, method: str, path: str, json: Any = None, headers: dict[str, str] | None = None) -> Any:
        h = dict(headers or {})
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        return self.client.open(f"/api/v1{path}", method=method, json=json, headers=h)

    def get(self, path: str, **kw: Any) -> Any:
        return self.call("GET", path, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.call("POST", path, json=json, **kw)

    def patch(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.call("PATCH", path, json=json, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.call("DELETE", path, **kw)


def make_token(app: Flask, user: str = "piranha", role: str | None = None, name: str = "test") -> str:
    add_user(app, user, role=role)
    with app.app_context():
        _, secret = tokens.create(user, name, actor="test")
    return secret


@pytest.fixture
def api(app: Flask) -> Api:
    return Api(app.test_client(), make_token(app))


def seed(api: Api) -> tuple[int, list[int]]:
    """The seed article's configuration, built through the API; returns (vid, [rid, rid])."""
    assert api.patch("/settings", SEED_GLOBALS).status_code == 200
    r = api.post("/virtual-servers", {"name": "www", "address": "210.220.230.10", "device": "eth0:1",
                                      "vip_nmask": "255.255.255.0", "scheduler": "rr"})
    assert r.status_code == 201, r.get_json()
    vid = r.get_json()["id"]
    rids = []
    for name, address in (("real", "192.168.1.1"), ("real1", "192.168.1.2")):
        r = api.post(f"/virtual-servers/{vid}/real-servers",
                     {"name": name, "address": address, "active": True})
        assert r.status_code == 201, r.get_json()
        rids.append(r.get_json()["id"])
    r = api.patch(f"/virtual-servers/{vid}", {"active": True})
    assert r.status_code == 200, r.get_json()
    return vid, rids


def test_no_token_is_401_json(client: FlaskClient) -> None:
    for method in ("GET", "POST", "PATCH", "DELETE"):
        r = client.open("/api/v1/virtual-servers/1", method=method)
        assert r.status_code == 401 and r.is_json, method
        assert r.get_json()["error"] == "missing bearer token"
        assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_bad_and_revoked_tokens_are_refused(app: Flask) -> None:
    secret = make_token(app)
    api = Api(app.test_client(), secret)
    assert api.get("/settings").status_code == 200
    with app.app_context():
        tokens.revoke(tokens.listing()[0].id, actor="test")
    assert api.get("/settings").status_code == 401
    assert Api(app.test_client(), "pwt_nonsense").get("/settings").get_json()["error"] == \
        "invalid or revoked token"


def test_session_cookie_alone_does_not_open_the_api(console: Any) -> None:
    """A logged-in browser cannot be ridden through the API (it is CSRF-exempt)."""
    r = console.client.post("/api/v1/virtual-servers", json={"name": "x"})
    assert r.status_code == 401


def test_tokens_are_hashed_at_rest(app: Flask) -> None:
    secret = make_token(app)
    with app.app_context():
        row = tokens.listing()[0]
        assert row.token_hash == tokens.hash_token(secret) and secret not in (row.token_hash, row.prefix)


def test_seed_configuration_through_the_api_writes_lvs_cf(api: Api, lvs_cf: Path) -> None:
    vid, rids = seed(api)
    cfg = load(lvs_cf.read_text())
    assert [(s.name, s.address) for s in cfg.virtual("www").servers] == [("real", "192.168.1.1"),
                                                                         ("real1", "192.168.1.2")]
    assert cfg.virtual("www").scheduler == "rr" and cfg.nat_router == "192.168.1.10"
    listed = api.get("/virtual-servers").get_json()["items"]
    assert [v["id"] for v in listed] == [vid] and listed[0]["real_server_ids"] == rids


def test_etag_and_stale_if_match_conflict(api: Api) -> None:
    vid, _ = seed(api)
    first = api.get(f"/virtual-servers/{vid}")
    tag = first.headers["ETag"]
    assert tag == f'"v{first.get_json()["version"]}"'
    ok = api.patch(f"/virtual-servers/{vid}", {"scheduler": "wlc"}, headers={"If-Match": tag})
    assert ok.status_code == 200 and ok.headers["ETag"] != tag
    assert ok.get_json()["publish"]["published"] is True
    stale = api.patch(f"/virtual-servers/{vid}", {"scheduler": "lc"}, headers={"If-Match": tag})
    assert stale.status_code == 409
    assert stale.get_json()["current"]["scheduler"] == "wlc"
    assert api.delete(f"/virtual-servers/{vid}", headers={"If-Match": tag}).status_code == 409


def test_settings_etag_conflict(api: Api) -> None:
    tag = api.get("/settings").headers["ETag"]
    assert api.patch("/settings", {"primary": "203.0.113.1"}, headers={"If-Match": tag}).status_code == 200
    assert api.patch("/redundancy", {"keepalive": 3}, headers={"If-Match": tag}).status_code == 409


@pytest.mark.parametrize(("body", "field", "fragment"), [
    ({"port": "eighty"}, "port", "expected integer"),
    ({"bogus": 1}, "bogus", "unknown"),
    ({"servers": []}, "servers", "unknown"),
    ({"scheduler": "fastest"}, "scheduler", "invalid argument"),
    ({"address": "not-an-ip"}, "address", "ip address"),
    ({"weight": 1}, "weight", "unknown"),
    ({"port": 2 ** 70}, "port", "out of range"),
])
def test_validation_errors_are_422_with_field(api: Api, body: dict, field: str, fragment: str) -> None:
    vid, _ = seed(api)
    r = api.patch(f"/virtual-servers/{vid}", body)
    assert r.status_code == 422, r.get_json()
    fields = {f["field"]: f["message"] for f in r.get_json()["fields"]}
    assert field in fields and fragment in fields[field].lower()


@pytest.mark.parametrize(("body", "field", "fragment"), [
    ({"address": "::ffff:210.220.230.10"}, "address", "ipv4-mapped"),
    ({"address": "fe80::10"}, "address", "link-local"),
])
def test_ipv6_validation_errors_are_422_with_field(api: Api, body: dict, field: str, fragment: str) -> None:
    vid, _ = seed(api)
    r = api.patch(f"/virtual-servers/{vid}", body)
    assert r.status_code == 422, r.get_json()
    fields = {f["field"]: f["message"] for f in r.get_json()["fields"]}
    assert field in fields and fragment in fields[field].lower(), fields


def test_real_server_of_the_other_family_is_422(api: Api) -> None:
    vid, _ = seed(api)
    r = api.post(f"/virtual-servers/{vid}/real-servers", {"name": "r6", "address": "2001:db8:1::1"})
    assert r.status_code == 422, r.get_json()
    assert "different IP families" in {f["field"]: f["message"] for f in r.get_json()["fields"]}["address"]


def test_ipv6_bad_prefix_length_is_422(api: Api) -> None:
    r = api.post("/virtual-servers", {"name": "web6", "address": "2001:db8:10::10", "device": "eth0",
                                      "vip_nmask": "129"})
    assert r.status_code == 422, r.get_json()
    assert "bad prefix length" in {f["field"]: f["message"] for f in r.get_json()["fields"]}["vip_nmask"]
    r = api.patch("/settings", {"nat_router6": "2001:db8:1::254", "nat_router6_device": "eth1",
                                "nat_nmask6": "200"})
    assert r.status_code == 422, r.get_json()
    assert "nat_nmask6" in {f["field"] for f in r.get_json()["fields"]}


def test_ipv6_virtual_server_through_the_api(api: Api, lvs_cf: Path) -> None:
    assert api.patch("/settings", {"nat_router6": "2001:db8:1::254", "nat_router6_device": "eth1",
                                   "nat_nmask6": "64"}).status_code == 200
    r = api.post("/virtual-servers", {"name": "web6", "address": "2001:db8:10::10", "device": "eth0:1",
                                      "vip_nmask": "64", "scheduler": "rr"})
    assert r.status_code == 201, r.get_json()
    vid = r.get_json()["id"]
    r = api.post(f"/virtual-servers/{vid}/real-servers", {"name": "rs1", "address": "2001:db8:1::1",
                                                          "active": True})
    assert r.status_code == 201, r.get_json()
    text = lvs_cf.read_text()
    assert "nat_router6 = 2001:db8:1::254 eth1" in text and "nat_nmask6 = 64" in text
    assert "address = 2001:db8:10::10 eth0:1" in text


def test_non_json_body_and_bad_json(api: Api) -> None:
    r = api.client.post("/api/v1/virtual-servers", data="name=x",
                        headers={"Authorization": f"Bearer {api.token}"})
    assert r.status_code == 415
    r = api.client.post("/api/v1/virtual-servers", data="{oops", content_type="application/json",
                        headers={"Authorization": f"Bearer {api.token}"})
    assert r.status_code == 400


def test_unknown_path_and_method_are_json(api: Api) -> None:
    assert api.get("/nothing-here").status_code == 404
    r = api.call("PUT", "/settings")
    assert r.status_code == 405 and "PATCH" in r.headers["Allow"] and r.is_json
    assert api.get("/virtual-servers/99").status_code == 404
    assert api.get("/virtual-servers/99999999999999999999").status_code == 404


def test_real_server_crud(api: Api, lvs_cf: Path) -> None:
    vid, (rid, rid1) = seed(api)
    r = api.patch(f"/virtual-servers/{vid}/real-servers/{rid}", {"weight": 5})
    assert r.status_code == 200 and r.get_json()["weight"] == 5
    assert api.delete(f"/virtual-servers/{vid}/real-servers/{rid1}").status_code == 200
    assert [s.name for s in load(lvs_cf.read_text()).virtual("www").servers] == ["real"]
    assert api.get(f"/virtual-servers/{vid + 1}/real-servers/{rid}").status_code == 404


def test_failover_crud(api: Api) -> None:
    r = api.post("/failover-services", {"name": "ftp", "address": "192.0.2.20", "port": 21})
    assert r.status_code == 201, r.get_json()
    fid = r.get_json()["id"]
    assert api.patch(f"/failover-services/{fid}", {"timeout": 5}).get_json()["timeout"] == 5
    assert api.delete(f"/failover-services/{fid}").status_code == 200
    assert api.get(f"/failover-services/{fid}").status_code == 404


def test_revisions_diff_rollback_and_publish(api: Api, lvs_cf: Path) -> None:
    vid, _ = seed(api)
    revs = api.get("/revisions").get_json()["items"]
    assert len(revs) >= 2 and revs[0]["id"] > revs[-1]["id"]
    good = revs[0]["id"]
    assert "virtual www" in api.get(f"/revisions/{good}").get_json()["text"]
    api.patch(f"/virtual-servers/{vid}", {"scheduler": "sh"})
    diff = api.get(f"/revisions/{good}/diff").get_json()["diff"]
    assert "-\tscheduler = rr" in diff and "+\tscheduler = sh" in diff
    r = api.post(f"/revisions/{good}/rollback")
    assert r.status_code == 200 and r.get_json()["published"] is True
    assert load(lvs_cf.read_text()).virtual("www").scheduler == "rr"
    assert api.post("/publish").get_json()["published"] is True
    assert api.get("/revisions/424242").status_code == 404


def test_status_config_and_audit(api: Api, app: Flask) -> None:
    seed(api)
    assert api.get("/status").get_json()["running"] is False
    assert api.get("/config").get_json()["virtuals"][0]["name"] == "www"
    assert "virtual www {" in api.get("/config?format=lvs.cf").get_data(as_text=True)
    assert "virtual_server 210.220.230.10 80 {" in api.get("/config?format=keepalived").get_data(as_text=True)
    assert api.get("/config?format=yaml").status_code == 422
    entries = api.get("/audit?object=www&limit=5").get_json()
    assert entries["items"] and all(e["username"] == "piranha" for e in entries["items"])
    with app.app_context():
        assert audit.verify(db.session).ok


def test_changes_are_audited_under_the_tokens_user(app: Flask) -> None:
    api = Api(app.test_client(), make_token(app, "alice", name="ci"))
    assert api.patch("/settings", {"primary": "203.0.113.5"}).status_code == 200
    last = api.get("/audit?limit=1").get_json()["items"][0]
    assert (last["username"], last["action"], last["object_type"]) == ("alice", "update", "global")


def test_readonly_token_cannot_write(app: Flask) -> None:
    api = Api(app.test_client(), make_token(app, "viewer", role="readonly"))
    assert api.get("/settings").status_code == 200
    assert api.patch("/settings", {"primary": "203.0.113.5"}).status_code == 403


def test_openapi_documents_every_route(app: Flask, api: Api) -> None:
    served = api.get("/openapi.json").get_json()
    assert served == document() or served["paths"].keys() == document()["paths"].keys()
    documented = {(path, method.upper()) for path, ops in served["paths"].items() for method in ops}
    routes = set()
    for rule in app.url_map.iter_rules():
        internal = ("api._fallback", "api._method_not_allowed")
        if rule.endpoint.startswith("api.") and rule.endpoint not in internal:
            path = rule.rule.removeprefix("/api/v1")
            for arg in rule.arguments:
                path = path.replace(f"<int:{arg}>", f"{{{arg}}}").replace(f"<{arg}>", f"{{{arg}}}")
            routes |= {(path, m) for m in rule.methods or () if m not in ("HEAD", "OPTIONS")}
    assert routes == documented
