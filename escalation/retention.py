"""Retention for alerts (a purger named in ``settings.COCARE_RETENTION_PURGERS``).

A resolved alert older than the provider's content period loses its free text — the
outcome and the notes on its timeline — and keeps what the dashboards and the audit count:
concern, severity, state and every time. Open alerts are never touched. Held service users
(an active legal hold) are skipped. Idempotent: only rows with text left are selected.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Q

from escalation.models import Alert, AlertEvent


def purge(
    *,
    provider_id: int,
    content_before: dt.datetime,
    positions_before: dt.datetime,
    held,
    limit: int,
) -> int:
    old = Alert.objects.filter(
        service_user__provider_id=provider_id,
        state=Alert.State.RESOLVED,
        resolved_at__lt=content_before,
    ).exclude(service_user_id__in=held)
    ids = list(old.exclude(outcome="").values_list("id", flat=True)[:limit])
    done = Alert.objects.filter(id__in=ids).update(outcome="")
    ev_ids = list(
        AlertEvent.objects.filter(alert__in=old)
        .filter(~Q(note=""))
        .values_list("id", flat=True)[:limit]
    )
    done += AlertEvent.objects.filter(id__in=ev_ids).update(note="")
    return done
