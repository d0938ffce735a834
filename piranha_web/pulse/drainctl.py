"""``pulse --drain`` / ``--undrain``: ask the running pulse (cluster = ecmp) to leave or rejoin.

The request is a file in the runtime directory, which pulse polls, so the
console can make the same request without signalling pulse.  ``--drain``
then follows the status file until pulse reports the drain done.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from .ecmp.cluster import DRAIN_FILE
from .statusfile import PID_NAME, read_pid, read_status, status_path

POLL = 0.2
MARGIN = 30.0     # seconds beyond bgp_drain_seconds before giving up


def request_drain(rundir: Path, drain: bool) -> int:
    """Write or remove the request; for a drain, wait for ``safe_to_stop``.  Exit 0 ok, 1 otherwise."""
    if read_pid(rundir / PID_NAME) is None:
        print(f"pulse: not running (no live pid in {rundir})", file=sys.stderr)
        return 1
    request = rundir / DRAIN_FILE
    if not drain:
        request.unlink(missing_ok=True)
        print("pulse: undrain requested; routes are announced again")
        return 0
    request.write_text("drain\n", encoding="ascii")
    deadline = None
    while deadline is None or time.monotonic() < deadline:
        doc = read_status(status_path(rundir))
        cluster: dict[str, Any] = (doc.get("cluster") if doc is not None else None) or {}
        if not cluster:
            print("pulse: not an ECMP director (cluster = ecmp is not in force)", file=sys.stderr)
            request.unlink(missing_ok=True)
            return 1
        state = cluster.get("drain") or {}
        if state.get("safe_to_stop"):
            print(f"pulse: drained (routes withdrawn {state.get('wait')}s ago): safe to stop")
            return 0
        if deadline is None:
            deadline = time.monotonic() + float(state.get("wait") or 0) + MARGIN
        time.sleep(POLL)
    print("pulse: drain did not complete in time", file=sys.stderr)
    return 1
