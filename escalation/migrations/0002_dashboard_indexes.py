"""Index for the dashboards: alerts by opening time (web/dashboards/queries.py, the live
part of provider/council figures and the daily rollup refresh). Plain SQL, IF NOT EXISTS;
model state unchanged."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("escalation", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS escalation_alert_opened_idx "
            "ON escalation_alert (opened_at)",
            "DROP INDEX IF EXISTS escalation_alert_opened_idx",
        ),
    ]
