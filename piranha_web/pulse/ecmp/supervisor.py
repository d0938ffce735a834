"""BIRD as pulse's child: started with a parent-death signal, restarted when it dies, told to reload.

pulse must never leave a VIP announced after it is gone, so BIRD runs in the
foreground (``-f``: no fork that would lose the signal) under ``setpriv
--pdeathsig SIGKILL``: when pulse dies, even by kill -9, the kernel kills
BIRD, its TCP sessions close and the router withdraws this director at once.
The death signal belongs to the thread that forked, so :meth:`start` must
run on pulse's main thread.  The configuration file and the control socket
live in pulse's runtime directory; the file is replaced atomically and
applied with ``configure``, which keeps the BGP sessions up.
"""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path
from typing import Any

from ...lvscf.files import write_atomic
from . import control

log = logging.getLogger("pulse.bird")

DEFAULT_BIRD = "/usr/sbin/bird"
SETPRIV = "/usr/bin/setpriv"
CONFIG_NAME = "bird.conf"
SOCKET_NAME = "bird.ctl"
RESTART_BACKOFF = (1.0, 30.0)   # first and longest wait before restarting a BIRD that died


class BirdSupervisor:
    """One BIRD process: its configuration, its control socket, its restarts."""

    def __init__(self, runtime_dir: Path, binary: str | None = None) -> None:
        self.config_path = runtime_dir / CONFIG_NAME
        self.socket_path = runtime_dir / SOCKET_NAME
        self.binary = binary or DEFAULT_BIRD
        self.proc: subprocess.Popen[bytes] | None = None
        self.config_text: str | None = None
        self.applied_text: str | None = None     # what BIRD has loaded (None: unknown)
        self.restarts = 0
        self.last_exit: int | None = None
        self.last_error: str | None = None
        self._backoff = RESTART_BACKOFF[0]
        self._restart_at = 0.0

    @property
    def running(self) -> bool:
        """A BIRD process is alive."""
        return self.proc is not None and self.proc.poll() is None

    def set_config(self, text: str) -> None:
        """Write the configuration (atomically) and make BIRD use it: start, or ``configure``."""
        if text != self.config_text:
            write_atomic(self.config_path, text, mode=0o640)
            self.config_text = text
        if not self.running:
            self.poll()
        elif self.applied_text != text:
            self._configure()

    def _configure(self) -> None:
        try:
            control.command(self.socket_path, "configure")
        except control.BirdError as exc:   # still starting, or a refused file: retried next pass
            self.last_error = str(exc)
            log.warning("bird configure: %s", exc)
            return
        self.applied_text = self.config_text
        self.last_error = None

    def poll(self) -> None:
        """Notice a BIRD that died and start it again (with backoff); apply a pending configuration."""
        if self.proc is not None and self.proc.poll() is not None:
            self.last_exit = self.proc.returncode
            log.error("bird exited with status %s; restarting in %.0fs", self.last_exit, self._backoff)
            self.proc = None
            self.applied_text = None
            self._restart_at = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * 2, RESTART_BACKOFF[1])
            self.restarts += 1
        if self.proc is None and self.config_text is not None and time.monotonic() >= self._restart_at:
            self.start()
        elif self.running and self.applied_text != self.config_text and self.socket_path.exists():
            self._configure()

    def start(self) -> None:
        """Start BIRD on the current configuration file (main thread only: see the module text)."""
        argv = [SETPRIV, "--pdeathsig", "SIGKILL", "--", self.binary, "-f",
                "-c", str(self.config_path), "-s", str(self.socket_path)]
        try:
            # its own session: a signal to pulse's process group (a terminal, a test harness)
            # must not stop BIRD before pulse has drained
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, close_fds=True,
                                         start_new_session=True)
        except OSError as exc:
            self.last_error = f"cannot start {self.binary}: {exc.strerror or exc}"
            log.error("%s", self.last_error)
            self._restart_at = time.monotonic() + self._backoff
            return
        self.applied_text = self.config_text     # BIRD reads the file at start
        log.info("bird started (pid %d, %s)", self.proc.pid, self.config_path)

    def query(self, text: str) -> control.Reply | None:
        """A read-only command's reply, or None while BIRD cannot answer."""
        if not self.running:
            return None
        try:
            return control.command(self.socket_path, text, timeout=1.0)
        except control.BirdError as exc:
            self.last_error = str(exc)
            return None

    def stop(self) -> None:
        """Terminate BIRD (its sessions close: the router withdraws this director)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        log.info("bird stopped")
        self.proc = None

    def status(self) -> dict[str, Any]:
        """pid, restarts, last exit status and error, file paths."""
        return {"running": self.running, "pid": self.proc.pid if self.running and self.proc else None,
                "binary": self.binary, "restarts": self.restarts, "last_exit": self.last_exit,
                "last_error": self.last_error, "config": str(self.config_path),
                "socket": str(self.socket_path), "config_applied": self.applied_text == self.config_text}
