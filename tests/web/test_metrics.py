"""Console /metrics: loopback or token only; publish counts/durations; pulse's exporter rendering."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from piranha_web.pulse import metrics as pulse_metrics

from .test_api import Api, make_token, seed


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_with_a_token(app: Flask) -> None:
    token = make_token(app)
    seed(Api(app.test_client(), token))
    assert app.test_client().get("/metrics").status_code == 401      # deny by default, even locally
    r = app.test_client().get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.mimetype == "text/plain"
    values = samples(r.get_data(as_text=True))
    assert values[("piranha_console_publishes_total", ())] >= 4
    assert values[("piranha_console_api_tokens", ())] == 1
    assert values[("piranha_console_pulse_running", ())] == 0
    published = [k for k in values if k[0] == "piranha_console_change_duration_seconds_count"]
    assert any(dict(k[1]).get("outcome") == "published" for k in published)


def test_loopback_scrapes_when_allowed(app: Flask) -> None:
    app.config["METRICS_ALLOW_LOOPBACK"] = "1"
    client = app.test_client()
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.50"}).status_code == 401
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.50"},
                      headers={"Authorization": "Bearer pwt_wrong"}).status_code == 401


STATUS = {
    "pid": 1, "state": "running", "role": "active", "serial_no": 7, "started": 1000.0, "updated": 2000.0,
    "last_reload": {"time": 1990.0, "ok": True, "error": None, "serial_no": 7},
    "reloads": {"total": 3, "failed": 1, "last_duration": 0.02}, "ops_applied": 12,
    "table": [{"service": "TCP 210.220.230.10:80", "protocol": "tcp", "addr": "210.220.230.10", "port": 80,
               "dests": [{"addr": "192.168.1.1", "port": 80, "weight": 1, "active_conns": 5,
                          "inactive_conns": 2, "conns": 40, "inpkts": 100, "outpkts": 90, "inbytes": 6000,
                          "outbytes": 90000},
                         {"addr": "192.168.1.2", "port": 80, "weight": 1, "active_conns": 1,
                          "inactive_conns": 0, "conns": 39, "inpkts": 10, "outpkts": 9, "inbytes": 600,
                          "outbytes": 9000}]}],
    "health": {"www": {"real": {"address": "192.168.1.1", "port": 80, "state": "up", "last_check": 1999.0,
                                "duration": 0.004, "checks": {"ok": 50, "fail": 2}},
                       "real1": {"address": "192.168.1.2", "port": 80, "state": "down", "last_check": 1999.5,
                                 "duration": 6.0}}},
    "redundancy": {"heartbeat": {"sent": 10, "received": 8, "dropped_bad_hmac": 1}, "deadtime": 18,
                   "peer": {"role": "backup", "last_heard": 1995.0}},
}


def test_pulse_render_has_every_family() -> None:
    values = samples(pulse_metrics.render(STATUS).decode())
    svc = ("service", "TCP 210.220.230.10:80")
    assert values[("piranha_pulse_ipvs_real_active_connections", (("server", "192.168.1.1:80"), svc))] == 5
    assert values[("piranha_pulse_ipvs_virtual_active_connections", (svc,))] == 6
    assert values[("piranha_pulse_ipvs_virtual_in_bytes_total", (svc,))] == 6600
    assert values[("piranha_pulse_ipvs_real_out_packets_total", (("server", "192.168.1.2:80"), svc))] == 9
    real = (("address", "192.168.1.1:80"), ("server", "real"), ("virtual", "www"))
    assert values[("piranha_pulse_health_up", real)] == 1
    assert values[("piranha_pulse_health_state", real[:2] + (("state", "up"),) + real[2:])] == 1
    assert values[("piranha_pulse_health_check_duration_seconds", real)] == 0.004
    assert values[("piranha_pulse_health_checks_total", real[:1] + (("result", "fail"),) + real[1:])] == 2
    assert values[("piranha_pulse_role", (("role", "active"),))] == 1
    assert values[("piranha_pulse_role", (("role", "backup"),))] == 0
    assert values[("piranha_pulse_running_serial_no", ())] == 7
    assert values[("piranha_pulse_reloads_total", ())] == 3
    assert values[("piranha_pulse_reload_failures_total", ())] == 1
    assert values[("piranha_pulse_reload_duration_seconds", ())] == 0.02
    assert values[("piranha_pulse_heartbeat_packets_total", (("kind", "received"),))] == 8
    assert values[("piranha_pulse_heartbeat_silence_seconds", ())] == 5


def test_pulse_render_survives_an_empty_or_odd_status() -> None:
    assert b"piranha_pulse_up 0.0" in pulse_metrics.render(None)
    odd = {"table": [{"dests": [{"addr": "x", "active_conns": "n/a"}]}], "health": {"v": {"s": "oops"}}}
    assert b"piranha_pulse_ipvs_real_active_connections" in pulse_metrics.render(odd)


def test_pulse_exporter_serves_on_loopback(tmp_path: Path) -> None:
    status_file = tmp_path / "pulse-status.json"
    status_file.write_text(json.dumps(STATUS))
    server = pulse_metrics.serve_status_file(0, status_file)
    try:
        host, port = server.server_address[:2]
        assert host == "127.0.0.1"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            body = resp.read().decode()
        assert "piranha_pulse_running_serial_no 7.0" in body
    finally:
        server.shutdown()
        server.server_close()
