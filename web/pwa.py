"""The installable app: the web app manifest and the service worker script.

``/sw.js`` is served from the site root (a worker's scope cannot be wider than its own
path, and it must cover every page). Its ``VERSION`` is a hash of the worker and every
app-shell file it caches, so any deploy that changes one of them installs a new worker
with fresh caches (web/static/web/sw.js says how the update applies). Both answers are
public and carry no personal data.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.templatetags.static import static
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

# Everything under web/static/web/ except the worker itself: every module chat.js imports
# must be cached, or the room cannot start offline — listing the folder cannot forget one.
SHELL_DIR = Path(__file__).resolve().parent / "static"
SHELL_SUFFIXES = {".js", ".css", ".svg", ".png"}


def shell_files() -> list[str]:
    root = SHELL_DIR / "web"
    return sorted(
        p.relative_to(SHELL_DIR).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.suffix in SHELL_SUFFIXES and p.name != "sw.js"
    )


THEME = "#005ea5"


def _read(path: str) -> bytes:
    found = finders.find(path)
    if not found:
        raise FileNotFoundError(path)
    with open(found if isinstance(found, str) else found[0], "rb") as fh:
        return fh.read()


@lru_cache(maxsize=1)
def _worker() -> tuple[str, str]:
    """(version, script). Cached per process unless DEBUG (files change while developing)."""
    source = _read("web/sw.js")
    digest = hashlib.sha256(source)
    files = shell_files()
    for path in files:
        digest.update(path.encode())
        digest.update(_read(path))
    version = digest.hexdigest()[:16]
    head = (
        f"const VERSION = {json.dumps(version)};\n"
        f"const SHELL = {json.dumps([static(p) for p in files])};\n"
    )
    return version, head + source.decode("utf-8")


@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    if settings.DEBUG:
        _worker.cache_clear()
    version, script = _worker()
    resp = HttpResponse(script, content_type="text/javascript; charset=utf-8")
    # Browsers re-check the worker on navigation; never let a cache hide a new version.
    resp["Cache-Control"] = "no-cache"
    resp["Service-Worker-Allowed"] = "/"
    resp["X-CoCare-SW-Version"] = version
    return resp


@require_GET
@cache_control(max_age=3600, public=True)
def manifest(request: HttpRequest) -> JsonResponse:
    icon = "web/icons/"
    data = {
        "name": "CoCare",
        "short_name": "CoCare",
        "description": "Care-network chat: the team's and the family's rooms for each person.",
        "id": "/",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#ffffff",
        "theme_color": THEME,
        "lang": "en-GB",
        "icons": [
            {"src": static(icon + "icon.svg"), "sizes": "any", "type": "image/svg+xml"},
            {"src": static(icon + "icon-192.png"), "sizes": "192x192", "type": "image/png"},
            {"src": static(icon + "icon-512.png"), "sizes": "512x512", "type": "image/png"},
            {
                "src": static(icon + "maskable-512.png"),
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "maskable",
            },
        ],
    }
    return JsonResponse(data, content_type="application/manifest+json")


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    return redirect(static("web/icons/favicon-32.png"), permanent=True)
