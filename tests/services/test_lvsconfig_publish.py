"""services.lvsconfig / services.changes: DB <-> LvsConfig, publish, validation targeting, pulse."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from piranha_web import lvscf
from piranha_web.extensions import db
from piranha_web.models import (AuditEntry, FailoverService, GlobalSettings, RealServer, Revision,
                                VirtualServer)
from piranha_web.services import audit, changes, definitions, lvsconfig, pulse_status

RICH = """serial_no = 42
primary = 207.175.44.150
primary_private = 10.11.12.1
service = lvs
backup_active = 1
backup = 207.175.44.196
backup_private = 10.11.12.2
heartbeat = 1
heartbeat_port = 539
keepalive = 6
deadtime = 18
network = nat
nat_router = 192.168.10.100 eth1:1
nat_nmask = 255.255.255.0
syncdaemon = 1
syncd_iface = eth1
syncd_id = 7
monitor_links = 1
hard_shutdown = 0
active_cmd = /usr/local/sbin/lvs-became-active
inactive_cmd = /usr/local/sbin/lvs-became-inactive
tcp_timeout = 900
failover ftp {
     active = 1
     address = 207.175.44.111 eth0:2
     vip_nmask = 255.255.255.0
     port = 21
     send = "quit\\r\\n"
     expect = "220"
     timeout = 10
     start_cmd = "/etc/rc.d/init.d/vsftpd start"
     stop_cmd = "/etc/rc.d/init.d/vsftpd stop"
}
virtual web_bundle {
     active = 1
     address = 207.175.44.110 eth0:1
     vip_nmask = 255.255.255.0
     fwmark = 80
     port = 80
     persistent = 300
     pmask = 255.255.255.0
     send = "GET / HTTP/1.0\\r\\n\\r\\n"
     expect = "HTTP"
     scheduler = wlc
     protocol = tcp
     timeout = 6.5
     reentry = 15
     quiesce_server = 1
     sorry_server = 192.168.10.99
     server web1 {
         address = 192.168.10.1
         active = 1
         weight = 100
     }
     server web2 {
         address = 192.168.10.2
         active = 0
         weight = 200
         port = 8080
     }
}
"""


def run(app, mutation, actor="tester"):
    with app.test_request_context():
        return changes.run(mutation, actor, "127.0.0.1")


def test_every_lvs_cf_key_has_a_column() -> None:
    for model, keys in ((GlobalSettings, lvsconfig.GLOBAL_FIELDS), (VirtualServer, lvsconfig.VIRTUAL_FIELDS),
                        (RealServer, lvsconfig.REAL_FIELDS), (FailoverService, lvsconfig.FAILOVER_FIELDS)):
        columns = {c.key for c in inspect(model).column_attrs}
        assert set(keys) <= columns, set(keys) - columns


def test_import_then_build_says_the_same(app) -> None:
    with app.app_context():
        lvsconfig.import_text(RICH, "tester", "test")
        db.session.commit()
        built = lvsconfig.build(serial_no=42)
    assert built.cfg == lvscf.load(RICH)


def test_publish_writes_validates_bumps_serial_and_records(app, lvs_cf) -> None:
    with app.app_context():
        lvsconfig.import_text(RICH, "tester", "test")
        db.session.commit()
    outcome = run(app, definitions.update_settings({"keepalive": 3.0}, None))
    assert outcome.published and outcome.revision == 2 and outcome.serial_no == 43
    text = lvs_cf.read_text()
    cfg = lvscf.load(text)
    assert cfg.serial_no == 43 and cfg.keepalive == 3
    assert [p.name for p in lvs_cf.parent.iterdir()] == ["lvs.cf"]  # no temporary files left behind
    assert lvs_cf.stat().st_mode & 0o777 == 0o644
    with app.app_context():
        rev = db.session.get(Revision, 2)
        assert rev.text == text and rev.sha256 == lvsconfig.sha256(text) and rev.username == "tester"
        assert rev.pulse_result == "not-running"
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "update")).one()
        assert (entry.username, entry.object_type, entry.revision, entry.client_addr) == \
            ("tester", "global", 2, "127.0.0.1")
        assert json.loads(entry.detail)["keepalive"] == [6.0, 3.0]
        assert audit.verify(db.session).ok


def test_an_invalid_change_is_never_written(app, lvs_cf) -> None:
    run(app, definitions.update_settings({"primary": "192.0.2.1"}, None))
    before = lvs_cf.read_text()
    with pytest.raises(changes.Rejected) as err:
        run(app, definitions.update_settings({"primary": "192.0.2.256"}, None))
    assert "primary" in err.value.fields
    assert lvs_cf.read_text() == before
    with app.app_context():
        assert db.session.get(GlobalSettings, 1).primary == "192.0.2.1"
        assert db.session.query(Revision).count() == 1


def test_a_change_that_breaks_another_object_is_refused_naming_it(app) -> None:
    vs = run(app, definitions.create_virtual({"name": "www", "address": "203.0.113.10"}))
    # network = nat without nat_router is fine until a virtual server is active
    with pytest.raises(changes.Rejected) as err:
        run(app, definitions.toggle_virtual(vs.target[1], None))
    assert err.value.fields == {} and any("global settings: network" in g for g in err.value.general)


def test_an_incomplete_configuration_is_saved_but_not_written(app, lvs_cf) -> None:
    with app.app_context():  # a state the console cannot publish (say, left by an older version)
        row = db.session.get(GlobalSettings, 1)
        row.backup_active, row.backup, row.deadtime = True, "192.0.2.2", 1
        db.session.commit()
    outcome = run(app, definitions.create_virtual({"name": "www", "address": "203.0.113.10"}))
    assert outcome.changed and not outcome.published and not lvs_cf.exists()
    assert any("deadtime" in p for p in outcome.pending)
    assert outcome.flash()[0] == "warning"
    outcome = run(app, definitions.update_settings({"deadtime": 18.0}, None))
    assert outcome.published and lvscf.load(lvs_cf.read_text()).virtual("www")


def test_conflict_and_not_found(app) -> None:
    created = run(app, definitions.create_virtual({"name": "www", "address": "203.0.113.10"}))
    vid = created.target[1]
    run(app, definitions.update_virtual(vid, {"port": 81}, 1))
    with pytest.raises(changes.Conflict) as err:
        run(app, definitions.update_virtual(vid, {"port": 82}, 1))
    assert err.value.current["port"] == 81 and err.value.current["version"] == 2
    run(app, definitions.delete_virtual(vid, 2))
    with pytest.raises(changes.NotFound):
        run(app, definitions.update_virtual(vid, {"port": 83}, 2))


def test_ids_are_never_reused_after_a_delete(app) -> None:
    first = run(app, definitions.create_virtual({"name": "a", "address": "203.0.113.10"})).target[1]
    run(app, definitions.delete_virtual(first, None))
    second = run(app, definitions.create_virtual({"name": "b", "address": "203.0.113.10"})).target[1]
    assert second != first  # a stale form for "a" can never edit "b"


def test_two_workers_publishing_at_once_get_distinct_serials(app, app_factory, lvs_cf) -> None:
    other = app_factory()  # a second app on the same database and lvs.cf, like a second gunicorn worker
    errors: list[BaseException] = []

    def worker(application, prefix):
        try:
            for i in range(8):
                values = {"name": f"{prefix}{i}", "address": "203.0.113.10"}
                run(application, definitions.create_virtual(values))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(a, p)) for a, p in ((app, "a"), (other, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    with app.app_context():
        serials = [r.serial_no for r in db.session.query(Revision).order_by(Revision.id)]
        last = db.session.query(Revision).order_by(Revision.id.desc()).first()
    assert serials == list(range(1, 17))
    assert lvs_cf.read_text() == last.text and len(lvscf.load(last.text).virtuals) == 16


# --------------------------------------------------------------------------- pulse

FAKE_PULSE = textwrap.dedent("""
    import json, os, re, signal, sys, time
    pid_file, status_file, lvs_cf, mode = sys.argv[1:5]
    def reload(*_):
        text = open(lvs_cf).read()
        serial = int(re.search(r"serial_no = (\\d+)", text).group(1))
        now = time.time()
        if mode == "reject":
            doc = {"serial_no": 0, "last_reload": {"time": now, "ok": False, "error": "line 1: nope"}}
        else:
            doc = {"serial_no": serial, "last_reload": {"time": now, "ok": True, "error": None}}
        tmp = status_file + ".tmp"
        open(tmp, "w").write(json.dumps(doc))
        os.replace(tmp, status_file)
    if mode != "deaf":
        signal.signal(signal.SIGHUP, reload)
    else:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    open(pid_file, "w").write(str(os.getpid()))
    end = time.time() + 60
    while time.time() < end:
        time.sleep(0.05)
""")


@pytest.fixture
def fake_pulse(app, lvs_cf):
    procs = []

    def start(mode):
        pid_file = Path(app.config["PULSE_PID_FILE"])
        proc = subprocess.Popen([sys.executable, "-c", FAKE_PULSE, str(pid_file),
                                 app.config["PULSE_STATUS_FILE"], str(lvs_cf), mode])
        procs.append(proc)
        deadline = time.monotonic() + 10
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert pid_file.exists()
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait(10)


def test_pulse_applies_the_new_revision(app, fake_pulse) -> None:
    fake_pulse("ok")
    outcome = run(app, definitions.update_settings({"primary": "192.0.2.1"}, None))
    assert outcome.flash() == ("success", "applied, revision 1")
    with app.app_context():
        assert db.session.get(Revision, 1).pulse_result == "applied"


def test_pulse_rejecting_the_file_is_reported(app, fake_pulse) -> None:
    fake_pulse("reject")
    outcome = run(app, definitions.update_settings({"primary": "192.0.2.1"}, None))
    assert outcome.flash() == ("error", "written, revision 1; pulse rejected it: line 1: nope")


def test_a_pulse_that_does_not_answer_is_waited_for_a_bounded_time(app, fake_pulse) -> None:
    fake_pulse("deaf")
    started = time.monotonic()
    outcome = run(app, definitions.update_settings({"primary": "192.0.2.1"}, None))
    assert time.monotonic() - started < app.config["PULSE_WAIT_SECONDS"] + 1.5
    assert outcome.flash() == ("warning", "written, revision 1; pulse has not reloaded it yet")


def test_a_stale_pid_file_means_not_running(app, tmp_path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    Path(app.config["PULSE_PID_FILE"]).write_text(f"{dead.pid}\n")
    assert pulse_status.read_pid(app.config["PULSE_PID_FILE"]) is None
    assert not pulse_status.request_reload(app.config["PULSE_PID_FILE"])
    Path(app.config["PULSE_PID_FILE"]).write_text("garbage")
    assert pulse_status.read_pid(app.config["PULSE_PID_FILE"]) is None


def test_an_old_failed_reload_does_not_count_against_a_new_revision() -> None:
    status = {"serial_no": 5, "last_reload": {"time": 1.0, "ok": False, "error": "old"}}
    assert pulse_status._judge(status, 6, since=100.0) is None
    assert pulse_status._judge(dict(status, serial_no=6, last_reload={"time": 101.0, "ok": True}), 6,
                               since=100.0).state == "applied"


def test_an_unwritable_lvs_cf_directory_is_reported_and_loses_nothing(app, lvs_cf, monkeypatch) -> None:
    run(app, definitions.update_settings({"primary": "192.0.2.1"}, None))
    before = lvs_cf.read_text()

    def refuse(path, text, mode=0o644):
        raise PermissionError(13, "Permission denied", str(Path(path).parent))

    monkeypatch.setattr(lvsconfig.files, "write_atomic", refuse)
    outcome = run(app, definitions.update_settings({"keepalive": 3.0}, None))
    category, message = outcome.flash()
    assert outcome.changed and not outcome.published and outcome.revision == 2
    assert category == "error" and "Permission denied" in message and str(lvs_cf) in message
    assert lvs_cf.read_text() == before
    with app.app_context():
        assert db.session.get(GlobalSettings, 1).keepalive == 3  # the change itself is kept
        assert lvsconfig.disk_state()["kind"] == "modified"  # the banner offers to write it again
