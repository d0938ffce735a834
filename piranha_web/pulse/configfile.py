"""Reading lvs.cf for pulse: load + validate, error lines as ``FILE:LINE: message``, change detection.

The console writes lvs.cf atomically and cannot signal a root daemon, so
pulse watches the file: a cheap ``stat`` every poll (mtime_ns, size, inode);
only when that changes is the file read and hashed, and only a different
SHA-256 triggers a reload (so a touch does nothing).

Every configuration pulse applied is copied (atomically) to ``GOOD_NAME`` in
its runtime directory, so a pulse restarted on a file that no longer loads
can start from what the previous one had programmed instead of removing it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..lvscf import LvsCfError, LvsConfig, load
from ..lvscf.files import write_atomic
from ..lvscf.reparse import Edit, reparse
from .health.monitor import Target, targets_for
from .reconcile import desired_addresses, desired_entries, desired_marks, desired_table, footprint, plan

log = logging.getLogger("pulse")

DEFAULT_CONFIG = "/etc/sysconfig/ha/lvs.cf"
GOOD_NAME = "lvs.cf.last-good"


def default_config_path() -> Path:
    """$PIRANHA_LVS_CF, else /etc/sysconfig/ha/lvs.cf."""
    return Path(os.environ.get("PIRANHA_LVS_CF") or DEFAULT_CONFIG)


class ConfigError(Exception):
    """lvs.cf is missing, unreadable or invalid; ``lines`` are ready to print."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__(lines[0] if lines else "invalid configuration")
        self.lines = lines


@dataclass(frozen=True)
class LoadedConfig:
    """A validated configuration and where it came from."""

    cfg: LvsConfig
    sha256: str
    signature: tuple[int, int, int]
    text: str = ""
    targets: tuple[Target, ...] | None = None   # the checks, built once when the file was read
    edit: Edit | None = None                    # set when only one virtual server changed (see reparse)


def signature(path: Path) -> tuple[int, int, int]:
    """(mtime_ns, size, inode), or zeros when the file is missing."""
    try:
        st = path.stat()
    except OSError:
        return (0, 0, 0)
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def read_config(path: Path, previous: LoadedConfig | None = None) -> LoadedConfig:
    """Load and validate ``path``; raises :class:`ConfigError` with one line per problem.

    ``previous``: the configuration in force; an edit of one of its virtual
    servers is parsed, validated and planned for that block alone.
    """
    sig = signature(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError([f"{path}: {exc.strerror or exc}"]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text ({exc.reason})"]) from None
    sha256 = hashlib.sha256(data).hexdigest()
    if previous is not None and sha256 == previous.sha256:
        return replace(previous, signature=sig, edit=None)     # touched, not changed: nothing to parse
    try:
        edit = reparse(previous.text, previous.cfg, text) if previous and previous.text else None
        if edit is not None and previous is not None and previous.targets is not None:
            cfg, targets = edit.cfg, plannable_edit(edit, previous.targets)
        else:
            edit, cfg = None, load(text)
            targets = plannable(cfg)
    except LvsCfError as exc:
        raise ConfigError([f"{path}:{p.line}: {_message(p)}" for p in exc.problems]) from None
    except Exception as exc:  # noqa: BLE001 - whatever validation missed is still a bad file, not a crash
        raise ConfigError([f"{path}: cannot load: {type(exc).__name__}: {exc}"]) from None
    return LoadedConfig(cfg, sha256, sig, text, targets, edit)


def plannable(cfg: LvsConfig) -> tuple[Target, ...]:
    """Build everything pulse derives from ``cfg`` (checks, table, addresses, marks), changing nothing.

    Validation is meant to refuse whatever pulse cannot run; this proves it
    for the file at hand, so a gap in validation is a refused file, never a
    daemon that fails half way through applying it.  The checks are kept
    (at 10,000 real servers building them again would add a noticeable
    share to every reload).
    """
    targets = tuple(targets_for(cfg))
    plan(desired_table(cfg, {}, {}), {}, set(), ())
    desired_addresses(cfg)
    desired_marks(cfg)
    return targets


def plannable_edit(edit: Edit, previous: tuple[Target, ...]) -> tuple[Target, ...]:
    """:func:`plannable` for an edit of one virtual server: its own checks and service, the rest kept."""
    virtuals = [edit.new] if edit.new is not None else []
    mine = targets_for(edit.cfg, virtuals)
    plan(desired_entries(edit.cfg, [vs for vs in virtuals if vs.active], {}), {}, set(), ())
    footprint(edit.new)            # its address and mark rule (the others' are unchanged)
    names = edit.names()
    return tuple(t for t in previous if t.key[0] not in names) + tuple(mine)


def _message(problem: object) -> str:
    """Problem text with its key, without repeating the line number."""
    key = getattr(problem, "key", None)
    message = getattr(problem, "message", str(problem))
    return f"{key}: {message}" if key else str(message)


def attempted_serial(path: Path) -> int | None:
    """Best-effort ``serial_no`` of a file that failed to load (for the status file)."""
    try:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "serial_no" and parts[1] == "=":
                return int(parts[2], 0)
    except (OSError, ValueError):
        return None
    return None


def summary(path: Path, loaded: LoadedConfig) -> str:
    """One-line ok summary for ``pulse --check``."""
    cfg = loaded.cfg
    virtuals = cfg.active_virtuals()
    servers = sum(1 for v in virtuals for r in v.servers if r.active)
    return (f"{path}: ok (serial_no {cfg.serial_no}, service {cfg.service}, network {cfg.network}, "
            f"{len(virtuals)} active virtual servers, {servers} active real servers)")


class ConfigWatch:
    """The last good configuration of one file, and what became of the latest attempt to reload it.

    A file that fails to load leaves the last good configuration in force;
    its signature is remembered so the bad file is not re-read every poll.
    """

    def __init__(self, path: Path, loaded: LoadedConfig, keep_dir: Path | None = None) -> None:
        self.path = path
        self.loaded = loaded
        self.keep_dir = keep_dir           # where the last good copy is kept (None: nowhere)
        self.last_reload: dict[str, Any] = {"time": time.time(), "ok": True, "error": None,
                                            "serial_no": loaded.cfg.serial_no}
        self.stats: dict[str, Any] = {"total": 0, "failed": 0, "last_duration": 0.0}   # /metrics

    def targets(self) -> list[Target]:
        """The checks of the configuration in force (kept from reading it when possible)."""
        if self.loaded.targets is not None:
            return list(self.loaded.targets)
        return targets_for(self.loaded.cfg)

    def checks(self, holds: bool, edit: Edit | None = None) -> tuple[list[Target], set[str] | None]:
        """(checks, virtual servers they cover) for the monitor: all of them, or an ``edit``'s alone.

        ``holds``: this node keeps the table (active or hot standby); otherwise no checks.
        """
        if not holds:
            return [], None
        if edit is None:
            return self.targets(), None
        return targets_for(edit.cfg, [edit.new] if edit.new else []), edit.names()

    def changed_on_disk(self) -> bool:
        """Has the file changed since it was last read (mtime, size or inode)?"""
        return signature(self.path) != self.loaded.signature

    def reload(self, apply: Callable[[], None] = lambda: None,
               restore: Callable[[], None] = lambda: None) -> bool:
        """Re-read the file and ``apply`` it; True when a new valid configuration is now in force.

        Whatever loading, validating, planning or ``apply`` raises puts the
        last good configuration back in force (``restore`` is told once it
        is, if ``apply`` had begun) and records why.
        """
        t0 = time.perf_counter()
        self.stats["total"] += 1
        good = self.loaded
        try:
            loaded = read_config(self.path, good)
        except ConfigError as exc:
            self.reject(good, exc.lines, t0)
            return False
        self.last_reload = {"time": time.time(), "ok": True, "error": None, "serial_no": loaded.cfg.serial_no}
        if loaded.sha256 == good.sha256:
            self.loaded = loaded
            return False
        log.info("reloading %s: serial_no %s -> %s", self.path, good.cfg.serial_no, loaded.cfg.serial_no)
        self.loaded = loaded
        try:
            apply()
        except Exception as exc:  # noqa: BLE001 - a configuration must never stop (and tear down) pulse
            self.reject(good, [f"{self.path}: cannot apply: {type(exc).__name__}: {exc}"], t0)
            try:
                restore()
            except Exception as again:  # noqa: BLE001 - the table stays; the periodic pass retries
                log.error("restoring serial_no %s after the failed reload: %s", good.cfg.serial_no, again)
            return False
        self.keep()
        self.stats["last_duration"] = round(time.perf_counter() - t0, 6)
        return True

    def keep(self) -> None:
        """Copy the configuration just applied to ``keep_dir`` (when it differs from the copy there)."""
        if self.keep_dir is None or not self.loaded.text:
            return
        path = self.keep_dir / GOOD_NAME
        try:
            if not path.exists() or path.read_text(encoding="utf-8") != self.loaded.text:
                write_atomic(path, self.loaded.text, mode=0o600)
        except OSError as exc:
            log.error("cannot record the last good configuration in %s: %s", path, exc)

    def reject(self, good: LoadedConfig, lines: list[str], t0: float) -> None:
        """Put ``good`` back in force and report why the file on disk is not.

        The file's signature is remembered, so the same bad file is not re-read every poll.
        """
        self.stats["failed"] += 1
        self.stats["last_duration"] = round(time.perf_counter() - t0, 6)
        for line in lines:
            log.error("reload failed, keeping serial_no %s: %s", good.cfg.serial_no, line)
        self.last_reload = {"time": time.time(), "ok": False, "error": "; ".join(lines),
                            "serial_no": attempted_serial(self.path)}
        self.loaded = LoadedConfig(good.cfg, good.sha256, signature(self.path), good.text, good.targets)


def read_last_good(directory: Path, path: Path, lines: list[str]) -> LoadedConfig | None:
    """The configuration recorded by the last pulse, when ``path`` itself does not load (None if none)."""
    try:
        loaded = read_config(directory / GOOD_NAME)
    except ConfigError:
        return None
    for line in lines:
        log.error("%s", line)
    log.error("%s is invalid: starting from the last good configuration (serial_no %s) kept in %s",
              path, loaded.cfg.serial_no, directory / GOOD_NAME)
    return loaded
