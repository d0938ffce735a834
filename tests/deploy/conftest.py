"""Artifacts the packaging tests share, built once per session: the wheel and the .deb.

Both are built by the repository's own scripts (scripts/build-wheel.sh,
scripts/build-deb.sh), exactly as a release would be, into the session's
temporary directory.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_script(script: str, out: Path, timeout: float) -> Path:
    """Run ``scripts/<script> OUT``; it prints the path of what it built as its last line."""
    result = subprocess.run(["bash", str(ROOT / "scripts" / script), str(out)], cwd=ROOT, text=True,
                            capture_output=True, timeout=timeout, check=False)
    assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr}"
    built = Path(result.stdout.strip().splitlines()[-1])
    assert built.is_file(), f"{script} printed {built}, which does not exist"
    return built


@pytest.fixture(scope="session")
def wheel_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """piranha_web-<version>-py3-none-any.whl."""
    return run_script("build-wheel.sh", tmp_path_factory.mktemp("wheel"), timeout=300)


@pytest.fixture(scope="session")
def deb_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """piranha-web_<version>_all.deb."""
    return run_script("build-deb.sh", tmp_path_factory.mktemp("deb"), timeout=900)
