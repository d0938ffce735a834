"""write_atomic: readers see the old file or the new one, never a torn one."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from piranha_web.lvscf.files import write_atomic


def test_creates_and_replaces_with_mode(tmp_path: Path) -> None:
    path = tmp_path / "lvs.cf"
    write_atomic(path, "serial_no = 1\n")
    assert path.read_text() == "serial_no = 1\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    write_atomic(str(path), "serial_no = 2\n", mode=0o600)
    assert path.read_text() == "serial_no = 2\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["lvs.cf"]


def test_keeps_text_byte_exact(tmp_path: Path) -> None:
    path = tmp_path / "lvs.cf"
    write_atomic(path, "a = \"é\"\r\nb = 1\n")
    assert path.read_bytes() == "a = \"é\"\r\nb = 1\n".encode()


def test_failure_before_rename_keeps_the_old_file_and_no_temp(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "lvs.cf"
    path.write_text("old\n")

    def boom(src: str, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        write_atomic(path, "new\n")
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["lvs.cf"]


def test_unencodable_text_leaves_nothing_behind(tmp_path: Path) -> None:
    path = tmp_path / "lvs.cf"
    with pytest.raises(UnicodeEncodeError):
        write_atomic(path, "bad \udcff\n")
    assert list(tmp_path.iterdir()) == []


def test_missing_directory_is_an_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        write_atomic(tmp_path / "nope" / "lvs.cf", "x\n")


def test_symlink_is_kept_and_its_target_replaced(tmp_path: Path) -> None:
    real = tmp_path / "real.cf"
    real.write_text("old\n")
    link = tmp_path / "lvs.cf"
    link.symlink_to(real)
    write_atomic(link, "new\n")
    assert link.is_symlink()
    assert real.read_text() == "new\n"
