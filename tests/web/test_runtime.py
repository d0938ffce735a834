"""Runtime states from the console: REST, CONTROL/MONITORING buttons and the CLI, against a real
(dry-run) pulse process reached over its Unix socket; every change audited."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from piranha_web.extensions import db
from piranha_web.models import AuditEntry
from piranha_web.cli.config import main as config_main

from ..conftest import Console, add_user  # noqa: TID252
from .test_api import Api, make_token

LVS_CF = """serial_no = 1
primary = 203.0.113.1
service = lvs
network = direct
virtual www {
    active = 1
    address = 203.0.113.10 eth0:1
    port = 80
    scheduler = rr
    protocol = tcp
    timeout = 1
    reentry = 1
    server real {
        address = 192.0.2.1
        active = 1
        weight = 2
    }
    server real1 {
        address = 192.0.2.2
        active = 1
        weight = 1
    }
}
"""
PATH = "/runtime/virtual-servers/www/real-servers/real"


@pytest.fixture
def pulse(app: Flask, tmp_path: Path) -> Iterator[Path]:
    """pulse -n on the dry-run backend, its runtime dir the console's instance dir."""
    lvs = Path(app.config["LVS_CF"])
    lvs.write_text(LVS_CF)
    sock = Path(app.config["PULSE_RUNTIME_SOCKET"])
    log = (tmp_path / "pulse.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "piranha_web.pulse.main", "-n", "--backend", "dry-run",
                             "-c", str(lvs), "--runtime-dir", str(sock.parent)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for _ in range(200):
            if sock.exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert sock.exists(), (tmp_path / "pulse.log").read_text()
        yield sock
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def _audited(app: Flask) -> list[tuple[str, str, str | None, dict]]:
    with app.app_context():
        rows = db.session.query(AuditEntry).filter(AuditEntry.action == "runtime").order_by(AuditEntry.id)
        return [(r.username, r.object_type, r.object_name, json.loads(r.detail)) for r in rows]


def test_api_sets_and_reads_states_and_audits(app: Flask, pulse: Path) -> None:
    api = Api(app.test_client(), make_token(app))
    r = api.call("PUT", PATH, json={"state": "drain"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["display"] == "DRAIN" and r.get_json()["by"] == "piranha"
    assert api.get(PATH).get_json()["state"] == "drain"
    assert api.call("PUT", PATH, json={"weight": "50%"}).get_json()["display"] == "DRAIN"
    r = api.call("PUT", "/runtime/virtual-servers/www/real-servers/real1", json={"weight": 7})
    assert r.get_json()["display"] == "WEIGHT 7"
    assert api.call("PUT", PATH, json={"state": "maint", "now": True}).get_json()["display"] == "MAINT now"
    assert api.call("PUT", PATH, json={"state": "ready"}).get_json()["display"] == "READY"
    items = api.get("/runtime").get_json()["items"]
    assert [(i["real"], i["display"]) for i in items] == [("real", "READY"), ("real1", "WEIGHT 7")]
    audited = _audited(app)
    assert [(u, n, d["request"], d["state"]) for u, _, n, d in audited] == [
        ("piranha", "www/real", "drain", ["READY", "DRAIN"]),
        ("piranha", "www/real", "weight=50%", ["DRAIN", "DRAIN"]),
        ("piranha", "www/real1", "weight=7", ["READY", "WEIGHT 7"]),
        ("piranha", "www/real", "maint now", ["DRAIN", "MAINT now"]),
        ("piranha", "www/real", "ready", ["MAINT now", "READY"])]


@pytest.mark.parametrize("body, status, field", [
    ({"state": "sleep"}, 422, "state"), ({"weight": -3}, 422, "weight"), ({"weight": "a%"}, 422, "weight"),
    ({"state": "drain", "now": True}, 422, "now"), ({}, 422, "state"), ({"x": 1}, 422, "x"),
    ([1], 422, ""),
])
def test_api_bad_bodies_are_4xx_naming_the_field(app: Flask, pulse: Path, body: object, status: int,
                                                 field: str) -> None:
    api = Api(app.test_client(), make_token(app))
    r = api.call("PUT", PATH, json=body)
    assert r.status_code == status, r.get_json()
    assert [f["field"] for f in r.get_json().get("fields", [])] == [field] or field == ""


def test_api_unknown_server_readonly_and_no_pulse(app: Flask, pulse: Path) -> None:
    api = Api(app.test_client(), make_token(app))
    assert api.call("PUT", "/runtime/virtual-servers/www/real-servers/nope",
                    json={"state": "drain"}).status_code == 404
    assert api.get("/runtime/virtual-servers/ftp/real-servers/real").status_code == 404
    viewer = Api(app.test_client(), make_token(app, "viewer", role="readonly", name="ro"))
    assert viewer.call("PUT", PATH, json={"state": "drain"}).status_code == 403
    assert viewer.get(PATH).status_code == 200
    assert _audited(app) == []
    pulse.unlink()                                   # as if pulse were gone
    r = api.call("PUT", PATH, json={"state": "drain"})
    assert r.status_code == 409 and "not running" in r.get_json()["error"]


def test_openapi_documents_the_runtime_paths(app: Flask) -> None:
    doc = Api(app.test_client(), make_token(app)).get("/openapi.json").get_json()
    ops = doc["paths"]["/runtime/virtual-servers/{virtual}/real-servers/{real}"]
    assert set(ops) == {"get", "put"} and "403" in ops["put"]["responses"]
    assert doc["components"]["schemas"]["RuntimeChange"]["additionalProperties"] is False


def test_control_buttons_drain_and_weight(app: Flask, pulse: Path, console: Console) -> None:
    page = console.get("/").get_data(as_text=True)
    assert "RUNTIME CONTROL" in page and 'value="drain"' in page
    r = console.post("/runtime", {"virtual": "www", "real": "real", "action": "drain"})
    assert r.status_code == 302
    assert ("success", "www/real: runtime state DRAIN") in console.flashes(r)
    r = console.post("/runtime", {"virtual": "www", "real": "real1", "action": "weight", "weight": "x"})
    assert any(c == "error" and "weight" in m for c, m in console.flashes(r))
    for _ in range(100):   # the status file shows the state apart from health
        page = console.get("/").get_data(as_text=True)
        if 'data-real="real">DRAIN' in page:
            break
        time.sleep(0.1)
    assert 'data-real="real">DRAIN' in page
    assert [(n, d["request"]) for _, _, n, d in _audited(app)] == [("www/real", "drain")]
    r = console.client.post("/runtime", data={"virtual": "www", "real": "real", "action": "ready"})
    assert r.status_code == 400                      # no CSRF token


def test_control_buttons_refused_to_readonly(app: Flask, pulse: Path, login_as: object) -> None:
    viewer = login_as(app, "viewer", role="readonly")  # type: ignore[operator]
    assert "RUNTIME CONTROL" not in viewer.get("/").get_data(as_text=True)
    assert viewer.post("/runtime", {"virtual": "www", "real": "real", "action": "drain"}).status_code == 403


def test_cli_set_and_show(app: Flask, pulse: Path, cli_instance: Path, monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PIRANHA_INSTANCE", app.config["INSTANCE_PATH"])
    monkeypatch.setenv("PIRANHA_PULSE_RUNTIME", str(pulse.parent))
    assert config_main(["runtime", "set", "www", "real1", "weight=25%"]) == 0
    assert "www/real1: WEIGHT 25%" in capsys.readouterr().out
    assert config_main(["runtime", "set", "www", "real1", "sideways"]) == 2
    assert config_main(["runtime", "set", "www", "ghost", "drain"]) == 1
    assert config_main(["runtime", "show", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [(s["real"], s["display"]) for s in shown] == [("real", "READY"), ("real1", "WEIGHT 25%")]
    assert config_main(["runtime", "show"]) == 0
    assert "WEIGHT 25%" in capsys.readouterr().out
    assert _audited(app)[0][0].startswith("cli:")
    add_user(app, "unused")


def test_control_draws_traffic_charts_and_serves_them_for_the_script(app: Flask, pulse: Path,
                                                                     console: Console) -> None:
    page = console.get("/").get_data(as_text=True)
    assert 'id="traffic"' in page and 'data-src="/traffic"' in page
    assert '<figure class="traffic-virtual" data-virtual="www">' in page
    assert page.count("<svg ") >= 3 * 3                       # the virtual and its two real servers
    fragment = console.get("/traffic?range=hour").get_data(as_text=True)
    assert fragment.lstrip().startswith("<figure") and "<html" not in fragment
    pulse.unlink()                                             # no pulse to ask: a note, not an error
    assert "No traffic samples" in console.get("/traffic").get_data(as_text=True)
