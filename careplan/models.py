"""The visit record in the database: care-plan versions, tasks, medicines and outcomes.

Models hold data only; every change goes through ``careplan.actions``. Unique keys make
every write idempotent (docs/visit-record.md "Idempotency"):

- ``CarePlanVersion``: one row per ``(service_user, number)`` — a racing second editor
  loses with a conflict, never a duplicate version;
- ``TaskRecord``: one per ``(visit, task)``; ``MedicineRecord``: one per scheduled dose
  ``(medicine, scheduled_for)``; both also unique on ``(recorded_by, client_id)``, so a
  phone retrying an as-needed dose records it once;
- ``MedicineChange``: one per ``(medicine, action)`` — the list's audit trail.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from rooms.models import Message, Person, ServiceUser


class CarePlanVersion(models.Model):
    """One version of a person's care plan; the current one is the highest number.

    ``visit_types`` is the plan's list of named times of day (``careplan.rules``); its
    outcomes and tasks are rows, so records can point at the exact task they tick.
    """

    service_user = models.ForeignKey(
        ServiceUser, on_delete=models.CASCADE, related_name="care_plan_versions"
    )
    number = models.PositiveIntegerField()
    visit_types = models.JSONField(default=list)
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["service_user", "number"], name="one_care_plan_version_number"
            ),
        ]

    def __str__(self) -> str:
        return f"care plan v{self.number} of service user {self.service_user_id}"


class PlanOutcome(models.Model):
    """What the care is for, in the person's words; tied to one of their goals if any."""

    version = models.ForeignKey(CarePlanVersion, on_delete=models.CASCADE, related_name="outcomes")
    key = models.CharField(max_length=40)
    text = models.CharField(max_length=300)
    goal = models.ForeignKey(
        "bots.Goal", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "key"], name="one_outcome_key_per_version"),
        ]

    def __str__(self) -> str:
        return f"outcome {self.key}"


class PlanTask(models.Model):
    version = models.ForeignKey(CarePlanVersion, on_delete=models.CASCADE, related_name="tasks")
    key = models.CharField(max_length=40)
    label = models.CharField(max_length=120)
    visit_type = models.CharField(max_length=40)
    essential = models.BooleanField(default=False)
    family_label = models.CharField(max_length=40, blank=True)
    outcome_key = models.CharField(max_length=40, blank=True)
    details = models.CharField(max_length=500, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "key"], name="one_task_key_per_version"),
        ]

    def __str__(self) -> str:
        return f"task {self.key}"


class TaskRecord(models.Model):
    """A tick: done, or not done with a reason. ``flag_message`` is the signal entry an
    essential task not done wrote (once)."""

    visit = models.ForeignKey("bots.Visit", on_delete=models.PROTECT, related_name="task_records")
    task = models.ForeignKey(PlanTask, on_delete=models.PROTECT, related_name="records")
    done = models.BooleanField()
    reason = models.CharField(max_length=20, blank=True)
    recorded_by = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="+")
    client_id = models.CharField(max_length=64)
    recorded_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    flag_message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["visit", "task"], name="one_task_record_per_visit"),
            models.UniqueConstraint(
                fields=["recorded_by", "client_id"], name="idempotent_task_record_client_id"
            ),
        ]

    def __str__(self) -> str:
        return f"task record {self.pk}"


class Medicine(models.Model):
    """One line of the person's medicines list, in force from ``started_at`` until
    ``stopped_at``. A change never rewrites a line: it stops it and starts a new one that
    ``replaces`` it (as a paper MAR chart does), so past charts keep the times and doses
    that were in force. Editing a line that was already stopped or replaced is a conflict
    (someone changed it meanwhile)."""

    class Route(models.TextChoices):
        ORAL = "oral", "Oral"
        TOPICAL = "topical", "Topical"
        INHALED = "inhaled", "Inhaled"
        TRANSDERMAL = "transdermal", "Transdermal patch"
        EYE = "eye", "Eye"
        EAR = "ear", "Ear"
        NASAL = "nasal", "Nasal"
        SUBCUTANEOUS = "subcutaneous", "Subcutaneous injection"
        RECTAL = "rectal", "Rectal"
        OTHER = "other", "Other"

    service_user = models.ForeignKey(
        ServiceUser, on_delete=models.CASCADE, related_name="medicines"
    )
    name = models.CharField(max_length=120)
    dose = models.CharField(max_length=60)
    route = models.CharField(max_length=20, choices=Route.choices)
    times = models.JSONField(default=list)  # local "HH:MM"; empty for as-needed
    prn_max_doses_24h = models.PositiveSmallIntegerField(null=True, blank=True)
    prn_min_interval_minutes = models.PositiveSmallIntegerField(null=True, blank=True)
    time_critical = models.BooleanField(default=False)
    instructions = models.CharField(max_length=300, blank=True)
    replaces = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaced_by"
    )
    started_at = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["service_user", "stopped_at"])]

    def __str__(self) -> str:
        return f"medicine {self.pk}"


class MedicineChange(models.Model):
    """Every change to the list: who, when, what the line said (the list's audit trail).

    A line is ``added`` (or ``changed``: started in place of the line it replaces) once
    and ``stopped`` once."""

    class Action(models.TextChoices):
        ADDED = "added", "Added"
        CHANGED = "changed", "Changed"
        STOPPED = "stopped", "Stopped"

    medicine = models.ForeignKey(Medicine, on_delete=models.CASCADE, related_name="changes")
    action = models.CharField(max_length=10, choices=Action.choices)
    spec = models.JSONField(default=dict)  # the line as it was (careplan.medicines.MedicineSpec)
    reason = models.CharField(max_length=200, blank=True)
    changed_by = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["medicine", "action"], name="one_change_per_action"),
        ]

    def __str__(self) -> str:
        return f"{self.action} medicine {self.medicine_id}"


class MedicineRecord(models.Model):
    """One dose outcome. Scheduled doses: one *current* record per ``(medicine,
    scheduled_for)``, whoever records it (two carers cannot both give the 08:00 dose).
    As-needed doses have no ``scheduled_for``; ``given_at`` is when it was given.

    A care manager's correction never edits a record: it sets the old one's
    ``superseded_at`` and adds a new record that ``corrects`` it, recorded by the manager
    with ``correction_reason`` (who, when, why — the MAR chart lists them). Only current
    records (``superseded_at`` null) count anywhere.
    """

    class Outcome(models.TextChoices):
        GIVEN = "given", "Given"
        REFUSED = "refused", "Refused"
        NOT_GIVEN = "not_given", "Not given"
        MISSED = "missed", "Missed"

    medicine = models.ForeignKey(Medicine, on_delete=models.PROTECT, related_name="records")
    visit = models.ForeignKey(
        "bots.Visit", on_delete=models.PROTECT, related_name="medicine_records"
    )
    scheduled_for = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    reason = models.CharField(max_length=20, blank=True)
    prn_reason = models.CharField(max_length=200, blank=True)
    note = models.CharField(max_length=300, blank=True)
    given_at = models.DateTimeField()
    recorded_by = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="+")
    client_id = models.CharField(max_length=64)
    recorded_at = models.DateTimeField()
    flag_message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    corrects = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="corrected_by"
    )
    correction_reason = models.CharField(max_length=200, blank=True)
    superseded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["medicine", "scheduled_for"],
                condition=Q(scheduled_for__isnull=False, superseded_at__isnull=True),
                name="one_current_record_per_scheduled_dose",
            ),
            models.UniqueConstraint(
                fields=["recorded_by", "client_id"], name="idempotent_medicine_record_client_id"
            ),
        ]
        indexes = [models.Index(fields=["medicine", "given_at"])]

    def __str__(self) -> str:
        return f"medicine record {self.pk}"


class VisitMinutes(models.Model):
    """The hours rules' figures for one visit (``careplan.hours.visit_hours``), stored.

    Derived, recomputable and keyed by the visit (one row each): written only by
    ``careplan.delivered`` — on the visit bot's check-in/check-out entries (the
    ``careplan`` log consumer) and by any reader that finds a visit without a current row.
    The payroll and council exports and the dashboards (live and rolled up) all read
    these rows, so delivered time has one computation. ``checked_in_at``,
    ``checked_out_at``, ``worker`` and ``planned_minutes`` are the inputs the row was
    computed from: a visit whose inputs differ is recomputed before it is read.
    """

    visit = models.OneToOneField("bots.Visit", on_delete=models.CASCADE, related_name="minutes")
    worker = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()  # local (Europe/London) day of check-in
    checked_in_at = models.DateTimeField()
    checked_out_at = models.DateTimeField(null=True, blank=True)
    planned_minutes = models.PositiveIntegerField(null=True, blank=True)
    actual_minutes = models.PositiveIntegerField()
    pay_minutes = models.PositiveIntegerField()
    delivered_minutes = models.PositiveIntegerField()  # 0 for the second carer of a group
    cut_short = models.BooleanField()
    open = models.BooleanField()
    two_carer = models.BooleanField()
    group_visit_id = models.BigIntegerField()  # the visit the group's delivered time is on
    travel_minutes = models.PositiveIntegerField(null=True, blank=True)
    travel_km = models.FloatField(null=True, blank=True)
    computed_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["worker", "day"])]

    def __str__(self) -> str:
        return f"minutes of visit {self.visit_id}"


class DosePrompt(models.Model):
    """A prompt due during a visit: the scheduled doses at one time that fall due after
    check-in. Made when the visit starts (``careplan.prompts``); ``due_at`` is the timer
    column a ticker claims (compare-and-set on ``state``), so each prompt is posted at
    most once — also across restarts and racing workers. The posted notice is generic
    (a time and a count, never a medicine name: notices reach Matrix)."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        POSTED = "posted", "Posted"
        SKIPPED = "skipped", "Skipped (visit over or doses recorded)"

    visit = models.ForeignKey("bots.Visit", on_delete=models.CASCADE, related_name="dose_prompts")
    due_at = models.DateTimeField()
    doses = models.JSONField(default=list)  # [[medicine id, scheduled_for iso], ...]
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["visit", "due_at"], name="one_dose_prompt_per_time"),
        ]
        indexes = [models.Index(fields=["state", "due_at"])]

    def __str__(self) -> str:
        return f"dose prompt {self.pk}"
