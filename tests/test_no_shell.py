"""No shell, ever (CVE-2000-0322: Piranha's passwd page fed a password to a shell).

Greps the package source for the ways Python hands a string to /bin/sh.
Child processes are started with argument lists only.
"""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "piranha_web"
FORBIDDEN = {
    "shell=True": re.compile(r"shell\s*=\s*True"),
    "os.system": re.compile(r"\bos\s*\.\s*system\s*\("),
    "os.popen": re.compile(r"\bos\s*\.\s*popen\s*\("),
    "from os import system/popen": re.compile(r"from\s+os\s+import\s+[^\n]*\b(system|popen)\b"),
    "subprocess.getoutput": re.compile(
        r"\b(commands|subprocess)\s*\.\s*getstatusoutput\(|\bsubprocess\s*\.\s*getoutput\("),
}


def offending_lines() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for what, pattern in FORBIDDEN.items():
                if pattern.search(line):
                    found.append(f"{path.relative_to(PACKAGE.parent)}:{number}: {what}: {line.strip()}")
    return found


def test_package_source_never_uses_a_shell() -> None:
    assert PACKAGE.is_dir() and any(PACKAGE.rglob("*.py"))
    assert offending_lines() == []


def test_the_grep_would_catch_them(tmp_path: Path) -> None:
    samples = ["subprocess.run(cmd, shell=True)", "os.system('ls')", "os.popen('ls')",
               "from os import popen", "subprocess.getoutput('x')"]
    for sample in samples:
        assert any(p.search(sample) for p in FORBIDDEN.values()), sample
    assert not any(p.search("subprocess.run(['ls'], shell=False)") for p in FORBIDDEN.values())
