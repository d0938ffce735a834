"""Long-running processes inside a namespace, with logs and bounded waits.

Every process is started in its own session so teardown can signal exactly
the group it created (never by name), then escalates TERM -> KILL.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable, Sequence

from .emulation import scaled
from .netns import ns_argv


def wait_until(predicate: Callable[[], object], *, timeout: float, interval: float = 0.2,
               what: str = "condition") -> object:
    """Poll *predicate* until it returns a truthy value; bounded in time and count.

    Exceptions raised by the predicate count as "not yet"; the last one is
    reported on timeout.  ``timeout`` is native time, stretched by the
    emulation factor (tests/support/emulation.py) under a slow guest.
    """
    timeout = scaled(timeout)
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    for _ in range(int(timeout / interval) + 2):
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - retried, reported below
            last = exc
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}"
                       + (f" (last error: {last!r})" if last else ""))


class NsProcess:
    """A process started inside a network namespace, logging to a file."""

    def __init__(self, name: str, netns: str, argv: Sequence[str], log_path: Path,
                 *, env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        self.name = name
        self.netns = netns
        self.argv = list(argv)
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "ab", buffering=0)
        self.popen = subprocess.Popen(
            ns_argv(netns, self.argv), stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)

    @property
    def pid(self) -> int:
        """Pid of the command itself (``ip netns exec`` execs it in place)."""
        return self.popen.pid

    def alive(self) -> bool:
        """True while the process has not exited."""
        return self.popen.poll() is None

    def log_text(self, tail: int = 4000) -> str:
        """The last *tail* characters of the process log."""
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except FileNotFoundError:
            return ""

    def signal(self, signum: int) -> None:
        """Send *signum* to the process (only if still running)."""
        if self.alive():
            os.kill(self.pid, signum)

    def stop(self, timeout: float = 10) -> int | None:
        """TERM the process group we created, then KILL it; return the exit status."""
        if self.alive():
            for signum, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.pid, signum)
                except ProcessLookupError:
                    break
                try:
                    self.popen.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self._log.close()
        return self.popen.poll()

    def __repr__(self) -> str:
        return f"<NsProcess {self.name} pid={self.pid} ns={self.netns} alive={self.alive()}>"


class ProcessGroup:
    """Owns every NsProcess a topology started so teardown can stop them all."""

    def __init__(self) -> None:
        self.procs: list[NsProcess] = []

    def start(self, name: str, netns: str, argv: Sequence[str], log_path: Path,
              **kwargs: object) -> NsProcess:
        """Start and register a process (see NsProcess)."""
        proc = NsProcess(name, netns, argv, log_path, **kwargs)  # type: ignore[arg-type]
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        """Stop everything, newest first, never raising."""
        for proc in reversed(self.procs):
            try:
                proc.stop()
            except Exception:  # noqa: BLE001 - teardown must go on
                pass
        self.procs.clear()
