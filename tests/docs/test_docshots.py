"""The docs screenshot guard refuses a page that shows a temporary path, in a real browser."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.support import docshots

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run"]


@pytest.fixture(scope="module")
def page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True,
                                     timeout=120_000)
        try:
            yield browser.new_page()
        finally:
            browser.close()


def _footer(path: str) -> str:
    return f"<title>CONTROL/MONITORING</title><main>ok</main><footer>piranha-web · lvs.cf {path}</footer>"


def test_a_temporary_path_in_the_footer_refuses_the_screenshot(page: Any, tmp_path: Path) -> None:
    page.set_content(_footer(f"{tmp_path}/instance/lvs.cf"))
    with pytest.raises(docshots.TempPathShown, match="lvs.cf"):
        docshots.capture(page, tmp_path / "out", "x.png", docshots.scratch_markers(tmp_path))
    assert not (tmp_path / "out" / "x.png").exists()


def test_any_temporary_directory_is_refused_not_only_the_test_own(page: Any, tmp_path: Path) -> None:
    page.set_content(_footer("/tmp/pytest-of-root/pytest-1/test0/lvs.cf"))
    with pytest.raises(docshots.TempPathShown):
        docshots.assert_clean(page, docshots.scratch_markers(tmp_path / "elsewhere"))


def test_a_form_value_counts_as_shown_text(page: Any, tmp_path: Path) -> None:
    page.set_content('<label for="f">Heartbeat key file</label><input id="f">')
    page.fill("#f", f"{tmp_path}/key")
    with pytest.raises(docshots.TempPathShown, match="key"):
        docshots.assert_clean(page, docshots.scratch_markers(tmp_path))


def test_the_default_path_passes_and_is_saved(page: Any, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.delenv(docshots.REFRESH_ENV, raising=False)
    page.set_content(_footer("/etc/sysconfig/ha/lvs.cf"))
    shot = docshots.capture(page, tmp_path / "out", "x.png", docshots.scratch_markers(tmp_path))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
