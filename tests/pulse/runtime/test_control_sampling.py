"""Traffic samples never take more than a bounded share of pulse's time."""

from __future__ import annotations

import time
from pathlib import Path

from piranha_web.lvscf import LvsConfig
from piranha_web.pulse.kernel import dry_run_backends
from piranha_web.pulse.options import Options
from piranha_web.pulse.reconcile import Table
from piranha_web.pulse.reconciler import Reconciler
from piranha_web.pulse.runtime import control
from piranha_web.pulse.runtime.control import RuntimeControl


def test_a_slow_sample_spaces_the_next_one_by_its_cost(tmp_path: Path) -> None:
    opts = Options(config=tmp_path / "lvs.cf", runtime_dir=tmp_path, backend="dry-run", sample_interval=0.1)
    reconciler = Reconciler(dry_run_backends(), tmp_path)
    runtime = RuntimeControl(opts, reconciler, LvsConfig, lambda: None)
    reads: list[float] = []

    def slow_counters() -> Table:             # what 1,000 services cost on a slow machine, scaled down
        reads.append(time.monotonic())
        time.sleep(0.05)
        return {}

    reconciler.refresh_counters = slow_counters  # type: ignore[method-assign]
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        runtime.sample()
        time.sleep(0.01)
    gaps = [b - a for a, b in zip(reads, reads[1:])]
    assert reads and all(gap >= 0.05 * (1 + control.SAMPLE_DUTY) for gap in gaps), gaps
    assert len(reads) <= 2
