"""The architecture's rules, enforced: web → services → lvscf; pulse alone talks to the kernel.

Each check imports in a fresh interpreter so modules imported by other tests
cannot hide a violation.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "piranha_web"


def _modules(subpackage: str) -> list[str]:
    path = PACKAGE / subpackage
    return [f"piranha_web.{subpackage}"] + [
        f"piranha_web.{subpackage}.{m.name}" for m in pkgutil.iter_modules([str(path)])
    ]


def _imported_after(modules: list[str]) -> set[str]:
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + "print('\\n'.join(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


def _top(names: set[str]) -> set[str]:
    return {n.split(".")[0] for n in names}


def test_lvscf_is_pure_python() -> None:
    loaded = _top(_imported_after(_modules("lvscf")))
    assert not loaded & {"flask", "sqlalchemy", "pyroute2", "werkzeug"}


def test_pulse_never_imports_the_web_stack() -> None:
    loaded = _top(_imported_after(_modules("pulse")))
    assert not loaded & {"flask", "sqlalchemy", "werkzeug", "wtforms"}


def test_the_console_never_touches_the_kernel() -> None:
    app = PACKAGE / "app.py"
    if not app.exists():
        pytest.fail("piranha_web/app.py is missing")
    loaded = _imported_after(["piranha_web.app"])
    assert "pyroute2" not in _top(loaded)
    kernel_modules = {m for m in loaded if m.startswith("piranha_web.pulse.")}
    # Only the pure planning and status-reading modules may be shared.
    assert kernel_modules <= {"piranha_web.pulse.reconcile", "piranha_web.pulse.statusfile"}
