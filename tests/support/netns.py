"""Low-level network-namespace plumbing: ``ip`` batches and per-thread setns.

Under UML every fork/exec costs ~40 ms and a python start ~0.3 s, so this
module avoids both: links and addresses are configured with one
``ip [-n NS] -batch -`` per namespace, and work the test process itself must
do inside a namespace (opening sockets, writing /proc/sys/net) runs in a
short-lived thread that ``setns(2)``-es into it.  A socket keeps the
namespace it was created in, so it can be used from any thread afterwards.
"""
from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Callable, Sequence, TypeVar

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/run/netns")
IP = shutil.which("ip") or "/usr/sbin/ip"
_libc = ctypes.CDLL(None, use_errno=True)


class NetnsError(RuntimeError):
    """An ``ip`` command or a setns call failed; the message carries stderr."""


def ip_batch(lines: Sequence[Sequence[str]], netns: str | None = None,
             *, force: bool = False, timeout: float = 60) -> None:
    """Run many ``ip`` commands in one process (``ip [-n NS] -batch -``).

    :param force: keep going after a failing line (used by teardown).
    """
    if not lines:
        return
    for line in lines:
        for word in line:
            if not word or any(c.isspace() or c in "\"'\\#" for c in word):
                raise ValueError(f"unsafe word for ip -batch: {word!r}")
    argv = [IP] + (["-n", netns] if netns else []) + (["-force"] if force else []) + ["-batch", "-"]
    text = "".join(" ".join(line) + "\n" for line in lines)
    proc = subprocess.run(argv, input=text, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0 and not force:
        raise NetnsError(f"{' '.join(argv)} failed ({proc.returncode}):\n{text}{proc.stderr}")


def ns_argv(netns: str, argv: Sequence[str]) -> list[str]:
    """The argument list that runs *argv* inside *netns*."""
    return [IP, "netns", "exec", netns, *argv]


def ns_run(netns: str, argv: Sequence[str], *, timeout: float = 60,
           check: bool = True, env: dict[str, str] | None = None,
           input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a short command inside *netns* and return its captured output."""
    proc = subprocess.run(ns_argv(netns, argv), capture_output=True, text=True,
                          timeout=timeout, env=env, input=input)
    if check and proc.returncode != 0:
        raise NetnsError(f"{argv!r} in {netns} failed ({proc.returncode}):\n"
                         f"{proc.stdout}{proc.stderr}")
    return proc


def in_netns(netns: str, fn: Callable[..., T], *args: object, timeout: float = 120) -> T:
    """Call ``fn(*args)`` in a fresh thread that has joined *netns*.

    setns(CLONE_NEWNET) only affects the calling thread, so the test process
    itself never changes namespace.
    """
    box: dict[str, object] = {}

    def worker() -> None:
        try:
            fd = os.open(NETNS_DIR / netns, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise NetnsError(f"setns({netns}): {os.strerror(err)}")
            finally:
                os.close(fd)
            box["result"] = fn(*args)
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc

    thread = threading.Thread(target=worker, name=f"netns-{netns}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"{getattr(fn, '__name__', fn)} in {netns} still running after {timeout}s")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["result"]  # type: ignore[return-value]


def write_sysctl(netns: str, key: str, value: str) -> None:
    """Set a per-namespace sysctl (e.g. net.ipv4.ip_forward) without forking."""
    path = Path("/proc/sys") / key.replace(".", "/")

    def write() -> None:
        path.write_text(value + "\n")

    in_netns(netns, write)


def list_netns() -> list[str]:
    """Names under /run/netns (empty when the directory does not exist)."""
    try:
        return sorted(p.name for p in NETNS_DIR.iterdir())
    except FileNotFoundError:
        return []


def delete_netns(names: Sequence[str]) -> None:
    """Delete namespaces in one batch, ignoring ones already gone."""
    ip_batch([["netns", "del", n] for n in names], force=True)
