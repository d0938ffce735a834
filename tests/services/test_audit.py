"""services.audit: diffs, the hash chain, tamper detection, two writers, syslog, ``piranha-config audit``."""

from __future__ import annotations

import json
import logging
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import text

from piranha_web.app import create_app
from piranha_web.cli import config as config_cli
from piranha_web.extensions import db
from piranha_web.models import AuditEntry
from piranha_web.services import audit

ROOT = Path(__file__).resolve().parents[2]


def syslog_fields(line: str) -> dict[str, str]:
    """A syslog line read back the way a log host's parser would (quoted key=value pairs)."""
    words = shlex.split(line)
    assert words[0] == "audit"
    return dict(word.split("=", 1) for word in words[1:])


def new_app(instance: Path) -> Flask:
    return create_app({"INSTANCE_PATH": str(instance), "LVS_CF": str(instance / "lvs.cf"),
                       "AUTO_IMPORT": False})


@pytest.fixture
def audit_app(tmp_path: Path) -> Flask:
    return new_app(tmp_path / "instance")


def add_entries(app: Flask, n: int, actor: str = "alice") -> None:
    with app.app_context():
        for i in range(n):
            audit.record(actor, "virtual.update", "virtual", f"web{i}", before={"port": 80, "weight": 1},
                         after={"port": 8000 + i, "weight": 1}, revision=i)


def test_diff_is_field_by_field() -> None:
    assert audit.diff({"port": 80, "name": "web", "weight": 1}, {"port": 81, "name": "web", "weight": 2}) == \
        {"port": [80, 81], "weight": [1, 2]}
    assert audit.diff(None, {"port": 80, "name": "web"}) == {"port": [None, 80], "name": [None, "web"]}
    assert audit.diff({"port": 80}, None) == {"port": [80, None]}
    assert audit.diff({"a": 1}, {"a": 1}) == {}
    assert audit.diff({"a": 1}, {"b": 2}) == {"a": [1, None], "b": [None, 2]}


def test_record_links_entries_by_hash(audit_app: Flask) -> None:
    add_entries(audit_app, 3)
    with audit_app.app_context():
        rows = db.session.query(AuditEntry).order_by(AuditEntry.id).all()
        assert [r.prev_hash for r in rows] == [audit.GENESIS_HASH, rows[0].hash, rows[1].hash]
        for row in rows:
            assert row.keyed and row.hash == audit.entry_hash(row.prev_hash, audit.row_fields(row))
        assert json.loads(rows[1].detail) == {"port": [80, 8001]}
        assert rows[1].revision == 1
        assert audit.verify(db.session) == audit.VerifyResult(True, 3)


def test_entry_joins_the_callers_transaction(audit_app: Flask) -> None:
    with audit_app.app_context():
        audit.record("alice", "virtual.create", "virtual", "kept", after={"port": 80}, session=db.session)
        db.session.commit()
        audit.record("alice", "virtual.create", "virtual", "dropped", after={"port": 81}, session=db.session)
        db.session.rollback()
        audit.record("alice", "virtual.delete", "virtual", "kept", before={"port": 80}, session=db.session)
        db.session.commit()
        names = [e.object_name for e in db.session.query(AuditEntry).order_by(AuditEntry.id)]
        assert names == ["kept", "kept"]
        assert audit.verify(db.session).ok


@pytest.mark.parametrize("column,value", [
    ("detail", '{"port":[80,22]}'), ("username", "mallory"), ("ts", "2020-01-01 00:00:00.000000"),
    ("action", "virtual.noop"), ("revision", 99), ("object_name", "other")])
def test_verify_names_the_first_tampered_entry(audit_app: Flask, column: str, value: object) -> None:
    add_entries(audit_app, 5)
    with audit_app.app_context():
        db.session.execute(text(f"UPDATE audit_entry SET {column} = :v WHERE id = 3"), {"v": value})
        db.session.commit()
        result = audit.verify(db.session)
    assert (result.ok, result.broken_id, result.count) == (False, 3, 2)


def test_verify_notices_a_deleted_entry_and_a_rehashed_one(audit_app: Flask) -> None:
    add_entries(audit_app, 5)
    with audit_app.app_context():
        db.session.execute(text("DELETE FROM audit_entry WHERE id = 2"))
        db.session.commit()
        assert audit.verify(db.session).broken_id == 3
        # Re-hashing a forged row in place (even with the key) still breaks the link of the next one.
        row = db.session.get(AuditEntry, 3)
        row.prev_hash = db.session.get(AuditEntry, 1).hash
        row.hash = audit.entry_hash(row.prev_hash, audit.row_fields(row))
        db.session.commit()
        assert audit.verify(db.session).broken_id == 4


WRITER = textwrap.dedent("""
    import sys
    from piranha_web.app import create_app
    from piranha_web.extensions import db
    from piranha_web.services import audit
    instance, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    app = create_app({"INSTANCE_PATH": instance, "LVS_CF": instance + "/lvs.cf", "AUTO_IMPORT": False})
    with app.app_context():
        for i in range(n):
            if i % 2:
                audit.record(tag, "login.success", "session", tag)
            else:
                audit.record(tag, "virtual.update", "virtual", f"{tag}{i}", before={"w": i},
                             after={"w": i + 1}, session=db.session)
                db.session.commit()
""")


def test_two_workers_appending_at_once_keep_one_chain(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    app = new_app(instance)  # migrate first, as gunicorn's master would
    n = 60
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(instance), tag, str(n)], cwd=ROOT)
             for tag in ("w1", "w2")]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    with app.app_context():
        result = audit.verify(db.session)
        users = [e.username for e in db.session.query(AuditEntry)]
    assert result == audit.VerifyResult(True, 2 * n)
    assert users.count("w1") == users.count("w2") == n


def test_entries_go_to_syslog(audit_app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="piranha_web.audit"):
        with audit_app.app_context():
            audit.record("alice", "publish", "revision", "7", revision=7, client_addr="127.0.0.5",
                         detail={"pulse": "reloaded"})
    fields = syslog_fields(caplog.records[-1].getMessage())
    assert (fields["user"], fields["addr"], fields["action"]) == ("alice", "127.0.0.5", "publish")
    assert fields["revision"] == "7" and "reloaded" in fields["detail"]
    assert fields["chain_count"] == "1" and len(fields["chain_head"]) == 64
    assert audit.SYSLOG_IDENT == "piranha-web"


def test_syslog_handler_uses_dev_log_with_ident(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import socket

    sock_path = tmp_path / "log"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(sock_path))
    server.settimeout(5)
    logger = logging.getLogger("piranha_web.audit")
    saved = list(logger.handlers)
    monkeypatch.setattr(audit, "SYSLOG_SOCKET", str(sock_path))
    monkeypatch.setattr(audit, "_syslog_ready", False)
    try:
        audit._to_syslog({"id": 1, "username": "alice", "action": "logout", "object_type": "session"})
        data = server.recv(4096).decode()
    finally:
        for handler in logger.handlers[len(saved):]:
            handler.close()
        logger.handlers[:] = saved
        server.close()
    assert "piranha-web[" in data and 'action="logout"' in data


def test_filters_and_keyset_pages(audit_app: Flask) -> None:
    add_entries(audit_app, 120, "alice")
    add_entries(audit_app, 7, "bob")
    with audit_app.app_context():
        first = audit.page(db.session, audit.Filters(), size=50)
        assert [e.id for e in first.entries] == list(range(127, 77, -1))
        assert (first.newer_than, first.older_than, first.total) == (None, 78, 127)
        second = audit.page(db.session, audit.Filters(), before=first.older_than, size=50)
        assert [e.id for e in second.entries] == list(range(77, 27, -1))
        back = audit.page(db.session, audit.Filters(), after=second.newer_than, size=50)
        assert [e.id for e in back.entries] == [e.id for e in first.entries]
        last = audit.page(db.session, audit.Filters(), before=28, size=50)
        assert len(last.entries) == 27 and last.older_than is None
        bob = audit.page(db.session, audit.Filters(user="bob"))
        assert bob.total == 7 and {e.username for e in bob.entries} == {"bob"}
        obj = audit.page(db.session, audit.Filters(object="web11"))
        assert {e.object_name for e in obj.entries} == {"web11", "web110", "web111", "web112", "web113",
                                                        "web114", "web115", "web116", "web117", "web118",
                                                        "web119"}
        none = audit.page(db.session, audit.Filters(until=audit.parse_when("2000-01-01", end_of_day=True)))
        assert none.total == 0 and none.entries == []
        assert len(list(audit.iter_entries(db.session, audit.Filters(user="alice"), batch=7))) == 120


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = config_cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_config_audit_verify_and_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    instance = tmp_path / "instance"
    monkeypatch.setenv("PIRANHA_INSTANCE", str(instance))
    monkeypatch.setenv("PIRANHA_LVS_CF", str(tmp_path / "lvs.cf"))
    monkeypatch.delenv("PIRANHA_DATABASE_URL", raising=False)
    app = new_app(instance)
    assert run_cli(capsys, "audit", "verify") == (0, "ok, 0 entries\n", "")
    add_entries(app, 4, "alice")
    add_entries(app, 2, "bob")
    assert run_cli(capsys, "audit", "verify")[:2] == (0, "ok, 6 entries\n")

    code, out, _ = run_cli(capsys, "audit", "list", "--user", "bob", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["username"] for r in rows] == ["bob", "bob"]
    assert rows[0]["detail"] == {"port": [80, 8000]} and rows[0]["action"] == "virtual.update"
    code, out, _ = run_cli(capsys, "audit", "list", "--since", "2000-01-01")
    assert code == 0 and len(out.splitlines()) == 6 and "port: 80 -> 8003" in out
    code, out, _ = run_cli(capsys, "audit", "list", "--since", "2999-01-01T00:00")
    assert (code, out) == (0, "")
    assert run_cli(capsys, "audit", "list", "--since", "yesterday")[0] == 1

    with app.app_context():
        db.session.execute(text("UPDATE audit_entry SET detail = '{}' WHERE id = 5"))
        db.session.commit()
    code, out, err = run_cli(capsys, "audit", "verify")
    assert code == 1 and "entry 5" in err


def test_syslog_lines_cannot_be_forged_by_user_input() -> None:
    line = audit.syslog_line({"id": 1, "username": "x\naudit id=2 user=root action=publish",
                              "action": "login.failure", "object_type": "session"})
    assert "\n" not in line and "\\n" in line
