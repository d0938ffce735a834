"""Protocol checks beyond connect and send/expect: HTTP(S) as keepalived's, DNS, HAProxy's agent.

* http/https: one ``GET path HTTP/1.0`` with a ``Host`` header (keepalived's
  request, so the answer is never chunked); healthy when the status is in
  ``check_status``, the body matches ``check_body`` (a regex) and its MD5 is
  ``check_digest`` (keepalived's digest: MD5 of the bytes after the header).
  https sends ``check_host`` as SNI and verifies the certificate only with
  ``check_verify = 1`` (keepalived's default is off), against
  ``check_ca_file`` when given, else the system's CAs.
* dns: one query over UDP; healthy on a NOERROR answer with at least one record.
* agent: connect to ``agent_port``, read one line, close; the reply's words
  (comma or blank separated) are ``N%``, ``drain``, ``maint``/``down``
  (taken out), ``ready``/``up`` (clear drain and maintenance).  A reply with
  none of them is a failure, as is a failed connection.

http/https run as :class:`HttpExchange`, a state machine the caller drives
from socket readiness; the other coroutines return ``(ok, detail, extra)`` and
the caller bounds them in time.
"""

from __future__ import annotations

import _socket
import asyncio
import errno
import hashlib
import os
import re
import socket
import ssl
import struct
import time
from dataclasses import dataclass
from typing import Protocol

BODY_LIMIT = 1 << 20        # bytes of an HTTP answer read at most
AGENT_LIMIT = 1024
_STATUS_LINE = re.compile(rb"HTTP/\d(?:\.\d)? (\d{3})")


@dataclass(frozen=True)
class HttpSpec:
    """What an http/https check asks and accepts."""

    tls: bool
    path: str = "/"
    host: str | None = None
    status: tuple[tuple[int, int], ...] = ((200, 299),)
    body: "re.Pattern[bytes] | None" = None
    digest: str | None = None
    verify: bool = False
    ca_file: str | None = None


@dataclass(frozen=True)
class AgentReply:
    """What one agent line said (None / False: the word did not appear)."""

    pct: int | None = None
    drain: bool = False
    maint: bool = False
    ready: bool = False


def tls_context(verify: bool, ca_file: str | None) -> ssl.SSLContext:
    """A client context: verifying (against ``ca_file`` or the system) or accepting any certificate."""
    if verify:
        return ssl.create_default_context(cafile=ca_file)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def http_request(spec: HttpSpec, host: str, port: int) -> bytes:
    """keepalived's request: HTTP/1.0, a Host header, nothing kept alive."""
    name = spec.host or (f"[{host}]" if ":" in host else host)
    default = 443 if spec.tls else 80
    authority = name if port == default or spec.host else f"{name}:{port}"
    return (f"GET {spec.path} HTTP/1.0\r\nHost: {authority}\r\nUser-Agent: pulse-health\r\n"
            "Connection: close\r\n\r\n").encode("latin-1")


def judge_http(spec: HttpSpec, answer: bytes) -> tuple[bool, str]:
    """Decide an HTTP answer against the status ranges, body regex and digest."""
    m = _STATUS_LINE.match(answer)
    if m is None:
        return False, "not an HTTP answer"
    code = int(m.group(1))
    if not any(lo <= code <= hi for lo, hi in spec.status):
        return False, f"status {code}"
    head_end = answer.find(b"\r\n\r\n")
    body = answer[head_end + 4:] if head_end >= 0 else b""
    if spec.body is not None and spec.body.search(body) is None:
        return False, f"status {code}, body does not match"
    if spec.digest is not None:
        got = hashlib.md5(body, usedforsecurity=False).hexdigest()
        if got != spec.digest:
            return False, f"status {code}, digest {got}"
    return True, f"status {code}"


def connect_error(sock: _socket.socket) -> int | None:
    """A non-blocking connect's outcome as the socket tells it now: 0, an errno, or None (in flight)."""
    try:
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err == 0:
            sock.getpeername()                 # ENOTCONN: the handshake is still going on
    except OSError as exc:
        if exc.errno == errno.ENOTCONN:
            return None
        return exc.errno or errno.EIO
    return err


_CONNECT, _HANDSHAKE, _SEND, _READ = range(4)


class HttpExchange:
    """One HTTP(S) GET as a state machine driven by socket readiness: no task, coroutine or future.

    At 10,000 servers checks are nothing but this: asyncio's streams, its
    TLS protocol, or even a task awaiting ``sock_recv`` per step cost
    several times the CPU of the request itself.  The caller (the monitor's
    readiness callbacks, or :func:`drive` for a single check) calls
    :meth:`step` whenever the socket is ready in the direction
    ``want_write`` names, and once more when the deadline passes: the socket
    decides, so an answer that arrived while the loop was busy is not a
    timeout.  TLS runs through :class:`ssl.SSLSocket` in non-blocking mode.
    """

    __slots__ = ("sock", "start", "deadline", "want_write", "_spec", "_request", "_ctx", "_name", "_phase",
                 "_answer")

    def __init__(self, sock: socket.socket, start: float, deadline: float, spec: HttpSpec, request: bytes,
                 ctx: ssl.SSLContext | None, name: str, connected: bool) -> None:
        self.sock, self.start, self.deadline = sock, start, deadline
        self.want_write = True
        self._spec, self._request, self._ctx, self._name = spec, request, ctx, name
        self._phase = _CONNECT
        self._answer = b""
        if connected:
            self._connected()

    def step(self) -> tuple[bool, str] | None:
        """Go as far as the socket allows; the verdict, or None while waiting (see ``want_write``)."""
        try:
            return self._advance()
        except ssl.SSLWantReadError:
            self.want_write = False
        except ssl.SSLWantWriteError:
            self.want_write = True
        except BlockingIOError:                # want_write was set before the call
            pass
        except OSError as exc:
            return False, exc.strerror or str(exc) or type(exc).__name__
        except (ValueError, UnicodeError) as exc:     # e.g. an invalid name
            return False, str(exc) or type(exc).__name__
        return None

    def _connected(self) -> None:
        """The TCP handshake is done: TLS next, or the request."""
        if self._ctx is None:
            self._phase = _SEND
            return
        self.sock = self._ctx.wrap_socket(self.sock, server_hostname=self._name,
                                          do_handshake_on_connect=False)
        self._phase = _HANDSHAKE

    def _advance(self) -> tuple[bool, str] | None:
        if self._phase == _CONNECT:
            err = connect_error(self.sock)
            if err is None:
                return None
            if err:
                return False, os.strerror(err)
            self._connected()
        if self._phase == _HANDSHAKE:
            self.sock.do_handshake()           # type: ignore[attr-defined]
            self._phase = _SEND
        if self._phase == _SEND:
            self.want_write = True
            sent = self.sock.send(self._request)
            self._request = self._request[sent:]
            if self._request:
                return None
            self._phase = _READ
        self.want_write = False
        sock, answer = self.sock, self._answer
        try:
            while len(answer) < BODY_LIMIT:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        finally:
            self._answer = answer
        return judge_http(self._spec, answer)


class Waiting(Protocol):
    """A check waiting on its socket: stepped on readiness in the direction it names, and at its deadline."""

    @property
    def sock(self) -> _socket.socket: ...
    @property
    def deadline(self) -> float: ...
    @property
    def want_write(self) -> bool: ...
    def step(self) -> tuple[bool, str] | None: ...


async def drive(pending: Waiting) -> tuple[bool, str]:
    """Run one exchange to its verdict or its deadline, waiting on the socket in between."""
    loop = asyncio.get_running_loop()
    while True:
        verdict = pending.step()
        if verdict is not None:
            return verdict
        left = pending.deadline - time.monotonic()
        try:
            if left <= 0:
                raise TimeoutError
            async with asyncio.timeout(left):
                await _ready(loop, pending.sock.fileno(), pending.want_write)
        except TimeoutError:
            return pending.step() or (False, "timeout")


async def _ready(loop: asyncio.AbstractEventLoop, fd: int, write: bool) -> None:
    """Wait until ``fd`` is writable (or readable): one epoll registration, removed again."""
    done = loop.create_future()
    (loop.add_writer if write else loop.add_reader)(fd, _resolve, done)
    try:
        await done
    finally:
        (loop.remove_writer if write else loop.remove_reader)(fd)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


# ----------------------------------------------------------------------------- DNS

def dns_query(name: str, qtype: int, ident: int) -> bytes:
    """A recursive query for ``name``/``qtype`` class IN."""
    labels = [p for p in name.rstrip(".").split(".") if p]
    qname = b"".join(bytes([len(p.encode())]) + p.encode() for p in labels) + b"\0"
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + qname + struct.pack("!HH", qtype, 1)


def judge_dns(reply: bytes, ident: int) -> tuple[bool, str] | None:
    """NOERROR with >= 1 answer record; None when ``reply`` is not the answer to our query."""
    if len(reply) < 12:
        return None
    rid, flags, _, ancount = struct.unpack("!HHHH", reply[:8])
    if rid != ident or not flags & 0x8000:
        return None
    rcode = flags & 0xF
    if rcode != 0:
        return False, f"rcode {rcode}"
    if ancount < 1:
        return False, "no records"
    return True, f"{ancount} record(s)"


async def dns_check(host: str, port: int, name: str, qtype: int) -> tuple[bool, str]:
    """Ask ``host`` over UDP; wait for the matching answer."""
    loop = asyncio.get_running_loop()
    ident = int.from_bytes(os.urandom(2), "big")
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        await loop.sock_connect(sock, (host, port))
        await loop.sock_sendall(sock, dns_query(name, qtype, ident))
        while True:
            verdict = judge_dns(await loop.sock_recv(sock, 4096), ident)
            if verdict is not None:
                return verdict
    finally:
        sock.close()


# ----------------------------------------------------------------------------- agent

def parse_agent(line: str) -> AgentReply | None:
    """The words of one agent line; None when it says nothing pulse understands."""
    pct: int | None = None
    drain = maint = ready = False
    known = False
    for word in re.split(r"[\s,]+", line.strip().lower()):
        if re.fullmatch(r"\d{1,3}%", word):
            pct, known = min(100, int(word[:-1])), True
        elif word == "drain":
            drain = known = True
        elif word in ("maint", "down", "stopped", "fail"):
            maint = known = True
        elif word in ("ready", "up"):
            ready = known = True
    return AgentReply(pct, drain, maint, ready) if known else None


async def agent_check(host: str, port: int) -> tuple[bool, str, AgentReply | None]:
    """Connect, read one line, close (the agent is the check)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        line = await reader.readline()
    finally:
        writer.transport.abort()
    text = line[:AGENT_LIMIT].decode("ascii", errors="replace").strip()
    reply = parse_agent(text)
    if reply is None:
        return False, f"unreadable agent reply {text[:40]!r}", None
    return True, f"agent {text[:40]!r}", reply
