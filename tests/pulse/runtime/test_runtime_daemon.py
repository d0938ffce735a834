"""The runtime tier inside a running pulse (dry-run kernel): set over the socket, applied, kept."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[1]))
from pulsekit import aio, lvs_cf, until  # noqa: E402
from test_pulse_daemon import WWW, Run, listeners, servers  # noqa: E402

from piranha_web.pulse.runtime.channel import SOCKET_NAME, request  # noqa: E402


async def ask(run: Run, payload: dict[str, Any]) -> dict[str, Any]:
    return await asyncio.to_thread(request, run.rundir / SOCKET_NAME, payload)


def setting(virtual: str, real: str, **change: Any) -> dict[str, Any]:
    return {"op": "set", "virtual": virtual, "real": real, "change": change, "by": "tester"}


@aio
async def test_drain_weight_maint_and_ready_reach_the_table(tmp_path: Path) -> None:
    ls = await listeners(2)
    run = Run(tmp_path, lvs_cf(servers(ls, (4, 2))))
    await run.start()
    await until(lambda: run.weights() == {ls[0].port: 4, ls[1].port: 2}, what="both in")
    reply = await ask(run, setting("www", "rs1", state="drain"))
    assert reply["ok"] and reply["server"]["display"] == "DRAIN" and reply["before"]["display"] == "READY"
    await until(lambda: run.weights() == {ls[0].port: 0, ls[1].port: 2}, what="rs1 drained")
    await ask(run, setting("www", "rs2", weight="50%"))
    await until(lambda: run.weights() == {ls[0].port: 0, ls[1].port: 1}, what="rs2 at half")
    await ask(run, setting("www", "rs1", state="maint"))          # at weight 0, no connections: removed
    await until(lambda: run.weights() == {ls[1].port: 1}, what="rs1 removed")
    await until(lambda: (run.status().get("runtime") or {}).get("states", {}).get("www", {})
                .get("rs1", {}).get("display") == "MAINT", what="MAINT in the status")
    doc = run.status()
    assert doc["health"]["www"]["rs1"]["state"] == "up"             # health apart from the runtime state
    await ask(run, setting("www", "rs1", state="ready"))
    await until(lambda: run.weights() == {ls[0].port: 4, ls[1].port: 1}, what="rs1 back")
    listing = (await ask(run, {"op": "get"}))["servers"]
    assert [(s["real"], s["display"]) for s in listing] == [("rs1", "READY"), ("rs2", "WEIGHT 50%")]
    assert await run.stop() == 0


@aio
async def test_states_survive_a_restart_and_bad_requests_are_refused(tmp_path: Path) -> None:
    ls = await listeners(2)
    run = Run(tmp_path, lvs_cf(servers(ls)))
    await run.start()
    await until(lambda: len(run.weights()) == 2, what="both in")
    assert (await ask(run, setting("www", "rs2", state="drain")))["ok"]
    assert (await ask(run, setting("www", "nope", state="drain")))["status"] == 404
    assert (await ask(run, setting("web", "rs1", state="drain")))["status"] == 404
    bad = await ask(run, setting("www", "rs1", state="asleep"))
    assert bad["status"] == 422 and bad["field"] == "state"
    assert (await ask(run, {"op": "reboot"}))["status"] == 400
    assert await run.stop() == 0

    again = Run(tmp_path, lvs_cf(servers(ls)))
    await again.start()
    await until(lambda: again.weights() == {ls[0].port: 1, ls[1].port: 0}, what="rs2 still drained")
    assert WWW in again.table
    assert await again.stop() == 0


@aio
async def test_sampling_fills_the_ring_and_the_status(tmp_path: Path) -> None:
    ls = await listeners(1)
    run = Run(tmp_path, lvs_cf(servers(ls)), sample_interval=0.1)
    await run.start()
    await until(lambda: len(run.weights()) == 1, what="in")
    entry = run.table[WWW]
    for dest in entry.dests.values():
        dest.stats.update(conns=10, inbytes=1000, outbytes=0, active_conns=2)
    await until(lambda: ((run.status().get("runtime") or {}).get("traffic", {}).get("www", {})
                         .get("rs1", {}).get("conns") == 10), what="counters in the status")
    traffic = run.status()["runtime"]["traffic"]["www"]["rs1"]
    assert traffic["active"] == 2 and traffic["bytes"] == 1000 and traffic["weight"] == 1
    reply: dict[str, Any] = {}
    for _ in range(100):         # a point needs two samples (a rate); the counters show after one
        reply = await ask(run, {"op": "series", "virtual": "www"})
        if reply["total"]["t"]:
            break
        await asyncio.sleep(0.05)
    assert reply["ok"] and len(reply["total"]["t"]) >= 1 and set(reply["reals"]) == {"rs1"}
    assert (await ask(run, {"op": "series", "virtual": "nope"}))["status"] == 404
    assert await run.stop() == 0


@aio
async def test_maint_counts_a_connection_the_cached_table_has_not_seen(tmp_path: Path) -> None:
    ls = await listeners(2)
    run = Run(tmp_path, lvs_cf(servers(ls)), sample_interval=0.1)
    await run.start()
    await until(lambda: len(run.weights()) == 2, what="both in")
    rs1 = next(dk for dk in run.table[WWW].dests if dk.port == ls[0].port)
    run.table[WWW].dests[rs1].stats.update(active_conns=1)      # accepted after pulse's last dump
    await ask(run, setting("www", "rs1", state="maint"))
    await until(lambda: run.weights().get(ls[0].port) == 0, what="rs1 at weight 0")
    await asyncio.sleep(0.5)                                    # several samples and passes
    assert run.weights().get(ls[0].port) == 0, "removed while the kernel still counts a connection"
    run.table[WWW].dests[rs1].stats.update(active_conns=0)
    await until(lambda: ls[0].port not in run.weights(), what="rs1 removed once drained")
    assert await run.stop() == 0
