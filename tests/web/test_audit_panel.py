"""AUDIT LOG panel: filters, keyset pages of 50 through thousands of entries, diffs, CSV/JSON exports."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import insert

from piranha_web.app import create_app
from piranha_web.extensions import db
from piranha_web.models import AuditEntry
from piranha_web.services import audit, users
from tests.support.webauth import PASSWORD, TOKEN_RE

pytestmark = pytest.mark.usefixtures("cheap_argon2")


@pytest.fixture
def panel_app(tmp_path: Path) -> Flask:
    app = create_app({"INSTANCE_PATH": str(tmp_path / "instance"), "LVS_CF": str(tmp_path / "lvs.cf"),
                      "AUTO_IMPORT": False})
    with app.app_context():
        users.store_password("piranha", PASSWORD)
    return app


@pytest.fixture
def panel(panel_app: Flask) -> FlaskClient:
    client = panel_app.test_client()
    token = TOKEN_RE.search(client.get("/login").get_data(as_text=True)).group(1)
    assert client.post("/login", data={"csrf_token": token, "username": "piranha",
                                       "password": PASSWORD}).status_code == 302
    return client


def bulk_chain(app: Flask, n: int, start: datetime) -> None:
    """``n`` properly chained entries, one a minute from ``start`` (fast: one transaction)."""
    with app.app_context():
        conn = db.session.connection()
        prev = db.session.query(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1).scalar() \
            or audit.GENESIS_HASH
        next_id = (db.session.query(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1).scalar() or 0) + 1
        rows = []
        for i in range(n):
            who = "alice" if i % 3 else "bob"
            row = {"id": next_id + i, "ts": start + timedelta(minutes=i), "username": who,
                   "client_addr": "127.0.0.1", "action": "real.update", "object_type": "real",
                   "object_name": f"www/real{i % 10}", "revision": i,
                   "detail": json.dumps({"weight": [i, i + 1]}, sort_keys=True, separators=(",", ":"))}
            row["prev_hash"] = prev
            row["hash"] = prev = audit.entry_hash(prev, row)
            row["keyed"] = True
            rows.append(row)
        conn.execute(insert(AuditEntry.__table__), rows)
        db.session.commit()
        assert audit.verify(db.session).ok


def ids_on(html: str) -> list[int]:
    return [int(x) for x in re.findall(r"<tr>\s*<td>(\d+)</td>", html)]


def test_pages_of_50_through_thousands(panel_app: Flask, panel: FlaskClient) -> None:
    bulk_chain(panel_app, 2000, datetime(2026, 1, 1))
    seen: list[int] = []
    html = panel.get("/audit/").get_data(as_text=True)
    pages = 0
    while True:
        page_ids = ids_on(html)
        assert 0 < len(page_ids) <= 50
        seen += page_ids
        pages += 1
        older = re.search(r'id="older" href="([^"]+)"', html)
        if not older:
            break
        html = panel.get(older.group(1).replace("&amp;", "&")).get_data(as_text=True)
        assert pages < 100
    total = len(seen)
    assert seen == sorted(seen, reverse=True) and len(set(seen)) == total
    assert total >= 2000 and pages == -(-total // 50)
    newer = re.search(r'id="newer" href="([^"]+)"', html)
    assert newer
    back = panel.get(newer.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert ids_on(back) == seen[-50 - len(ids_on(html)):-len(ids_on(html))]


def test_filters_by_user_object_and_dates(panel_app: Flask, panel: FlaskClient) -> None:
    bulk_chain(panel_app, 120, datetime(2026, 3, 1, 10, 0))
    html = panel.get("/audit/", query_string={"user": "bob"}).get_data(as_text=True)
    assert "40 matching entries" in html and ">alice<" not in html
    html = panel.get("/audit/", query_string={"object": "real7"}).get_data(as_text=True)
    assert "12 matching entries" in html
    html = panel.get("/audit/", query_string={"since": "2026-03-01T10:30", "until": "2026-03-01T10:39"})\
        .get_data(as_text=True)
    assert "10 matching entries" in html
    html = panel.get("/audit/", query_string={"until": "2026-02-28"}).get_data(as_text=True)
    assert "0 matching entries" in html and "No entries." in html
    assert panel.get("/audit/", query_string={"since": "last tuesday"}).status_code == 400
    assert panel.get("/audit/", query_string={"before": "x"}).status_code == 400
    # the pager keeps the filters
    html = panel.get("/audit/", query_string={"user": "alice"}).get_data(as_text=True)
    older = re.search(r'id="older" href="([^"]+)"', html).group(1)
    assert "user=alice" in older


def test_diffs_are_shown(panel_app: Flask, panel: FlaskClient) -> None:
    with panel_app.app_context():
        audit.record("alice", "virtual.update", "virtual", "www", before={"port": 80, "scheduler": "wlc"},
                     after={"port": 8080, "scheduler": "wlc"}, revision=3, detail={"pulse": "applied"})
    html = panel.get("/audit/").get_data(as_text=True)
    assert '<span class="field">port</span>: <del>80</del> → <ins>8080</ins>' in html
    assert '<span class="field">pulse</span>: applied' in html
    assert "scheduler" not in html.split("<tbody>")[1].split("login.success")[0]


def test_user_text_is_escaped(panel_app: Flask, panel: FlaskClient) -> None:
    with panel_app.app_context():
        audit.record("<script>x</script>", "virtual.create", "virtual", "<img src=x onerror=1>",
                     after={"name": "<b>"})
    html = panel.get("/audit/").get_data(as_text=True)
    assert "<script>x" not in html and "<img src=x" not in html and "&lt;b&gt;" in html


def test_exports_follow_the_filters(panel_app: Flask, panel: FlaskClient) -> None:
    bulk_chain(panel_app, 30, datetime(2026, 4, 1))
    r = panel.get("/audit/export.json", query_string={"user": "bob"})
    assert r.status_code == 200 and r.mimetype == "application/json"
    assert "attachment" in r.headers["Content-Disposition"]
    data = json.loads(r.get_data(as_text=True))
    assert len(data) == 10 and {d["username"] for d in data} == {"bob"}
    assert data[0]["detail"] == {"weight": [0, 1]} and data[0]["hash"] and data[0]["ts"].endswith("Z")
    r = panel.get("/audit/export.csv", query_string={"object": "real3"})
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert [row["object_name"] for row in rows] == ["www/real3"] * 3
    assert json.loads(rows[0]["detail"]) == {"weight": [3, 4]}
    everything = json.loads(panel.get("/audit/export.json").get_data(as_text=True))
    assert [d["id"] for d in everything] == sorted(d["id"] for d in everything)
    assert len(everything) == 30 + 2  # + user.create and login.success


def test_csv_export_defuses_formulas(panel_app: Flask, panel: FlaskClient) -> None:
    with panel_app.app_context():
        audit.record("alice", "virtual.create", "virtual", "=HYPERLINK(\"http://x\")", after={"port": 1})
    rows = list(csv.DictReader(io.StringIO(panel.get("/audit/export.csv").get_data(as_text=True))))
    assert rows[-1]["object_name"].startswith("'=")


@pytest.mark.parametrize("name,safe", [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"),
    ("\rx", "'\rx"), ("a,=cmd", "a,'=cmd"), ("a;+cmd", "a;'+cmd"), ("a|@x", "a|'@x"), ('a,"=x', "a,\"'=x"),
    ("a\n-1", "a\n'-1"), ("a\t=1", "a\t'=1"), ("plain name", "plain name"), ("a=b", "a=b")])
def test_csv_guard_covers_every_cell_start(panel_app: Flask, panel: FlaskClient, name: str,
                                           safe: str) -> None:
    with panel_app.app_context():
        audit.record("alice", "virtual.create", "virtual", name, after={"port": 1})
    body = panel.get("/audit/export.csv").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(body)))
    assert rows[-1]["object_name"] == safe
    assert rows[-1]["username"] == "alice"
    assert '"=' not in body and ",=" not in body


def test_login_logout_and_password_changes_are_in_the_log(panel_app: Flask, panel: FlaskClient) -> None:
    token = TOKEN_RE.search(panel.get("/audit/").get_data(as_text=True)).group(1)
    assert panel.post("/logout", data={"csrf_token": token}).status_code == 302
    with panel_app.app_context():
        users.store_password("piranha", "new password!")
        actions = [e.action for e in db.session.query(AuditEntry).order_by(AuditEntry.id)]
    assert actions == ["user.create", "login.success", "logout", "user.password"]


@pytest.mark.parametrize("answer,error", [("applied", None), ("failed", "VIP 192.0.2.100 already in use")])
def test_publish_and_pulse_answer_are_audited(app: Flask, console: object,
                                              monkeypatch: pytest.MonkeyPatch,
                                              answer: str, error: str | None) -> None:
    """Uses the shared ``console`` fixture: an ACCEPT on a panel, pulse's answer faked."""
    from piranha_web.services import changes, pulse_status

    monkeypatch.setattr(changes, "notify_pulse", lambda serial: pulse_status.ReloadOutcome(answer, error))
    response = console.submit("/settings/", {"primary": "192.0.2.100", "network": "nat",
                                             "nat_router": "192.0.2.254", "nat_nmask": "255.255.255.0",
                                             "nat_router_device": "eth1:1"})
    assert response.status_code == 302
    with app.app_context():
        entries = db.session.query(AuditEntry).order_by(AuditEntry.id).all()
        publish, pulse = entries[-2], entries[-1]
        assert publish.username == "piranha" and publish.revision == 1 and publish.client_addr == "127.0.0.1"
        assert json.loads(publish.detail)["primary"] == [None, "192.0.2.100"]
        assert (pulse.action, pulse.revision, pulse.client_addr) == ("publish.pulse", 1, "127.0.0.1")
        assert json.loads(pulse.detail) == {"pulse": answer, **({"error": error} if error else {})}
        assert audit.verify(db.session).ok
