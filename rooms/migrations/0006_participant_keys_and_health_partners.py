"""Keys for the participants the code creates on first use; health partners of providers.

``Person.system_key`` is unique, so the system sender (and each provider's visit bot,
keyed in a bots migration) is one row even when two processes race on first use. A
deployment that already raced has several "CoCare" rows: the lowest id becomes the keyed
one (deterministic); the others keep their past messages and are never used again.

``Organisation.partner_providers``: the providers a health organisation works with, whose
team rooms its nurses and therapists may be added to (rooms.access.may_join).
"""

from django.db import migrations, models

SYSTEM_KEY = "system"
SYSTEM_NAME = "CoCare"


def key_the_system_person(apps, schema_editor):
    Person = apps.get_model("rooms", "Person")
    if Person.objects.filter(system_key=SYSTEM_KEY).exists():
        return
    first = (
        Person.objects.filter(
            role="bot",
            display_name=SYSTEM_NAME,
            user__isnull=True,
            organisation__isnull=True,
            system_key__isnull=True,
        )
        .order_by("id")
        .first()
    )
    if first is not None:
        Person.objects.filter(pk=first.pk).update(system_key=SYSTEM_KEY)


class Migration(migrations.Migration):
    dependencies = [
        ("rooms", "0005_assessor_role_and_allocation"),
    ]

    operations = [
        migrations.AddField(
            model_name="organisation",
            name="partner_providers",
            field=models.ManyToManyField(
                blank=True,
                limit_choices_to={"kind": "provider"},
                related_name="health_partners",
                to="rooms.organisation",
            ),
        ),
        migrations.AddField(
            model_name="person",
            name="system_key",
            field=models.CharField(
                blank=True, editable=False, max_length=60, null=True, unique=True
            ),
        ),
        migrations.RunPython(key_the_system_person, migrations.RunPython.noop),
    ]
