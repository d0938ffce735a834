"""One raw netlink socket with a :mod:`struct` codec: the transport of the IPVS and address backends.

Requests are ``nlmsghdr`` + a body the caller encodes; replies are matched
by sequence number.  ``request`` serves dumps and single answers,
``call`` a change acknowledged by the kernel, ``send_many`` a batch of
changes in one ``send()`` whose acknowledgements are collected per request
(one failing request fails alone; the kernel processes a batch in order).
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Iterator

NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x2, 0x4, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
HDR = struct.Struct("=IHHII")       # nlmsghdr: length, type, flags, seq, pid
_NLA = struct.Struct("=HH")
SOL_NETLINK, NETLINK_CAP_ACK = 270, 10
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
RCVBUF = 4 << 20


def attr(kind: int, payload: bytes) -> bytes:
    """One netlink attribute, padded to 4 bytes."""
    raw = _NLA.pack(_NLA.size + len(payload), kind) + payload
    return raw + b"\0" * (-len(raw) % 4)


def attrs(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(type, payload) of each attribute in ``data`` (nested flag stripped)."""
    pos = 0
    while pos + 4 <= len(data):
        length, kind = _NLA.unpack_from(data, pos)
        if length < 4:
            break
        yield kind & 0x3FFF, data[pos + 4:pos + length]
        pos += (length + 3) & ~3


def _error(msg: bytes) -> OSError | None:
    """The error an NLMSG_ERROR body carries (None: an acknowledgement)."""
    code = -struct.unpack_from("=i", msg)[0]
    return OSError(code, os.strerror(code)) if code else None


class NetlinkSocket:
    """A bound raw netlink socket of one protocol (NETLINK_ROUTE, NETLINK_GENERIC, ...)."""

    def __init__(self, protocol: int) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, protocol)
        self.sock.bind((0, 0))
        try:        # root may exceed rmem_max: a batch's acks must never overflow the buffer
            self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        try:        # acks without a copy of the request
            self.sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
        except OSError:
            pass
        self.seq = 0

    def _message(self, msg_type: int, flags: int, body: bytes) -> bytes:
        self.seq += 1
        return HDR.pack(HDR.size + len(body), msg_type, flags, self.seq, 0) + body

    def _replies(self) -> Iterator[tuple[int, int, int, bytes]]:
        """(type, flags, seq, body) of every message received, one datagram at a time, forever."""
        while True:
            data = self.sock.recv(1 << 20)
            pos = 0
            while pos + HDR.size <= len(data):
                length, kind, flags, seq, _ = HDR.unpack_from(data, pos)
                yield kind, flags, seq, data[pos + HDR.size:pos + length]
                pos += (length + 3) & ~3

    def request(self, msg_type: int, flags: int, body: bytes) -> Iterator[bytes]:
        """Send one request; yield the body of every reply until done (raises the kernel's error)."""
        self.sock.send(self._message(msg_type, flags, body))
        mine = self.seq
        for kind, mflags, seq, msg in self._replies():
            if seq != mine:
                continue
            if kind == NLMSG_DONE:
                return
            if kind == NLMSG_ERROR:
                error = _error(msg)
                if error is not None:
                    raise error
                return
            yield msg
            if not mflags & NLM_F_MULTI:          # a single answer
                return

    def call(self, msg_type: int, flags: int, body: bytes) -> None:
        """Send one change and wait for its acknowledgement (raises the kernel's error)."""
        for _ in self.request(msg_type, flags, body):
            pass

    def send_many(self, requests: list[tuple[int, bytes]]) -> list[OSError | None]:
        """(type, body) requests with ACK in one send(), in order; the kernel's verdict on each."""
        results: list[OSError | None] = [None] * len(requests)
        pending: dict[int, int] = {}
        chunks = []
        for index, (msg_type, body) in enumerate(requests):
            chunks.append(self._message(msg_type, NLM_F_REQUEST | NLM_F_ACK, body))
            pending[self.seq] = index
        self.sock.send(b"".join(chunks))
        replies = self._replies()
        while pending:
            kind, _flags, seq, msg = next(replies)
            if kind == NLMSG_ERROR and seq in pending:
                results[pending.pop(seq)] = _error(msg)
        return results

    def close(self) -> None:
        self.sock.close()
