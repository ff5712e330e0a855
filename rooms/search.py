"""Search within one room: PostgreSQL full-text, SQLite FTS5 on the embedded default.

Guarantees of :func:`search_room`:
- access is decided by ``rooms.access.access_room`` (READ): a room the caller may not
  read answers the one NotFound text;
- never an entry at or before the member's ``visible_from_seq`` (a late-joining family
  member does not find the history hidden from them);
- only people's words (text and clinical notes), matched on their *current* text: an
  edited message is found by its new words and not its old ones, a deleted (redacted)
  one is never found;
- newest first, at most ``limit`` entries.

The index is kept in one place per backend, both created by migration
``rooms.0007_h15b_search``: on PostgreSQL a GIN index over the same expression this
module queries (so the planner can use it); on SQLite an FTS5 table kept in sync by
triggers on ``rooms_message`` — every write goes through ``rooms.messages.post_message``,
whose edit and redaction projections (``edited_body``, ``redacted_at``) fire them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce

from rooms.access import Action, access_room
from rooms.errors import Invalid
from rooms.models import Message, Person, Room

SEARCH_KINDS = (Message.Kind.TEXT, Message.Kind.NOTE)
QUERY_MAX = 200
TERMS_MAX = 12
PG_CONFIG = "english"
FTS_TABLE = "rooms_message_fts"
FTS_MATCH = "SELECT rowid FROM rooms_message_fts WHERE rooms_message_fts MATCH %s"
# Words for FTS5: letters and digits of any script; everything else separates them, so no
# user text reaches FTS5's query syntax (quotes, NEAR, column filters, ^, *).
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass(frozen=True)
class Found:
    room: Room
    messages: list[Message]
    query: str


def clean_query(raw: str) -> str:
    """The query as searched, or Invalid with a clear reason (nothing is searched)."""
    q = " ".join((raw or "").split())
    if not q:
        raise Invalid("Type a word to search for.")
    if len(q) > QUERY_MAX:
        raise Invalid(f"Search for at most {QUERY_MAX} characters.")
    if "\x00" in q:
        raise Invalid("The search contains a NUL character.")
    if not _WORD.search(q):
        raise Invalid("Type a word to search for (letters or numbers).")
    return q


def search_room(person: Person, room_id: int, raw_query: str, *, limit: int = 30) -> Found:
    """Entries of ``room_id`` matching ``raw_query`` that ``person`` may read (see module)."""
    room, membership = access_room(person, room_id, Action.READ)
    q = clean_query(raw_query)
    base = (
        Message.objects.filter(
            room=room,
            seq__gt=membership.visible_from_seq,
            kind__in=SEARCH_KINDS,
            redacted_at__isnull=True,
        )
        .select_related("sender", "reply_to", "target")
        .order_by("-seq")
    )
    rows = list(_matching(base, q)[:limit])
    return Found(room=room, messages=rows, query=q)


def _matching(base: QuerySet[Message], q: str) -> QuerySet[Message]:
    if connection.vendor == "postgresql":
        vector = SearchVector(Coalesce("edited_body", "body"), config=PG_CONFIG)
        return base.annotate(found=vector).filter(
            found=SearchQuery(q, config=PG_CONFIG, search_type="websearch")
        )
    if connection.vendor == "sqlite":
        hits = RawSQL(FTS_MATCH, [fts5_query(q)])  # noqa: S611 - literal SQL, bound parameter
        return base.filter(id__in=hits)
    # Any other backend: a plain case-insensitive match on the current text.
    for word in _WORD.findall(q)[:TERMS_MAX]:
        base = base.filter(_current_contains(word))
    return base


def _current_contains(word: str) -> Q:
    return Q(edited_body__icontains=word) | Q(edited_body__isnull=True, body__icontains=word)


def fts5_query(q: str) -> str:
    """Every word quoted (AND of prefix matches): user text never reaches FTS5 syntax."""
    words = _WORD.findall(q)[:TERMS_MAX]
    return " ".join('"' + w.replace('"', '""') + '"*' for w in words)


# ---- DDL for the migration (one place per backend) -------------------------------------
# SQLite drops a table's triggers when a migration rebuilds it (an AlterField, a db_default):
# such a migration must call drop_index + create_index after it (see rooms 0018).

PG_INDEX = "rooms_message_search_gin"
PG_CREATE = (
    f"CREATE INDEX IF NOT EXISTS {PG_INDEX} ON rooms_message USING GIN "
    f"(to_tsvector('{PG_CONFIG}'::regconfig, "
    "COALESCE(COALESCE(edited_body, body), '')))"
)
PG_DROP = f"DROP INDEX IF EXISTS {PG_INDEX}"

# Literal SQL (no interpolation); "text" and "note" are SEARCH_KINDS.
SQLITE_CREATE = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS rooms_message_fts USING fts5(body, tokenize='unicode61')",
    # New entries: words only, and only while not redacted (a redaction is written later).
    """CREATE TRIGGER IF NOT EXISTS rooms_message_fts_ai AFTER INSERT ON rooms_message
        WHEN new.kind IN ('text', 'note') AND new.redacted_at IS NULL BEGIN
        INSERT INTO rooms_message_fts(rowid, body)
        VALUES (new.id, COALESCE(new.edited_body, new.body));
        END""",
    # An edit or a redaction replaces the indexed text by the current one (or by nothing).
    """CREATE TRIGGER IF NOT EXISTS rooms_message_fts_au AFTER UPDATE OF body, edited_body,
        redacted_at, kind ON rooms_message BEGIN
        DELETE FROM rooms_message_fts WHERE rowid = old.id;
        INSERT INTO rooms_message_fts(rowid, body)
        SELECT new.id, COALESCE(new.edited_body, new.body)
        WHERE new.kind IN ('text', 'note') AND new.redacted_at IS NULL;
        END""",
    """CREATE TRIGGER IF NOT EXISTS rooms_message_fts_ad AFTER DELETE ON rooms_message BEGIN
        DELETE FROM rooms_message_fts WHERE rowid = old.id;
        END""",
    # Entries written before the index existed.
    """INSERT INTO rooms_message_fts(rowid, body) SELECT id, COALESCE(edited_body, body)
        FROM rooms_message WHERE kind IN ('text', 'note') AND redacted_at IS NULL""",
]
SQLITE_DROP = [
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_ai",
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_au",
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_ad",
    f"DROP TABLE IF EXISTS {FTS_TABLE}",
]


def create_index(schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_CREATE)
    elif vendor == "sqlite":
        for sql in SQLITE_CREATE:
            schema_editor.execute(sql)


def drop_index(schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_DROP)
    elif vendor == "sqlite":
        for sql in SQLITE_DROP:
            schema_editor.execute(sql)
