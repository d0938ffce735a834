"""What keeps the audit chain honest against whoever can write the database: a key and a checkpoint.

* The chain is keyed: each entry's hash is an HMAC-SHA256 under a key kept
  in ``<instance>/audit_key`` (0600, created on first use), not in the
  database.  Someone who can edit rows but not read the key cannot
  recompute the hashes after an edit or a deletion.
* After every committed write the head of the chain (entry count, last id,
  last hash, and the first keyed id) is written to
  ``<instance>/audit-checkpoint.json`` (0600, replaced atomically, only ever
  moved forward), sealed with the same key.  Deleting the newest entries
  (truncation) leaves the database shorter than its checkpoint.  The same
  head goes into each entry's syslog line, for a remote copy.

Entries written before the key existed keep their plain SHA-256 hashes; the
checkpoint's ``keyed_from`` says where keyed entries begin, so turning keyed
entries back into plain ones is noticed.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import hmac
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..instance import FILE_MODE, ensure_private_dir, read_or_create_secret

KEY_FILE = "audit_key"
CHECKPOINT_FILE = "audit-checkpoint.json"


def instance_dir() -> Path:
    """The current app's instance directory (the audit key and checkpoint live there)."""
    from flask import current_app

    return Path(current_app.config["INSTANCE_PATH"])


def key(instance: Path | None = None) -> bytes:
    """The chain key; created on first use (and read once per process: it never changes)."""
    return _key_at(str((instance or instance_dir()) / KEY_FILE))


@functools.lru_cache(maxsize=16)
def _key_at(path: str) -> bytes:
    return bytes.fromhex(read_or_create_secret(path))


def mac(secret: bytes, text: str) -> str:
    """HMAC-SHA256 of ``text`` as hex."""
    return hmac.new(secret, text.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Checkpoint:
    """The chain's head as last committed: ``count`` entries, the newest ``last_id``/``last_hash``."""

    count: int
    last_id: int
    last_hash: str
    keyed_from: int | None

    def text(self) -> str:
        """The sealed bytes (sorted-key JSON of the fields)."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))


class CheckpointError(ValueError):
    """The checkpoint file exists but is unreadable or its seal does not match the key."""


def read_checkpoint(instance: Path | None = None, secret: bytes | None = None) -> Checkpoint | None:
    """The stored checkpoint (None if there is none yet); CheckpointError if forged or garbled."""
    path = (instance or instance_dir()) / CHECKPOINT_FILE
    try:
        data = json.loads(path.read_text())
        point = Checkpoint(int(data["count"]), int(data["last_id"]), str(data["last_hash"]),
                           None if data.get("keyed_from") is None else int(data["keyed_from"]))
        seal = str(data["mac"])
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path}: unreadable ({exc})") from None
    if not hmac.compare_digest(seal, mac(secret or key(instance), point.text())):
        raise CheckpointError(f"{path}: its seal does not match the audit key")
    return point


def advance_checkpoint(point: Checkpoint, instance: Path | None = None) -> Checkpoint:
    """Store ``point`` unless the stored one is already as far; returns what is stored now.

    Workers commit and anchor in any order, so the file only moves forward
    (by last id), under a lock, and keeps the first ``keyed_from`` it saw.
    """
    inst = instance or instance_dir()
    ensure_private_dir(inst)
    secret = key(inst)
    lock_fd = os.open(inst / (CHECKPOINT_FILE + ".lock"), os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        try:
            current = read_checkpoint(inst, secret)
        except CheckpointError:
            current = None  # a damaged checkpoint is replaced; verify has already had its say on it
        if current is not None and current.last_id >= point.last_id:
            return current
        if current is not None and current.keyed_from is not None:
            point = Checkpoint(point.count, point.last_id, point.last_hash, current.keyed_from)
        _write(inst / CHECKPOINT_FILE, {**asdict(point), "mac": mac(secret, point.text())})
        return point
    finally:
        fcntl.flock(lock_fd, fcntl.LOCK_UN)
        os.close(lock_fd)


def _write(path: Path, data: dict[str, Any]) -> None:
    """Replace ``path`` atomically with a 0600 file.

    No fsync: the database commits with ``synchronous=NORMAL`` (a power cut
    may drop its last transactions), and a checkpoint made more durable than
    the entries it anchors would then report a truncation that nobody made.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(data, sort_keys=True) + "\n")
    os.replace(tmp, path)
