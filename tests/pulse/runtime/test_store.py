"""Runtime states on disk: round trip, atomic replace, and a bad file never stops pulse."""

from __future__ import annotations

import json
from pathlib import Path

from piranha_web.pulse.runtime.states import DRAIN, MAINT, RuntimeState
from piranha_web.pulse.runtime.store import load_states, save_states


def test_round_trip_and_mode(tmp_path: Path) -> None:
    path = tmp_path / "pulse-runtime.json"
    states = {("www", "rs1"): RuntimeState(DRAIN, by="alice", since=5.0),
              ("www", "rs2"): RuntimeState(MAINT, now=True), ("ftp", "a"): RuntimeState(percent=50)}
    save_states(path, states)
    assert load_states(path) == states
    assert path.stat().st_mode & 0o777 == 0o644
    assert not [p for p in tmp_path.iterdir() if p.name != path.name]   # no temporary left behind


def test_missing_corrupt_and_bad_entries(tmp_path: Path) -> None:
    path = tmp_path / "pulse-runtime.json"
    assert load_states(path) == {}
    path.write_text("{not json")
    assert load_states(path) == {}
    path.write_text(json.dumps({"servers": [{"virtual": "www", "real": "a", "state": "drain"},
                                            {"virtual": "www", "real": "b", "state": "sleeping"},
                                            {"real": "c"}, "junk"]}))
    assert load_states(path) == {("www", "a"): RuntimeState(DRAIN)}
