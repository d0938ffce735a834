"""CLUSTER page and /api/v1/cluster against a real (dry-run) pulse that is director d1 of an ECMP cluster.

d1 is 127.0.0.1 (this host); d2 is 127.0.0.2, where no pulse runs, so it is
unreachable: the page and the API say so, a publish reports it, and a drain
of it is refused.  Every accepted DRAIN/UNDRAIN is audited; the readonly
role gets 403.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from piranha_web.extensions import db
from piranha_web.models import AuditEntry
from piranha_web.pulse.statusfile import read_status
from tests.support.ports import free_port

from ..conftest import Console, add_user  # noqa: TID252
from .test_api import Api, make_token


def ecmp_cf(key: Path, port: int) -> str:
    return (f"serial_no = 3\nservice = lvs\ncluster = ecmp\nheartbeat_key_file = {key}\n"
            f"heartbeat_port = {port - 1}\nbgp_local_as = 64512\nbgp_peer = 192.0.2.254 64500\n"
            "bgp_drain_seconds = 0.2\nnetwork = direct\n"
            "director d1 {\n\taddress = 127.0.0.1\n}\ndirector d2 {\n\taddress = 127.0.0.2\n}\n"
            "virtual www {\n\tactive = 1\n\taddress = 203.0.113.10 lo\n\tport = 80\n\tscheduler = mh\n"
            "\tprotocol = tcp\n\ttimeout = 6\n\treentry = 15\n"
            "\tserver rs1 {\n\t\taddress = 192.0.2.21\n\t\tactive = 1\n\t\tweight = 1\n\t}\n}\n")


@pytest.fixture
def ecmp(app_factory: Any, tmp_path: Path) -> Iterator[Flask]:
    """A console whose lvs.cf says cluster = ecmp, and pulse -n (dry-run) running it as d1."""
    key = tmp_path / "cluster.key"
    key.write_text("k" * 32)
    os.chmod(key, 0o600)
    app = app_factory(ecmp_cf(key, free_port()), PULSE_WAIT_SECONDS=3.0)
    sock = Path(app.config["PULSE_RUNTIME_SOCKET"])
    log = (tmp_path / "pulse.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "piranha_web.pulse.main", "-n", "--backend", "dry-run",
                             "-c", app.config["LVS_CF"], "--runtime-dir", str(sock.parent)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while not _peer_heard(app) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _peer_heard(app), (tmp_path / "pulse.log").read_text()
        yield app
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
        with app.app_context():
            db.engine.dispose()


def _cluster(app: Flask) -> dict[str, Any]:
    return (read_status(app.config["PULSE_STATUS_FILE"]) or {}).get("cluster") or {}


def _peer_heard(app: Flask) -> bool:
    """pulse has tried d2 once (and found it unreachable)."""
    return ((_cluster(app).get("peers") or {}).get("d2") or {}).get("reachable") is False


def _audited(app: Flask) -> list[tuple[str, str, str | None]]:
    with app.app_context():
        rows = (db.session.query(AuditEntry).filter(AuditEntry.action.like("cluster.%"))
                .order_by(AuditEntry.id))
        return [(r.username, r.action, r.object_name) for r in rows]


def _until(cond: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_api_lists_directors_drains_and_audits(ecmp: Flask) -> None:
    api = Api(ecmp.test_client(), make_token(ecmp))
    found = api.get("/cluster").get_json()
    assert found["mode"] == "ecmp" and found["local"] == "d1"
    d1, d2 = found["directors"]
    assert (d1["name"], d1["local"], d1["serial_no"], d1["pulse_state"]) == ("d1", True, 3, "running")
    assert d1["drain"] == "active" and d1["announced"] == [] and d1["last_contact"]
    assert (d2["name"], d2["reachable"], d2["pulse_state"]) == ("d2", False, "unreachable")
    assert "cannot connect" in d2["error"]

    r = api.call("POST", "/cluster/directors/d1/drain")
    assert r.status_code == 200 and r.get_json() == {"director": "d1", "drain": True}
    _until(lambda: _cluster(ecmp)["drain"]["state"] == "drained", "d1 drained")
    assert (Path(ecmp.config["PULSE_RUNTIME_SOCKET"]).parent / "pulse-drain").exists()  # as pulse --drain
    assert api.call("POST", "/cluster/directors/d1/undrain").status_code == 200
    _until(lambda: _cluster(ecmp)["drain"]["state"] == "active", "d1 active again")

    r = api.call("POST", "/cluster/directors/d2/drain")
    assert r.status_code == 409 and "unreachable" in r.get_json()["error"]
    assert api.call("POST", "/cluster/directors/nosuch/drain").status_code == 404
    assert api.call("GET", "/cluster/directors/d1/drain").status_code == 405
    assert _audited(ecmp) == [("piranha", "cluster.drain", "d1"), ("piranha", "cluster.undrain", "d1")]

    readonly = Api(ecmp.test_client(), make_token(ecmp, "viewer", role="readonly", name="ro"))
    assert readonly.get("/cluster").status_code == 200
    assert readonly.call("POST", "/cluster/directors/d1/drain").status_code == 403
    assert len(_audited(ecmp)) == 2


def test_publish_reports_each_directors_result(ecmp: Flask) -> None:
    api = Api(ecmp.test_client(), make_token(ecmp))
    r = api.call("POST", "/publish")
    assert r.status_code == 200, r.get_json()
    out = r.get_json()
    pulse = out["pulse"]
    assert pulse["state"] == "applied", out
    results = {d["director"]: d["result"] for d in pulse["directors"]}
    assert results == {"d1": "applied", "d2": "unreachable"}
    assert {d["director"]: d["serial_no"] for d in pulse["directors"]}["d1"] == out["serial_no"]
    history = api.get(f"/revisions/{out['revision']}").get_json()
    assert history["pulse_result"] == "applied (d1 applied, d2 unreachable)"


def test_page_shows_directors_and_buttons_drain_with_csrf(ecmp: Flask) -> None:
    add_user(ecmp)
    console = Console(ecmp.test_client())
    console.login()
    page = console.get("/cluster/").get_data(as_text=True)
    assert 'id="tab-cluster"' in page and 'id="director-d1"' in page and 'id="director-d2"' in page
    assert "d1 (this console)" in page and "unreachable" in page
    form = console.form_in(page, "/cluster/")
    assert form.get("csrf_token") and form["director"] == "d1"
    r = console.post("/cluster/", {**form, "action": "drain"}, follow_redirects=True)
    assert ("success", "d1: drain requested") in console.flashes(r)
    _until(lambda: _cluster(ecmp)["drain"]["state"] != "active", "d1 withdrawn")
    r = console.post("/cluster/", {**form, "action": "undrain"}, follow_redirects=True)
    assert ("success", "d1: undrain requested") in console.flashes(r)
    assert console.client.post("/cluster/", data={"director": "d1", "action": "drain"}).status_code == 400
    assert [a for _, a, _ in _audited(ecmp)] == ["cluster.drain", "cluster.undrain"]

    add_user(ecmp, "viewer", role="readonly")
    viewer = Console(ecmp.test_client())
    viewer.login("viewer")
    page = viewer.get("/cluster/").get_data(as_text=True)
    assert 'id="director-d1"' in page and "cluster-drain" not in page     # no buttons for readonly
    assert viewer.post("/cluster/", {"director": "d1", "action": "drain"}).status_code == 403
    assert len(_audited(ecmp)) == 2


def test_page_and_api_say_primary_backup_outside_ecmp(app: Flask, console: Console, lvs_cf: Path) -> None:
    lvs_cf.write_text("serial_no = 1\nprimary = 203.0.113.1\nservice = lvs\nnetwork = direct\n")
    page = console.get("/cluster/").get_data(as_text=True)
    assert "The cluster mode is <strong>primary/backup</strong>" in page and 'id="directors"' not in page
    api = Api(app.test_client(), make_token(app, "admin2"))
    assert api.get("/cluster").get_json() == {"mode": "primary/backup", "directors": [], "local": None}
    r = api.call("POST", "/cluster/directors/d1/drain")
    assert r.status_code == 409 and "primary/backup" in r.get_json()["error"]
    assert json.loads(r.get_data(as_text=True))["status"] == 409


def test_publish_without_pulse_reports_every_director_unreachable(app_factory: Any, tmp_path: Path) -> None:
    key = tmp_path / "cluster.key"
    key.write_text("k" * 32)
    os.chmod(key, 0o600)
    app = app_factory(ecmp_cf(key, free_port()))
    out = Api(app.test_client(), make_token(app)).call("POST", "/publish").get_json()
    assert out["pulse"]["state"] == "not-running"
    results = {d["director"]: d["result"] for d in out["pulse"]["directors"]}
    assert results == {"d1": "unreachable", "d2": "unreachable"}
