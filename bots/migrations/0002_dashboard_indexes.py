"""Indexes for the dashboards (web/dashboards/queries.py, docs/dashboards.md "Scale").

Time-first indexes let the provider/council "live" part (yesterday and today, the days
after the daily rollup) and the rollup refresh read a few days of rows instead of scanning
years; (service_user, checked_in_at, worker) answers continuity (distinct workers per
person) from the index alone on PostgreSQL. Plain SQL with IF NOT EXISTS on both
databases; the models' state is unchanged (these indexes serve one reader, declared here).
"""

from django.db import migrations

INDEXES = [
    ("bots_visit_checked_in_idx", "bots_visit", "checked_in_at"),
    ("bots_visit_su_time_worker_idx", "bots_visit", "service_user_id, checked_in_at, worker_id"),
    ("bots_plannedvisit_start_idx", "bots_plannedvisit", "window_start"),
    ("bots_observation_at_idx", "bots_observation", "at"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("bots", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({cols})", f"DROP INDEX IF EXISTS {name}"
        )
        for name, table, cols in INDEXES
    ]
