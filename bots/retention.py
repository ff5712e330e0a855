"""Retention for visits and observations (a purger named in
``settings.COCARE_RETENTION_PURGERS``; rooms.retention runs it per provider policy).

- Visits: positions (latitude, longitude, accuracy) are blanked after the policy's
  position period; free text (the worker's check-in/check-out reasons, the manager's review note)
  after its content period. What dashboards and payroll count stays: times, durations,
  lateness, the in-range/out-of-range outcome and the distance.
- Observations are scores in a domain (no text) and are the dashboards' series; they stay,
  but lose who answered after the content period.

Held service users (an active legal hold) are skipped. Idempotent: only rows that still
hold something are selected, and each update is a plain overwrite with blanks.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Q

from bots.models import Observation, Visit

POSITION_FIELDS = {
    "checkin_lat": None,
    "checkin_lon": None,
    "checkin_accuracy_m": None,
    "checkout_lat": None,
    "checkout_lon": None,
    "checkout_accuracy_m": None,
}
TEXT_FIELDS = {"exception_reason": "", "checkout_reason": "", "exception_review_note": ""}


def purge(
    *,
    provider_id: int,
    content_before: dt.datetime,
    positions_before: dt.datetime,
    held,
    limit: int,
) -> int:
    mine = Q(service_user__provider_id=provider_id) & ~Q(service_user_id__in=held)
    has_position = Q(checkin_lat__isnull=False) | Q(checkout_lat__isnull=False)
    has_position |= Q(checkin_accuracy_m__isnull=False) | Q(checkout_accuracy_m__isnull=False)
    done = 0
    ids = list(
        Visit.objects.filter(mine, has_position, checked_in_at__lt=positions_before).values_list(
            "id", flat=True
        )[:limit]
    )
    done += Visit.objects.filter(id__in=ids).update(**POSITION_FIELDS)
    ids = list(
        Visit.objects.filter(mine, checked_in_at__lt=content_before)
        .filter(~Q(exception_reason="") | ~Q(checkout_reason="") | ~Q(exception_review_note=""))
        .values_list("id", flat=True)[:limit]
    )
    done += Visit.objects.filter(id__in=ids).update(**TEXT_FIELDS)
    ids = list(
        Observation.objects.filter(
            mine, at__lt=content_before, answered_by__isnull=False
        ).values_list("id", flat=True)[:limit]
    )
    done += Observation.objects.filter(id__in=ids).update(answered_by=None)
    return done
