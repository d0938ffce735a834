"""pulse's log sinks: one line per op with the full prefix, one write per event-loop pass."""

from __future__ import annotations

import asyncio
import logging
import logging.handlers
import os
import re
from pathlib import Path

import pytest

from piranha_web.pulse.logsinks import STDERR_FORMAT, LineFormatter, LineSysLogHandler, PassBufferedHandler

PREFIX = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} pulse\[\d+\] INFO ")


def _record(message: str, level: int = logging.INFO) -> logging.LogRecord:
    return logging.makeLogRecord({"name": "pulse", "levelno": level, "levelname": logging.getLevelName(level),
                                  "msg": "%s", "args": (message,)})


def test_every_line_of_a_multi_line_record_gets_the_prefix() -> None:
    message = "add-service TCP 203.0.113.1:80 wlc\nadd-dest x\nadd-dest y"
    text = LineFormatter(STDERR_FORMAT).format(_record(message))
    lines = text.split("\n")
    assert [PREFIX.sub("", line) for line in lines] == ["add-service TCP 203.0.113.1:80 wlc", "add-dest x",
                                                        "add-dest y"]
    assert all(PREFIX.match(line) for line in lines)
    assert len({line[:PREFIX.match(line).end()] for line in lines}) == 1   # type: ignore[union-attr]


def test_the_cached_time_reads_as_loggings_own() -> None:
    record = _record("x")
    ours, stock = LineFormatter(STDERR_FORMAT), logging.Formatter(STDERR_FORMAT)
    for created in (record.created, record.created + 1.5, record.created + 3600.25):
        record.created, record.msecs = created, (created - int(created)) * 1000
        assert ours.formatTime(record) == stock.formatTime(record)


def _handler(path: Path) -> tuple[PassBufferedHandler, int]:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    handler = PassBufferedHandler(fd)
    handler.setFormatter(LineFormatter(STDERR_FORMAT))
    return handler, fd


def test_lines_of_one_loop_pass_reach_the_file_when_the_pass_ends(tmp_path: Path) -> None:
    path = tmp_path / "log"
    handler, fd = _handler(path)

    async def run() -> None:
        handler.handle(_record("vs0/rs0 is UP"))
        handler.handle(_record("add-dest a\nadd-dest b"))
        assert path.read_text() == ""                 # still this pass: buffered
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert [PREFIX.sub("", line) for line in path.read_text().splitlines()] == [
            "vs0/rs0 is UP", "add-dest a", "add-dest b"]
        handler.handle(_record("cannot write status", logging.ERROR))
        assert "cannot write status" in path.read_text()    # errors at once

    try:
        asyncio.run(run())
        handler.handle(_record("pulse stopped"))            # outside the loop: at once
        assert path.read_text().endswith("pulse stopped\n")
    finally:
        os.close(fd)


def test_syslog_gets_one_message_per_line(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[str] = []
    monkeypatch.setattr(logging.handlers.SysLogHandler, "emit",
                        lambda self, record: sent.append(self.format(record)))
    handler = LineSysLogHandler(address=("127.0.0.1", 9))     # UDP: no socket is ever written here
    handler.setFormatter(logging.Formatter("pulse[1]: %(message)s"))
    try:
        handler.handle(_record("add-dest a\nadd-dest b"))
        handler.handle(_record("one line"))
    finally:
        handler.close()
    assert sent == ["pulse[1]: add-dest a", "pulse[1]: add-dest b", "pulse[1]: one line"]
