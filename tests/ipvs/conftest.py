"""Fixtures for pulse's real-IPVS tests (root + IPVS kernel; marker ``ipvs``).

Uses the shared seed-article lab from tests/support/topology.py (client,
director, rs1, rs2 in namespaces; TEST-NET addresses).
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.topology import topology_fixture  # noqa: E402

seed = topology_fixture("module")
