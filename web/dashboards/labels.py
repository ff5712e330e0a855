"""Human words for the codes the dashboards store, and a definition for every figure.

Pages show these; the CSV exports keep the codes (a spreadsheet filters on them). An
unknown code is shown as itself with underscores turned to spaces, never as an error.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from bots.models import Visit
from escalation.models import Alert

CONCERNS = {
    "falls": _("Fall"),
    "eating_drinking": _("Not eating or drinking"),
    "confusion": _("Confusion"),
    "breathing": _("Breathing"),
    "chest_pain": _("Chest pain"),
    "injury": _("Injury or bruising"),
    "medication": _("Medication refused or missed"),
    "safeguarding": _("Safeguarding"),
    "wellbeing_change": _("Wellbeing change"),
    "location_exception": _("Visit location"),
    "missed_visit": _("Missed visit"),
    "late_visit": _("Late visit"),
    "care_task": _("Essential care task not done"),
    "other": _("Other concern"),
    "pendant_pressed": _("Pendant pressed"),
    "door_at_night": _("Door opened at night"),
    "no_movement": _("No movement"),
}
SEVERITIES = {
    "low": _("Low"),
    "medium": _("Medium"),
    "high": _("High"),
    "safeguarding": _("Safeguarding"),
}
STATES = {str(k): v for k, v in Alert.State.choices}
LOCATIONS = {str(k): v for k, v in Visit.Location.choices}
KINDS = {"concern": CONCERNS, "severity": SEVERITIES, "state": STATES, "location": LOCATIONS}


def label(code: str | None, kind: str) -> str:
    """The words for ``code`` of ``kind`` (concern, severity, state, location)."""
    if code is None:
        return "–"
    words = KINDS.get(kind, {}).get(code)
    return str(words) if words is not None else code.replace("_", " ")


# Beside each chart (by the chart id's last part) and each tile: what the figure counts.
DEFINITIONS = {
    "visits": _(
        "Planned: visits planned in the period and not cancelled. Delivered: planned visits "
        "a care worker checked in to. Unplanned: check-ins with no planned visit."
    ),
    "punctuality": _(
        "On time: delivered visits checked in no later than the end of the planned window. "
        "Minutes late: check-in time minus the end of the window, for late visits only."
    ),
    "domains": _(
        "The mean of the wellbeing answers in each domain: 0 is as good as it gets, "
        "4 is most concerning. A gap means no answers in that period."
    ),
    "goals": _("Progress on each personal goal as last reported: 0 is done or on track."),
    "alerts": _(
        "Alerts opened in the period, those escalated to the council, and the mean time "
        "from an alert opening to a care manager acknowledging it."
    ),
    "escalations": _(
        "Alerts opened in the period, those escalated to the council, and those raised as "
        "safeguarding."
    ),
    "continuity": _(
        "How many people were visited by 1, 2, 3… different care workers in the period. "
        "Fewer care workers per person is better continuity."
    ),
    "hours": _(
        "Commissioned: each person's commissioned hours a week times the weeks in the "
        "period. Delivered: the visits' delivered minutes under the hours rules."
    ),
}


def definition(chart_id: str) -> str:
    return str(DEFINITIONS.get(chart_id.rsplit("-", 1)[-1], ""))
