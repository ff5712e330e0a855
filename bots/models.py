"""Visits, bot conversations and what they yield (observations, goals).

Models hold data only; state changes happen in ``bots.schedule`` (planned visits, goals)
and ``bots.runner`` (the bot conversations). Every bot effect is keyed by a unique
constraint so that a replayed log or a restarted runner repeats nothing:

- ``BotStep``: one row per (session, step) and per source log entry;
- ``Visit.checkin_message``: one visit per check-in entry;
- ``BotQuestion.card_id`` and ``Observation.question``: one observation per asked card;
- ``BotFlag``: one flag per (planned visit, kind);
- ``FamilyVoiceAsk``: one family-voice question per service user and week.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from rooms.models import Message, Person, Room, ServiceUser


class VisitPattern(models.Model):
    """A weekly rota line: this worker visits this person on these weekdays at this time.

    ``bots.patterns.PatternTicker`` plans visits from it ahead of time; ``generated_until``
    is its timer column (the last local date planned). Changing a pattern ends it and
    starts a new one, so every planned visit names the pattern it came from.
    """

    service_user = models.ForeignKey(
        ServiceUser, on_delete=models.CASCADE, related_name="visit_patterns"
    )
    worker = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="visit_patterns")
    weekdays = models.CharField(max_length=7)  # digits 0 (Monday) to 6 (Sunday)
    start_time = models.TimeField()  # Europe/London
    minutes = models.PositiveIntegerField()
    visit_type = models.CharField(max_length=60, blank=True)
    starts_on = models.DateField()
    ends_on = models.DateField(null=True, blank=True)  # inclusive
    generated_until = models.DateField(db_index=True)
    created_by = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"pattern {self.pk} ({self.weekdays} {self.start_time:%H:%M})"


class PlannedVisit(models.Model):
    """One scheduled visit: a time window, an expected length and the assigned worker."""

    class Status(models.TextChoices):
        PLANNED = "planned", "Planned"
        CANCELLED = "cancelled", "Cancelled"

    service_user = models.ForeignKey(
        ServiceUser, on_delete=models.CASCADE, related_name="planned_visits"
    )
    worker = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="planned_visits")
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    expected_minutes = models.PositiveIntegerField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PLANNED)
    notes = models.CharField(max_length=300, blank=True)
    # Timer (DESIGN.md §3.5): window_end + grace; the ticker flags a missed visit once.
    missed_check_at = models.DateTimeField(db_index=True)
    missed_flagged_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    # Planned from a weekly pattern: unique per (pattern, local date), so a replayed or
    # racing generator plans each date once.
    pattern = models.ForeignKey(
        VisitPattern, null=True, blank=True, on_delete=models.SET_NULL, related_name="planned"
    )
    pattern_date = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["service_user", "worker", "window_start"], name="one_planned_visit_slot"
            ),
            models.UniqueConstraint(
                fields=["pattern", "pattern_date"],
                condition=Q(pattern__isnull=False),
                name="one_planned_visit_per_pattern_date",
            ),
            models.CheckConstraint(
                condition=Q(window_end__gt=models.F("window_start")), name="window_is_ordered"
            ),
        ]
        indexes = [models.Index(fields=["service_user", "window_start"])]

    def __str__(self) -> str:
        return f"planned visit {self.pk} ({self.window_start:%Y-%m-%d %H:%M})"


class Visit(models.Model):
    """A visit as it happened: check-in and check-out, position check, duration, travel."""

    class Location(models.TextChoices):
        IN_RANGE = "in_range", "In range"
        OUT_OF_RANGE = "out_of_range", "Out of range"
        NO_LOCATION = "no_location", "No location shared"
        EXEMPT = "exempt", "Exempt (not checked)"
        NO_HOME = "no_home", "No home location recorded"

    service_user = models.ForeignKey(ServiceUser, on_delete=models.CASCADE, related_name="visits")
    worker = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="visits")
    planned_visit = models.OneToOneField(
        PlannedVisit, null=True, blank=True, on_delete=models.SET_NULL, related_name="visit"
    )
    # The log entry that started it; null for imported / synthetic history.
    checkin_message = models.OneToOneField(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The bounded tap time (bots/taptime.py); when the entry reached the server is kept too.
    checked_in_at = models.DateTimeField()
    checkin_received_at = models.DateTimeField(null=True, blank=True)
    checkin_lat = models.FloatField(null=True, blank=True)
    checkin_lon = models.FloatField(null=True, blank=True)
    checkin_accuracy_m = models.FloatField(null=True, blank=True)
    checkin_distance_m = models.FloatField(null=True, blank=True)
    checkin_location = models.CharField(max_length=16, choices=Location.choices)
    checked_out_at = models.DateTimeField(null=True, blank=True)
    checkout_received_at = models.DateTimeField(null=True, blank=True)
    checkout_lat = models.FloatField(null=True, blank=True)
    checkout_lon = models.FloatField(null=True, blank=True)
    checkout_accuracy_m = models.FloatField(null=True, blank=True)
    checkout_distance_m = models.FloatField(null=True, blank=True)
    checkout_location = models.CharField(max_length=16, choices=Location.choices, blank=True)
    # The worker's reasons for a location exception: at check-in (this field's original
    # name) and at check-out. Both are kept; the exceptions page shows both.
    exception_reason = models.CharField(max_length=300, blank=True)
    checkout_reason = models.CharField(max_length=300, blank=True)
    # A care manager's review of a location exception (bots/exceptions.py): accepted or
    # disputed, with a note; who and when are shown on the exceptions page and audited.
    exception_review = models.CharField(
        max_length=10,
        blank=True,
        choices=[("accepted", "Accepted"), ("disputed", "Disputed")],
    )
    exception_review_note = models.CharField(max_length=300, blank=True)
    exception_reviewed_by = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    exception_reviewed_at = models.DateTimeField(null=True, blank=True)
    duration_minutes = models.PositiveIntegerField(null=True, blank=True)
    travel_minutes = models.PositiveIntegerField(null=True, blank=True)
    late = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(fields=["service_user", "checked_in_at"]),
            models.Index(fields=["worker", "checked_in_at"]),
        ]

    def __str__(self) -> str:
        return f"visit {self.pk} ({self.checked_in_at:%Y-%m-%d %H:%M})"


class BotSession(models.Model):
    """One bot conversation: a visit (check-in to last answer) or a family-voice question.

    ``state`` is the pydantic state of the pure flow (``bots.flows``), validated on load.
    ``last_message_id`` is the newest log entry applied; older entries never apply again.
    """

    class Kind(models.TextChoices):
        VISIT = "visit", "Visit"
        FAMILY_VOICE = "family_voice", "Family voice"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    service_user = models.ForeignKey(
        ServiceUser, on_delete=models.CASCADE, related_name="bot_sessions"
    )
    worker = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    visit = models.OneToOneField(
        Visit, null=True, blank=True, on_delete=models.CASCADE, related_name="session"
    )
    state = models.JSONField(default=dict)
    step = models.PositiveIntegerField(default=0)
    last_message_id = models.BigIntegerField(default=0)
    closed = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["service_user", "worker"],
                condition=Q(closed=False, kind="visit"),
                name="one_open_visit_session",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} session {self.pk}"


class BotStep(models.Model):
    """Idempotency key of one bot step: (session, step), and the log entry that caused it."""

    session = models.ForeignKey(BotSession, on_delete=models.CASCADE, related_name="steps")
    step = models.PositiveIntegerField()
    source_message = models.OneToOneField(
        Message, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    event = models.CharField(max_length=20)
    at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["session", "step"], name="one_bot_step"),
        ]

    def __str__(self) -> str:
        return f"step {self.step} of session {self.session_id}"


class BotQuestion(models.Model):
    """A question card the bot posted. ``expires_at`` is the quiet-expiry timer."""

    session = models.ForeignKey(BotSession, on_delete=models.CASCADE, related_name="questions")
    service_user = models.ForeignKey(ServiceUser, on_delete=models.CASCADE, related_name="+")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+")
    card_id = models.CharField(max_length=64, unique=True)
    card_message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    question_key = models.CharField(max_length=60)
    question_version = models.PositiveIntegerField()
    domain = models.CharField(max_length=30)
    goal = models.ForeignKey(
        "Goal", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    asked_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["service_user", "asked_at"])]

    def __str__(self) -> str:
        return f"card {self.card_id}"


class Goal(models.Model):
    """A personal goal of the service user, in their words."""

    service_user = models.ForeignKey(ServiceUser, on_delete=models.CASCADE, related_name="goals")
    text = models.CharField(max_length=200)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    achieved_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"goal {self.pk}"


class Observation(models.Model):
    """One answer: a point of a domain series (score 0 = as good as it gets, 4 = worst)."""

    class Domain(models.TextChoices):
        SOCIAL_CARE_NEEDS = "social_care_needs", "Social care needs"
        HEALTH = "health", "Health"
        CARE_EXPERIENCE = "care_experience", "Care experience"
        PERSONAL_GOALS = "personal_goals", "Personal goals"

    service_user = models.ForeignKey(
        ServiceUser, on_delete=models.CASCADE, related_name="observations"
    )
    domain = models.CharField(max_length=30, choices=Domain.choices)
    question_key = models.CharField(max_length=60)
    question_version = models.PositiveIntegerField()
    score = models.PositiveSmallIntegerField()
    visit = models.ForeignKey(
        Visit, null=True, blank=True, on_delete=models.SET_NULL, related_name="observations"
    )
    question = models.OneToOneField(
        BotQuestion, null=True, blank=True, on_delete=models.SET_NULL, related_name="observation"
    )
    goal = models.ForeignKey(
        Goal, null=True, blank=True, on_delete=models.SET_NULL, related_name="progress"
    )
    answered_by = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["service_user", "domain", "at"]),
            models.Index(fields=["service_user", "question_key", "at"]),
        ]

    def __str__(self) -> str:
        return f"observation {self.pk} ({self.question_key})"


class BotFlag(models.Model):
    """A flag the bot wrote about a planned visit (missed / late): once per kind."""

    planned_visit = models.ForeignKey(PlannedVisit, on_delete=models.CASCADE, related_name="flags")
    kind = models.CharField(max_length=20)
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["planned_visit", "kind"], name="one_flag_per_kind")
        ]

    def __str__(self) -> str:
        return f"{self.kind} flag for planned visit {self.planned_visit_id}"


class FamilyVoiceAsk(models.Model):
    """The weekly family-voice question; unique per service user and ISO week."""

    service_user = models.ForeignKey(ServiceUser, on_delete=models.CASCADE, related_name="+")
    week = models.CharField(max_length=8)  # e.g. "2026-W10"
    session = models.OneToOneField(BotSession, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["service_user", "week"], name="family_voice_weekly")
        ]

    def __str__(self) -> str:
        return f"family voice {self.week}"
