"""What the person who raised a concern sees of it: their own words, where it stands, and
— once resolved — the family-safe outcome the manager wrote (``Alert.raiser_outcome``).

Never the staff ``outcome``, other people's flags, the escalation steps or who was told:
only the raiser's own concerns, about service users whose rooms they can still read
(``rooms.access.visible_rooms``), so a family member whose access ended sees nothing.
"""

from __future__ import annotations

from django.utils.translation import gettext, gettext_noop

from escalation.alerts import LABELS
from escalation.models import Alert, Flag
from rooms.access import visible_rooms
from rooms.models import Person

# Plain words for the raiser; "open" means nobody has picked it up yet. Shown in the
# reader's language (the request's, web.language); the outcome is the manager's own words.
STATUS_TEXT = {
    Alert.State.OPEN: gettext_noop("Raised — the care manager has been alerted"),
    Alert.State.ACKNOWLEDGED: gettext_noop("Acknowledged — the care manager is looking into it"),
    Alert.State.RESOLVED: gettext_noop("Resolved"),
}


def my_concerns(
    person: Person, *, service_user_id: int | None = None, limit: int = 50
) -> list[dict]:
    """The concerns ``person`` raised, newest first (at most ``limit``)."""
    sus = visible_rooms(person).values("service_user_id")
    qs = (
        Flag.objects.filter(raised_by=person, source="explicit", service_user_id__in=sus)
        .select_related("alert", "service_user")
        .order_by("-created_at", "-id")
    )
    if service_user_id is not None:
        qs = qs.filter(service_user_id=service_user_id)
    out = []
    for f in qs[:limit]:
        a = f.alert
        resolved = a.state == Alert.State.RESOLVED
        out.append(
            {
                "id": f.id,
                "service_user": f.service_user_id,
                "name": f.service_user.name,
                "concern": f.concern,
                "label": gettext(LABELS[f.concern])
                if f.concern in LABELS
                else f.concern.replace("_", " "),
                "reason": f.reason,
                "raised_at": f.created_at.isoformat(),
                "state": a.state,
                "status": gettext(STATUS_TEXT[a.state]) if a.state in STATUS_TEXT else a.state,
                "acknowledged": a.acknowledged_at is not None,
                "resolved_at": a.resolved_at.isoformat() if resolved and a.resolved_at else None,
                "outcome": a.raiser_outcome if resolved else "",
            }
        )
    return out
