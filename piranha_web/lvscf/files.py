"""Crash-safe file replacement, shared by the console, pulse and the command line.

lvs.cf is read by a running daemon at any moment (SIGHUP, serial_no polling),
so it must never be seen half-written: write a temporary file in the same
directory, fsync it, rename it over the target (atomic on POSIX), then fsync
the directory so the rename itself survives a crash.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO


def write_atomic(path: str | os.PathLike[str], text: str, mode: int = 0o644) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically; readers see old or new, never half.

    The temporary file lives next to the target (rename cannot cross file
    systems) and is removed if anything fails before the rename.  A symlink
    at ``path`` is kept: the file it points to is replaced.
    """
    with atomic_file(path, mode) as out:
        out.write(text)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str], mode: int = 0o644) -> Iterator[TextIO]:
    """A text file that replaces ``path`` atomically when the block ends without an exception.

    For writers that produce a large file piece by piece (pulse's status
    document) without holding it all in memory first; :func:`write_atomic`
    is the one-string form.
    """
    # Replace what a symlink points to, not the link (lvs.cf is often symlinked).
    target = Path(os.path.realpath(path))
    directory = target.parent if str(target.parent) else Path(".")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as tmp:
            yield tmp
            tmp.flush()
            os.fchmod(tmp.fileno(), mode)
            os.fsync(tmp.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    """Persist a rename; some file systems refuse to open directories, which is fine."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
