"""Search within a room (rooms/search.py): a GIN full-text index on PostgreSQL, an FTS5
table kept in sync by triggers on SQLite. Nothing on other backends."""

from django.db import migrations

from rooms import search


def forwards(apps, schema_editor):
    search.create_index(schema_editor)


def backwards(apps, schema_editor):
    search.drop_index(schema_editor)


class Migration(migrations.Migration):
    dependencies = [("rooms", "0006_participant_keys_and_health_partners")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
