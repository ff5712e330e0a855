"""Every picture the README shows is written by a test on ``./dev demo``'s data.

The demo-screens tests (tests/web/test_demo_screens.py) seed the demo with ``seed_demo``
and list what they write in ``README_SHOTS``; a README image not on that list — or one
another test also writes, from its own cast — fails here, without a browser.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.services import ROOT
from tests.web.test_demo_screens import README_SHOTS, SWEEP_SHOTS, WALK_SHOTS

# Markdown images and HTML <img> tags: the link target, as written.
IMAGE = re.compile(r"!\[[^\]]*\]\(\s*([^)\s]+)|<img\b[^>]*\bsrc=[\"']([^\"']+)")
SHOT_DIR = "docs/screenshots/"


def readme_images(text: str) -> list[str]:
    """The image paths a Markdown text links, in order."""
    return [m[1] or m[2] for m in IMAGE.finditer(text)]


def test_the_image_link_parser_reads_markdown_and_html_images():
    text = (
        '![a](docs/screenshots/x.png) ![b]( <docs/screenshots/y z.png> ) ![c](d.png "title")\n'
        '<p><img alt="e" src="docs/screenshots/e.png"></p> [not an image](f.png) ![](g.png)'
    )
    assert readme_images(text) == [
        "docs/screenshots/x.png",
        "<docs/screenshots/y",  # an odd spelling is kept odd: the check below rejects it
        "d.png",
        "docs/screenshots/e.png",
        "g.png",
    ]


def test_every_readme_image_is_written_by_a_demo_screens_test():
    links = readme_images((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(links) >= len(README_SHOTS)  # the walkthrough and the dashboards at least
    for link in links:
        assert link.startswith(SHOT_DIR) and link.endswith(".png"), link
        name = link.removeprefix(SHOT_DIR).removesuffix(".png")
        assert name in README_SHOTS, f"{link}: no demo-screens test writes it"
        assert (ROOT / link).is_file(), f"{link}: linked but not committed"
    # Nothing the demo tests write for the README is left unlinked (a stale list).
    linked = {link.removeprefix(SHOT_DIR).removesuffix(".png") for link in links}
    assert linked == set(README_SHOTS), set(README_SHOTS) - linked
    assert len(SWEEP_SHOTS + WALK_SHOTS) == len(README_SHOTS)  # no name written twice


def test_no_other_test_writes_a_readme_picture():
    here = Path(__file__).resolve()
    writers = {ROOT / "tests/web/test_demo_screens.py", here}
    for path in sorted((ROOT / "tests").rglob("*.py")):
        if path.resolve() in writers:
            continue
        text = path.read_text(encoding="utf-8")
        for name in README_SHOTS:
            # The name on its own ("09-manager-alert-page", 09-manager-alert-page.png), not
            # inside a longer one (cast-09-manager-alert-page).
            spelled = re.compile(rf"(?<![\w-]){re.escape(name)}(?:\.png|[\"'])")
            assert not spelled.search(text), f"{path.relative_to(ROOT)} writes {name}.png"
