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
    # Set-up, staff and audit of their own organisation; never in a room (docs/decisions.md).
    PROVIDER_ADMIN = "provider_admin", "Provider administrator"
    COUNCIL_ADMIN = "council_admin", "Council administrator"


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
    # The provider's own reference for the person (natural key of the planned-visit CSV,
    # bots/import_csv.py); unique within the provider when set.
    reference = models.CharField(max_length=40, blank=True, default="")
    # The person's choice: family members see family-room history from when they joined.
    family_history_from_join = models.BooleanField(default=True)
    commissioned_hours_per_week = models.DecimalField(max_digits=5, decimal_places=2, default=0)
    created_at = models.DateTimeField()
    # Care ended: both rooms are read-only from then on and the retention clock runs from
    # here (rooms.network.do_archive_service_user). Never cleared.
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "reference"],
                condition=~Q(reference=""),
                name="one_reference_per_provider",
            )
        ]

    def __str__(self) -> str:
        return self.full_name

    @property
    def name(self) -> str:
        return self.preferred_name or self.full_name


class FamilyBasis(models.Model):
    """The lawful basis for sharing with one family member (DESIGN.md §4).

    One row per (service user, family member) while active; revoking it ends that member's
    family access at once and nobody else's. ``consent`` is the person's own agreement
    (``notes`` say who agreed and how); ``best_interests`` carries the recorded decision;
    ``lpa`` carries the registration reference. Each has a review date; reviews due are
    listed for the provider's care managers (``rooms.network.reviews_due``).
    """

    class Basis(models.TextChoices):
        CONSENT = "consent", "The person's consent"
        BEST_INTERESTS = "best_interests", "Best-interests decision"
        LPA = "lpa", "Lasting power of attorney"

    service_user = models.ForeignKey(
        ServiceUser, on_delete=models.CASCADE, related_name="family_bases"
    )
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="bases_held")
    basis = models.CharField(max_length=20, choices=Basis.choices)
    recorded_by = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()
    notes = models.CharField(max_length=500, blank=True)
    # The best-interests decision as recorded (who decided, what, why); required for that basis.
    decision = models.TextField(max_length=2000, blank=True)
    # The LPA's registration reference; required for that basis.
    lpa_reference = models.CharField(max_length=100, blank=True)
    review_on = models.DateField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["service_user", "person"],
                condition=Q(revoked_at__isnull=True),
                name="one_active_family_basis_per_member",
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
    # The room's head when this membership (re)started: what ``visible_from_seq`` returns
    # to when the person decides a family member sees only history from joining.
    joined_seq = models.BigIntegerField(default=0)
    # The person's decision for a family member: history from before they joined too.
    history_before_join = models.BooleanField(default=False)
    # The person agrees this family member may write goals and "what matters to me".
    may_write_goals = models.BooleanField(default=False)
    removed_at = models.DateTimeField(null=True, blank=True)
    removed_by = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room", "person"], name="one_membership")]
        indexes = [models.Index(fields=["person", "removed_at"])]


class CurrentTxid(models.Func):
    """The writing transaction's id: ``pg_current_xact_id()`` on PostgreSQL, 0 on SQLite.

    The column default of ``Message.txid``, so every row gets it whatever writes it (the
    write path, bulk seeding, COPY). SQLite writers are serialised, so 0 everywhere keeps
    the log order ``(txid, id)`` equal to id order there (see ``rooms.logorder``).
    """

    output_field = models.BigIntegerField()

    def as_sql(self, compiler, connection, **extra_context):  # type: ignore[override]
        return "0", []

    def as_postgresql(self, compiler, connection, **extra_context):  # type: ignore[override]
        # xid8 (64 bits, never wraps) -> bigint; top-level id even inside a savepoint.
        return "(pg_current_xact_id()::text::bigint)", []


class Message(models.Model):
    """One entry of the log. ``(txid, id)`` is the global log position consumers follow
    (``rooms.logorder``); ``seq`` is the gap-free position within the room."""

    class Kind(models.TextChoices):
        TEXT = "text", "Message"
        NOTE = "note", "Clinical note"
        SYSTEM = "system", "System notice"
        CARD = "card", "Bot card"
        ANSWER = "answer", "Card answer"
        EDIT = "edit", "Edit"
        REDACTION = "redaction", "Redaction"
        SIGNAL = "signal", "Structured signal"
        ATTACHMENT = "attachment", "Photo or file"

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
    # The writing transaction's id (PostgreSQL); readers follow (txid, id) below the
    # visibility watermark instead of a global lock (docs/log-contract.md).
    txid = models.BigIntegerField(db_default=CurrentTxid(), editable=False)

    class Meta:
        indexes = [models.Index(fields=["txid", "id"], name="log_order")]
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
    """How far one member has read a room (``seq``) and how far their phone has received it
    (``delivered_seq``, never below ``seq``). Both only move forwards (rooms/reads.py)."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="read_positions")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="read_positions")
    seq = models.BigIntegerField(default=0)
    delivered_seq = models.BigIntegerField(default=0)
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
    # The last entry read, in log order (txid, id): ``position`` is its id.
    position = models.BigIntegerField(default=0)
    txid = models.BigIntegerField(default=0)
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
    # Check-in/out positions are kept for a shorter period when set (null: message_days).
    position_days = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField()
    # Timer (DESIGN.md §3.5): when the retention worker next runs this provider's policy
    # (rooms.retention.RetentionTicker claims due rows with skip_locked, moves it a day on).
    next_run_at = models.DateTimeField(null=True, blank=True, db_index=True)


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


class Attachment(models.Model):
    """A stored photo or file and the log entry that carries it (rooms/attachments.py).

    Unique on ``(uploader, client_id)``: a retried upload finds this row and stores nothing
    new. ``key`` is derived from that pair, so even a retry racing the first upload writes
    the same object. ``purged_at``: retention emptied the entry; ``deleted_at``: the stored
    objects are gone (set after the storage delete succeeded).
    """

    class Type(models.TextChoices):
        JPEG = "image/jpeg", "JPEG photo"
        PNG = "image/png", "PNG image"
        PDF = "application/pdf", "PDF document"

    room = models.ForeignKey(Room, on_delete=models.PROTECT, related_name="attachments")
    uploader = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="attachments")
    client_id = models.CharField(max_length=64)
    message = models.OneToOneField(
        Message, null=True, blank=True, on_delete=models.PROTECT, related_name="attachment"
    )
    content_type = models.CharField(max_length=40, choices=Type.choices)
    key = models.CharField(max_length=200, unique=True)
    thumb_key = models.CharField(max_length=200, blank=True)
    size = models.PositiveBigIntegerField()
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    purged_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["uploader", "client_id"], name="one_upload_per_client_id"
            )
        ]


class KeyInfoVersion(models.Model):
    """One version of a service user's key information (``rooms.keyinfo``): the values
    after a change, who made it and which fields changed. Version 1 is the baseline as
    it stood before the first edit through the page or API. Append-only by convention:
    only ``rooms.keyinfo.do_update_key_info`` writes it."""

    service_user = models.ForeignKey(
        ServiceUser, on_delete=models.CASCADE, related_name="key_info_versions"
    )
    version = models.PositiveIntegerField()
    preferences = models.TextField(blank=True)
    what_matters = models.TextField(blank=True)
    communication_needs = models.TextField(blank=True)
    access_notes = models.TextField(blank=True)
    # Comma-separated field names that changed from the previous version ("" for v1).
    changed_fields = models.CharField(max_length=100, blank=True)
    changed_by = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    changed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["service_user", "version"], name="one_key_info_version_number"
            )
        ]
        indexes = [models.Index(fields=["service_user", "changed_at"])]
