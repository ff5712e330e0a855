"""The family lawful basis becomes one per family member (issue 14).

Schema only: ``FamilyBasis.person`` (nullable until the existing rows are split in 0008),
the best-interests decision, the LPA reference, a review date; ``Membership.joined_seq`` and
``Membership.history_before_join``.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("rooms", "0006_participant_keys_and_health_partners"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="familybasis", name="one_active_family_basis"),
        migrations.AddField(
            model_name="familybasis",
            name="person",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="bases_held",
                to="rooms.person",
            ),
        ),
        migrations.AddField(
            model_name="familybasis",
            name="decision",
            field=models.TextField(blank=True, max_length=2000),
        ),
        migrations.AddField(
            model_name="familybasis",
            name="lpa_reference",
            field=models.CharField(blank=True, max_length=100),
        ),
        migrations.AddField(
            model_name="familybasis",
            name="review_on",
            field=models.DateField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="membership",
            name="history_before_join",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="membership",
            name="joined_seq",
            field=models.BigIntegerField(default=0),
        ),
    ]
