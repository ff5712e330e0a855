"""Split each per-service-user basis into one row per family member (issue 14).

Every family member who held a membership of the service user's family room gets a copy
of the basis that covered them (type, notes, recorder, dates, revocation), so access is
unchanged on the day of the upgrade; the review date is a year after it was recorded.
The old rows (no person) are then deleted. ``Membership.joined_seq`` is filled from the
room's head at the member's ``joined_at``, and ``history_before_join`` is set where
a member was shown history from before that.
"""

import datetime as dt

from django.db import migrations
from django.db.models import Max


def split(apps, schema_editor):
    FamilyBasis = apps.get_model("rooms", "FamilyBasis")
    Membership = apps.get_model("rooms", "Membership")
    Message = apps.get_model("rooms", "Message")
    for m in Membership.objects.all().iterator():
        head = Message.objects.filter(room_id=m.room_id, created_at__lte=m.joined_at).aggregate(
            s=Max("seq")
        )["s"]
        m.joined_seq = max(m.visible_from_seq, head or 0)
        # Shown everything although history existed when they joined: the old setting.
        m.history_before_join = m.visible_from_seq == 0 and m.joined_seq > 0
        m.save(update_fields=["joined_seq", "history_before_join"])
    for fb in FamilyBasis.objects.filter(person__isnull=True).order_by("id"):
        members = (
            Membership.objects.filter(
                room__service_user_id=fb.service_user_id,
                room__kind="family",
                person__role="family",
            )
            .values_list("person_id", flat=True)
            .distinct()
        )
        for person_id in members:
            if (
                fb.revoked_at is None
                and FamilyBasis.objects.filter(
                    service_user_id=fb.service_user_id, person_id=person_id, revoked_at__isnull=True
                ).exists()
            ):
                continue
            FamilyBasis.objects.create(
                service_user_id=fb.service_user_id,
                person_id=person_id,
                basis=fb.basis,
                recorded_by_id=fb.recorded_by_id,
                recorded_at=fb.recorded_at,
                notes=fb.notes,
                review_on=(fb.recorded_at + dt.timedelta(days=365)).date(),
                revoked_at=fb.revoked_at,
                revoked_by_id=fb.revoked_by_id,
            )
    FamilyBasis.objects.filter(person__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("rooms", "0007_h14b_basis_per_member"),
        ("web", "0002_h14b_invitation_basis"),
    ]

    operations = [migrations.RunPython(split, migrations.RunPython.noop)]
