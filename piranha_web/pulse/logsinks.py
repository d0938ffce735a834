"""Where pulse's log lines go (stderr in the foreground, syslog), at a small cost per line.

At start pulse logs two lines per real server (its first check passed, its
destination added): 20,000 lines for 1,000 x 10.  In an emulated guest the
standard path cost about 1.4 ms per line, 28 % of pulse's CPU while it
added servers (a CPU profile of the start), so:

* the lines of one batch of kernel ops are one record (one message with a
  line per op); :class:`LineFormatter` gives every line the full
  ``TIME pulse[PID] LEVEL`` prefix, so the file reads as before, one op per
  line, and the syslog handler sends one message per line;
* the time prefix is built once per second, not once per record;
* stderr is block-buffered and flushed when the event-loop pass that wrote
  to it ends (``call_soon``): a burst is one ``write()``, and each line is
  in the file within the pass that logged it, so a reader that saw a change
  in the kernel finds its line.  Warnings, errors and records from outside
  the event loop (start-up, teardown, other threads) are flushed at once.
"""

from __future__ import annotations

import asyncio
import io
import logging
import logging.handlers
import os
import sys
import time
from typing import IO

BUFFER = 1 << 16
STDERR_FORMAT = "%(asctime)s pulse[%(process)d] %(levelname)s %(message)s"


class LineFormatter(logging.Formatter):
    """``fmt`` with every line of a multi-line message prefixed like the first; the time cached per second."""

    def __init__(self, fmt: str) -> None:
        super().__init__(fmt)
        self._second = -1
        self._stamp = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        """``YYYY-mm-dd HH:MM:SS,mmm`` as logging's default, the part up to the second reused."""
        second = int(record.created)
        if second != self._second:
            self._stamp = time.strftime(self.default_time_format, self.converter(record.created))
            self._second = second
        return f"{self._stamp},{int(record.msecs):03d}"

    def format(self, record: logging.LogRecord) -> str:
        """One line per line of the message, each with the record's prefix."""
        text = super().format(record)
        message = record.message
        if "\n" not in message:
            return text
        at = text.find(message)
        head = text[:at]
        return head + message.replace("\n", "\n" + head) + text[at + len(message):]


class PassBufferedHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler on a file descriptor, flushed at the end of the event-loop pass that wrote to it."""

    def __init__(self, fd: int) -> None:
        stream: IO[str] = io.TextIOWrapper(io.BufferedWriter(io.FileIO(fd, "w", closefd=False), BUFFER),
                                           errors="backslashreplace")
        super().__init__(stream)
        self._scheduled: asyncio.AbstractEventLoop | None = None    # the loop a flush is queued on

    def flush(self) -> None:
        """Write out what is buffered (logging.shutdown calls this at exit too)."""
        self.acquire()
        try:
            self._scheduled = None
            self.stream.flush()
        finally:
            self.release()

    def _flush_pass(self, record: logging.LogRecord) -> None:
        """The end of the loop pass that logged ``record``: write out its lines."""
        try:
            self.flush()
        except Exception:  # noqa: BLE001 - as logging's own handlers: report, never raise
            self.handleError(record)

    def emit(self, record: logging.LogRecord) -> None:
        """Buffer the record's lines; flush now, or once this loop pass is over."""
        try:
            self.stream.write(self.format(record) + self.terminator)
            try:
                loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
            if loop is None or record.levelno >= logging.WARNING:
                self.flush()
            elif self._scheduled is not loop:     # (a loop that ended with a flush queued is another)
                self._scheduled = loop
                loop.call_soon(self._flush_pass, record)
        except Exception:  # noqa: BLE001 - as logging's own handlers: report, never raise
            self.handleError(record)


class LineSysLogHandler(logging.handlers.SysLogHandler):
    """syslog, one message per line of a multi-line record."""

    def emit(self, record: logging.LogRecord) -> None:
        """Each line as a record of its own."""
        message = record.getMessage()
        if "\n" not in message:
            super().emit(record)
            return
        for line in message.split("\n"):
            super().emit(logging.makeLogRecord({**record.__dict__, "msg": line, "args": None}))


def stderr_handler() -> logging.Handler:
    """Lines to stderr: pass-buffered where it is a file descriptor (else, e.g. a test's capture, as is)."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
    else:
        sys.stderr.flush()
        handler = PassBufferedHandler(fd)
    handler.setFormatter(LineFormatter(STDERR_FORMAT))
    return handler


def setup_logging(verbose: bool, foreground: bool) -> None:
    """stderr in the foreground, syslog (facility daemon) whenever /dev/log exists.

    No record looks up its caller's file and line or its thread (pulse's
    formats show neither): logging's own switches for that; the caller
    lookup alone was a tenth of a record's cost.
    """
    logging._srcfile = None   # documented (logging HOWTO, optimization): skips the caller lookup
    logging.logThreads = False
    logging.logMultiprocessing = False
    root = logging.getLogger("pulse")
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for old in root.handlers:
        old.flush()
    root.handlers.clear()
    if foreground:
        root.addHandler(stderr_handler())
    if os.path.exists("/dev/log"):
        try:
            sh = LineSysLogHandler("/dev/log", facility=logging.handlers.SysLogHandler.LOG_DAEMON)
            sh.setFormatter(logging.Formatter("pulse[%(process)d]: %(message)s"))
            root.addHandler(sh)
        except OSError:
            pass
    root.propagate = False
