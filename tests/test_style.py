"""House style, checked: flake8 on everything, strict typing on the two pure layers.

lvscf and pulse are the code every other part trusts (the grammar and the
kernel), so they carry ``mypy --disallow-untyped-defs``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def test_flake8_is_clean() -> None:
    result = _run("flake8", "piranha_web", "tests", "benchmarks", "wsgi.py", "conftest.py")
    assert result.returncode == 0, result.stdout + result.stderr


def test_pure_layers_are_fully_typed() -> None:
    result = _run("mypy", "--ignore-missing-imports", "--disallow-untyped-defs", "--no-incremental",
                  "piranha_web/lvscf", "piranha_web/pulse")
    assert result.returncode == 0, result.stdout + result.stderr
