"""GLOBAL SETTINGS and REDUNDANCY panels: labels, defaults, ACCEPT publishes, errors name fields."""

from __future__ import annotations

import re

import pytest

from piranha_web import lvscf

PANEL = "/redundancy/"   # the panel form (the ENABLE/DISABLE form comes first on the page)
LABELS = ["Primary server public IP", "Primary server private IP", "Use network type", "NAT Router IP",
          "NAT Router netmask", "NAT Router device"]


def test_global_settings_shows_piranha_labels_with_label_for(console) -> None:
    html = console.get("/settings/").get_data(as_text=True)
    for label in LABELS:
        assert label in html
    for key in ("primary", "primary_private", "nat_router", "nat_nmask", "nat_router_device"):
        assert f'<label for="{key}">' in html and f'id="{key}"' in html
    for value, text in (("nat", "NAT"), ("direct", "Direct Routing")):
        assert f'<label for="network_{value}">{text}</label>' in html
    assert re.search(r'id="network_nat"[^>]*checked|checked[^>]*id="network_nat"', html) or \
        'value="nat" checked' in html
    assert ">ACCEPT<" in html
    assert "CONTROL/MONITORING" in html and "VIRTUAL SERVERS" in html and "AUDIT LOG" in html


def test_accept_publishes_a_valid_lvs_cf(console, lvs_cf) -> None:
    response = console.submit("/settings/", {"primary": "192.0.2.100", "network": "nat",
                                             "nat_router": "192.0.2.254", "nat_nmask": "255.255.255.0",
                                             "nat_router_device": "eth1:1"})
    assert response.status_code == 302
    assert ("warning", "written, revision 1; pulse not running") in console.flashes(response)
    cfg = lvscf.load(lvs_cf.read_text())
    assert cfg.serial_no == 1
    assert (cfg.primary, cfg.nat_router, cfg.nat_router_device, cfg.nat_nmask) == \
        ("192.0.2.100", "192.0.2.254", "eth1:1", "255.255.255.0")
    # GUI defaults for a new file (keepalive 6, deadtime 18, heartbeat 1)
    assert (cfg.keepalive, cfg.deadtime, cfg.heartbeat) == (6, 18, True)


def test_accept_without_changes_publishes_nothing(console, lvs_cf) -> None:
    console.submit("/settings/", {"primary": "192.0.2.100"})
    response = console.submit("/settings/")
    assert ("info", "No changes.") in console.flashes(response)
    assert lvscf.load(lvs_cf.read_text()).serial_no == 1


def test_bad_address_is_refused_naming_the_field_and_keeping_input(console, lvs_cf) -> None:
    response = console.submit("/settings/", {"primary": "192.0.2.300"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="primary-error"' in html and "Primary server public IP:" in html
    assert 'value="192.0.2.300"' in html  # typed input kept
    assert not lvs_cf.exists()  # never written


def test_bad_device_goes_to_the_device_field(console) -> None:
    response = console.submit("/settings/", {"nat_router": "192.0.2.254", "nat_router_device": "eth 1"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="nat_router_device-error"' in html


def test_stale_accept_is_a_conflict_showing_current_values(console, app) -> None:
    stale = console.form("/settings/")
    console.submit("/settings/", {"primary": "192.0.2.1"})
    stale.update({"primary": "192.0.2.2", "action": "accept"})
    response = console.client.post("/settings/", data=stale)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="conflict"' in html and "192.0.2.1" in html  # current value shown
    assert 'value="192.0.2.2"' in html  # the user's input kept
    # accepting again (the form now carries the current version) applies it
    again = console.client.post("/settings/", data=dict(console.form_in(html), action="accept"))
    assert again.status_code == 302
    assert 'value="192.0.2.2"' in console.get("/settings/").get_data(as_text=True)


def test_redundancy_panel_labels_and_defaults(console) -> None:
    html = console.get("/redundancy/").get_data(as_text=True)
    for label in ("Redundant server public IP", "Heartbeat Interval (seconds)", "Assume dead after (seconds)",
                  "Heartbeat runs on port", "Monitor NIC links for failures", "Syncdaemon"):
        assert label in html
    assert 'id="keepalive" name="keepalive" type="text" value="6"' in html or 'value="6"' in html
    assert 'value="18"' in html and 'value="539"' in html
    assert 'id="backup-state">inactive' in html and ">ENABLE<" in html
    assert "Redundant server private IP" not in html  # only with a primary private IP


def test_redundancy_enable_needs_a_backup_address(console, lvs_cf) -> None:
    console.submit("/settings/", {"primary": "192.0.2.1"})
    toggle = console.form("/redundancy/", action="/redundancy/toggle")
    response = console.client.post("/redundancy/toggle", data=toggle)
    assert any("backup_active" in m for c, m in console.flashes(response) if c == "error")
    console.submit("/redundancy/", {"backup": "192.0.2.2", "keepalive": "2", "deadtime": "10",
                                    "monitor_links": "y", "syncdaemon": "y"})
    toggle = console.form("/redundancy/", action="/redundancy/toggle")
    response = console.client.post("/redundancy/toggle", data=toggle)
    assert console.flashes(response)[0][0] == "warning"
    cfg = lvscf.load(lvs_cf.read_text())
    assert (cfg.backup_active, cfg.backup, cfg.keepalive, cfg.deadtime, cfg.monitor_links,
            cfg.syncdaemon) == \
        (True, "192.0.2.2", 2, 10, 1, True)
    assert ">DISABLE<" in console.get("/redundancy/").get_data(as_text=True)


def test_redundancy_deadtime_must_exceed_keepalive(console) -> None:
    console.submit("/settings/", {"primary": "192.0.2.1"})
    console.submit("/redundancy/", {"backup": "192.0.2.2"}, action=PANEL)
    toggle = console.form("/redundancy/", action="/redundancy/toggle")
    console.client.post("/redundancy/toggle", data=toggle)
    response = console.submit("/redundancy/", {"keepalive": "10", "deadtime": "5"}, action=PANEL)
    assert response.status_code == 422
    assert 'id="deadtime-error"' in response.get_data(as_text=True)


def test_redundancy_short_deadtime_is_accepted_without_a_backup(console, lvs_cf) -> None:
    """Neither setting is used while backup_active = 0 (``piranha-config check`` warns)."""
    response = console.submit("/redundancy/", {"keepalive": "10", "deadtime": "5"}, action=PANEL)
    assert response.status_code in (302, 303)
    assert lvscf.load(lvs_cf.read_text()).deadtime == 5


def test_redundancy_shows_and_saves_the_heartbeat_key_file(console, lvs_cf) -> None:
    html = console.get("/redundancy/").get_data(as_text=True)
    assert 'id="heartbeat_key_file"' in html and "Heartbeat key file" in html
    response = console.submit("/redundancy/", {"heartbeat_key_file": "relative/key"}, action=PANEL)
    assert response.status_code == 422
    assert 'id="heartbeat_key_file-error"' in response.get_data(as_text=True)
    console.submit("/redundancy/", {"heartbeat_key_file": "/etc/sysconfig/ha/heartbeat.key"}, action=PANEL)
    assert lvscf.load(lvs_cf.read_text()).heartbeat_key_file == "/etc/sysconfig/ha/heartbeat.key"


@pytest.mark.parametrize(("panel", "values", "field"), [
    ("/redundancy/", {"keepalive": "1e-300"}, "keepalive"),
    ("/redundancy/", {"deadtime": "1e308"}, "deadtime"),
    ("/redundancy/", {"heartbeat_port": str(2 ** 64)}, "heartbeat_port"),
    ("/redundancy/", {"syncd_id": "9" * 5000}, "syncd_id"),
])
def test_out_of_range_numbers_are_field_errors(console, panel: str, values: dict[str, str],
                                               field: str) -> None:
    response = console.submit(panel, values, action=panel)
    assert response.status_code == 422
    assert f'id="{field}-error"' in response.get_data(as_text=True)


def test_redundancy_non_numbers_are_refused_by_field(console) -> None:
    response = console.submit("/redundancy/", {"keepalive": "six", "heartbeat_port": "x"})
    html = response.get_data(as_text=True)
    assert 'id="keepalive-error"' in html and 'id="heartbeat_port-error"' in html
    assert "&#39;six&#39; is not a number of seconds" in html or "'six' is not a number" in html
