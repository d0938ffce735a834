"""lvs.cf replication between the two pulses over an authenticated, encrypted TCP channel.

Piranha left copying lvs.cf to the backup to the administrator. Here every
heartbeat carries the sender's ``serial_no``; the side with the *lower* serial
pulls the file from its peer (so a backup that was down catches up when it
returns, and the primary catches up after the backup was edited during an
outage). The serial only moves forward.

Channel: TCP on ``heartbeat_port + 1`` of each node's heartbeat address, one
request per connection, keyed with the heartbeat key::

    request  "PCS2" | nonce 16 | time_ns u64 | have_serial u64 | mac 32
             (mac = HMAC-SHA256 over "req" + all before)
    response "PCS2" | serial u64 | length u32 | aead_nonce 12 | ciphertext (length bytes)
             (ChaCha20-Poly1305 under a key derived from the heartbeat key;
              associated data: "resp" + request nonce + the response head)

The request nonce binds the answer to the request, so an old answer cannot be
replayed; the server answers a request only once (nonces are remembered for
the ``REPLAY_WINDOW`` that the request's timestamp must fall in), so a
captured request gets nothing the second time.  lvs.cf travels encrypted.

The same channel carries other authenticated requests between the directors of
an ECMP cluster: the request's magic names the kind (``KINDS``), the server
answers it with a body from the handler registered for that kind, sealed and
bound to the request exactly like lvs.cf.

The server is built to survive a flood: it accepts only the configured peer
addresses, serves at most ``MAX_CONNECTIONS`` at once, gives a connection
``IDLE_TIMEOUT`` to send its request, and refuses connections whose
descriptor number nears the process limit (descriptors are allocated lowest
first, so that number bounds how many are open) to leave the health checks
their sockets.  An unauthenticated request gets the connection closed,
nothing else.  The puller then validates the text (``lvscf.load``), checks
that its ``serial_no`` is the advertised one and newer than its own, writes
it atomically and asks the daemon to reload.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import os
import resource
import struct
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from ... import lvscf
from ...lvscf.files import write_atomic
from ...lvscf.model import host_port

log = logging.getLogger("pulse.confsync")

MAGIC = b"PCS2"            # pull lvs.cf
STATUS = b"PST2"           # ECMP: exchange serial_no and status summaries
DRAIN = b"PDR2"            # ECMP: drain the director that answers
UNDRAIN = b"PUD2"          # ECMP: announce again
KINDS = (MAGIC, STATUS, DRAIN, UNDRAIN)
_REQ = struct.Struct("!4s16sQQ")
_RESP = struct.Struct("!4sQI12s")
MAC_LEN = 32
MAX_BODY = 4 * 1024 * 1024
IO_TIMEOUT = 3.0           # the puller's patience, and the server's for sending an answer
IDLE_TIMEOUT = 0.5         # seconds a connection may take to send its request
MAX_CONNECTIONS = 4        # concurrent connections the server handles; more are closed at once
REPLAY_WINDOW = 30.0       # seconds a request's timestamp may be off; its nonce is kept this long
FD_HEADROOM = 0.75         # refuse connections whose descriptor is above this share of the limit


class SyncError(Exception):
    """A pull failed; the message says why (logged, retried on a later heartbeat)."""


def _mac(key: bytes, *parts: bytes) -> bytes:
    return hmac.new(key, b"".join(parts), hashlib.sha256).digest()


def _aead(key: bytes) -> ChaCha20Poly1305:
    """The payload cipher: its own key, derived from the heartbeat key (never the MAC key itself)."""
    return ChaCha20Poly1305(_mac(key, b"pulse confsync payload key v2"))


def make_request(key: bytes, nonce: bytes, have_serial: int, time_ns: int | None = None,
                 kind: bytes = MAGIC) -> bytes:
    """Signed, timestamped request (for the peer's lvs.cf unless ``kind`` says otherwise)."""
    head = _REQ.pack(kind, nonce, time.time_ns() if time_ns is None else time_ns, have_serial)
    return head + _mac(key, b"req", head)


def make_response(key: bytes, nonce: bytes, serial: int, body: bytes, kind: bytes = MAGIC) -> bytes:
    """Encrypted answer bound to the request's nonce (and kind)."""
    aead_nonce = os.urandom(12)
    head = _RESP.pack(kind, serial, len(body) + 16, aead_nonce)
    return head + _aead(key).encrypt(aead_nonce, body, b"resp" + nonce + head)


def fd_budget() -> int:
    """Highest descriptor number the sync server may hold: a share of the soft RLIMIT_NOFILE."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return int(soft * FD_HEADROOM) if soft != resource.RLIM_INFINITY else 1 << 20


class NonceCache:
    """Nonces of requests answered within the replay window (a request is answered once)."""

    def __init__(self, window: float = REPLAY_WINDOW) -> None:
        self.window = window
        self._seen: dict[bytes, float] = {}

    def fresh(self, nonce: bytes, time_ns: int, now: float) -> bool:
        """True (and remembered) for a timely request never seen before; False for stale or replayed."""
        if abs(time_ns / 1e9 - now) > self.window or nonce in self._seen:
            return False
        for old, seen in list(self._seen.items()):
            if now - seen <= self.window:
                break               # insertion order: the rest are newer
            del self._seen[old]
        self._seen[nonce] = now
        return True


class ConfigServer:
    """Serves this node's current lvs.cf to the authenticated peer, and to nobody else."""

    def __init__(self, key: bytes, path: Path, serial: Callable[[], int], peers: Iterable[str]) -> None:
        self.key = key
        self.path = path
        self.serial = serial
        self.peers = {ipaddress.ip_address(p) for p in peers}
        self.stats: Counter[str] = Counter()
        self.nonces = NonceCache()
        self.active = 0
        self.handlers: dict[bytes, Callable[[int, str], bytes]] = {}   # kind -> (their serial, source)
        self._server: asyncio.base_events.Server | None = None

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host:port`` (a short accept backlog: the peer makes one connection at a time)."""
        self._server = await asyncio.start_server(self._handle, host, port, reuse_address=True,
                                                  backlog=MAX_CONNECTIONS * 2)
        log.info("config sync listening on %s", host_port(host, port))

    async def close(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def _admit(self, writer: asyncio.StreamWriter) -> str | None:
        """Why a new connection is turned away at once, or None to serve it."""
        sock = writer.get_extra_info("socket")
        source = peer_address(writer)
        if source is None or source not in self.peers:
            return "not_peer"
        if self.active >= MAX_CONNECTIONS:
            return "busy"
        if sock is not None and sock.fileno() > fd_budget():
            return "no_descriptors"
        return None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        refused = self._admit(writer)
        if refused is not None:
            self.stats[refused] += 1
            writer.transport.abort()    # no lingering: the descriptor is free at once
            return
        self.active += 1
        try:
            await self._serve(reader, writer)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, lvscf.LvsCfError,
                UnicodeDecodeError) as exc:
            self.stats["errors"] += 1
            log.debug("config sync request failed: %s", exc)
        finally:
            self.active -= 1
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read one request within ``IDLE_TIMEOUT``; answer it if authentic and never seen."""
        data = await asyncio.wait_for(reader.readexactly(_REQ.size + MAC_LEN), IDLE_TIMEOUT)
        head, mac = data[:_REQ.size], data[_REQ.size:]
        magic, nonce, time_ns, have = _REQ.unpack(head)
        known = magic == MAGIC or magic in self.handlers
        if not known or not hmac.compare_digest(mac, _mac(self.key, b"req", head)):
            self.stats["refused"] += 1
            log.warning("config sync: unauthenticated request from %s", writer.get_extra_info("peername"))
            return
        if not self.nonces.fresh(nonce, time_ns, time.time()):
            self.stats["replayed"] += 1
            log.warning("config sync: replayed or stale request from %s", writer.get_extra_info("peername"))
            return
        if magic == MAGIC:
            body = self.path.read_bytes()
            serial = lvscf.parse(body.decode("utf-8")).serial_no
        else:
            body, serial = self.handlers[magic](have, str(peer_address(writer))), self.serial()
        writer.write(make_response(self.key, nonce, serial, body, magic))
        await asyncio.wait_for(writer.drain(), IO_TIMEOUT)
        self.stats["served" if magic == MAGIC else "answered"] += 1


def peer_address(writer: asyncio.StreamWriter) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The connection's source address (an IPv4-mapped IPv6 address as IPv4); None if unreadable."""
    peer = writer.get_extra_info("peername")
    try:
        source = ipaddress.ip_address(str(peer[0]).split("%")[0])
    except (TypeError, ValueError, IndexError):
        return None
    if isinstance(source, ipaddress.IPv6Address) and source.ipv4_mapped is not None:
        return source.ipv4_mapped
    return source


async def fetch(key: bytes, host: str, port: int, have_serial: int,
                local: str | None = None) -> tuple[int, str]:
    """Pull the peer's lvs.cf; returns (serial_no, text) after decrypting and authenticating it.

    ``local``: our heartbeat address, the source the peer's server admits.
    """
    serial, body = await exchange(key, host, port, have_serial, local)
    try:
        return serial, body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SyncError(f"transfer from {host_port(host, port)} failed: {exc!r}") from None


async def exchange(key: bytes, host: str, port: int, have_serial: int, local: str | None = None,
                   kind: bytes = MAGIC, timeout: float = IO_TIMEOUT) -> tuple[int, bytes]:
    """One authenticated request of ``kind``; returns the peer's (serial_no, decrypted body)."""
    nonce = os.urandom(16)
    bind = (local, 0) if local else None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, local_addr=bind),
                                                timeout)
    except (OSError, TimeoutError) as exc:
        raise SyncError(f"cannot connect to {host_port(host, port)}: {exc}") from None
    try:
        writer.write(make_request(key, nonce, have_serial, kind=kind))
        head = await asyncio.wait_for(reader.readexactly(_RESP.size), timeout)
        magic, serial, length, aead_nonce = _RESP.unpack(head)
        if magic != kind or length > MAX_BODY:
            raise SyncError("malformed answer")
        sealed = await asyncio.wait_for(reader.readexactly(length), timeout)
        try:
            return serial, _aead(key).decrypt(aead_nonce, sealed, b"resp" + nonce + head)
        except InvalidTag:
            raise SyncError("answer failed authentication") from None
    except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
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
                 on_installed: Callable[[lvscf.LvsConfig], None], retry_after: float = 2.0,
                 local: str | None = None) -> None:
        self.key = key
        self.local = local
        self.path = path
        self.serial = serial
        self.on_installed = on_installed
        self.retry_after = retry_after
        self.stats: Counter[str] = Counter()
        self.last_error: str | None = None
        self.failed_serial: int | None = None     # the advertised serial_no of the last failed pull
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
            serial, text = await fetch(self.key, host, port, have, self.local)
            cfg = install(self.path, text, serial, have)
        except SyncError as exc:
            self.stats["failed"] += 1
            self.last_error = str(exc)
            self.failed_serial = advertised
            self._failed[advertised] = asyncio.get_running_loop().time()
            log.error("config sync from %s failed: %s", host, exc)
            return
        self.stats["installed"] += 1
        self.last_error = self.failed_serial = None
        log.info("config sync: installed serial_no %d from %s (had %d)", cfg.serial_no, host, have)
        self.on_installed(cfg)

    async def close(self) -> None:
        """Cancel a pull in progress."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
