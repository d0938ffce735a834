"""Screenshots that go into docs/: captured only when the page shows nothing of the test's scratch space.

A documentation image is read as "what the product shows"; a temporary
directory in its footer (or anywhere else) would document the test harness
instead.  ``capture`` reads the page's visible text and its form values at
the moment of the screenshot and refuses to save the image when one of the
forbidden strings (the test's temporary directories) appears in them.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
REFRESH_ENV = "PIRANHA_E2E_DOCS"  # =1: copy the images into docs/ (how the committed ones were made)

# visible text plus what inputs hold (a value is drawn but is not innerText)
_PAGE_TEXT_JS = """() => [document.title, document.body.innerText,
  ...Array.from(document.querySelectorAll('input, textarea, select'), e => e.value || '')].join('\\n')"""


class TempPathShown(AssertionError):
    """The page about to be documented shows a temporary path."""


def scratch_markers(*dirs: Path) -> list[str]:
    """Strings that betray a test's scratch space: the given directories and the temp root."""
    markers = {str(d) for d in dirs} | {tempfile.gettempdir().rstrip("/") + "/", "pytest-of-"}
    return sorted(markers)


def page_text(page: Any) -> str:
    """Everything a reader of the screenshot could see as text."""
    return str(page.evaluate(_PAGE_TEXT_JS))


def assert_clean(page: Any, forbidden: list[str]) -> None:
    """Fail, naming the string and its line, when the page shows a forbidden string."""
    if not forbidden:
        return
    text = page_text(page)
    for marker in forbidden:
        for line in text.splitlines():
            if marker in line:
                raise TempPathShown(f"{page.url} shows {marker!r}: {line.strip()!r}")


def capture(page: Any, out_dir: Path, name: str, forbidden: list[str], *, full_page: bool = True) -> Path:
    """Check the page, screenshot it as ``out_dir/name``; copy it to docs/ when refreshing."""
    assert_clean(page, forbidden)
    out_dir.mkdir(parents=True, exist_ok=True)
    shot = out_dir / name
    page.screenshot(path=str(shot), full_page=full_page)
    if os.environ.get(REFRESH_ENV) == "1":
        shutil.copy(shot, DOCS / name)
    return shot
