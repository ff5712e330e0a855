"""Retention: expired message content is purged, and the deletion reaches every copy.

Per provider (``RetentionPolicy.message_days``; none = kept indefinitely), an entry older
than the cutoff loses its content. A service user under an active ``LegalHold`` is skipped
entirely. For each expired entry, in one transaction:

- an entry that reaches screens and Matrix (text, note, system notice, card, answer) and
  is not yet redacted gets a ``redaction`` entry through the one write path
  (:func:`rooms.messages.post_message`, sender: the system participant, client id
  ``retention:<message id>``), so open sockets hide it and the bridge redacts the Matrix
  event and the Matrix events of its edits (docs/matrix.md);
- then its ``body``, ``edited_body`` and ``payload`` are emptied, as are the bodies of the
  ``edit`` entries that amended it; signals, which never leave CoCare, are emptied in
  place;
- an ``attachment`` entry's stored photo or file (and thumbnail) is deleted from storage
  after the purge commits (``rooms.attachments.delete_purged_objects``, retried on the
  next run if the storage is down).

Idempotent: the redaction is keyed on its client id, and an already-empty entry is not
selected again. The sequence, senders and times stay: the log keeps its shape, without the
content. Run daily: ``manage.py apply_retention``, and scheduled per provider by the
``retention`` worker (:class:`RetentionTicker`: the policy's ``next_run_at`` column).

The other apps' records are covered by purgers named in
``settings.COCARE_RETENTION_PURGERS`` (rooms imports none of them): each blanks the
content of its rows older than the cutoff for one provider, skipping held service users,
and keeps what the dashboards count (docs/security.md "Retention"): visits lose their
positions and free text, alerts their outcome and notes; observations are scores only and
stay, without who answered.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils.module_loading import import_string

from rooms.attachments import delete_purged_objects, mark_purged
from rooms.messages import REDACTABLE_KINDS, post_message
from rooms.models import LegalHold, Message, RetentionPolicy
from rooms.network import system_person

log = logging.getLogger(__name__)


@dataclass
class RetentionResult:
    purged: int = 0
    redactions: int = 0
    held: int = 0  # service users skipped under legal hold
    objects_deleted: int = 0  # attachments whose stored objects were deleted
    records: int = 0  # other apps' rows blanked (visits, alerts, observations)


def cutoff(policy: RetentionPolicy, now: dt.datetime) -> dt.datetime | None:
    if policy.message_days is None:
        return None
    return now - dt.timedelta(days=policy.message_days)


def position_cutoff(policy: RetentionPolicy, now: dt.datetime) -> dt.datetime | None:
    days = policy.position_days if policy.position_days is not None else policy.message_days
    return None if days is None else now - dt.timedelta(days=days)


def held_service_users():
    return LegalHold.objects.filter(released_at__isnull=True).values("service_user_id")


def expired(now: dt.datetime, provider_id: int | None = None):
    """Entries whose content has expired and is not yet purged, oldest first."""
    held = held_service_users()
    q = Q(pk__in=[])
    policies = RetentionPolicy.objects.exclude(message_days__isnull=True)
    if provider_id is not None:
        policies = policies.filter(provider_id=provider_id)
    for policy in policies:
        q |= Q(
            room__service_user__provider_id=policy.provider_id, created_at__lt=cutoff(policy, now)
        )
    has_content = ~Q(body="") | Q(edited_body__isnull=False) | ~Q(payload={})
    return (
        Message.objects.filter(q)
        .filter(has_content)
        .exclude(kind=Message.Kind.REDACTION)
        .exclude(kind=Message.Kind.EDIT)  # purged with their target
        .exclude(room__service_user_id__in=held)
        .select_related("room")
        .order_by("id")
    )


def purge_one(msg: Message, now: dt.datetime) -> bool:
    """Redact (if amendable) and empty one entry; True if a redaction entry was written."""
    redacted = False
    with transaction.atomic():
        msg = Message.objects.select_related("room").get(pk=msg.pk)
        if msg.kind in REDACTABLE_KINDS and msg.redacted_at is None:
            post_message(
                room=msg.room,
                sender=system_person(),
                kind=Message.Kind.REDACTION,
                target_seq=msg.seq,
                client_id=f"retention:{msg.id}",
                now=now,
            )
            redacted = True
        Message.objects.filter(pk=msg.pk).update(body="", edited_body=None, payload={})
        mark_purged(msg, now)  # its stored photo or file goes too (delete_purged_objects)
        Message.objects.filter(target=msg, kind=Message.Kind.EDIT).update(body="")
    return redacted


def purgers() -> list:
    return [import_string(p) for p in getattr(settings, "COCARE_RETENTION_PURGERS", [])]


def apply_retention(
    now: dt.datetime, limit: int = 10_000, provider_id: int | None = None
) -> RetentionResult:
    """Purge up to ``limit`` expired entries (one provider's, or every provider's), then
    the other apps' expired records. Safe to run concurrently with itself: the redaction
    is keyed and every purge is a plain overwrite of content with blanks."""
    result = RetentionResult()
    result.held = LegalHold.objects.filter(released_at__isnull=True).count()
    for msg in expired(now, provider_id)[:limit]:
        result.redactions += purge_one(msg, now)
        result.purged += 1
    # After the purge transactions committed; a failed delete is retried next run.
    result.objects_deleted = delete_purged_objects(now)
    policies = RetentionPolicy.objects.exclude(message_days__isnull=True)
    if provider_id is not None:
        policies = policies.filter(provider_id=provider_id)
    for policy in policies:
        content, positions = cutoff(policy, now), position_cutoff(policy, now)
        if content is None or positions is None:
            continue
        for purge in purgers():
            result.records += purge(
                provider_id=policy.provider_id,
                content_before=content,
                positions_before=positions,
                held=held_service_users(),
                limit=limit,
            )
    log.info(
        "retention: purged %s entries (%s redactions), %s records",
        result.purged,
        result.redactions,
        result.records,
    )
    return result


RUN_EVERY = dt.timedelta(days=1)


class RetentionTicker:
    """The ``retention`` worker: runs each provider's policy when its ``next_run_at`` is
    due, then moves it a day on. The row is claimed with ``skip_locked`` and moved on in
    the same short transaction before the purge, so two workers never run one provider
    at once; a crash mid-purge loses nothing (the purge is idempotent and the next run
    finishes it)."""

    name = "retention"

    def run_once(self, now: dt.datetime) -> int:
        with transaction.atomic():
            policy = (
                RetentionPolicy.objects.select_for_update(skip_locked=True)
                .filter(next_run_at__lte=now)
                .order_by("next_run_at")
                .first()
            )
            if policy is None:
                return 0
            RetentionPolicy.objects.filter(pk=policy.pk).update(next_run_at=now + RUN_EVERY)
        if policy.message_days is not None:
            apply_retention(now, provider_id=policy.provider_id)
        return 1


def make_workers() -> list[RetentionTicker]:
    return [RetentionTicker()]


def place_hold(service_user, *, by, reason: str, now: dt.datetime) -> LegalHold:
    """Idempotent: an active hold is returned as it is."""
    hold, _ = LegalHold.objects.get_or_create(
        service_user=service_user,
        released_at__isnull=True,
        defaults={"reason": reason, "placed_by": by, "placed_at": now},
    )
    return hold


def release_hold(service_user, *, now: dt.datetime) -> int:
    return LegalHold.objects.filter(service_user=service_user, released_at__isnull=True).update(
        released_at=now
    )


def set_policy(
    provider,
    message_days: int | None,
    *,
    now: dt.datetime,
    position_days: int | None = None,
) -> RetentionPolicy:
    """Create or change a provider's policy; its first scheduled run is due at once."""
    policy, _ = RetentionPolicy.objects.update_or_create(
        provider=provider,
        defaults={
            "message_days": message_days,
            "position_days": position_days,
            "updated_at": now,
            "next_run_at": now,
        },
    )
    return policy
