"""BGP session states from BIRD's ``show protocols all`` reply (pure parsing)."""

from __future__ import annotations

import re
import time
from typing import TypedDict

from .control import Reply

PROTOCOL_LINE = 1002      # "name proto table state since info"
_ROUTES = re.compile(r"(\d+) imported, (?:(\d+) filtered, )?(\d+) exported")


class SessionDoc(TypedDict):
    """One BGP session as the status file reports it."""

    name: str
    neighbor: str
    state: str            # BGP state: Established, Active, Connect, Idle, ...
    protocol_state: str   # BIRD's: up, start, down
    since: float | None   # epoch seconds of the last state change
    uptime: float | None  # seconds Established (None otherwise)
    exported: int         # prefixes announced to the router
    imported: int


def _since(text: str) -> float | None:
    """``2026-12-01 18:41:02.739`` (timeformat protocol iso long, local time) as epoch seconds."""
    try:
        whole, _, frac = text.partition(".")
        return time.mktime(time.strptime(whole, "%Y-%m-%d %H:%M:%S")) + float(f"0.{frac or 0}")
    except ValueError:
        return None


def parse_sessions(reply: Reply, now: float) -> list[SessionDoc]:
    """Every BGP protocol in a ``show protocols all`` reply."""
    sessions: list[SessionDoc] = []
    current: SessionDoc | None = None
    for code, text in reply.lines:
        if code == PROTOCOL_LINE:
            parts = text.split()
            current = None
            if len(parts) >= 6 and parts[1] == "BGP":
                since = _since(f"{parts[4]} {parts[5]}")
                current = SessionDoc(name=parts[0], neighbor="", state=" ".join(parts[6:7]) or "?",
                                     protocol_state=parts[3], since=since, uptime=None,
                                     exported=0, imported=0)
                sessions.append(current)
            continue
        if current is None:
            continue
        key, _, value = text.strip().partition(":")
        value = value.strip()
        if key == "BGP state":
            current["state"] = value
        elif key == "Neighbor address":
            current["neighbor"] = value
        elif key == "Routes":
            found = _ROUTES.search(value)
            if found:
                current["imported"], current["exported"] = int(found.group(1)), int(found.group(3))
    for s in sessions:
        if s["state"] == "Established" and s["since"] is not None:
            s["uptime"] = round(max(0.0, now - s["since"]), 3)
    return sessions
