"""Issue 15, "Language": every text the care worker, the family and the bots show is in
the Welsh catalogue. The strings are found the way the project extracts them — Django's
own template scanner (``templatize``, what ``makemessages`` runs) for the templates, and
the gettext calls for the Python and JS files — and each must have a non-empty Welsh
translation in ``locale/cy``. Staff-only pages (manager, admin, dashboards) are not listed:
they stay English (docs/decisions.md).

A second check keeps the listed JS honest: a visible text written as a bare English
literal (``text: "Done"``, ``note("…")``) would never reach the catalogue at all."""

from __future__ import annotations

import ast
import re

import polib
import pytest
from django.utils.translation.template import templatize

from tests.support.services import ROOT

CY = ROOT / "locale" / "cy" / "LC_MESSAGES"
TEMPLATES = [
    *(f"web/templates/{n}.html" for n in ("400", "403", "403_csrf", "404", "429", "500")),
    "web/templates/error_page.html",
    *(
        f"web/templates/web/{n}.html"
        for n in (
            "base",
            "home",
            "room",
            "settings",
            "login",
            "invite_accept",
            "invite_account",
            "invite_gone",
            "key_info",
            "goals",
            "concerns",
            "notifications",
            "room_search",
            "unlinked",
        )
    ),
]
JS = [
    f"web/static/web/{n}.js"
    for n in ("chat", "visitcard", "attachments", "push", "share", "pwa", "offline-store")
]
PYTHON = [
    "careplan/rules.py",
    "careplan/medicines.py",
    "careplan/actions.py",
    "escalation/alerts.py",
    "escalation/concerns.py",
    "escalation/push.py",
    "bots/goals.py",
    "rooms/keyinfo.py",
    "web/forms.py",
    "web/views_invite.py",
    "web/views_push.py",
    "web/views_goals.py",
]

_STR = r"""(?:u?'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""
CALL = re.compile(
    r"\b(gettext|gettext_noop|gettext_lazy|ngettext|pgettext|_)\(\s*"
    rf"({_STR}(?:\s*,?\s*{_STR})*)"
)


def _split_args(args: str) -> list[str]:
    parts, current = [], ""
    for m in re.finditer(rf"{_STR}|,", args):
        if m.group() == ",":
            parts.append(current)
            current = ""
        else:
            current += m.group()
    return [*parts, current]


def _calls(text: str) -> set[tuple[str | None, str]]:
    """(context, msgid) of every gettext-style call with literal arguments."""
    out: set[tuple[str | None, str]] = set()
    for fn, args in CALL.findall(text):
        # Arguments split at commas; adjacent literals join (Python's implicit concatenation).
        lits = [
            "".join(ast.literal_eval(s.lstrip("u")) for s in re.findall(_STR, arg))
            for arg in _split_args(args)
        ]
        if fn == "pgettext":
            if len(lits) > 1:  # a context with a computed text is looked up, not extracted
                out.add((lits[0], lits[1]))
        else:
            out.add((None, lits[0]))
    return out


def used_msgids() -> dict[tuple[str | None, str], str]:
    """Every marked string of the listed files, with the first file that uses it."""
    found: dict[tuple[str | None, str], str] = {}
    for rel in TEMPLATES:
        for key in _calls(templatize((ROOT / rel).read_text(), origin=rel)):
            found.setdefault(key, rel)
    for rel in JS + PYTHON:
        for key in _calls((ROOT / rel).read_text()):
            found.setdefault(key, rel)
    return found


def welsh() -> dict[tuple[str | None, str], bool]:
    out: dict[tuple[str | None, str], bool] = {}
    for name in ("django.po", "djangojs.po", "bots.po"):
        for e in polib.pofile(str(CY / name)):
            ok = "fuzzy" not in e.flags and (
                bool(e.msgstr.strip())
                if not e.msgid_plural
                else all(v.strip() for v in e.msgstr_plural.values())
            )
            key = (e.msgctxt, e.msgid)
            out[key] = out.get(key, False) or ok
    return out


def test_the_scanner_finds_what_the_pages_show():
    """The extraction itself: known strings of each kind are found (so an empty scan
    cannot pass the next test)."""
    ids = {m for _, m in used_msgids()}
    for sample in (
        "Sign in",  # template {% translate %}
        "Welcome, %(who)s",  # {% blocktranslate with %}
        "For your safety, signing in is paused. Try again in %(minutes)s minute.",  # count
        "Why was it needed?",  # visitcard.js _()
        "%(1)s checked in %(2)s (%(3)s).",  # a bot notice, rebuilt on the page
        "Declined",  # careplan/rules.py gettext_noop
        "New message in %(name)s's family room",  # the push text
        "Take a photo",  # attachments.js
        "Link copied. Paste it into a message to them.",  # share.js
    ):
        assert sample in ids, sample
    assert len(ids) > 250


def test_every_text_the_care_worker_the_family_and_the_bots_show_has_welsh():
    cy = welsh()
    missing = sorted(
        f"{where}: {msgid!r}" + (f" (context {ctx!r})" if ctx else "")
        for (ctx, msgid), where in used_msgids().items()
        if not cy.get((ctx, msgid))
    )
    assert not missing, "no Welsh for:\n" + "\n".join(missing)


# A visible text as a bare English literal in the listed JS: an element's text or label,
# or a status line, written without _() — it would never be translated.
BARE = re.compile(
    r"""(?:\btext:|"aria-label":|placeholder:|title:|\bnote\(|\bsay\(|textContent\s*=)\s*"""
    r"""["`][A-Z]"""
)


@pytest.mark.parametrize("rel", JS)
def test_no_visible_english_literal_is_left_unmarked(rel):
    lines = [
        f"{rel}:{n}: {line.strip()}"
        for n, line in enumerate((ROOT / rel).read_text().splitlines(), 1)
        if BARE.search(line)
    ]
    assert not lines, "\n".join(lines)


@pytest.mark.django_db
def test_pages_before_sign_in_follow_the_browser_and_a_person_their_own_choice(cast):
    """Not signed in: the browser's Accept-Language among ours, else English (and caches
    are told the page varies by it). Signed in: Person.language, whatever the browser."""
    from django.test import Client

    c = Client()
    r = c.get("/login/", HTTP_ACCEPT_LANGUAGE="cy,en-GB;q=0.8")
    assert r.headers["Content-Language"] == "cy"
    assert "Accept-Language" in r.headers["Vary"]
    page = r.content.decode()
    assert "Enw defnyddiwr" in page and "Username" not in page
    r = c.get("/invite/not-a-real-token/", HTTP_ACCEPT_LANGUAGE="cy")
    assert "Nid yw’r ddolen wahoddiad hon yn ddilys" in r.content.decode()
    for header in ("fr-FR,de;q=0.5", "", "*", "cy-x-" + "a" * 300):
        r = c.get("/login/", HTTP_ACCEPT_LANGUAGE=header)
        assert r.status_code == 200, header
        if header.startswith("cy"):
            continue  # an odd but Welsh tag may well read Welsh; it must just not fail
        assert r.headers["Content-Language"] == "en-gb", header
        assert "Username" in r.content.decode()
    c.force_login(cast.anna.user)  # English by choice, on a Welsh browser
    r = c.get("/", HTTP_ACCEPT_LANGUAGE="cy")
    assert r.headers["Content-Language"] == "en-gb"
