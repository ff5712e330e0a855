"""An invitation carries the lawful basis the manager recorded for the invitee.

Pending invitations made under the old per-service-user basis inherit that basis (its
type and notes; a review a year after it was recorded), so they still redeem after rooms 0008 splits the old rows.
"""

import datetime as dt

from django.db import migrations, models


def inherit_service_user_basis(apps, schema_editor):
    Invitation = apps.get_model("web", "Invitation")
    FamilyBasis = apps.get_model("rooms", "FamilyBasis")
    for inv in Invitation.objects.filter(used_at__isnull=True, cancelled_at__isnull=True):
        fb = (
            FamilyBasis.objects.filter(
                service_user_id=inv.service_user_id, person__isnull=True, revoked_at__isnull=True
            )
            .order_by("-id")
            .first()
        )
        if fb is not None:
            inv.basis = fb.basis
            inv.basis_notes = fb.notes
            inv.basis_review_on = (fb.recorded_at + dt.timedelta(days=365)).date()
            inv.save(update_fields=["basis", "basis_notes", "basis_review_on"])


class Migration(migrations.Migration):
    dependencies = [
        ("web", "0001_invitation"),
        ("rooms", "0007_h14b_basis_per_member"),
    ]

    operations = [
        migrations.AddField(
            model_name="invitation",
            name="basis",
            field=models.CharField(
                blank=True,
                choices=[
                    ("consent", "The person's consent"),
                    ("best_interests", "Best-interests decision"),
                    ("lpa", "Lasting power of attorney"),
                ],
                max_length=20,
            ),
        ),
        migrations.AddField(
            model_name="invitation",
            name="basis_notes",
            field=models.CharField(blank=True, max_length=500),
        ),
        migrations.AddField(
            model_name="invitation",
            name="basis_decision",
            field=models.TextField(blank=True, max_length=2000),
        ),
        migrations.AddField(
            model_name="invitation",
            name="basis_lpa_reference",
            field=models.CharField(blank=True, max_length=100),
        ),
        migrations.AddField(
            model_name="invitation",
            name="basis_review_on",
            field=models.DateField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="invitation",
            name="history_before_join",
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(inherit_service_user_basis, migrations.RunPython.noop),
    ]
