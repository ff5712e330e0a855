"""Invitations: a single-use link with an expiry, stored only as a hash.

Three kinds share the machinery (``web.invitations`` for family, ``web.staff.invites``
for staff and the service user's own account): family members join a family room; staff
join an organisation with a role; a service user gets their own account.
"""

from __future__ import annotations

from django.db import models

from rooms.models import FamilyBasis, Organisation, Person, Role, ServiceUser


class Invitation(models.Model):
    """An invite: a family member or friend to a service user's family room (``family``),
    a member of staff to an organisation with a role (``staff``), or the service user to
    their own account (``service_user``).

    The token itself is shown once to the care manager who created it; only its SHA-256
    is stored (``token_hash``, unique), so a database read never yields a working link.
    Single use: ``used_at`` is set by a compare-and-set update when it is redeemed.
    """

    class Kind(models.TextChoices):
        FAMILY = "family", "Family member"
        STAFF = "staff", "Staff"
        SERVICE_USER = "service_user", "Service user's own account"

    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.FAMILY)
    service_user = models.ForeignKey(
        ServiceUser, null=True, blank=True, on_delete=models.CASCADE, related_name="invitations"
    )
    # Staff invitations: the organisation joined and the role held (both fixed at issue).
    organisation = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    role = models.CharField(max_length=20, choices=Role.choices, blank=True)
    # Shown on the page and offered as the username; never used to send anything.
    email = models.EmailField(max_length=254, blank=True)
    display_name = models.CharField(max_length=120)
    relationship = models.CharField(max_length=60, blank=True)
    token_hash = models.CharField(max_length=64, unique=True)
    # Null only for the first administrator's link, printed by ``manage.py bootstrap``.
    created_by = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)
    # The lawful basis the manager recorded for this invitee (rooms.models.FamilyBasis);
    # redeeming records it for the new member in the same transaction, or refuses.
    basis = models.CharField(max_length=20, choices=FamilyBasis.Basis.choices, blank=True)
    basis_notes = models.CharField(max_length=500, blank=True)
    basis_decision = models.TextField(max_length=2000, blank=True)
    basis_lpa_reference = models.CharField(max_length=100, blank=True)
    basis_review_on = models.DateField(null=True, blank=True)
    # The person's choice for this member: see family-room history from before joining.
    history_before_join = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("created_at")),
                name="invitation_expires_after_creation",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(kind="staff", organisation__isnull=False, service_user__isnull=True)
                    & ~models.Q(role="")
                )
                | models.Q(kind__in=["family", "service_user"], service_user__isnull=False),
                name="invitation_kind_target",
            ),
        ]

    def __str__(self) -> str:
        return f"invitation {self.pk}"

    def status(self, now) -> str:
        if self.used_at is not None:
            return "used"
        if self.cancelled_at is not None:
            return "cancelled"
        if self.expires_at <= now:
            return "expired"
        return "pending"
