"""The service worker's version follows the files it caches, so a deploy that changes any
of them installs a new worker with fresh caches (docs/phone-app.md "Updates")."""

from __future__ import annotations

import re

from django.test import Client

from web import pwa


def version(client: Client) -> str:
    r = client.get("/sw.js")
    m = re.match(r'const VERSION = "([0-9a-f]{16})";', r.content.decode())
    assert m
    assert r["X-CoCare-SW-Version"] == m.group(1)
    return m.group(1)


def test_changing_a_shell_file_changes_the_worker_version(monkeypatch, settings):
    settings.DEBUG = True  # the script is rebuilt per request, as while developing
    c = Client()
    first = version(c)
    assert version(c) == first
    real = pwa._read
    monkeypatch.setattr(
        pwa, "_read", lambda p: real(p) + (b"/* changed */" if p == "web/chat.js" else b"")
    )
    assert version(c) != first


def test_the_worker_lists_every_shell_file_and_caches_no_api():
    pwa._worker.cache_clear()
    _, script = pwa._worker()
    files = pwa.shell_files()
    # Every module the room page imports is there, so the room starts offline.
    for needed in ("web/chat.js", "web/socket.js", "web/visitcard.js", "web/offline-store.js"):
        assert needed in files
    assert "web/sw.js" not in files
    for path in files:
        assert f'"/static/{path}"' in script
    assert "/api/" not in script.split("const SHELL")[1].split("\n")[0]


def test_every_module_a_cached_script_imports_is_cached_too():
    files = set(pwa.shell_files())
    for path in files:
        if not path.endswith(".js"):
            continue
        text = (pwa.SHELL_DIR / path).read_text(encoding="utf-8")
        for name in re.findall(r'from "\./([\w./-]+\.js)"', text):
            assert f"web/{name}" in files, f"{path} imports {name}, which is not cached"
