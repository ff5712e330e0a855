"""Bridge state: room and puppet mappings, the outbox, inbound events (docs/matrix.md).

All of it lives in our database (never in matrix-nio stores), and every effect is keyed
by a unique constraint: a Matrix event id, an outbox txn id, an appservice txn id.
"""

from __future__ import annotations

from django.db import models

from rooms.models import Attachment, Message, Person, Room


class BridgedRoom(models.Model):
    """A CoCare room and the private Matrix room that mirrors it (created on demand)."""

    room = models.OneToOneField(Room, on_delete=models.PROTECT, related_name="matrix")
    matrix_room_id = models.CharField(max_length=255, unique=True)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"room {self.room_id} -> {self.matrix_room_id}"


class Puppet(models.Model):
    """The Matrix user that speaks for one CoCare person (``@cocare_<id>:server``)."""

    person = models.OneToOneField(Person, on_delete=models.PROTECT, related_name="matrix_puppet")
    user_id = models.CharField(max_length=255, unique=True)
    display_name = models.CharField(max_length=255)
    registered_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.user_id


class MatrixMember(models.Model):
    """A Matrix user's membership in a bridged room, as the bridge last made or saw it."""

    class State(models.TextChoices):
        PENDING = "pending"  # the bridge owes an invite (not sent yet, or it failed)
        INVITED = "invited"
        JOINED = "joined"
        LEFT = "left"  # left (or declined) in Matrix by their own choice: not re-invited
        KICKED = "kicked"  # removed by the bridge (no CoCare access); re-invited on access

    bridged_room = models.ForeignKey(BridgedRoom, on_delete=models.CASCADE, related_name="members")
    user_id = models.CharField(max_length=255)
    state = models.CharField(max_length=10, choices=State.choices)
    updated_at = models.DateTimeField()
    # The bridge's last invite/kick of this user failed: retried with backoff, recorded
    # (bridge.reconcile). Reset by a success or by a new membership change.
    failures = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=100, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bridged_room", "user_id"], name="one_matrix_member")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.state}"


class OutboxEntry(models.Model):
    """One log entry to send to Matrix. Idempotent on the message and on ``txn_id``."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        FAILED = "failed"  # refused by the homeserver max_attempts times: recorded, skipped
        SKIPPED = "skipped"  # nothing to send (e.g. an edit of an entry never bridged)

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="+")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+")
    seq = models.BigIntegerField()
    txn_id = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # Consecutive passes in which this entry, as its room's head, could not be sent
    # (homeserver unreachable or refusing): drives the backoff (bridge.sender).
    failures = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    event_id = models.CharField(max_length=255, null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["status", "room", "seq"])]

    def __str__(self) -> str:
        return f"{self.txn_id} {self.status}"


class EventLink(models.Model):
    """A Matrix event id <-> a CoCare log entry, both directions (edits, replies, redactions)."""

    class Direction(models.TextChoices):
        INBOUND = "in"
        OUTBOUND = "out"

    event_id = models.CharField(max_length=255, unique=True)
    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="+")
    direction = models.CharField(max_length=3, choices=Direction.choices)

    def __str__(self) -> str:
        return f"{self.event_id} <-> message {self.message_id}"


class InboundEvent(models.Model):
    """Every Matrix event the homeserver pushed, processed once (unique on event id)."""

    class Outcome(models.TextChoices):
        POSTED = "posted"
        ECHO = "echo"
        IGNORED = "ignored"
        REFUSED = "refused"
        MEMBER = "member"
        FAILED = "failed"

    event_id = models.CharField(max_length=255, unique=True)
    matrix_room_id = models.CharField(max_length=255)
    sender = models.CharField(max_length=255)
    event_type = models.CharField(max_length=100)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    # A short reason code (never content).
    reason = models.CharField(max_length=60, blank=True)
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    received_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.event_id} {self.outcome}"


class AppserviceTransaction(models.Model):
    """The last time a transaction id was pushed (for the operator; it decides nothing).

    Synapse on SQLite numbers transactions from 1 again after a restart, so a transaction
    id is not unique over time: events are deduplicated by ``InboundEvent.event_id`` only.
    """

    txn_id = models.CharField(max_length=255, unique=True)
    events = models.PositiveIntegerField()
    received_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.txn_id


class BridgeAction(models.Model):
    """A Matrix-side action the bridge owes: kick an intruder, or a notice from the bridge
    bot (to an unlinked sender, about content not recorded, confirming a card answer)."""

    class Kind(models.TextChoices):
        KICK = "kick"
        NOTICE = "notice"

    key = models.CharField(max_length=300, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    matrix_room_id = models.CharField(max_length=255)
    user_id = models.CharField(max_length=255)
    # A notice's text (empty: the unlinked-sender notice) and the event it replies to.
    body = models.TextField(blank=True)
    reply_to_event_id = models.CharField(max_length=255, blank=True)
    # The CoCare entry a notice is about (an answer it confirms): when that entry is
    # redacted, the notice's Matrix event is redacted too.
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    event_id = models.CharField(max_length=255, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.key


class RoomSync(models.Model):
    """A CoCare room whose Matrix membership must be reconciled (bridge.reconcile).

    Dirty while ``version > synced_version``: marking bumps ``version`` (a member joined or
    left, a link changed, a family basis changed, the periodic full check); a pass that
    settled every member stores the version it read, so a mark made meanwhile is kept.
    The room may not be bridged yet: reconciling creates it when a linked person may read it.
    """

    room = models.OneToOneField(Room, on_delete=models.CASCADE, related_name="+")
    version = models.PositiveBigIntegerField(default=1)
    synced_version = models.PositiveBigIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    failures = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=100, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"room {self.room_id} v{self.version}/{self.synced_version}"


class LinkedAccount(models.Model):
    """The ``Person.matrix_id`` links the bridge has acted on: a difference is a link,
    an unlink or a re-link (made by any path: actions, the admin, a data fix)."""

    person = models.OneToOneField(Person, on_delete=models.CASCADE, related_name="+")
    matrix_id = models.CharField(max_length=255)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.person_id} -> {self.matrix_id}"


class BridgeCheckpoint(models.Model):
    """Small named values the bridge keeps between passes (last full check, fingerprints)."""

    name = models.CharField(max_length=60, unique=True)
    value = models.JSONField(default=dict)
    updated_at = models.DateTimeField()


class MatrixLinkCode(models.Model):
    """A one-time code proving that whoever links ``matrix_id`` to ``person`` controls it.

    Sent by the bridge bot in a direct Matrix room (``dm_room_id``); only a keyed hash of
    the code is stored (``bridge.linking.code_hash``). A code works once, before
    ``expires_at``, for at most ``bridge.linking.MAX_ATTEMPTS`` tries; a newer code for
    the same person supersedes it. Rows are kept as the history of link attempts.
    """

    class State(models.TextChoices):
        PENDING = "pending"
        USED = "used"
        SUPERSEDED = "superseded"  # a newer code was sent, or the person was unlinked
        LOCKED = "locked"  # too many wrong tries
        UNSENT = "unsent"  # the homeserver could not deliver it

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+")
    matrix_id = models.CharField(max_length=255)
    code_hash = models.CharField(max_length=64)
    requested_by = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    dm_room_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["person", "state"]),
            models.Index(fields=["matrix_id", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"link code {self.pk} {self.state}"


class MediaUpload(models.Model):
    """A CoCare attachment uploaded to the homeserver's media repository (bridge.media).

    One upload per attachment: a retried send of its entry reuses ``mxc_uri``. An upload
    whose answer was lost leaves an unreferenced file on the homeserver, never a second
    event.
    """

    attachment = models.OneToOneField(Attachment, on_delete=models.CASCADE, related_name="+")
    mxc_uri = models.CharField(max_length=255)
    uploaded_at = models.DateTimeField()


class InboundMedia(models.Model):
    """A photo or file a linked Matrix member sent, fetched by ``bridge.media.MediaFetcher``
    outside the appservice transaction and stored through ``rooms.attachments``."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DONE = "done"
        REFUSED = "refused"  # not a file CoCare keeps, or no longer allowed to post
        FAILED = "failed"  # the homeserver kept refusing the download

    event_id = models.CharField(max_length=255, unique=True)
    matrix_room_id = models.CharField(max_length=255)
    sender = models.CharField(max_length=255)
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+")
    mxc_uri = models.CharField(max_length=255)
    # The CoCare client id of the entry it becomes (bridge.inbound.client_id_for).
    client_id = models.CharField(max_length=64)
    caption = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=100, blank=True)
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    done_at = models.DateTimeField(null=True, blank=True)
