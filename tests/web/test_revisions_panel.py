"""Revisions (list, diff, rollback) and hand edits of lvs.cf (banner, import, overwrite, first start)."""

from __future__ import annotations

from piranha_web import lvscf
from piranha_web.extensions import db
from piranha_web.models import AuditEntry, Revision, VirtualServer

HAND_WRITTEN = """serial_no = 41
primary = 192.0.2.100
service = lvs
network = direct
virtual web {
     active = 1
     address = 203.0.113.10 eth0:1
     port = 80
     scheduler = wlc
     server web1 {
         address = 198.51.100.1
         active = 1
         weight = 2
     }
}
"""


def test_revisions_list_and_show(console) -> None:
    console.submit("/settings/", {"primary": "192.0.2.1"})
    console.submit("/settings/", {"primary": "192.0.2.2"})
    html = console.get("/revisions/").get_data(as_text=True)
    assert 'id="revision-1"' in html and 'id="revision-2"' in html
    assert "update global" in html and "piranha" in html
    page = console.get("/revisions/1").get_data(as_text=True)
    assert "-primary = 192.0.2.1" in page and "+primary = 192.0.2.2" in page
    assert "serial_no = 1" in page  # the stored text
    assert console.get("/revisions/99").status_code == 404


def test_rollback_restores_definitions_as_a_new_revision(console, app, lvs_cf) -> None:
    console.submit("/settings/", {"primary": "192.0.2.1"})
    console.submit("/virtual/new", {"name": "www", "address": "203.0.113.10"})
    assert lvscf.load(lvs_cf.read_text()).virtual("www") is not None
    response = console.post("/revisions/1/rollback")
    assert ("warning", "written, revision 3; pulse not running") in console.flashes(response)
    cfg = lvscf.load(lvs_cf.read_text())
    assert cfg.virtuals == [] and cfg.primary == "192.0.2.1" and cfg.serial_no == 3
    with app.app_context():
        assert db.session.query(VirtualServer).count() == 0
        assert db.session.get(Revision, 3).comment == "rollback to revision 1"
        assert db.session.query(AuditEntry).filter_by(action="rollback").count() == 1
    assert "No differences" in console.get("/revisions/1").get_data(as_text=True)


def test_a_hand_edit_shows_the_banner_and_can_be_imported(console, app, lvs_cf) -> None:
    console.submit("/settings/", {"primary": "192.0.2.1"})
    assert 'id="disk-banner"' not in console.get("/virtual/").get_data(as_text=True)
    lvs_cf.write_text(HAND_WRITTEN)
    html = console.get("/virtual/").get_data(as_text=True)
    assert 'id="disk-banner"' in html and "was changed outside the console" in html
    assert 'id="import-disk"' in html and 'id="overwrite-disk"' in html
    diff = console.get("/revisions/disk").get_data(as_text=True)
    assert "+network = direct" in diff
    response = console.post("/revisions/import")
    assert any("imported" in m for _, m in console.flashes(response))
    assert lvs_cf.read_text() == HAND_WRITTEN  # never rewritten by an import
    html = console.get("/virtual/").get_data(as_text=True)
    assert 'id="disk-banner"' not in html and ">web</label>" in html
    # the next publish continues after the file's serial number
    console.submit("/settings/", {"primary": "192.0.2.5"})
    assert lvscf.load(lvs_cf.read_text()).serial_no == 42


def test_an_invalid_hand_edit_is_not_imported(console, lvs_cf) -> None:
    console.submit("/settings/", {"primary": "192.0.2.1"})
    lvs_cf.write_text("serial_no = 2\nprimary = 192.0.2.1\nbogus = 1\n")
    response = console.post("/revisions/import")
    messages = console.flashes(response)
    assert any(c == "error" and ":3:" not in m and "line 3" in m for c, m in messages), messages
    assert lvs_cf.read_text().endswith("bogus = 1\n")
    assert 'id="disk-banner"' in console.get("/settings/").get_data(as_text=True)


def test_overwrite_replaces_the_hand_edit_with_the_console_version(console, app, lvs_cf) -> None:
    console.submit("/settings/", {"primary": "192.0.2.1"})
    lvs_cf.write_text(HAND_WRITTEN)
    console.post("/revisions/overwrite")
    cfg = lvscf.load(lvs_cf.read_text())
    assert cfg.primary == "192.0.2.1" and cfg.virtuals == [] and cfg.serial_no == 2
    assert 'id="disk-banner"' not in console.get("/settings/").get_data(as_text=True)
    with app.app_context():
        assert db.session.query(AuditEntry).filter_by(action="overwrite").count() == 1


def test_a_deleted_file_is_reported_and_can_be_rewritten(console, lvs_cf) -> None:
    console.submit("/settings/", {"primary": "192.0.2.1"})
    lvs_cf.unlink()
    html = console.get("/settings/").get_data(as_text=True)
    assert "is missing" in html and 'id="import-disk"' not in html
    console.post("/revisions/overwrite")
    assert lvscf.load(lvs_cf.read_text()).primary == "192.0.2.1"


def test_first_start_imports_an_existing_file(app_factory, login_as, tmp_path) -> None:
    app = app_factory(HAND_WRITTEN)
    with app.app_context():
        assert [v.name for v in db.session.query(VirtualServer)] == ["web"]
        rev = db.session.query(Revision).one()
        assert (rev.serial_no, rev.username, rev.text) == (41, "system", HAND_WRITTEN)
    console = login_as(app)
    assert 'id="disk-banner"' not in console.get("/virtual/").get_data(as_text=True)
    # a restart does not import again
    (tmp_path / "etc" / "lvs.cf").write_text(HAND_WRITTEN.replace("weight = 2", "weight = 3"))
    app_factory()
    with app.app_context():
        assert db.session.query(Revision).count() == 1


def test_first_start_with_an_integer_of_thousands_of_digits(app_factory, login_as) -> None:
    app = app_factory("serial_no = " + "9" * 5000 + "\n")
    with app.app_context():
        assert db.session.query(Revision).count() == 0
    assert login_as(app).get("/settings/").status_code == 200


def test_first_start_imports_a_piranha_gui_file_with_a_bom_and_no_backup(app_factory) -> None:
    app = app_factory("\ufeffserial_no = 5\nprimary = 192.0.2.1\nbackup_active = 0\nbackup = 0.0.0.0\n"
                      "network = direct\nkeepalive = 6\ndeadtime = 6\n")
    with app.app_context():
        assert db.session.query(Revision).one().serial_no == 5


def test_first_start_leaves_an_invalid_file_for_the_banner(app_factory, login_as) -> None:
    app = app_factory("serial_no = 1\nport = 80\n")
    with app.app_context():
        assert db.session.query(Revision).count() == 0
    html = login_as(app).get("/settings/").get_data(as_text=True)
    assert "is not managed by the console yet" in html
