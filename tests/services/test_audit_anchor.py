"""The keyed audit chain against someone who can rewrite the database: edits, deletions, truncation."""

from __future__ import annotations

import hashlib
import json
import shlex
import stat
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import create_engine, text

from piranha_web.app import create_app
from piranha_web.extensions import db
from piranha_web.models import AuditEntry
from piranha_web.services import audit, audit_anchor, schema


def new_app(instance: Path) -> Flask:
    return create_app({"INSTANCE_PATH": str(instance), "LVS_CF": str(instance / "lvs.cf"),
                       "AUTO_IMPORT": False})


@pytest.fixture
def chain(tmp_path: Path) -> Flask:
    """An app with six committed entries (half in their own transaction, half in the caller's)."""
    app = new_app(tmp_path / "instance")
    with app.app_context():
        for i in range(6):
            if i % 2:
                audit.record("alice", "virtual.update", "virtual", f"web{i}", before={"port": 80},
                             after={"port": 8000 + i}, session=db.session)
                db.session.commit()
            else:
                audit.record("bob", "login.success", "session", "bob")
    return app


def forge_without_key(app: Flask, keyed: bool) -> None:
    """Recompute every hash the way someone without the key can (plain SHA-256, or HMAC under a guess)."""
    with app.app_context():
        prev = audit.GENESIS_HASH
        guess = b"\0" * 32
        for entry in db.session.query(AuditEntry).order_by(AuditEntry.id):
            entry.prev_hash = prev
            entry.keyed = keyed
            entry.hash = prev = audit.compute_hash(prev, audit.row_fields(entry), guess if keyed else None)
        db.session.commit()


def verify(app: Flask) -> audit.VerifyResult:
    with app.app_context():
        return audit.verify(db.session)


def test_key_and_checkpoint_are_private_files_outside_the_database(chain: Flask) -> None:
    instance = Path(chain.config["INSTANCE_PATH"])
    for name in (audit_anchor.KEY_FILE, audit_anchor.CHECKPOINT_FILE):
        assert stat.S_IMODE((instance / name).stat().st_mode) == 0o600, name
    with chain.app_context():
        point = audit_anchor.read_checkpoint()
        last = db.session.query(AuditEntry).order_by(AuditEntry.id.desc()).first()
    assert point is not None and (point.count, point.last_id, point.last_hash) == (6, last.id, last.hash)
    assert point.keyed_from == 1
    assert verify(chain) == audit.VerifyResult(True, 6)


@pytest.mark.parametrize("keyed", [False, True], ids=["sha256", "hmac-guessed-key"])
def test_an_edit_with_recomputed_hashes_is_found(chain: Flask, keyed: bool) -> None:
    with chain.app_context():
        db.session.execute(text("UPDATE audit_entry SET username = 'mallory' WHERE id = 3"))
        db.session.commit()
    forge_without_key(chain, keyed)
    result = verify(chain)
    assert not result.ok and result.broken_id == 1


@pytest.mark.parametrize("keyed", [False, True], ids=["sha256", "hmac-guessed-key"])
def test_a_deletion_with_recomputed_hashes_is_found(chain: Flask, keyed: bool) -> None:
    with chain.app_context():
        db.session.execute(text("DELETE FROM audit_entry WHERE id = 4"))
        db.session.commit()
    forge_without_key(chain, keyed)
    assert not verify(chain).ok


def test_truncating_the_newest_entries_is_found(chain: Flask) -> None:
    with chain.app_context():
        db.session.execute(text("DELETE FROM audit_entry WHERE id > 4"))
        db.session.commit()
    result = verify(chain)
    assert not result.ok and "truncated" in result.reason and result.count == 4


def test_truncating_to_nothing_is_found(chain: Flask) -> None:
    with chain.app_context():
        db.session.execute(text("DELETE FROM audit_entry"))
        db.session.commit()
    assert not verify(chain).ok


def test_a_forged_or_deleted_checkpoint_is_found(chain: Flask) -> None:
    path = Path(chain.config["INSTANCE_PATH"]) / audit_anchor.CHECKPOINT_FILE
    data = json.loads(path.read_text())
    data["count"], data["last_id"] = 4, 4
    path.write_text(json.dumps(data))
    result = verify(chain)
    assert not result.ok and "seal" in result.reason
    path.unlink()
    assert not verify(chain).ok


def test_a_rolled_back_entry_is_neither_anchored_nor_logged(
        chain: Flask, caplog: pytest.LogCaptureFixture) -> None:
    with chain.app_context():
        audit.record("alice", "virtual.create", "virtual", "dropped", after={"port": 1}, session=db.session)
        db.session.rollback()
        assert audit_anchor.read_checkpoint().count == 6
    assert "dropped" not in caplog.text
    assert verify(chain).ok


def test_syslog_line_cannot_be_given_extra_fields() -> None:
    name = 'eve action=publish" revision=9 user="root\\'
    line = audit.syslog_line({"id": 7, "username": name, "client_addr": "192.0.2.9",
                              "action": "login.failure",
                              "object_type": "session", "object_name": name, "detail": '{"a":"b c"}',
                              "hash": "ab" * 32}, audit_anchor.Checkpoint(7, 7, "ab" * 32, 1))
    words = shlex.split(line)
    fields = dict(word.split("=", 1) for word in words[1:])
    assert list(fields) == ["id", "user", "addr", "action", "object", "revision", "detail", "hash",
                            "chain_count", "chain_head"]
    assert fields["user"] == name and fields["action"] == "login.failure" and fields["revision"] == "-"
    assert fields["object"] == f"session/{name}" and fields["chain_count"] == "7"


def test_old_unkeyed_chain_is_kept_and_continued_after_the_migration(tmp_path: Path) -> None:
    """A database from before the key: its SHA-256 entries verify, new ones are keyed, no downgrade."""
    instance = tmp_path / "instance"
    instance.mkdir()
    url = f"sqlite:///{instance / 'piranha.db'}"
    engine = create_engine(url)
    schema.upgrade(engine, instance, "0003_api_tokens")
    prev = audit.GENESIS_HASH
    with engine.begin() as conn:
        for i in (1, 2, 3):
            row = {"id": i, "ts": "2026-11-20 10:00:0%d.000000" % i, "username": "old", "client_addr": None,
                   "action": "publish", "object_type": "revision", "object_name": str(i), "detail": "{}",
                   "revision": i}
            digest = hashlib.sha256((prev + audit.canonical_json(row)).encode("ascii")).hexdigest()
            conn.execute(text("INSERT INTO audit_entry (id, ts, username, client_addr, action, object_type, "
                              "object_name, detail, revision, prev_hash, hash) VALUES (:id, :ts, :username, "
                              ":client_addr, :action, :object_type, :object_name, :detail, :revision, "
                              ":p, :h)"),
                         {**row, "p": prev, "h": digest})
            prev = digest
    engine.dispose()
    app = new_app(instance)  # migrates to head
    with app.app_context():
        assert [e.keyed for e in db.session.query(AuditEntry)] == [False] * 3
        assert audit.verify(db.session) == audit.VerifyResult(True, 3, unkeyed=3)
        audit.record("new", "publish", "revision", "4")
        result = audit.verify(db.session)
        assert (result.ok, result.count, result.unkeyed) == (True, 4, 3)
        assert audit_anchor.read_checkpoint().keyed_from == 4
    # Turning the keyed entry back into an unkeyed one (with a correct SHA-256) is refused.
    forge_without_key(app, keyed=False)
    result = verify(app)
    assert not result.ok and result.broken_id == 4 and "not keyed" in result.reason


def test_cli_verify_reports_truncation(cli_instance: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from piranha_web.cli import config as config_cli

    app = new_app(cli_instance / "instance")
    with app.app_context():
        for i in range(3):
            audit.record("alice", "publish", "revision", str(i))
        db.session.execute(text("DELETE FROM audit_entry WHERE id = 3"))
        db.session.commit()
    assert config_cli.main(["audit", "verify"]) == 1
    assert "truncated" in capsys.readouterr().err


def test_an_unwritable_checkpoint_does_not_fail_the_committed_change(
        chain: Flask, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(audit_anchor, "advance_checkpoint", refuse)
    with chain.app_context():
        audit.record("alice", "publish", "revision", "7", session=db.session)
        db.session.commit()
        assert db.session.query(AuditEntry).count() == 7
    assert "audit checkpoint not written" in caplog.text
    monkeypatch.undo()
    assert verify(chain).ok  # an older checkpoint still matches its entry; the next write catches up
    with chain.app_context():
        audit.record("alice", "publish", "revision", "8")
        assert audit_anchor.read_checkpoint().count == 8
