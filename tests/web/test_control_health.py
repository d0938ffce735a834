"""CONTROL/MONITORING shows each real server's checks: state, weights, last result, counts, strip."""

from __future__ import annotations

import json
import os
import re
import time


def test_health_rows_show_state_weights_counts_and_strip(console, app) -> None:
    status = {"pid": os.getpid(), "state": "running", "role": "standalone", "serial_no": 1,
              "health": {"web": {
                  "a": {"address": "192.0.2.1", "port": 80, "state": "up", "display": "SLOW-START 40 %",
                        "weight": 13, "configured_weight": 32, "last_ok": True, "last_result": "status 200",
                        "duration": 0.0042, "last_check": time.time(), "successes": 7, "failures": 0,
                        "changed_at": time.time() - 65, "history": "--+++++++"},
                  "b": {"address": "192.0.2.2", "port": 80, "state": "up", "display": "DRAINING",
                        "weight": 0, "configured_weight": 10, "last_ok": True, "last_result": "agent 'drain'",
                        "duration": 0.001, "last_check": time.time(), "successes": 3, "failures": 0,
                        "changed_at": None, "history": "+++"}}}}
    with open(app.config["PULSE_STATUS_FILE"], "w") as fh:
        json.dump(status, fh)
    with open(app.config["PULSE_PID_FILE"], "w") as fh:
        fh.write(f"{os.getpid()}\n")
    html = console.get("/").get_data(as_text=True)
    table = re.search(r'<table class="grid" id="health">(.*?)</table>', html, re.S).group(1)
    assert '<td class="health health-slow-start">SLOW-START 40 %</td>' in table
    assert '<td class="health health-draining">DRAINING</td>' in table
    assert '<td class="weight">13 (32)</td>' in table and '<td class="weight">0 (10)</td>' in table
    assert "status 200" in table and "4.2 ms" in table and "7 / 0" in table
    assert re.search(r"<td>1m 0[5-9]s</td>", table), table
    assert table.count('class="hist-fail"') == 2 and table.count('class="hist-ok"') == 10
    # only the static chart updater, never inline script (the CSP allows 'self' scripts only)
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/js/traffic.js" defer>']
