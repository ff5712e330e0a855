"""Re-install the SQLite search index after ``0007_h12a_log_txid``.

That migration changes ``rooms_message.txid``'s database default, which SQLite applies by
rebuilding the table — and a rebuilt table has lost its triggers, so the FTS5 index of
``0007_h15b_search`` stopped following new messages. Dropping and re-creating the index
restores the triggers and re-reads every entry. PostgreSQL keeps its GIN index through an
ALTER TABLE; on it this migration does nothing. A later migration that rebuilds
``rooms_message`` on SQLite must do the same (rooms/search.py says so).
"""

from django.db import migrations

from rooms import search


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        search.drop_index(schema_editor)
        search.create_index(schema_editor)


class Migration(migrations.Migration):
    dependencies = [("rooms", "0017_merge_20261201_2043")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop, elidable=False)]
