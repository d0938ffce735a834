"""The runtime states on disk: one JSON file in pulse's runtime directory, replaced atomically.

A reload or a restart reads it back, so a drained server stays drained
until someone sets it READY.  A missing file means "all READY"; an
unreadable or malformed one is logged and ignored entry by entry (a bad
file must never stop pulse or tear down its table).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ...lvscf.files import write_atomic
from .states import InvalidChange, Key, RuntimeState

log = logging.getLogger("pulse")

RUNTIME_NAME = "pulse-runtime.json"
FORMAT = "piranha-runtime"


def load_states(path: Path) -> dict[Key, RuntimeState]:
    """The persisted states (empty when the file is absent or unreadable)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.error("runtime states %s unreadable, starting with none: %s", path, exc)
        return {}
    servers = data.get("servers") if isinstance(data, dict) else None
    out: dict[Key, RuntimeState] = {}
    for item in servers if isinstance(servers, list) else []:
        try:
            key = (str(item["virtual"]), str(item["real"]))
            out[key] = RuntimeState.from_dict(item)
        except (KeyError, TypeError, InvalidChange) as exc:
            log.error("runtime states %s: ignoring entry %.80r: %s", path, item, exc)
    return out


def save_states(path: Path, states: dict[Key, RuntimeState]) -> None:
    """Replace the file with ``states`` (mode 0644: the console may read it, only root writes)."""
    items = [{"virtual": v, "real": r, **st.to_dict()} for (v, r), st in sorted(states.items())]
    write_atomic(path, json.dumps({"format": FORMAT, "version": 1, "servers": items}, indent=1) + "\n",
                 mode=0o644)
