"""Translation catalogues without GNU gettext (pure Python, polib).

    python scripts/messages.py bots      # refresh locale/*/LC_MESSAGES/bots.po from the bank
    python scripts/messages.py compile   # every locale/*/LC_MESSAGES/*.po -> .mo
    python scripts/messages.py check     # exit 1 if a .mo is missing or older than its .po

``django.po``/``djangojs.po`` come from ``manage.py makemessages`` (marked strings in the
templates, the views and the JS). ``bots.po`` comes from here: each question of
``bots/questionbank/bank.yaml`` by its key (msgctxt "bot question", ``{name}`` kept for
the page to fill in), each answer label, and the bots' fixed sentences. Existing
translations are kept; an entry whose English changed is marked fuzzy.
"""

from __future__ import annotations

import sys
from pathlib import Path

import polib
import yaml

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "locale"
BANK = ROOT / "bots" / "questionbank" / "bank.yaml"
# Bot sentences posted without a name or a time in them (shown through the catalogue).
SENTENCES = [
    "Thank you — your view helps us get the care right.",
    "There is no open visit to check out of — check in first.",
    "Thanks — reason noted for the care manager.",
]


def bot_entries() -> list[polib.POEntry]:
    bank = yaml.safe_load(BANK.read_text())
    out: list[polib.POEntry] = []
    labels: list[str] = []
    for q in bank["questions"]:
        out.append(
            polib.POEntry(msgctxt="bot question", msgid=q["key"], comment=q["text"], msgstr="")
        )
        labels += [o["label"] for o in q["options"] if o["label"] not in labels]
    out += [polib.POEntry(msgid=t, msgstr="") for t in [*labels, *SENTENCES]]
    return out


def refresh_bots() -> None:
    for lang in sorted(p.name for p in LOCALE.iterdir() if p.is_dir()):
        path = LOCALE / lang / "LC_MESSAGES" / "bots.po"
        old = polib.pofile(str(path)) if path.exists() else None
        po = polib.POFile()
        po.metadata = (old.metadata if old else None) or {
            "Content-Type": "text/plain; charset=UTF-8",
            "Language": lang,
        }
        for e in bot_entries():
            prev = old.find(e.msgid, msgctxt=e.msgctxt) if old else None
            if prev is not None:
                e.msgstr = prev.msgstr
                # A question reworded in English: its translation needs a look.
                if prev.comment and prev.comment != e.comment:
                    e.flags.append("fuzzy")
            po.append(e)
        path.parent.mkdir(parents=True, exist_ok=True)
        po.save(str(path))


def compile_all() -> None:
    for po_path in sorted(LOCALE.glob("*/LC_MESSAGES/*.po")):
        polib.pofile(str(po_path)).save_as_mofile(str(po_path.with_suffix(".mo")))


def check() -> int:
    stale = [
        str(p.relative_to(ROOT))
        for p in sorted(LOCALE.glob("*/LC_MESSAGES/*.po"))
        if not p.with_suffix(".mo").exists()
        or _entries(polib.mofile(str(p.with_suffix(".mo")))) != _entries(polib.pofile(str(p)))
    ]
    for s in stale:
        print(f"stale: {s} (run python scripts/messages.py compile)")
    return 1 if stale else 0


def _entries(f) -> set[tuple]:
    return {
        (e.msgctxt, e.msgid, e.msgstr, tuple(sorted(e.msgstr_plural.items())))
        for e in f
        if e.msgstr or e.msgstr_plural
        if "fuzzy" not in getattr(e, "flags", [])
    }


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else "compile"
    if cmd == "bots":
        refresh_bots()
    elif cmd == "compile":
        compile_all()
    elif cmd == "check":
        sys.exit(check())
    else:
        sys.exit(__doc__)
