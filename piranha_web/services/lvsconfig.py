"""Publishing: DB definitions -> validated LvsConfig -> atomic lvs.cf write -> revision -> pulse."""

from __future__ import annotations

from typing import Any


def disk_state() -> dict[str, Any] | None:
    """Placeholder until the full service lands."""
    return None


def import_on_first_start() -> None:
    """Placeholder until the full service lands."""
