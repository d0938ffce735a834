"""What the command line sets for one pulse run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class Options:
    """Everything the command line can set."""

    config: Path
    runtime_dir: Path
    backend: str = "auto"
    drain_seconds: float = 5.0
    reconcile_interval: float = 5.0
    poll_interval: float = 0.5
    status_interval: float = 2.0
    keep_table_on_stop: bool = False
    forceactive: bool = False
    load_period: float = 20.0
    console_user: str | None = None      # may use the runtime channel besides root
    sample_interval: float = 2.0         # traffic samples (0: off)
