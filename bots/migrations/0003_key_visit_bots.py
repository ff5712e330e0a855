"""Key each provider's visit bot (``Person.system_key``, rooms 0004).

``bots.runner.bot_for`` finds the bot by ``visit-bot:<provider id>`` and creates it with
that unique key, so a first-use race makes one row. Existing bots (found by name, one or
more per provider if a race already happened) get the key on their lowest id; the others
keep their past messages and are never used again.
"""

from django.db import migrations

BOT_NAME = "Visit bot"


def key_visit_bots(apps, schema_editor):
    Person = apps.get_model("rooms", "Person")
    rows = (
        Person.objects.filter(
            role="bot",
            display_name=BOT_NAME,
            user__isnull=True,
            organisation__isnull=False,
            system_key__isnull=True,
        )
        .order_by("organisation_id", "id")
        .values_list("id", "organisation_id")
    )
    done: set[int] = set()
    for pk, org_id in rows:
        key = f"visit-bot:{org_id}"
        if org_id in done or Person.objects.filter(system_key=key).exists():
            done.add(org_id)
            continue
        Person.objects.filter(pk=pk).update(system_key=key)
        done.add(org_id)


class Migration(migrations.Migration):
    dependencies = [
        ("bots", "0002_dashboard_indexes"),
        ("rooms", "0006_participant_keys_and_health_partners"),
    ]

    operations = [
        migrations.RunPython(key_visit_bots, migrations.RunPython.noop),
    ]
