"""The benchmark script still runs (small sizes; the real numbers come from running it by hand)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "lvscf_bench.py"


def test_benchmark_runs_on_a_small_config() -> None:
    result = subprocess.run([sys.executable, str(BENCH), "--virtuals", "20", "--servers", "3"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "parse+validate+dump" in result.stdout
    assert "tracemalloc peak" in result.stdout
