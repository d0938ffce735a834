"""PREVIEW on the panels with ACCEPT, and POST /api/v1/preview: diff, pulse's ops, warnings; nothing
is stored, written or signalled."""

from __future__ import annotations

import json
from pathlib import Path

from flask import Flask

from piranha_web.extensions import db
from piranha_web.models import RealServer, Revision

from .test_api import Api, make_token
from .test_virtual_panel import add_real, add_virtual, press

NAT = {"primary": "192.0.2.100", "network": "nat", "nat_router": "192.0.2.254", "nat_router_device": "eth1:1"}


def _published(console) -> int:
    console.submit("/settings/", NAT)
    vid = add_virtual(console)
    add_real(console, vid, "rs1", "192.0.2.1")
    press(console, f"/virtual/{vid}/real/", "toggle", "rs1")
    press(console, "/virtual/", "toggle", "www")
    return vid


def _revisions(app: Flask) -> int:
    with app.app_context():
        return db.session.query(Revision).count()


def _pulse_reported(app: Flask, weight: int, active: int) -> None:
    """A status file as a running pulse writes it for the published configuration."""
    doc = {"state": "running", "programs_kernel": True, "role": "standalone", "drain_seconds": 5.0,
           "addresses": ["192.0.2.254/32 dev eth1 label eth1:1", "203.0.113.10/32 dev eth0 label eth0:1"],
           "marks": [],
           "health": {"www": {"rs1": {"state": "up", "weight": weight, "configured_weight": weight}}},
           "table": [{"service": "TCP 203.0.113.10:80", "protocol": "tcp", "addr": "203.0.113.10", "port": 80,
                      "fwmark": None, "scheduler": "rr", "persistent": 0, "netmask": "255.255.255.255",
                      "managed": True, "dests": [{"addr": "192.0.2.1", "port": 80, "weight": weight,
                                                  "fwd": "nat", "active_conns": active}]}]}
    Path(app.config["PULSE_STATUS_FILE"]).write_text(json.dumps(doc))


def test_panel_preview_lists_ops_and_diff_and_changes_nothing(app: Flask, console, lvs_cf: Path) -> None:
    vid = _published(console)
    _pulse_reported(app, 1, active=4)
    before, revisions = lvs_cf.read_text(), _revisions(app)
    with app.app_context():
        rid = db.session.query(RealServer).filter_by(name="rs1").one().id
    path = f"/virtual/{vid}/real/{rid}"
    r = console.submit(path, {"weight": "5", "action": "preview"})
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert 'id="preview-ops"' in page
    assert "set-dest TCP 203.0.113.10:80 -&gt; 192.0.2.1:80 nat weight 5" in page
    assert "+\t\tweight = 5" in page and "-\t\tweight = 1" in page
    assert lvs_cf.read_text() == before and _revisions(app) == revisions
    r = console.submit(path, {"weight": "0", "action": "preview"})
    page = r.get_data(as_text=True)
    assert "set-dest TCP 203.0.113.10:80 -&gt; 192.0.2.1:80 nat weight 0" in page
    assert "drains TCP 203.0.113.10:80 -&gt; 192.0.2.1:80 which has 4 active connections" in page
    r = console.submit(path, {"weight": "-1", "action": "preview"})
    assert r.status_code == 422 and 'id="preview-ops"' not in r.get_data(as_text=True)
    assert console.submit(path, {"weight": "5"}).status_code == 302        # ACCEPT still one click
    assert _revisions(app) == revisions + 1


def test_settings_panel_has_preview(app: Flask, console) -> None:
    _published(console)
    page = console.submit("/settings/", {"action": "preview"}).get_data(as_text=True)
    assert "pulse is not running" in page and "add-service TCP 203.0.113.10:80 rr" in page


def test_api_preview_takes_the_export_and_changes_nothing(app: Flask, console, lvs_cf: Path) -> None:
    _published(console)
    _pulse_reported(app, 1, active=2)
    api = Api(app.test_client(), make_token(app, "apiuser"))
    config = api.get("/config").get_json()
    config["virtuals"][0]["address"] = "203.0.113.20"
    before, revisions = lvs_cf.read_text(), _revisions(app)
    r = api.post("/preview", config)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert set(body) == {"diff", "ops", "warnings"}
    assert "+\taddress = 203.0.113.20 eth0:1" in body["diff"]
    assert "add-address 203.0.113.20/32 dev eth0 label eth0:1" in body["ops"]
    assert "del-service TCP 203.0.113.10:80 rr" in body["ops"]
    assert any(w.startswith("removes address 203.0.113.10/32") for w in body["warnings"])
    assert any("2 active connections" in w for w in body["warnings"])
    assert lvs_cf.read_text() == before and _revisions(app) == revisions
    bad = api.post("/preview", {"virtuals": [{"name": "x", "port": "eighty"}]})
    assert bad.status_code == 422
    assert api.post("/preview", [1]).status_code == 422
    viewer = Api(app.test_client(), make_token(app, "viewer", role="readonly", name="ro"))
    assert viewer.post("/preview", config).status_code == 403
