"""One health check of one real server: TCP connect, send/expect, UDP, an external program,
or (``probes``) HTTP(S), DNS and an agent.

Semantics follow Piranha's nanny with its known bugs fixed:

* ``timeout`` bounds the whole check (connect + send + read).
* ``expect`` is read until enough bytes arrived, EOF or timeout (nanny did a
  single ``read()`` and failed on segmented answers).  Plain mode is a prefix
  match (``*`` = any one byte); ``use_regex`` is :func:`re.search`.
* ``send``/``expect`` backslash escapes (\\n \\r \\t \\\\ \\' \\") are decoded.
* ``send_program`` is split once with :mod:`shlex`; ``%h``/``%p`` are
  replaced only as whole arguments; it runs without a shell and is killed
  after ``timeout``.  Non-zero exit or timeout is DOWN (nanny called it UP
  when ``expect`` was set); otherwise UP iff stdout minus one trailing newline
  equals ``expect`` (or, without expect, iff it exited 0).
* UDP: send the (possibly empty) payload, UP on any reply (or one matching
  ``expect``); an ICMP port-unreachable is DOWN at once.
* No send/expect/program on port 80: send ``GET / HTTP/1.0\\r\\n\\r\\n``,
  expect ``HTTP`` (nanny's default) unless ``check`` is set explicitly.
* ``check_dynamic``: a program's exit status 2..255 is a success that sets
  the weight to status - 2 (keepalived's misc_dynamic); 0 restores the
  configured weight; 1 is a failure.
"""

from __future__ import annotations

import _socket
import asyncio
import errno
import os
import re
import socket
import struct
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ...lvscf.health import CheckSettings, decode_escapes, expect_pattern, split_program
from ...lvscf.model import DNS_QTYPES
from .probes import (
    AgentReply, HttpExchange, HttpSpec, agent_check, connect_error, dns_check, drive, http_request,
    tls_context,
)

HTTP_SEND = "GET / HTTP/1.0\r\n\r\n"
HTTP_EXPECT = "HTTP"
READ_LIMIT = 65536
_LINGER_RST = struct.pack("ii", 1, 0)
# Linux creates the socket non-blocking in the same syscall (one fcntl fewer per check).
_NONBLOCK = getattr(socket, "SOCK_NONBLOCK", 0)
_STREAM_NONBLOCK = socket.SOCK_STREAM | _NONBLOCK
_IN_PROGRESS = (errno.EINPROGRESS, errno.EAGAIN, errno.EALREADY)
# A plain connect check uses the C socket type itself: socket.socket's Python-level
# constructor and close() cost more than the socket() and close() system calls.
_new_socket = _socket.socket

_PROBES = ("dns", "agent")
# CheckSpec.mode: what quick_check does
_CONNECT, _SEND_EXPECT, _HTTP_EXCHANGE, _COROUTINE, _NOT_CHECKED = range(5)


@dataclass(frozen=True)
class CheckSpec:
    """Everything needed to check one real server."""

    host: str
    port: int
    timeout: float = 10.0
    protocol: str = "tcp"
    send: bytes | None = None
    expect: bytes | None = None
    use_regex: bool = False
    program: tuple[str, ...] | None = None   # argv template, already split
    regex: "re.Pattern[bytes] | None" = field(default=None, compare=False, hash=False)
    kind: str = "tcp"                         # tcp (incl. send/expect, udp, program), http...
    http: HttpSpec | None = None
    query: str | None = None                  # dns
    qtype: int = 1
    dynamic: bool = False                     # program: exit status 2..255 sets the weight
    tls: Any = field(default=None, compare=False, hash=False)   # ssl.SSLContext, built once
    request: bytes = field(default=b"", compare=False, hash=False)   # http/https: built once
    # derived once here, not per check (10,000 checks a second): see __post_init__
    family: int = field(default=socket.AF_INET, init=False, compare=False, hash=False, repr=False)
    addr: tuple[str, int] = field(default=("", 0), init=False, compare=False, hash=False, repr=False)
    mode: int = field(default=0, init=False, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        """How :func:`quick_check` runs this check, the socket family and address, decided once."""
        if self.kind == "none":
            mode = _NOT_CHECKED
        elif self.program is not None or self.protocol == "udp" or self.kind in _PROBES:
            mode = _COROUTINE
        elif self.http is not None:
            mode = _HTTP_EXCHANGE
        elif self.send or self.expect is not None:
            mode = _SEND_EXPECT
        else:
            mode = _CONNECT
        object.__setattr__(self, "mode", mode)
        object.__setattr__(self, "family", socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        object.__setattr__(self, "addr", (self.host, self.port))


def make_spec(host: str, port: int, timeout: float, protocol: str = "tcp",
              send: str | None = None, expect: str | None = None, use_regex: bool = False,
              send_program: str | None = None) -> CheckSpec:
    """Build a spec from lvs.cf values (raw strings, escapes not yet decoded)."""
    program = tuple(split_program(send_program)) if send_program else None
    if program is None and send is None and expect is None and port == 80 and protocol == "tcp":
        send, expect = HTTP_SEND, HTTP_EXPECT
    send_b = decode_escapes(send).encode() if send is not None else None
    expect_b = decode_escapes(expect).encode() if expect is not None else None
    regex = expect_pattern(expect) if (use_regex and expect is not None) else None
    return CheckSpec(host, port, timeout, protocol, send_b, expect_b, use_regex, program, regex)


def spec_for(host: str, port: int, cs: CheckSettings, protocol: str, send: str | None,
             expect: str | None, use_regex: bool, send_program: str | None, explicit: bool) -> CheckSpec:
    """The spec of one real server from its resolved settings (``explicit``: ``check`` was set).

    Without an explicit ``check`` the spec is exactly Piranha's (see :func:`make_spec`).
    """
    probe_port = cs.port or port
    kind = cs.kind
    if kind == "agent":
        return CheckSpec(host, cs.agent_port or port, cs.timeout, kind=kind)
    if kind in ("http", "https"):
        body = re.compile(cs.body.encode()) if cs.body else None
        http = HttpSpec(kind == "https", cs.path, cs.host, cs.status, body, cs.digest, cs.verify, cs.ca_file)
        ctx = tls_context(cs.verify, cs.ca_file) if kind == "https" else None
        return CheckSpec(host, probe_port, cs.timeout, kind=kind, http=http, tls=ctx,
                         request=http_request(http, host, probe_port))
    if kind == "dns":
        return CheckSpec(host, cs.port or 53, cs.timeout, "udp", kind=kind, query=cs.query,
                         qtype=DNS_QTYPES.get(cs.qtype, 1))
    if kind == "none":
        return CheckSpec(host, probe_port, cs.timeout, kind=kind)
    if explicit and kind == "tcp":
        return CheckSpec(host, probe_port, cs.timeout, protocol)
    spec = make_spec(host, probe_port, cs.timeout, protocol, send, expect, use_regex,
                     send_program if kind == "program" or not explicit else None)
    if kind == "program" and cs.dynamic:
        spec = CheckSpec(spec.host, spec.port, spec.timeout, spec.protocol, spec.send, spec.expect,
                         spec.use_regex, spec.program, spec.regex, dynamic=True)
    return spec


class CheckResult(NamedTuple):
    """Outcome of one check: ok, a short reason, and how long it took.

    A NamedTuple: one is built per check (10,000 a second), and a tuple is the cheapest immutable record.
    """

    ok: bool
    detail: str
    duration: float
    weight: int | None = None            # a program's dynamic weight (-1: back to the configured one)
    agent: AgentReply | None = None      # what an agent said


class PendingConnect(NamedTuple):
    """A plain TCP connect check whose handshake is still in flight (see :func:`connect_outcome`).

    The monitor waits for it with one writer callback and one timer, no task
    or coroutine: in an emulated guest, where even a connect between two
    namespaces returns before the handshake, this is most checks.
    """

    sock: _socket.socket
    start: float                  # time.monotonic() when the check began
    deadline: float               # start + the check's timeout

    @property
    def want_write(self) -> bool:
        """A connect waits for writability only."""
        return True

    def step(self) -> tuple[bool, str] | None:
        """The verdict as the socket tells it now; None while the handshake is in flight."""
        err = connect_error(self.sock)
        if err is None:
            return None
        return (True, "connected") if err == 0 else (False, os.strerror(err))


Pending = PendingConnect | HttpExchange   # a check waiting on its socket, driven by readiness callbacks


async def run_check(spec: CheckSpec) -> CheckResult:
    """Run one check bounded by ``spec.timeout``; never raises for network trouble."""
    first = quick_check(spec)
    if isinstance(first, CheckResult):
        return first
    if isinstance(first, (PendingConnect, HttpExchange)):
        try:
            ok, detail = await drive(first)
        finally:
            first.sock.close()
        return CheckResult(ok, detail, time.monotonic() - first.start)
    return await first


def connect_outcome(pending: PendingConnect) -> CheckResult | None:
    """The result of a pending connect as the socket tells it now; None: still in flight.

    Asked when the socket turns writable and again when the timeout fires: a
    handshake that completed while the event loop was busy elsewhere (its
    callback came late) is a success, not a timeout.
    """
    verdict = pending.step()
    return None if verdict is None else CheckResult(*verdict, time.monotonic() - pending.start)


def quick_check(spec: CheckSpec) -> CheckResult | Pending | Coroutine[Any, Any, CheckResult]:
    """Decide the check now if no waiting is needed, else return the coroutine that finishes it.

    A plain TCP connect to a server on loopback or a fast LAN completes inside
    ``connect()`` itself, so most checks need no task, timer or epoll
    registration at all (the monitor runs them straight from its scheduler
    tick: the difference between ~75% and ~100% of a core at 10,000
    checks/s).  Anything that must wait (a handshake still in flight,
    send/expect, UDP, programs) continues in the returned coroutine, which
    applies ``spec.timeout`` from the moment this call started; a plain
    connect still in flight comes back as a :class:`PendingConnect`, and an
    HTTP(S) check as an :class:`HttpExchange` (both :data:`Pending`: the
    caller drives them from socket readiness, without a task).
    """
    mode = spec.mode
    if mode == _COROUTINE:
        return _bounded(spec, time.monotonic(), None, False)
    if mode == _NOT_CHECKED:
        return CheckResult(True, "not checked", 0.0)
    start = time.monotonic()
    try:
        sock = _new_socket(spec.family, _STREAM_NONBLOCK) if mode == _CONNECT else \
            socket.socket(spec.family, _STREAM_NONBLOCK)
    except OSError as exc:
        return CheckResult(False, exc.strerror or type(exc).__name__, time.monotonic() - start)
    try:
        if not _NONBLOCK:
            sock.setblocking(False)
        # Close with RST (as HAProxy's checks do): no TIME_WAIT pile-up on the
        # director, whose ephemeral-port search otherwise slows every connect.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
        connected = _try_connect(sock, spec.addr)
    except OSError as exc:
        sock.close()
        return CheckResult(False, exc.strerror or type(exc).__name__, time.monotonic() - start)
    if mode == _CONNECT:
        if not connected:
            return PendingConnect(sock, start, start + spec.timeout)
        sock.close()
        return CheckResult(True, "connected", time.monotonic() - start)
    if mode == _HTTP_EXCHANGE:
        assert spec.http is not None and isinstance(sock, socket.socket)
        exchange = HttpExchange(sock, start, start + spec.timeout, spec.http, spec.request, spec.tls,
                                spec.http.host or spec.host, connected)
        verdict = exchange.step() if connected else None     # connected already: send the request now
        if verdict is None:
            return exchange
        exchange.sock.close()
        return CheckResult(*verdict, time.monotonic() - start)
    assert isinstance(sock, socket.socket)
    return _bounded(spec, start, sock, connected)


async def _bounded(spec: CheckSpec, start: float, sock: socket.socket | None,
                   connected: bool) -> CheckResult:
    """The waiting part of a check, bounded by what is left of ``spec.timeout``."""
    weight: int | None = None
    agent: AgentReply | None = None
    try:
        async with asyncio.timeout(spec.timeout - (time.monotonic() - start)):
            if spec.kind == "dns":
                ok, detail = await dns_check(spec.host, spec.port, spec.query or ".", spec.qtype)
            elif spec.kind == "agent":
                ok, detail, agent = await agent_check(spec.host, spec.port)
            elif spec.program is not None:
                ok, detail, weight = await _program_check(spec)
            elif spec.protocol == "udp":
                ok, detail = await _udp_check(spec)
            else:
                assert sock is not None
                ok, detail = await _tcp_check(spec, sock, connected)
    except TimeoutError:
        ok, detail = False, "timeout"
    except OSError as exc:
        ok, detail = False, exc.strerror or str(exc) or type(exc).__name__
    except (ValueError, UnicodeError) as exc:      # e.g. an invalid name or a TLS/HTTP parse problem
        ok, detail = False, str(exc) or type(exc).__name__
    finally:
        if sock is not None:
            sock.close()
    return CheckResult(ok, detail, time.monotonic() - start, weight, agent)


def matches(spec: CheckSpec, data: bytes) -> bool:
    """Does ``data`` satisfy ``expect`` (prefix, ``*`` = any byte, or regex search)?"""
    if spec.expect is None:
        return True
    if spec.regex is not None:
        return spec.regex.search(data) is not None
    if spec.expect == b"*":
        return len(data) >= 1
    return data.startswith(spec.expect)


def _enough(spec: CheckSpec, data: bytes) -> bool:
    """Can we stop reading? (prefix long enough, or the regex already matches)."""
    if spec.regex is not None:
        return spec.regex.search(data) is not None
    need = 1 if spec.expect in (None, b"*") else len(spec.expect or b"")
    return len(data) >= need


async def _tcp_check(spec: CheckSpec, sock: socket.socket, connected: bool) -> tuple[bool, str]:
    """Finish connecting, optionally send, optionally read until the answer is decidable."""
    loop = asyncio.get_running_loop()
    if not connected:
        await loop.sock_connect(sock, (spec.host, spec.port))
    if spec.send:
        await loop.sock_sendall(sock, spec.send)
    if spec.expect is None:
        return True, "connected"
    data = b""
    while not _enough(spec, data) and len(data) < READ_LIMIT:
        chunk = await loop.sock_recv(sock, 4096)
        if not chunk:
            break
        data += chunk
    if matches(spec, data):
        return True, "expect matched"
    return False, f"unexpected reply {data[:40]!r}"


def _try_connect(sock: _socket.socket, addr: tuple[str, int]) -> bool:
    """Start a non-blocking connect; True when the handshake already finished.

    On loopback and fast LANs the SYN/SYN-ACK exchange completes inside
    ``connect()`` itself; asking ``getpeername()`` saves registering the
    socket with epoll and a loop iteration.  A refused or unreachable
    address raises :class:`OSError` at once.  False: still in progress,
    asyncio's ``sock_connect`` waits for it (and reports its outcome).
    """
    err = sock.connect_ex(addr)
    if err == 0:
        return True
    if err not in _IN_PROGRESS:
        raise OSError(err, os.strerror(err))
    try:
        sock.getpeername()
        return True
    except OSError:
        return False


async def _udp_check(spec: CheckSpec) -> tuple[bool, str]:
    """Send a datagram and wait for an answer (any, or one matching expect)."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET6 if ":" in spec.host else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        await loop.sock_connect(sock, (spec.host, spec.port))
        await loop.sock_sendall(sock, spec.send or b"")
        while True:
            data = await loop.sock_recv(sock, READ_LIMIT)
            if matches(spec, data):
                return True, "reply matched" if spec.expect is not None else "reply"
    finally:
        sock.close()


def program_argv(spec: CheckSpec) -> list[str]:
    """The program's argv with whole-argument %h / %p replaced."""
    subst = {"%h": spec.host, "%p": str(spec.port)}
    return [subst.get(arg, arg) for arg in spec.program or ()]


async def _program_check(spec: CheckSpec) -> tuple[bool, str, int | None]:
    """Run send_program; non-zero exit or timeout is DOWN (Piranha's bug fixed), unless dynamic."""
    proc = await asyncio.create_subprocess_exec(
        *program_argv(spec), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    try:
        out, _ = await proc.communicate()
    except BaseException:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    rc = proc.returncode
    if spec.dynamic and rc is not None and 2 <= rc <= 255:
        return True, f"exit {rc}: weight {rc - 2}", rc - 2
    if rc != 0:
        return False, f"exit {rc}", None
    restore = -1 if spec.dynamic else None
    text = out.decode(errors="replace")
    if text.endswith("\n"):
        text = text[:-1]
    if spec.expect is None:
        return True, "exit 0", restore
    want = spec.expect.decode(errors="replace")
    return (text == want), ("output matched" if text == want else f"output {text[:40]!r}"), restore
