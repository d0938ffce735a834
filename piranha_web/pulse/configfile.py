"""Reading lvs.cf for pulse: load + validate, error lines as ``FILE:LINE: message``, change detection.

The console writes lvs.cf atomically and cannot signal a root daemon, so
pulse watches the file: a cheap ``stat`` every poll (mtime_ns, size, inode);
only when that changes is the file read and hashed, and only a different
SHA-256 triggers a reload (so a touch does nothing).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..lvscf import LvsCfError, LvsConfig, load

log = logging.getLogger("pulse")

DEFAULT_CONFIG = "/etc/sysconfig/ha/lvs.cf"


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


def signature(path: Path) -> tuple[int, int, int]:
    """(mtime_ns, size, inode), or zeros when the file is missing."""
    try:
        st = path.stat()
    except OSError:
        return (0, 0, 0)
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def read_config(path: Path) -> LoadedConfig:
    """Load and validate ``path``; raises :class:`ConfigError` with one line per problem."""
    sig = signature(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError([f"{path}: {exc.strerror or exc}"]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text ({exc.reason})"]) from None
    try:
        cfg = load(text)
    except LvsCfError as exc:
        raise ConfigError([f"{path}:{p.line}: {_message(p)}" for p in exc.problems]) from None
    return LoadedConfig(cfg, hashlib.sha256(data).hexdigest(), sig)


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

    def __init__(self, path: Path, loaded: LoadedConfig) -> None:
        self.path = path
        self.loaded = loaded
        self.last_reload: dict[str, Any] = {"time": time.time(), "ok": True, "error": None,
                                            "serial_no": loaded.cfg.serial_no}
        self.stats: dict[str, Any] = {"total": 0, "failed": 0, "last_duration": 0.0}   # /metrics

    def changed_on_disk(self) -> bool:
        """Has the file changed since it was last read (mtime, size or inode)?"""
        return signature(self.path) != self.loaded.signature

    def reload(self, t0: float) -> bool:
        """Re-read the file; True when a new valid configuration is now in force.

        ``t0`` (``time.perf_counter()``) is when the reload began, for ``stats``.
        """
        self.stats["total"] += 1
        try:
            loaded = read_config(self.path)
        except ConfigError as exc:
            self.stats["failed"] += 1
            self.stats["last_duration"] = round(time.perf_counter() - t0, 6)
            for line in exc.lines:
                log.error("reload failed, keeping serial_no %s: %s", self.loaded.cfg.serial_no, line)
            self.last_reload = {"time": time.time(), "ok": False, "error": "; ".join(exc.lines),
                                "serial_no": attempted_serial(self.path)}
            self.loaded = LoadedConfig(self.loaded.cfg, self.loaded.sha256, signature(self.path))
            return False
        self.last_reload = {"time": time.time(), "ok": True, "error": None, "serial_no": loaded.cfg.serial_no}
        if loaded.sha256 == self.loaded.sha256:
            self.loaded = loaded
            return False
        log.info("reloading %s: serial_no %s -> %s", self.path, self.loaded.cfg.serial_no,
                 loaded.cfg.serial_no)
        self.loaded = loaded
        return True       # the caller sets stats["last_duration"] once the new config is applied
