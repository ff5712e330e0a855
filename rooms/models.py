"""The care network: organisations, people, service users, rooms and the message log.

State changes happen only in the ``actions``-style modules (``network``, ``messages``,
``membership``); models hold data and small derived properties, never cross-app effects.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Organisation(models.Model):
    class Kind(models.TextChoices):
        COUNCIL = "council", "Council"
        PROVIDER = "provider", "Care provider"
        HEALTH = "health", "Health"
        VOLUNTARY = "voluntary", "Voluntary sector"

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # A provider is commissioned by a council; council dashboards aggregate over these.
    commissioned_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="providers"
    )
    # A health organisation (the NHS community team) lists the providers it works with;
    # its nurses and therapists may then be added to those providers' team rooms
    # (rooms.access.may_join, docs/security.md "Adding members").
    partner_providers = models.ManyToManyField(
        "self",
        symmetrical=False,
        blank=True,
        related_name="health_partners",
        limit_choices_to={"kind": "provider"},
    )

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    CARE_WORKER = "care_worker", "Care worker"
    NURSE = "nurse", "District nurse"
    THERAPIST = "therapist", "Physio / OT"
    CARE_MANAGER = "care_manager", "Care manager"
    FAMILY = "family", "Family or friend"
    SERVICE_USER = "service_user", "Service user"
    COMMISSIONER = "commissioner", "Council commissioner"
    BOT = "bot", "Bot"
    ASSESSOR = "assessor", "Council assessor"


class Person(models.Model):
    """Anyone who takes part: staff, family, the service user themselves, or a bot."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="person",
    )
    display_name = models.CharField(max_length=120)
    role = models.CharField(max_length=20, choices=Role.choices)
    organisation = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.PROTECT, related_name="people"
    )
    # A linked Matrix account (e.g. a nurse's own); see docs/matrix.md.
    matrix_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    # Participants the code creates on first use (the system sender, each provider's visit
    # bot) are found by this key; unique, so two processes racing on first use make one row.
    system_key = models.CharField(max_length=60, null=True, blank=True, unique=True, editable=False)
    # The language this person reads the pages and the bots' texts in (settings.LANGUAGES).
    language = models.CharField(
        max_length=8, choices=[("en-gb", "English"), ("cy", "Cymraeg")], default="en-gb"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.display_name} ({self.get_role_display()})"


class ServiceUser(models.Model):
    """A person receiving care at home, with key information at a glance."""

    person = models.OneToOneField(
        Person,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="service_user_record",
        help_text="Optional account of the service user themselves.",
    )
    full_name = models.CharField(max_length=200)
    preferred_name = models.CharField(max_length=100, blank=True)
    provider = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="service_users"
    )
    council = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="council_service_users"
    )
    # Key information
    preferences = models.TextField(blank=True)
    what_matters = models.TextField(blank=True)
    communication_needs = models.TextField(blank=True)
    access_notes = models.TextField(blank=True)
    key_info_updated_at = models.DateTimeField(null=True, blank=True)
    # Home location for the visit check (DESIGN.md §5).
    home_lat = models.FloatField(null=True, blank=True)
    home_lon = models.FloatField(null=True, blank=True)
    checkin_radius_m = models.PositiveIntegerField(default=150)
    location_exempt = models.BooleanField(
        default=False, help_text="Rural or no-signal home: location is not checked."
    )
    location_exempt_reason = models.CharField(max_length=200, blank=True)
    # The person's choice: family members see family-room history from when they joined.
    family_history_from_join = models.BooleanField(default=True)
    commissioned_hours_per_week = models.DecimalField(max_digits=5, decimal_places=2, default=0)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.full_name

    @property
    def name(self) -> str:
        return self.preferred_name or self.full_name


class FamilyBasis(models.Model):
    """The lawful basis recorded for sharing with family; revoking it ends family access."""

    class Basis(models.TextChoices):
        CONSENT = "consent", "The person's consent"
        BEST_INTERESTS = "best_interests", "Best-interests decision"
        LPA = "lpa", "Lasting power of attorney"

    service_user = models.ForeignKey(
        ServiceUser, on_delete=models.CASCADE, related_name="family_bases"
    )
    basis = models.CharField(max_length=20, choices=Basis.choices)
    recorded_by = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()
    notes = models.CharField(max_length=500, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["service_user"],
                condition=Q(revoked_at__isnull=True),
                name="one_active_family_basis",
            )
        ]


class Room(models.Model):
    class Kind(models.TextChoices):
        PROFESSIONAL = "professional", "Team"
        FAMILY = "family", "Family"

    service_user = models.ForeignKey(ServiceUser, on_delete=models.CASCADE, related_name="rooms")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # Highest seq handed out; incremented under the log lock (rooms.messages).
    last_seq = models.BigIntegerField(default=0)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["service_user", "kind"], name="one_room_per_kind")
        ]

    def __str__(self) -> str:
        return f"{self.service_user} · {self.get_kind_display()}"


class Membership(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="memberships")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="memberships")
    joined_at = models.DateTimeField()
    # History before this seq is hidden (family members who joined late, by default).
    visible_from_seq = models.BigIntegerField(default=0)
    removed_at = models.DateTimeField(null=True, blank=True)
    removed_by = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room", "person"], name="one_membership")]
        indexes = [models.Index(fields=["person", "removed_at"])]


class Message(models.Model):
    """One entry of the log. ``id`` is the global log position consumers follow."""

    class Kind(models.TextChoices):
        TEXT = "text", "Message"
        NOTE = "note", "Clinical note"
        SYSTEM = "system", "System notice"
        CARD = "card", "Bot card"
        ANSWER = "answer", "Card answer"
        EDIT = "edit", "Edit"
        REDACTION = "redaction", "Redaction"
        SIGNAL = "signal", "Structured signal"

    room = models.ForeignKey(Room, on_delete=models.PROTECT, related_name="messages")
    seq = models.BigIntegerField()
    sender = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="messages")
    client_id = models.CharField(max_length=64, null=True, blank=True)
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.TEXT)
    body = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True)
    reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replies"
    )
    target = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="amendments"
    )
    created_at = models.DateTimeField()
    # Projections kept by the write path so history reads need no joins; the original
    # body stays in ``body`` and every edit stays in the log (the audit trail).
    edited_body = models.TextField(null=True, blank=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    redacted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="gap_free_room_seq"),
            models.UniqueConstraint(
                fields=["sender", "client_id"],
                condition=Q(client_id__isnull=False),
                name="idempotent_client_id",
            ),
        ]

    @property
    def current_body(self) -> str:
        if self.redacted_at:
            return ""
        return self.edited_body if self.edited_body is not None else self.body


class ReadPosition(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="read_positions")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="read_positions")
    seq = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room", "person"], name="one_read_position")]


class AuditEvent(models.Model):
    """Append-only: who read or changed what, when. Never the content."""

    actor = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=60)
    service_user = models.ForeignKey(
        ServiceUser, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    room = models.ForeignKey(
        Room, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # A reference such as "alert:12" or "message:345", never content.
    target = models.CharField(max_length=100, blank=True)
    at = models.DateTimeField(db_index=True)

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ValueError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("audit events are append-only")


class PushDevice(models.Model):
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="push_devices")
    token = models.CharField(max_length=4096)
    token_hash = models.CharField(max_length=64, unique=True)
    platform = models.CharField(max_length=20, default="web")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField()
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=100, blank=True)


class ConsumerCursor(models.Model):
    """Position of a durable log consumer; advanced in the consumer's own transaction."""

    name = models.CharField(max_length=60, unique=True)
    position = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(null=True, blank=True)


class ConsumerFailure(models.Model):
    """A message a consumer failed on; skipped after ``max_attempts`` (poison message)."""

    consumer = models.CharField(max_length=60)
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="+")
    attempts = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=300)
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()
    skipped = models.BooleanField(default=False)
    # A care manager looked at the skipped entry by hand (the exceptions page); health
    # stops counting it. Never cleared by the consumer.
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["consumer", "message"], name="one_failure_row")
        ]


class WorkerFailure(models.Model):
    """A row a timer worker failed on (``rooms.isolation``); skipped after ``max_attempts``.

    ``ref_model``/``ref_id`` name the row ("bots.plannedvisit", 12) or, with
    ``ref_model == "run"``, a whole ``run_once`` that raised. ``error`` is the exception
    type only — exception text can quote the row's content. ``resolved_at`` is set when the
    row later succeeds or is no longer due; a skipped row stays skipped (excluded from its
    ticker) until the failure row is deleted by an operator after fixing the data.
    """

    worker = models.CharField(max_length=60)
    ref_model = models.CharField(max_length=60)
    ref_id = models.BigIntegerField()
    service_user = models.ForeignKey(
        ServiceUser, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    attempts = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=100)
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()
    skipped = models.BooleanField(default=False)
    resolved_at = models.DateTimeField(null=True, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["worker", "ref_model", "ref_id"], name="one_worker_failure_row"
            )
        ]
        indexes = [models.Index(fields=["worker", "ref_model", "skipped"])]


class RetentionPolicy(models.Model):
    """How long a provider keeps message content (rooms/retention.py, docs/security.md).

    ``message_days`` null: kept indefinitely. Expired content is purged and redacted
    through the write path, so the deletion reaches live clients and the Matrix side.
    """

    provider = models.OneToOneField(
        Organisation, on_delete=models.CASCADE, related_name="retention_policy"
    )
    message_days = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField()


class LegalHold(models.Model):
    """While active, nothing of the service user's record is purged by retention."""

    service_user = models.ForeignKey(
        ServiceUser, on_delete=models.CASCADE, related_name="legal_holds"
    )
    reason = models.CharField(max_length=200)
    placed_by = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="+")
    placed_at = models.DateTimeField()
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["service_user"],
                condition=Q(released_at__isnull=True),
                name="one_active_legal_hold",
            )
        ]


class AssessorAllocation(models.Model):
    """A council assessor (social worker) allocated to one person's case, for a period.

    Read access follows from it (``rooms.access.assessor_allocated``): the person's record,
    never their rooms. ``starts_on``/``ends_on`` are local dates, both inclusive; an open
    end (null) lasts until ended. Rows are never deleted: they say who could read when.
    """

    assessor = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="allocations")
    service_user = models.ForeignKey(
        ServiceUser, on_delete=models.PROTECT, related_name="assessor_allocations"
    )
    starts_on = models.DateField()
    ends_on = models.DateField(null=True, blank=True)
    allocated_by = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="+")
    allocated_at = models.DateTimeField()
    ended_by = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__isnull=True) | Q(ends_on__gte=models.F("starts_on")),
                name="allocation_ends_after_start",
            ),
            models.UniqueConstraint(
                fields=["assessor", "service_user", "starts_on"], name="one_allocation_start"
            ),
        ]
        indexes = [models.Index(fields=["assessor", "service_user"])]
