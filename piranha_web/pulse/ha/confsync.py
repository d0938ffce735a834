"""lvs.cf replication between the two pulses over an authenticated TCP channel.

Piranha left copying lvs.cf to the backup to the administrator. Here every
heartbeat carries the sender's ``serial_no``; the side with the *lower* serial
pulls the file from its peer (so a backup that was down catches up when it
returns, and the primary catches up after the backup was edited during an
outage). The serial only moves forward.

Channel: TCP on ``heartbeat_port + 1`` of each node's heartbeat address, one
request per connection, HMAC-SHA256 with the heartbeat key::

    request  "PCS1" | nonce 16 | have_serial u64 | mac 32  (HMAC over "req" + all before)
    response "PCS1" | serial u64 | length u32 | mac 32 | body
             (mac = HMAC over "resp" + request nonce + serial + length + body)

The fresh nonce binds the answer to the request, so an old answer cannot be
replayed; an unauthenticated request gets the connection closed, nothing
else.  The puller then validates the text (``lvscf.load``), checks that its
``serial_no`` is the advertised one and newer than its own, writes it
atomically and asks the daemon to reload.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import struct
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from ... import lvscf
from ...lvscf.files import write_atomic
from ...lvscf.model import host_port

log = logging.getLogger("pulse.confsync")

MAGIC = b"PCS1"
_REQ = struct.Struct("!4s16sQ")
_RESP = struct.Struct("!4sQI")
MAC_LEN = 32
MAX_BODY = 4 * 1024 * 1024
IO_TIMEOUT = 3.0


class SyncError(Exception):
    """A pull failed; the message says why (logged, retried on a later heartbeat)."""


def _mac(key: bytes, *parts: bytes) -> bytes:
    return hmac.new(key, b"".join(parts), hashlib.sha256).digest()


def make_request(key: bytes, nonce: bytes, have_serial: int) -> bytes:
    """Signed request for the peer's lvs.cf."""
    head = _REQ.pack(MAGIC, nonce, have_serial)
    return head + _mac(key, b"req", head)


def make_response(key: bytes, nonce: bytes, serial: int, body: bytes) -> bytes:
    """Signed answer bound to the request's nonce."""
    head = _RESP.pack(MAGIC, serial, len(body))
    return head + _mac(key, b"resp", nonce, head, body) + body


class ConfigServer:
    """Serves this node's current lvs.cf to an authenticated peer."""

    def __init__(self, key: bytes, path: Path, serial: Callable[[], int]) -> None:
        self.key = key
        self.path = path
        self.serial = serial
        self.stats: Counter[str] = Counter()
        self._server: asyncio.base_events.Server | None = None

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host:port``."""
        self._server = await asyncio.start_server(self._handle, host, port, reuse_address=True)
        log.info("config sync listening on %s", host_port(host, port))

    async def close(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            data = await asyncio.wait_for(reader.readexactly(_REQ.size + MAC_LEN), IO_TIMEOUT)
            head, mac = data[:_REQ.size], data[_REQ.size:]
            magic, nonce, _have = _REQ.unpack(head)
            if magic != MAGIC or not hmac.compare_digest(mac, _mac(self.key, b"req", head)):
                self.stats["refused"] += 1
                log.warning("config sync: unauthenticated request from %s",
                            writer.get_extra_info("peername"))
                return
            body = self.path.read_bytes()
            cfg = lvscf.parse(body.decode("utf-8"))
            writer.write(make_response(self.key, nonce, cfg.serial_no, body))
            await asyncio.wait_for(writer.drain(), IO_TIMEOUT)
            self.stats["served"] += 1
        except (OSError, asyncio.IncompleteReadError, TimeoutError, lvscf.LvsCfError,
                UnicodeDecodeError) as exc:
            self.stats["errors"] += 1
            log.debug("config sync request failed: %s", exc)
        finally:
            writer.close()


async def fetch(key: bytes, host: str, port: int, have_serial: int) -> tuple[int, str]:
    """Pull the peer's lvs.cf; returns (serial_no, text) after checking the MAC."""
    nonce = os.urandom(16)
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), IO_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise SyncError(f"cannot connect to {host_port(host, port)}: {exc}") from None
    try:
        writer.write(make_request(key, nonce, have_serial))
        head = await asyncio.wait_for(reader.readexactly(_RESP.size + MAC_LEN), IO_TIMEOUT)
        magic, serial, length = _RESP.unpack(head[:_RESP.size])
        if magic != MAGIC or length > MAX_BODY:
            raise SyncError("malformed answer")
        body = await asyncio.wait_for(reader.readexactly(length), IO_TIMEOUT)
        expected = _mac(key, b"resp", nonce, head[:_RESP.size], body)
        if not hmac.compare_digest(head[_RESP.size:], expected):
            raise SyncError("answer failed authentication")
        return serial, body.decode("utf-8")
    except (OSError, asyncio.IncompleteReadError, TimeoutError, UnicodeDecodeError) as exc:
        raise SyncError(f"transfer from {host_port(host, port)} failed: {exc!r}") from None
    finally:
        writer.close()


def install(path: Path, text: str, advertised: int, have_serial: int) -> lvscf.LvsConfig:
    """Validate a pulled file and write it atomically; only a newer serial_no is accepted."""
    try:
        cfg = lvscf.load(text)
    except lvscf.LvsCfError as exc:
        raise SyncError(f"peer's lvs.cf is invalid: {exc}") from None
    if cfg.serial_no != advertised:
        raise SyncError(f"serial_no mismatch: advertised {advertised}, file says {cfg.serial_no}")
    if cfg.serial_no <= have_serial:
        raise SyncError(f"refusing serial_no {cfg.serial_no}: ours is {have_serial}")
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    write_atomic(path, text, mode=mode)
    return cfg


class ConfigPuller:
    """Pulls when the peer advertises a newer serial; one pull at a time, with backoff."""

    def __init__(self, key: bytes, path: Path, serial: Callable[[], int],
                 on_installed: Callable[[lvscf.LvsConfig], None], retry_after: float = 2.0) -> None:
        self.key = key
        self.path = path
        self.serial = serial
        self.on_installed = on_installed
        self.retry_after = retry_after
        self.stats: Counter[str] = Counter()
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._failed: dict[int, float] = {}   # advertised serial -> monotonic time of failure

    def peer_serial(self, serial: int, host: str, port: int) -> None:
        """Heartbeat hook: start a pull if the peer is ahead and none is running."""
        loop = asyncio.get_running_loop()
        if serial <= self.serial() or (self._task is not None and not self._task.done()):
            return
        failed = self._failed.get(serial)
        if failed is not None and loop.time() - failed < self.retry_after:
            return
        self._task = loop.create_task(self._pull(serial, host, port), name="confsync-pull")

    async def _pull(self, advertised: int, host: str, port: int) -> None:
        have = self.serial()
        try:
            serial, text = await fetch(self.key, host, port, have)
            cfg = install(self.path, text, serial, have)
        except SyncError as exc:
            self.stats["failed"] += 1
            self.last_error = str(exc)
            self._failed[advertised] = asyncio.get_running_loop().time()
            log.error("config sync from %s failed: %s", host, exc)
            return
        self.stats["installed"] += 1
        self.last_error = None
        log.info("config sync: installed serial_no %d from %s (had %d)", cfg.serial_no, host, have)
        self.on_installed(cfg)

    async def close(self) -> None:
        """Cancel a pull in progress."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
