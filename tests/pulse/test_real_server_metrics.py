"""Per-real-server metrics and status fields: up, weight, check-duration histogram, failures."""

from __future__ import annotations

import asyncio
import socket

from piranha_web.pulse.health.checks import make_spec
from piranha_web.pulse.health.monitor import Monitor, Target
from piranha_web.pulse.metrics import render
from piranha_web.pulse.statusdoc import health_dict
from tests.pulse.health.test_checks import aio


@aio
async def test_status_and_metrics_carry_weights_history_and_histogram() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    mon = Monitor()
    key = ("web", "a")
    try:
        mon.update([Target(key, make_spec("127.0.0.1", port, 0.5), 0.05, 0.05, weight=7)])
        await asyncio.sleep(0.3)
        mon.states[key].agent_pct = 50
        mon.weights()
        info = health_dict(mon)["web"]["a"]
        assert info["display"] == "UP" and info["weight"] == 4 and info["configured_weight"] == 7
        assert set(info["history"]) == {"+"} and info["successes"] >= 3 and info["failures"] == 0
        mon.states[key].drain = True
        assert health_dict(mon)["web"]["a"]["display"] == "DRAINING"
        text = render({"health": health_dict(mon)}).decode()     # type: ignore[typeddict-item]
    finally:
        await mon.stop()
        sock.close()
    labels = '{address="127.0.0.1:%d",server="a",virtual="web"}' % port
    assert f"piranha_real_server_up{labels} 1.0" in text
    assert f"piranha_real_server_weight{labels} 0.0" in text
    assert f"piranha_check_failures_total{labels} 0.0" in text
    assert "piranha_check_duration_seconds_bucket{" in text and 'le="+Inf"' in text
    assert "piranha_check_duration_seconds_count{" in text
