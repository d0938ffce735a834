"""FAILOVER panel and CONTROL/MONITORING (pulse status as pulse reports it)."""

from __future__ import annotations

import json
import os
import re

from piranha_web import lvscf

FTP = {"name": "ftp", "address": "203.0.113.11", "device": "eth0:2", "port": "21", "send": "quit\\r\\n",
       "expect": "220", "start_cmd": "/etc/init.d/vsftpd start", "stop_cmd": "/etc/init.d/vsftpd stop"}


def test_failover_lifecycle(console, lvs_cf) -> None:
    html = console.get("/failover/new").get_data(as_text=True)
    for label in ("Name", "Address", "Device", "Netmask", "Port", "Send", "Expect", "Start command",
                  "Stop command"):
        assert f">{label}</label>" in html
    response = console.submit("/failover/new", FTP)
    assert response.status_code == 302
    fos = lvscf.load(lvs_cf.read_text()).failovers[0]
    assert (fos.name, fos.address, fos.device, fos.port, fos.start_cmd, fos.active) == \
        ("ftp", "203.0.113.11", "eth0:2", 21, "/etc/init.d/vsftpd start", False)
    row = re.search(r'value="(\d+:\d+)" id="select-\d+" aria-label="select ftp"',
                    console.get("/failover/").get_data(as_text=True)).group(1)
    console.post("/failover/", {"action": "toggle", "selected": row})
    assert lvscf.load(lvs_cf.read_text()).failovers[0].active is True
    fid = row.split(":")[0]
    console.submit(f"/failover/{fid}", {"port": "2121"})
    assert lvscf.load(lvs_cf.read_text()).failovers[0].port == 2121
    row = re.search(r'value="(\d+:\d+)" id="select-\d+" aria-label="select ftp"',
                    console.get("/failover/").get_data(as_text=True)).group(1)
    console.post("/failover/", {"action": "delete", "selected": row})
    assert lvscf.load(lvs_cf.read_text()).failovers == []


def test_failover_errors_name_fields(console) -> None:
    response = console.submit("/failover/new", {**FTP, "start_cmd": "vsftpd start", "port": "twenty"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="port-error"' in html
    response = console.submit("/failover/new", {**FTP, "address": "ftp.example"})
    assert 'id="address-error"' in response.get_data(as_text=True)
    # an inactive service may lack its commands; activating it (in FOS mode) names the missing one
    console.submit("/settings/", {"service": "fos"})
    assert console.submit("/failover/new", {**FTP, "start_cmd": ""}).status_code == 302
    row = re.search(r'value="(\d+:\d+)" id="select-\d+" aria-label="select ftp"',
                    console.get("/failover/").get_data(as_text=True)).group(1)
    response = console.post("/failover/", {"action": "toggle", "selected": row})
    assert any("start_cmd" in m for c, m in console.flashes(response) if c == "error")


# --------------------------------------------------------------------------- CONTROL/MONITORING

STATUS = {
    "pid": 0, "state": "running", "role": "master/active", "serial_no": 1,
    "last_reload": {"time": 1700000000.0, "ok": True, "error": None},
    "updated": 1700000001.0,
    "table": [{"service": "TCP 203.0.113.10:80", "protocol": "tcp", "addr": "203.0.113.10", "port": 80,
               "fwmark": 0, "scheduler": "rr", "persistent": 0, "managed": True,
               "dests": [{"addr": "192.0.2.1", "port": 80, "weight": 1, "fwd": "nat", "active_conns": 3,
                          "inactive_conns": 7},
                         {"addr": "192.0.2.2", "port": 80, "weight": 1, "fwd": "nat", "active_conns": 0,
                          "inactive_conns": 1}]}],
    "health": {"www": {"real": {"address": "192.0.2.1", "port": 80, "state": "up", "last_result": "ok"},
                       "real1": {"address": "192.0.2.2", "port": 80, "state": "down",
                                 "last_result": "connection refused"}}},
}


def write_status(app, status, pid=None) -> None:
    with open(app.config["PULSE_STATUS_FILE"], "w") as fh:
        json.dump(status, fh)
    if pid is not None:
        with open(app.config["PULSE_PID_FILE"], "w") as fh:
            fh.write(f"{pid}\n")


def test_control_without_pulse(console) -> None:
    html = console.get("/").get_data(as_text=True)
    assert 'id="pulse-state"><strong class="state-off">stopped' in html
    assert "CURRENT LVS ROUTING TABLE" in html
    assert '<label for="auto_update">Auto update</label>' in html
    assert '<label for="rate">Update Interval:</label>' in html and 'value="10"' in html
    assert 'http-equiv="refresh"' not in html


def test_control_shows_pulse_status_table_and_health(console, app) -> None:
    console.submit("/settings/", {"primary": "192.0.2.100"})  # revision 1, serial 1
    write_status(app, STATUS, pid=os.getpid())
    html = console.get("/").get_data(as_text=True)
    assert f"running</strong> (pid {os.getpid()})" in html
    assert "master/active" in html and "revision 1" in html
    table = re.search(r'<pre class="ipvs" id="ipvs-table">(.*?)</pre>', html, re.S).group(1)
    assert "TCP 203.0.113.10:80 rr" in table
    assert re.search(r"-> 192\.0\.2\.1:80\s+Masq\s+1\s+3\s+7", table)
    assert "health-up" in html and "health-down" in html and "connection refused" in html


def test_control_shows_ipv6_in_brackets_and_pulse_warnings(console, app) -> None:
    dests = [{"addr": "2001:db8:1::1", "port": 80, "weight": 1, "fwd": "nat", "active_conns": 0,
              "inactive_conns": 0}]
    status = dict(STATUS, table=[{"service": None, "protocol": "tcp", "addr": "2001:db8:10::10", "port": 80,
                                  "scheduler": "rr", "persistent": 0, "dests": dests}],
                  health={"web6": {"rs1": {"address": "2001:db8:1::1", "port": 80, "state": "up"}}},
                  warnings=["network = nat with IPv6 virtual servers but forwarding is off"])
    write_status(app, status, pid=os.getpid())
    html = console.get("/").get_data(as_text=True)
    assert "TCP [2001:db8:10::10]:80 rr" in html and "-> [2001:db8:1::1]:80" in html
    assert "<td>[2001:db8:1::1]:80</td>" in html
    assert "IPv6 virtual servers but forwarding is off" in html


def test_control_shows_a_failed_reload(console, app) -> None:
    write_status(app, dict(STATUS, last_reload={"time": 1700000000.0, "ok": False, "error": "line 3: bad"}),
                 pid=os.getpid())
    html = console.get("/").get_data(as_text=True)
    assert "FAILED</span>: line 3: bad" in html


def test_auto_update_uses_meta_refresh_at_least_ten_seconds(console) -> None:
    html = console.get("/?auto_update=1&rate=3").get_data(as_text=True)
    assert re.search(r'<meta http-equiv="refresh" content="10;url=/\?auto_update=1&amp;rate=10">', html)
    html = console.get("/?auto_update=1&rate=30").get_data(as_text=True)
    assert 'content="30;' in html and 'value="30"' in html
    assert 'content="10;' in console.get("/?auto_update=1&rate=junk").get_data(as_text=True)


def test_no_inline_script_anywhere(console) -> None:
    for path in ("/", "/settings/", "/redundancy/", "/virtual/", "/virtual/new", "/failover/", "/revisions/"):
        html = console.get(path).get_data(as_text=True)
        html = html.replace('<script src="/static/js/traffic.js" defer></script>', "")   # static, same origin
        assert "<script" not in html and "onclick" not in html and "style=" not in html, path


def test_change_password_explains_piranha_passwd(console) -> None:
    html = console.get("/").get_data(as_text=True)
    assert 'id="change-password"' in html
    page = console.get("/password").get_data(as_text=True)
    assert "piranha-passwd" in page


def test_a_readonly_user_sees_the_panels_but_cannot_change(app, console, login_as, lvs_cf) -> None:
    console.submit("/settings/", {"primary": "192.0.2.1"})
    lvs_cf.write_text(lvs_cf.read_text() + "\n")
    viewer = login_as(app, "viewer", role="readonly")
    html = viewer.get("/settings/").get_data(as_text=True)
    assert 'id="readonly-note"' in html and 'id="disk-banner"' in html and 'id="overwrite-disk"' not in html
    assert viewer.submit("/settings/", {"primary": "192.0.2.9"}).status_code == 403
    assert viewer.post("/revisions/overwrite").status_code == 403
