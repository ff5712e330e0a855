"""Flags, alerts, their timeline, executed steps, the notification outbox, rota and policies.

Idempotency keys (DESIGN.md §3.6) are unique constraints here:
- a rule/bot flag once per ``(message, rule)``; an explicit concern once per
  ``(message, raised_by)``;
- one alert per ``(service_user, concern)`` that is not resolved;
- an executed step once per ``(alert, seq)``;
- a notification once per ``(alert, step_seq, recipient, device)`` (in-app rows have no
  device: a separate partial constraint);
- a chat command ("ack") acts once per ``(source_message, kind)``.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from rooms.models import Message, Organisation, Person, PushDevice, ServiceUser

SEVERITIES = [(s, s) for s in ("low", "medium", "high", "safeguarding")]


class Alert(models.Model):
    class State(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"

    service_user = models.ForeignKey(ServiceUser, on_delete=models.PROTECT, related_name="alerts")
    concern = models.CharField(max_length=30)
    severity = models.CharField(max_length=20, choices=SEVERITIES)
    state = models.CharField(max_length=20, choices=State.choices, default=State.OPEN)
    opened_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    outcome = models.TextField(blank=True)
    # What whoever raised a concern on this alert is told when it is resolved: written by
    # the manager for the family (no clinical detail); ``outcome`` stays for staff.
    raiser_outcome = models.TextField(blank=True)
    # The provider's policy as it was when the alert (re)opened; steps run from this.
    policy = models.JSONField()
    step_index = models.PositiveIntegerField(default=0)
    step_seq = models.PositiveIntegerField(default=0)  # executed steps so far
    repeats = models.JSONField(default=dict, blank=True)
    next_step_at = models.DateTimeField(null=True, blank=True, db_index=True)
    council_notified_at = models.DateTimeField(null=True, blank=True)
    reopened_count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["service_user", "concern"],
                condition=~Q(state="resolved"),
                name="one_unresolved_alert_per_concern",
            )
        ]
        indexes = [models.Index(fields=["state", "next_step_at"])]

    def __str__(self) -> str:
        return f"alert {self.pk} ({self.state})"


class Flag(models.Model):
    """One reason for concern. ``message`` is the log entry that raised it (the text, the
    bot signal, or — for an explicit concern — the message it is about); ``subject`` is the
    message it is about, shown in context."""

    service_user = models.ForeignKey(ServiceUser, on_delete=models.PROTECT, related_name="+")
    message = models.ForeignKey(Message, on_delete=models.PROTECT, related_name="+")
    subject = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    rule = models.CharField(max_length=120)
    concern = models.CharField(max_length=30)
    severity = models.CharField(max_length=20, choices=SEVERITIES)
    source = models.CharField(max_length=40)  # rule, explicit, bot.screener, ...
    reason = models.CharField(max_length=500, blank=True)
    raised_by = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    alert = models.ForeignKey(Alert, on_delete=models.PROTECT, related_name="flags")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["message", "rule"],
                condition=Q(raised_by__isnull=True),
                name="one_flag_per_message_rule",
            ),
            models.UniqueConstraint(
                fields=["message", "raised_by"],
                condition=Q(raised_by__isnull=False),
                name="one_explicit_flag_per_message_person",
            ),
        ]

    def __str__(self) -> str:
        return f"flag {self.pk} {self.rule}"


class AlertEvent(models.Model):
    """The alert's timeline. ``data`` holds ids and step facts, never message text."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=30)
    actor = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField()
    data = models.JSONField(default=dict, blank=True)
    note = models.TextField(blank=True)  # outcome / reason written by a manager
    source_message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source_message", "kind"],
                condition=Q(source_message__isnull=False),
                name="one_event_per_chat_command",
            ),
        ]

    def __str__(self) -> str:
        return f"alert {self.alert_id} {self.kind}"


class StepRun(models.Model):
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="step_runs")
    seq = models.PositiveIntegerField()
    index = models.IntegerField()  # policy step index; -1 = council at once
    step_type = models.CharField(max_length=30)
    due_at = models.DateTimeField()
    ran_at = models.DateTimeField()
    audience = models.CharField(max_length=20)
    recipients = models.JSONField(default=list)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["alert", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["alert", "seq"], name="one_run_per_alert_step_seq")
        ]

    def __str__(self) -> str:
        return f"alert {self.alert_id} step {self.seq}"


class Notification(models.Model):
    """The outbox. In-app rows are delivered live on commit; push rows by the push sender."""

    class Channel(models.TextChoices):
        INAPP = "inapp", "In-app"
        PUSH = "push", "Push"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        RECORDED = "recorded", "Recorded (outbox backend)"
        FAILED = "failed", "Failed (gave up)"
        DEVICE_DISABLED = "device_disabled", "Device disabled"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="notifications")
    step_seq = models.PositiveIntegerField()
    recipient = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="+")
    device = models.ForeignKey(
        PushDevice, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_error = models.CharField(max_length=60, blank=True)  # error code only
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    provider_id = models.CharField(max_length=200, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["alert", "step_seq", "recipient", "device"],
                condition=Q(device__isnull=False),
                name="one_push_per_step_recipient_device",
            ),
            models.UniqueConstraint(
                fields=["alert", "step_seq", "recipient"],
                condition=Q(device__isnull=True),
                name="one_inapp_per_step_recipient",
            ),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"notification {self.pk} ({self.channel}, {self.status})"


class OnCallShift(models.Model):
    """The provider's rota: who is on call (primary) or deputy, when."""

    class Role(models.TextChoices):
        PRIMARY = "primary", "On call"
        DEPUTY = "deputy", "Deputy"

    provider = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+")
    role = models.CharField(max_length=10, choices=Role.choices)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="shift_ends_after_start"
            ),
        ]
        indexes = [models.Index(fields=["provider", "ends_at"])]

    def __str__(self) -> str:
        return f"{self.role} {self.person_id} {self.starts_at:%Y-%m-%d %H:%M}"


class ProviderPolicy(models.Model):
    """A provider's own policy (validated by escalation.policy.Policy before saving)."""

    provider = models.OneToOneField(Organisation, on_delete=models.CASCADE, related_name="+")
    config = models.JSONField()
    updated_at = models.DateTimeField()
    updated_by = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    def __str__(self) -> str:
        return f"policy of provider {self.provider_id}"
