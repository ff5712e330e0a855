"""Render the app icons (PNG) from the SVGs in web/static/web/icons/ with Debian's Chromium.

Run after changing an SVG: ``.venv/bin/python scripts/make-icons.py``. The PNGs are
committed (browsers and the manifest want fixed sizes; iOS wants a PNG touch icon).
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import sync_playwright

ICONS = Path(__file__).resolve().parent.parent / "web" / "static" / "web" / "icons"
SIZES = [
    ("icon.svg", "icon-192.png", 192),
    ("icon.svg", "icon-512.png", 512),
    ("maskable.svg", "maskable-512.png", 512),
    ("maskable.svg", "apple-touch-icon.png", 180),
    ("icon.svg", "favicon-32.png", 32),
]


def main() -> None:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        for src, out, size in SIZES:
            page = browser.new_page(viewport={"width": size, "height": size})
            svg = (ICONS / src).read_text(encoding="utf-8")
            page.set_content(
                "<style>html,body{margin:0;background:transparent}"
                f"svg{{display:block;width:{size}px;height:{size}px}}</style>{svg}"
            )
            page.screenshot(path=str(ICONS / out), omit_background=True)
            page.close()
        browser.close()


if __name__ == "__main__":
    main()
