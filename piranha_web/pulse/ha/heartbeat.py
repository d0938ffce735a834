"""Authenticated pulse heartbeats: the wire format, replay protection and the UDP endpoint.

Piranha sent a bare 4-byte magic number in native byte order: spoofable by
anyone on the segment and broken between little- and big-endian nodes. Here
every heartbeat is a fixed-size message in network byte order, signed with
HMAC-SHA256 over a shared secret read from ``heartbeat_key_file``::

    magic    u32   0x50554c53 ("PULS")
    version  u8    1
    role     u8    1 = primary, 2 = backup (what the sender's lvs.cf makes it)
    state    u8    1 = standby, 2 = active, 3 = stopping, 4 = fault
    flags    u8    reserved, 0
    sender   16 s  sender's public address (IPv4-mapped for IPv4)
    boot_id  u64   sender's start time in ns (wall clock): grows across restarts
    counter  u64   per-boot message counter, starts at 1, strictly increasing
    serial   u64   serial_no of the sender's loaded lvs.cf
    time_ns  u64   sender's wall clock when sent
    mac      32 s  HMAC-SHA256(key, all of the above)

A receiver drops (and counts, by reason) anything of the wrong size, magic or
version, with a bad MAC, from an address or sender id other than the peer's,
and every replay: within one boot the counter must grow; a new boot_id is
accepted only if it is larger than the last one, or if the peer has been
silent longer than ``REBOOT_GRACE`` and the message is fresh (``max_skew``),
so a captured old packet cannot be fed back in.  A fresh capture replayed
within ``max_skew`` of a peer's restart is the one residual window, bounded
by the skew setting.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import os
import socket
import stat
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ...lvscf.model import host_port
from .role import HaState, Side

log = logging.getLogger("pulse.heartbeat")

MAGIC = 0x50554C53
VERSION = 1
_HEAD = struct.Struct("!IBBBB16sQQQQ")
MAC_LEN = 32
SIZE = _HEAD.size + MAC_LEN
MIN_KEY_LEN = 16
REBOOT_GRACE = 1.0   # seconds of peer silence before a lower boot_id is believed
DEFAULT_MAX_SKEW = 30.0


class HeartbeatKeyError(Exception):
    """The shared secret file is missing, unsafe or too short."""


@dataclass(frozen=True)
class Heartbeat:
    """One decoded, authenticated heartbeat."""

    role: Side
    state: HaState
    sender: str
    boot_id: int
    counter: int
    serial_no: int
    time_ns: int


def _pack_addr(address: str) -> bytes:
    """16-byte form of an IPv4 or IPv6 address (IPv4 as ::ffff:a.b.c.d)."""
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        ip = ipaddress.IPv6Address("::ffff:" + str(ip))
    return ip.packed


def _unpack_addr(raw: bytes) -> str:
    """Inverse of :func:`_pack_addr`."""
    ip = ipaddress.IPv6Address(raw)
    return str(ip.ipv4_mapped) if ip.ipv4_mapped else str(ip)


def encode(key: bytes, hb: Heartbeat) -> bytes:
    """Serialise and sign a heartbeat."""
    head = _HEAD.pack(MAGIC, VERSION, int(hb.role), int(hb.state), 0, _pack_addr(hb.sender),
                      hb.boot_id, hb.counter, hb.serial_no, hb.time_ns)
    return head + hmac.new(key, head, hashlib.sha256).digest()


class DecodeError(ValueError):
    """Why a datagram was refused; ``reason`` is the counter name."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def decode(key: bytes, data: bytes) -> Heartbeat:
    """Check size, magic, version and MAC, then decode; raises :class:`DecodeError`."""
    if len(data) != SIZE:
        raise DecodeError("bad_size")
    head, mac = data[:_HEAD.size], data[_HEAD.size:]
    magic, version, role, state, _flags, sender, boot, counter, serial, ts = _HEAD.unpack(head)
    if magic != MAGIC:
        raise DecodeError("bad_magic")
    if version != VERSION:
        raise DecodeError("bad_version")
    if not hmac.compare_digest(mac, hmac.new(key, head, hashlib.sha256).digest()):
        raise DecodeError("bad_mac")
    try:
        return Heartbeat(Side(role), HaState(state), _unpack_addr(sender), boot, counter,
                         serial, ts)
    except ValueError:
        raise DecodeError("bad_field") from None


@dataclass
class ReplayGuard:
    """Per-peer freshness state: only a counter newer than every one seen is accepted.

    Older counters are dropped too, but named by cause: ``duplicate`` (the
    same message again, normally the copy sent over the other path), ``late``
    (an older message never seen, i.e. reordered between the paths) within
    the last ``WINDOW`` counters, ``replay`` beyond that.
    """

    WINDOW = 64

    max_skew: float = DEFAULT_MAX_SKEW
    boot_id: int | None = None
    counter: int = 0
    last_heard: float = float("-inf")   # monotonic
    seen: set[int] = field(default_factory=set)

    def check(self, hb: Heartbeat, now_mono: float, now_wall_ns: int) -> str | None:
        """None if ``hb`` is acceptable (and remember it), else the drop reason."""
        fresh = abs(now_wall_ns - hb.time_ns) <= self.max_skew * 1e9
        if self.boot_id is None or hb.boot_id != self.boot_id:
            newer_boot = self.boot_id is None or hb.boot_id > self.boot_id
            silent = now_mono - self.last_heard > REBOOT_GRACE
            if not fresh:
                return "stale"
            if not (newer_boot or silent):
                return "replay"
            self.seen = set()
        elif hb.counter <= self.counter:
            if hb.counter <= self.counter - self.WINDOW:
                return "replay"
            return "duplicate" if hb.counter in self.seen else self._late(hb.counter)
        self.boot_id, self.counter, self.last_heard = hb.boot_id, hb.counter, now_mono
        self.seen = {c for c in self.seen if c > hb.counter - self.WINDOW} | {hb.counter}
        return None

    def _late(self, counter: int) -> str:
        """An older, unseen message: remember it so a second copy counts as duplicate."""
        self.seen.add(counter)
        return "late"


def load_key(path: str) -> bytes:
    """Read the shared secret; refuse a file others can read or a key that is too short.

    The key is the file's bytes with surrounding whitespace removed, so
    ``head -c 32 /dev/urandom | base64 > key`` works as is.
    """
    try:
        st = os.stat(path)
        with open(path, "rb") as fh:
            key = fh.read().strip()
    except OSError as exc:
        raise HeartbeatKeyError(f"cannot read heartbeat key file {path}: {exc.strerror}") from None
    if st.st_mode & (stat.S_IROTH | stat.S_IWOTH):
        raise HeartbeatKeyError(f"heartbeat key file {path} is accessible by others (chmod 600)")
    if len(key) < MIN_KEY_LEN:
        raise HeartbeatKeyError(f"heartbeat key in {path} is shorter than {MIN_KEY_LEN} bytes")
    return key


@dataclass(frozen=True)
class Link:
    """One heartbeat path: our address to bind and the peer's address to talk to."""

    local: str
    peer: str


@dataclass
class PeerView:
    """What we last heard from the peer (for the FSM, config sync and the status JSON)."""

    role: Side | None = None
    state: HaState | None = None
    serial_no: int | None = None
    boot_id: int | None = None
    heard_at: float | None = None          # monotonic
    heard_wall: float | None = None        # time.time() for the status file
    paths_heard: dict[str, float] = field(default_factory=dict)   # peer address -> monotonic

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly snapshot for the status file."""
        return {
            "role": self.role.name.lower() if self.role else None,
            "state": self.state.advertised if self.state else None,
            "serial_no": self.serial_no,
            "last_heard": self.heard_wall,
        }


class _Receiver(asyncio.DatagramProtocol):
    """Hands each datagram with its source address to the endpoint."""

    def __init__(self, sink: Callable[[bytes, str], None]) -> None:
        self.sink = sink

    def datagram_received(self, data: bytes, addr: tuple) -> None:  # type: ignore[type-arg]
        self.sink(data, addr[0])

    def error_received(self, exc: Exception) -> None:
        log.debug("heartbeat socket error: %s", exc)


class HeartbeatEndpoint:
    """UDP sockets on every heartbeat path: sends our state, authenticates the peer's.

    ``on_heartbeat`` is called with each accepted :class:`Heartbeat`; the
    endpoint itself keeps :attr:`stats` (sent, received, and one counter per
    drop reason) and :attr:`peer` (the last accepted message).
    """

    def __init__(self, key: bytes, role: Side, links: Iterable[Link], port: int,
                 on_heartbeat: Callable[[Heartbeat], None], max_skew: float = DEFAULT_MAX_SKEW,
                 peer_port: int | None = None) -> None:
        self.key = key
        self.role = role
        self.links = list(links)
        self.port = port
        self.peer_port = peer_port if peer_port is not None else port
        self.on_heartbeat = on_heartbeat
        self.guard = ReplayGuard(max_skew=max_skew)
        self.boot_id = time.time_ns()
        self.counter = 0
        self.stats: Counter[str] = Counter()
        self.peer = PeerView()
        self._transports: list[asyncio.DatagramTransport] = []
        self._senders: list[socket.socket] = []     # the same sockets, usable from any thread
        self._send_lock = threading.Lock()          # one counter, strictly increasing on the wire
        self._peer_addrs = {ipaddress.ip_address(link.peer) for link in self.links}
        self._peer_ids = {str(ipaddress.ip_address(self.links[0].peer))} if self.links else set()

    async def start(self) -> None:
        """Bind one UDP socket per path (local address : heartbeat port)."""
        loop = asyncio.get_running_loop()
        for link in self.links:
            family = socket.AF_INET6 if ":" in link.local else socket.AF_INET
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Receiver(self._received), local_addr=(link.local, self.port),
                family=family)
            self._transports.append(transport)  # type: ignore[arg-type]
            # a duplicate descriptor of the bound socket: same source address and port, and
            # sendto() from the heartbeat thread never touches the event loop's transport
            fd = os.dup(transport.get_extra_info("socket").fileno())
            self._senders.append(socket.socket(family, socket.SOCK_DGRAM, fileno=fd))
            log.info("heartbeat path %s <-> %s", host_port(link.local, self.port),
                     host_port(link.peer, self.peer_port))

    def close(self) -> None:
        """Close every socket."""
        with self._send_lock:
            for sender in self._senders:
                sender.close()
            self._senders.clear()
        for transport in self._transports:
            transport.close()
        self._transports.clear()

    def send(self, state: HaState, serial_no: int, copies: int = 1) -> None:
        """Send our current state on every path (``copies`` times, for a stop notice).

        Thread-safe: the heartbeat thread and the event loop both send.
        """
        with self._send_lock:
            self._send_locked(state, serial_no, copies)

    def send_current(self, state: Callable[[], HaState], serial_no: Callable[[], int]) -> None:
        """Send the state as it is when the send lock is held (never older than one just sent)."""
        with self._send_lock:
            self._send_locked(state(), serial_no(), 1)

    def _send_locked(self, state: HaState, serial_no: int, copies: int) -> None:
        """:meth:`send` with the lock held."""
        sender = self.links[0].local if self.links else "0.0.0.0"
        for _ in range(copies):
            self.counter += 1
            data = encode(self.key, Heartbeat(self.role, state, sender, self.boot_id,
                                              self.counter, serial_no, time.time_ns()))
            for link, sock in zip(self.links, self._senders):
                try:
                    sock.sendto(data, (link.peer, self.peer_port))
                    self.stats["sent"] += 1
                except OSError as exc:
                    self.stats["send_errors"] += 1
                    log.debug("heartbeat to %s failed: %s", link.peer, exc)

    def _received(self, data: bytes, source: str) -> None:
        """Authenticate, de-duplicate and deliver one datagram."""
        reason = self._drop_reason(data, source)
        if isinstance(reason, str):
            if reason in ("duplicate", "late"):   # a copy over the other path: that path is alive
                self.peer.paths_heard[source] = time.monotonic()
            self.stats["dropped_" + reason] += 1
            log.debug("dropped heartbeat from %s: %s", source, reason)
            return
        hb = reason
        self.stats["received"] += 1
        now = time.monotonic()
        self.peer = PeerView(hb.role, hb.state, hb.serial_no, hb.boot_id, now, time.time(),
                             {**self.peer.paths_heard, source: now})
        self.on_heartbeat(hb)

    def _drop_reason(self, data: bytes, source: str) -> str | Heartbeat:
        """The accepted heartbeat, or why the datagram is dropped."""
        try:
            if ipaddress.ip_address(source.split("%")[0]) not in self._peer_addrs:
                return "wrong_source"
            hb = decode(self.key, data)
        except DecodeError as exc:
            return exc.reason
        except ValueError:
            return "wrong_source"
        if hb.sender not in self._peer_ids:
            return "wrong_sender"
        if hb.role == self.role:
            return "same_role"
        if hb.boot_id == self.boot_id and hb.sender == self.links[0].local:
            return "own"
        reason = self.guard.check(hb, time.monotonic(), time.time_ns())
        return reason or hb


class Beacon:
    """Sends a heartbeat every ``interval`` seconds from its own thread.

    Whatever holds the event loop (a reload of 10,000 real servers, a large
    status write, a burst of checks) must never make this node look dead to
    its peer: with ``keepalive`` 0.1 s and ``deadtime`` 0.3 s a loop held for
    a third of a second would otherwise cause a takeover.  The thread only
    encodes and sends (about 20 us); receiving and every decision stay on the
    loop.  After a stall of the whole process it resumes on a fresh grid
    instead of sending a burst.
    """

    def __init__(self, interval: float, beat: Callable[[], None]) -> None:
        self.interval = interval
        self.beat = beat
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pulse-heartbeat", daemon=True)

    def start(self) -> None:
        """Send the first heartbeat now, then every ``interval``."""
        self._thread.start()

    def stop(self) -> None:
        """No heartbeat is sent after this returns."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            try:
                self.beat()
            except Exception:  # noqa: BLE001 - a failed send must not end the heartbeat
                log.exception("heartbeat send failed")
            next_at = max(next_at + self.interval, time.monotonic())
