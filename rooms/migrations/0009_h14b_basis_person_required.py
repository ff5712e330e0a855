"""After the split (0008) every basis names its family member: one active row each."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("rooms", "0008_h14b_split_family_basis"),
    ]

    operations = [
        migrations.AlterField(
            model_name="familybasis",
            name="person",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="bases_held",
                to="rooms.person",
            ),
        ),
        migrations.AddConstraint(
            model_name="familybasis",
            constraint=models.UniqueConstraint(
                condition=models.Q(("revoked_at__isnull", True)),
                fields=("service_user", "person"),
                name="one_active_family_basis_per_member",
            ),
        ),
    ]
