"""docs/ keeps up with the console: a page per panel, every field's label and key, no broken image.

A new blueprint without a row in docs/panels/README.md, a new lvs.cf key on a
panel that its page does not name, or an image a markdown file shows but the
repository lacks, fails here.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask

from piranha_web.lvscf import keys

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PANELS = DOCS / "panels"
INDEX = PANELS / "README.md"
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s#]+)(?:#[^)]*)?\)")
# the page documenting each panel of the key table
KEY_PANEL_PAGES = {keys.P_GLOBAL: "global-settings.md", keys.P_REDUNDANCY: "redundancy.md",
                   keys.P_VIRTUAL: "virtual-server.md", keys.P_SCRIPTS: "monitoring-scripts.md",
                   keys.P_REAL: "real-server.md", keys.P_FAILOVER: "failover.md"}


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def index_rows() -> dict[str, list[str]]:
    """Blueprint name -> the pages its index rows link to (a blueprint may have several panels)."""
    rows: dict[str, list[str]] = {}
    for line in INDEX.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and re.fullmatch(r"`\w+`", cells[2]):
            rows.setdefault(cells[2].strip("`"), []).extend(LINK.findall(cells[1]))
    return rows


def test_every_blueprint_has_a_docs_page(app: Flask) -> None:
    rows = index_rows()
    index_text = INDEX.read_text()
    undocumented = []
    for name in sorted(app.blueprints):
        if name in rows:
            assert rows[name], f"{name}: no page linked"
            for page in rows[name]:
                assert (PANELS / page).is_file(), f"{name}: {page} does not exist"
        elif not re.search(rf"`{name}` \([^)]*\[[^\]]+\]\(\.\./[\w.-]+\.md", index_text):
            undocumented.append(name)
    assert undocumented == [], f"blueprints without a row in {INDEX.relative_to(ROOT)}: {undocumented}"


def test_every_panel_page_shows_its_panel() -> None:
    pages = sorted({p for ps in index_rows().values() for p in ps})
    assert len(pages) >= 12
    for page in pages:
        shown = IMAGE.findall((PANELS / page).read_text())
        assert shown, f"{page} has no screenshot"


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_images_and_links_of_the_markdown_exist(path: Path) -> None:
    text = path.read_text()
    missing = [target for target in IMAGE.findall(text) + LINK.findall(text)
               if "://" not in target and not target.startswith("mailto:")
               and not (path.parent / target).exists()]
    assert missing == [], f"{path.relative_to(ROOT)} refers to missing files: {missing}"


def test_every_docs_image_is_shown_somewhere() -> None:
    shown = {(md.parent / target).resolve()
             for md in markdown_files() for target in IMAGE.findall(md.read_text())}
    unused = [p.name for p in sorted(DOCS.glob("*.png")) if p.resolve() not in shown]
    assert unused == []


def written_as(k: keys.Key) -> str:
    """The lvs.cf key a field is written under (a DEVICE is the second word of its address key)."""
    if k.kind != keys.DEVICE:
        return k.name
    return "address" if k.name == "device" else k.name.removesuffix("_device")


@pytest.mark.parametrize("panel", sorted(KEY_PANEL_PAGES))
def test_each_panel_page_names_every_field_and_key(panel: str) -> None:
    text = (PANELS / KEY_PANEL_PAGES[panel]).read_text()
    missing = []
    for k in keys.panel_keys(panel):
        if k.label and k.label not in text:
            missing.append(f"label {k.label!r}")
        if f"`{written_as(k)}`" not in text:
            missing.append(f"key `{written_as(k)}`")
    assert missing == [], f"{KEY_PANEL_PAGES[panel]} does not document: {missing}"


def test_the_screenshot_run_makes_every_image_the_panel_pages_show() -> None:
    from tests.docs.test_panel_screenshots import PANEL_IMAGES

    shown = {Path(t).name for page in PANELS.glob("*.md") for t in IMAGE.findall(page.read_text())}
    from_e2e = {"console-control-monitoring.png"}  # needs real IPVS: tests/e2e/test_seed_article.py
    from_cluster = {"console-cluster.png"}  # needs a running ECMP pulse: tests/web/test_browser_cluster.py
    assert shown - from_e2e - from_cluster == set(PANEL_IMAGES)
