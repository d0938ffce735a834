"""PREVIEW: what a publish would change, before it happens (lvs.cf diff, pulse's ops, warnings).

The diff is against lvs.cf as it is on disk; the operations come from the
pure planner (``pulse.runtime.preview``) run against the table, health and
runtime states pulse last reported in its status file.  Nothing is written,
stored or signalled.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from .. import lvscf
from ..pulse.runtime.preview import preview_ops
from ..pulse.statusfile import read_status
from . import lvsconfig
from .changes import Mutation, dry_run


@dataclass
class Preview:
    """The answer of a preview (``problems``: why pulse would refuse the configuration)."""

    diff: str
    ops: list[str]
    warnings: list[str]
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"diff": self.diff, "ops": self.ops, "warnings": self.warnings}


def of_config(cfg: lvscf.LvsConfig, text: str | None, problems: list[str] | None = None) -> Preview:
    """Preview publishing ``cfg`` (rendered as ``text``; None when it does not validate)."""
    path = lvsconfig.lvs_cf_path()
    current = lvsconfig.read_disk() or ""
    new = (text or "").splitlines(keepends=True)
    diff = "".join(difflib.unified_diff(current.splitlines(keepends=True), new, fromfile=str(path),
                                        tofile=f"{path} (preview)"))
    if problems:
        return Preview(diff, [], [], problems)
    status: Any = read_status(current_app.config["PULSE_STATUS_FILE"]) or {}
    warnings = []
    if status.get("state") != "running":
        warnings.append("pulse is not running: operations are planned against an empty table")
        status = {"programs_kernel": True, "drain_seconds": 0}
    ops, more = preview_ops(cfg, status)
    return Preview(diff, ops, warnings + more)


def of_mutation(mutate: Mutation) -> Preview:
    """Preview a panel's change (raises the same Rejected/Conflict/NotFound as ACCEPT would)."""
    cfg, text, problems = dry_run(mutate)
    return of_config(cfg, text, problems)


def of_export(data: Any) -> Preview:
    """Preview a whole configuration in the JSON export format (raises LvsCfError when malformed)."""
    from ..convert.jsonfmt import from_dict

    cfg = from_dict(data)
    problems, text = lvsconfig.check(cfg)
    if problems:
        raise lvscf.LvsCfError(problems)
    return of_config(cfg, text)
