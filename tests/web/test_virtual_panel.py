"""VIRTUAL SERVERS list, VIRTUAL SERVER edit, REAL SERVER and MONITORING SCRIPTS sub-panels."""

from __future__ import annotations

import re

import pytest

from piranha_web import lvscf

NAT = {"primary": "192.0.2.100", "network": "nat", "nat_router": "192.0.2.254", "nat_router_device": "eth1:1"}
WWW = {"name": "www", "address": "203.0.113.10", "device": "eth0:1", "port": "80", "scheduler": "rr"}


def add_virtual(console, **fields):
    response = console.submit("/virtual/new", {**WWW, **fields})
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    return int(re.search(r"/virtual/(\d+)/", response.headers["Location"]).group(1))


def add_real(console, vid, name, address, **fields):
    response = console.submit(f"/virtual/{vid}/real/new", {"name": name, "address": address, **fields})
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]


def select(console, path, name):
    """The radio value of the row called ``name`` on a list page."""
    html = console.get(path).get_data(as_text=True)
    match = re.search(r'value="(\d+:\d+)" id="select-\d+" aria-label="select ' + re.escape(name) + '"', html)
    assert match, f"no row {name}"
    return match.group(1)


def press(console, path, button, name=None):
    data = {"action": button}
    if name is not None:
        data["selected"] = select(console, path, name)
    return console.post(path, data)


@pytest.fixture
def nat(console):
    console.submit("/settings/", NAT)
    return console


def test_list_has_piranha_columns_and_buttons(console) -> None:
    html = console.get("/virtual/").get_data(as_text=True)
    for column in ("STATUS", "NAME", "VIP", "NETMASK", "PORT", "PROTOCOL", "INTERFACE"):
        assert f">{column}</th>" in html
    for button in ("ADD", "DELETE", "EDIT", "(DE)ACTIVATE"):
        assert f">{button}</button>" in html


def test_add_shows_gui_defaults(console) -> None:
    response = press(console, "/virtual/", "add")
    assert response.headers["Location"].endswith("/virtual/new")
    fields = console.form("/virtual/new")
    assert (fields["port"], fields["protocol"], fields["scheduler"], fields["timeout"], fields["reentry"],
            fields["device"], fields["quiesce_server"], fields["load_monitor"]) == \
        ("80", "tcp", "wlc", "6", "15", "eth0:1", "0", "none")
    html = console.get("/virtual/new").get_data(as_text=True)
    for label in ("Name", "Application port", "Protocol", "Virtual IP Address", "Virtual IP Network Mask",
                  "Sorry Server", "Firewall Mark", "Device", "Re-entry Time (seconds)",
                  "Service Timeout (seconds)", "Quiesce server", "Load monitoring tool", "Scheduling",
                  "Persistence", "Persistence Network Mask"):
        assert f">{label}</label>" in html or f"<legend>{label}</legend>" in html, label
    assert "Round robin" in html and "Weighted least-connections" in html and ">CANCEL<" in html


def test_create_edit_activate_delete(nat, lvs_cf) -> None:
    vid = add_virtual(nat, fwmark="80")
    cfg = lvscf.load(lvs_cf.read_text())
    vs = cfg.virtual("www")
    assert (vs.address, vs.device, vs.port, vs.fwmark, vs.scheduler, vs.active) == \
        ("203.0.113.10", "eth0:1", 80, 80, "rr", False)
    assert (vs.send, vs.expect, vs.timeout, vs.reentry) == ("GET / HTTP/1.0\\r\\n\\r\\n", "HTTP", 6, 15)
    serial = cfg.serial_no

    response = nat.submit(f"/virtual/{vid}/", {"scheduler": "wlc", "persistent": "300",
                                               "pmask": "255.255.255.0", "quiesce_server": "1"})
    assert response.status_code == 302
    vs = lvscf.load(lvs_cf.read_text()).virtual("www")
    assert (vs.scheduler, vs.persistent, vs.pmask, vs.quiesce_server) == ("wlc", 300, "255.255.255.0", True)

    response = press(nat, "/virtual/", "toggle", "www")
    assert response.status_code == 302
    cfg = lvscf.load(lvs_cf.read_text())
    assert cfg.virtual("www").active is True and cfg.serial_no == serial + 2
    list_html = nat.get("/virtual/").get_data(as_text=True)
    assert re.search(r'<tr class="on">.*?<td class="status">up</td>.*?www', list_html, re.S)

    press(nat, "/virtual/", "delete", "www")
    assert lvscf.load(lvs_cf.read_text()).virtuals == []


def test_edit_button_goes_to_the_edit_page(nat) -> None:
    vid = add_virtual(nat)
    response = press(nat, "/virtual/", "edit", "www")
    assert response.headers["Location"].endswith(f"/virtual/{vid}/")


def test_buttons_without_a_selection_explain(nat) -> None:
    response = press(nat, "/virtual/", "delete")
    assert ("error", "Select a virtual server first.") in nat.flashes(response)


def test_invalid_address_names_the_field_and_is_never_written(nat, lvs_cf) -> None:
    before = lvs_cf.read_text()
    response = nat.submit("/virtual/new", {**WWW, "address": "203.0.113.999"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="address-error"' in html and "Virtual IP Address:" in html
    assert 'value="203.0.113.999"' in html
    assert lvs_cf.read_text() == before


@pytest.mark.parametrize("field,value", [("port", "eighty"), ("timeout", "soon"), ("fwmark", "x"),
                                         ("port", "70000"), ("device", "eth0 1"), ("name", "two words")])
def test_bad_values_land_on_their_field(nat, field, value) -> None:
    response = nat.submit("/virtual/new", {**WWW, field: value})
    assert response.status_code == 422
    assert f'id="{field}-error"' in response.get_data(as_text=True)


def test_duplicate_name_is_refused(nat) -> None:
    add_virtual(nat)
    response = nat.submit("/virtual/new", {**WWW, "address": "203.0.113.11"})
    assert response.status_code == 422
    assert 'id="name-error"' in response.get_data(as_text=True)


def test_activation_that_clashes_with_another_virtual_is_refused(nat, lvs_cf) -> None:
    add_virtual(nat)
    add_virtual(nat, name="www2")
    press(nat, "/virtual/", "toggle", "www")
    response = press(nat, "/virtual/", "toggle", "www2")
    messages = nat.flashes(response)
    assert any(c == "error" for c, _ in messages), messages
    assert lvscf.load(lvs_cf.read_text()).virtual("www2").active is False


def test_stale_edit_is_a_conflict(nat) -> None:
    vid = add_virtual(nat)
    stale = nat.form(f"/virtual/{vid}/")
    nat.submit(f"/virtual/{vid}/", {"port": "8080"})
    stale.update({"port": "8081", "action": "accept"})
    response = nat.client.post(f"/virtual/{vid}/", data=stale)
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="conflict"' in html and "8080" in html


def test_stale_list_action_is_a_conflict(nat, lvs_cf) -> None:
    vid = add_virtual(nat)
    stale = select(nat, "/virtual/", "www")
    nat.submit(f"/virtual/{vid}/", {"port": "8080"})
    response = nat.post("/virtual/", {"action": "delete", "selected": stale})
    assert any("changed this entry" in m for c, m in nat.flashes(response) if c == "error")
    assert lvscf.load(lvs_cf.read_text()).virtual("www") is not None


def test_edit_of_a_deleted_virtual_server(nat) -> None:
    vid = add_virtual(nat)
    form = nat.form(f"/virtual/{vid}/")
    press(nat, "/virtual/", "delete", "www")
    response = nat.client.post(f"/virtual/{vid}/", data=dict(form, action="accept"))
    assert response.status_code == 404
    assert nat.get(f"/virtual/{vid}/").status_code == 404


def test_cancel_changes_nothing(nat, lvs_cf) -> None:
    vid = add_virtual(nat)
    before = lvs_cf.read_text()
    response = nat.submit(f"/virtual/{vid}/", {"port": "81", "action": "cancel"})
    assert response.status_code == 302 and lvs_cf.read_text() == before


def test_list_paginates(nat) -> None:
    for i in range(7):
        add_virtual(nat, name=f"v{i}", address=f"203.0.113.{i + 1}")
    html = nat.get("/virtual/?size=3").get_data(as_text=True)
    assert "Page 1 of 3" in html and html.count('name="selected"') == 3
    html = nat.get("/virtual/?size=3&page=3").get_data(as_text=True)
    assert html.count('name="selected"') == 1 and "v6" in html


def test_subtabs_are_shown_on_the_edit_page(nat) -> None:
    vid = add_virtual(nat)
    html = nat.get(f"/virtual/{vid}/").get_data(as_text=True)
    for tab in ("VIRTUAL SERVER", "REAL SERVER", "MONITORING SCRIPTS"):
        assert f">{tab}</a>" in html


# --------------------------------------------------------------------------- real servers

def test_real_server_lifecycle(nat, lvs_cf) -> None:
    vid = add_virtual(nat)
    html = nat.get(f"/virtual/{vid}/real/new").get_data(as_text=True)
    for label in ("Name", "Address", "Weight"):
        assert f'>{label}</label>' in html
    assert nat.form(f"/virtual/{vid}/real/new")["weight"] == "1"
    add_real(nat, vid, "real", "192.0.2.1")
    add_real(nat, vid, "real1", "192.0.2.2", weight="3", port="8080")
    servers = lvscf.load(lvs_cf.read_text()).virtual("www").servers
    assert [(s.name, s.address, s.active, s.weight, s.port) for s in servers] == \
        [("real", "192.0.2.1", False, 1, None), ("real1", "192.0.2.2", False, 3, 8080)]
    path = f"/virtual/{vid}/real/"
    listing = nat.get(path).get_data(as_text=True)
    for column in ("STATUS", "NAME", "ADDRESS", "PORT", "WEIGHT"):
        assert f">{column}</th>" in listing
    press(nat, path, "toggle", "real")
    assert lvscf.load(lvs_cf.read_text()).virtual("www").servers[0].active is True
    response = press(nat, path, "edit", "real1")
    nat.submit(response.headers["Location"], {"weight": "5"})
    assert lvscf.load(lvs_cf.read_text()).virtual("www").servers[1].weight == 5
    press(nat, path, "delete", "real1")
    assert [s.name for s in lvscf.load(lvs_cf.read_text()).virtual("www").servers] == ["real"]


def test_real_server_errors_name_fields(nat) -> None:
    vid = add_virtual(nat)
    response = nat.submit(f"/virtual/{vid}/real/new", {"name": "r", "address": "nowhere", "weight": "1"})
    assert response.status_code == 422 and 'id="address-error"' in response.get_data(as_text=True)
    response = nat.submit(f"/virtual/{vid}/real/new",
                          {"name": "r", "address": "192.0.2.1", "weight": "heavy"})
    assert 'id="weight-error"' in response.get_data(as_text=True)
    add_real(nat, vid, "r", "192.0.2.1")
    response = nat.submit(f"/virtual/{vid}/real/new", {"name": "r", "address": "192.0.2.9"})
    assert 'id="name-error"' in response.get_data(as_text=True)
    response = nat.submit(f"/virtual/{vid}/real/new", {"name": "r2", "address": "192.0.2.1"})
    assert response.status_code == 422  # same address:port twice in one virtual server


def test_real_server_of_another_virtual_is_404(nat) -> None:
    vid = add_virtual(nat)
    add_real(nat, vid, "r", "192.0.2.1")
    other = add_virtual(nat, name="other", address="203.0.113.20")
    rid = select(nat, f"/virtual/{vid}/real/", "r").split(":")[0]
    assert nat.get(f"/virtual/{other}/real/{rid}").status_code == 404


def test_real_server_stale_edit_conflict(nat) -> None:
    vid = add_virtual(nat)
    add_real(nat, vid, "r", "192.0.2.1")
    rid = select(nat, f"/virtual/{vid}/real/", "r").split(":")[0]
    path = f"/virtual/{vid}/real/{rid}"
    stale = nat.form(path)
    nat.submit(path, {"weight": "7"})
    response = nat.client.post(path, data=dict(stale, weight="8", action="accept"))
    assert response.status_code == 422 and 'id="conflict"' in response.get_data(as_text=True)


# --------------------------------------------------------------------------- monitoring scripts

def test_monitoring_scripts(nat, lvs_cf) -> None:
    vid = add_virtual(nat)
    path = f"/virtual/{vid}/monitoring"
    html = nat.get(path).get_data(as_text=True)
    for label in ("Sending Program", "Send", "Expect"):
        assert f">{label}</label>" in html
    assert nat.form(path)["send"] == "GET / HTTP/1.0\\r\\n\\r\\n"
    nat.submit(path, {"send": "HEAD / HTTP/1.0\\r\\n\\r\\n", "expect": "HTTP/1\\.[01] 200", "use_regex": "y"})
    vs = lvscf.load(lvs_cf.read_text()).virtual("www")
    assert (vs.send, vs.expect, vs.use_regex) == ("HEAD / HTTP/1.0\\r\\n\\r\\n", "HTTP/1\\.[01] 200", True)
    response = nat.submit(path, {"send_program": "check %h"})
    assert response.status_code == 422 and 'id="send_program-error"' in response.get_data(as_text=True)
    nat.submit(path, {"send_program": "/usr/local/bin/check %h", "send": "", "expect": "OK"},
               drop=("use_regex",))
    vs = lvscf.load(lvs_cf.read_text()).virtual("www")
    assert (vs.send_program, vs.send, vs.expect, vs.use_regex) == \
        ("/usr/local/bin/check %h", None, "OK", False)


WWW6 = {**WWW, "address": "2001:db8:10::10", "device": "eth0:1", "vip_nmask": "64"}


def test_ipv6_virtual_server_with_a_prefix_length(nat, lvs_cf) -> None:
    vid = add_virtual(nat, **WWW6)
    add_real(nat, vid, "rs1", "2001:db8:1::1")
    vs = lvscf.load(lvs_cf.read_text()).virtual("www")
    assert (vs.address, vs.vip_nmask, vs.servers[0].address) == ("2001:db8:10::10", "64", "2001:db8:1::1")


@pytest.mark.parametrize("field,value", [("address", "::ffff:203.0.113.10"), ("address", "fe80::10"),
                                         ("vip_nmask", "129")])
def test_bad_ipv6_input_lands_on_its_field(nat, lvs_cf, field, value) -> None:
    before = lvs_cf.read_text()
    response = nat.submit("/virtual/new", {**WWW6, field: value})
    assert response.status_code == 422
    assert f'id="{field}-error"' in response.get_data(as_text=True)
    assert lvs_cf.read_text() == before


def test_real_server_of_the_other_family_is_a_field_error(nat) -> None:
    vid = add_virtual(nat, **WWW6)
    response = nat.submit(f"/virtual/{vid}/real/new", {"name": "r", "address": "192.0.2.1", "weight": "1"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="address-error"' in html and "different IP families" in html


def test_ipv6_only_nat_virtual_with_a_prefix_length_from_the_mask_list(console, lvs_cf) -> None:
    """No IPv4 gateway needed; the mask list offers IPv6 prefix lengths, and activation is accepted."""
    response = console.submit("/settings/", {"primary": "2001:db8:c::1", "network": "nat",
                                             "nat_router6": "2001:db8:1::254", "nat_router6_device": "eth1",
                                             "nat_nmask6": "64"})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    html = console.get("/virtual/new").get_data(as_text=True)
    assert '<option value="64">/64 (IPv6)</option>' in html
    vid = add_virtual(console, address="2001:db8:10::10", device="eth0", vip_nmask="64")
    add_real(console, vid, "real", "2001:db8:1::1")
    press(console, "/virtual/", "toggle", "www")
    vs = lvscf.load(lvs_cf.read_text()).virtual("www")
    assert (vs.address, vs.vip_nmask, vs.active) == ("2001:db8:10::10", "64", True)
