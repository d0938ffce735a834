"""Fixtures for the end-to-end tests (root + IPVS kernel; marker ``ipvs``).

The repository root is put on sys.path so ``tests.support`` imports under
``--import-mode=importlib`` whichever way pytest was started.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.topology import topology_fixture  # noqa: E402

seed = topology_fixture("module")
