"""The status file writer: on time for a small table, never a CPU hog for a huge one."""

from __future__ import annotations

from pathlib import Path

import pytest

from piranha_web.pulse import statusdoc
from piranha_web.pulse.statusdoc import StatusWriter


class Clock:
    """A monotonic clock the test moves; building a document "takes" ``cost`` seconds."""

    def __init__(self, cost: float) -> None:
        self.t, self.cost = 100.0, cost

    def monotonic(self) -> float:
        return self.t

    def build(self) -> dict[str, int]:
        self.t += self.cost
        return {"pid": 1}


def writer_with(clock: Clock, tmp_path: Path, interval: float,
                monkeypatch: pytest.MonkeyPatch) -> StatusWriter:
    monkeypatch.setattr(statusdoc.time, "monotonic", clock.monotonic)
    return StatusWriter(tmp_path / "status.json", interval, clock.build)  # type: ignore[arg-type]


def test_a_cheap_document_is_written_at_the_interval_and_soon_after_a_change(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(0.001)
    writer = writer_with(clock, tmp_path, 2.0, monkeypatch)
    writer.write()
    assert (tmp_path / "status.json").exists() and not writer.due()
    writer.soon()
    clock.t += 0.2
    assert writer.due()                      # a health change shows within ~0.2 s
    writer.write()
    writer.now()
    clock.t += 0.03
    assert writer.due()                      # a table change at once (20 x 1 ms)


def test_an_expensive_document_is_written_at_most_a_twentieth_of_the_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(0.5)                       # 10,000 servers under user-mode Linux: this and more
    writer = writer_with(clock, tmp_path, 2.0, monkeypatch)
    writer.write()
    writer.now()
    writer.soon()
    clock.t += 9.0
    assert not writer.due()
    clock.t += 1.0
    assert writer.due()                      # 20 x 0.5 s after the last write started


def test_the_periodic_write_builds_the_document_a_slice_per_loop_iteration(tmp_path: Path) -> None:
    """2,000 servers that take 0.2 ms each to describe: other callbacks run between slices."""
    import asyncio
    import json
    import time

    from piranha_web.pulse.jsonchunks import LazyMap

    made = [0]

    def entry(i: int) -> tuple[str, dict[str, int]]:
        made[0] += 1
        end = time.perf_counter() + 0.0002
        while time.perf_counter() < end:
            pass
        return f"vs{i:04d}", {"rs": i}

    def build() -> dict[str, object]:
        return {"pid": 1, "health": LazyMap(entry(i) for i in range(2000))}

    async def run() -> int:
        writer = StatusWriter(tmp_path / "status.json", 2.0, build)
        writer.start()
        assert not writer.due()                   # one write at a time
        most = seen = 0
        for _ in range(100_000):
            await asyncio.sleep(0)                # a reload or a heartbeat would run here
            most, seen = max(most, made[0] - seen), made[0]
            if writer._task is None:
                break
        return most

    most = asyncio.run(run())
    doc = json.loads((tmp_path / "status.json").read_text())
    assert len(doc["health"]) == 2000 and doc["health"]["vs1999"] == {"rs": 1999}
    assert most <= StatusWriter.SLICE / 0.0002 + 2, most     # not all 2,000 (0.4 s) in one go
