"""The audit log is append-only in the database too (docs/security.md).

On PostgreSQL a trigger rejects UPDATE and DELETE of ``rooms_auditevent`` rows, so not even
a queryset ``.update()``/``.delete()`` or a hand-typed SQL statement can rewrite who read
what. TRUNCATE (the test runner's flush, an operator's deliberate wipe) is not a row event
and stays possible. Other databases rely on the model's save()/delete() guards.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION rooms_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
        MESSAGE = 'audit events are append-only: ' || TG_OP || ' refused';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS rooms_auditevent_append_only ON rooms_auditevent;
CREATE TRIGGER rooms_auditevent_append_only
    BEFORE UPDATE OR DELETE ON rooms_auditevent
    FOR EACH ROW EXECUTE FUNCTION rooms_auditevent_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS rooms_auditevent_append_only ON rooms_auditevent;
DROP FUNCTION IF EXISTS rooms_auditevent_append_only();
"""


def _on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("rooms", "0002_retention_and_legal_hold"),
    ]

    operations = [
        migrations.RunPython(_on_postgresql(CREATE), _on_postgresql(DROP), elidable=False),
    ]
