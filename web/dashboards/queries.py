"""Dashboard figures: aggregate SQL only (GROUP BY a truncated date), never a Python loop
over years of rows. Every function takes a ``Scope`` (whose data) and a ``Window`` (which
period, in which buckets) and returns plain dicts/lists ready for JSON, charts and CSV.

Definitions (docs/dashboards.md):
- *planned*: planned visits (not cancelled) whose window starts in the period;
- *delivered*: planned visits with a visit matched to them (``Visit.planned_visit``);
  *unplanned*: visits with no planned visit;
- *on time*: delivered with check-in no later than the planned window's end (the bots'
  own ``late`` rule); *minutes late*: check-in minus window end, for late visits;
- *continuity*: distinct care workers who visited a person in the period;
- *response time*: alert opened -> acknowledged;
- *hours delivered*: the visits' delivered minutes under the hours rules (rounding,
  tolerance, cut short, a two-carer visit once), read from ``careplan.delivered``'s
  per-visit rows — the same rows the council export sums; *commissioned*:
  ``ServiceUser.commissioned_hours_per_week`` x weeks (today's commissioning: there is no
  history of it yet).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from django.db.models import (
    Avg,
    Count,
    DateField,
    DurationField,
    ExpressionWrapper,
    F,
    Max,
    Q,
    Sum,
)
from django.db.models.functions import Trunc, TruncDay, TruncMonth, TruncWeek

from bots.models import Goal, Observation, PlannedVisit, Visit
from careplan import delivered
from cocare_chat import clock
from escalation.models import Alert
from rooms.models import Organisation, ServiceUser
from web.dashboards.models import DayTotals, DomainDay, RollupMark
from web.dashboards.periods import LONDON, Window, bucket_start, bucket_weeks, buckets

DOMAINS = ["social_care_needs", "health", "care_experience", "personal_goals"]
DOMAIN_LABELS = {
    "social_care_needs": "Social care needs",
    "health": "Health",
    "care_experience": "Care experience",
    "personal_goals": "Personal goals",
}
TRUNC = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}
ROLLUP = "daily"


@dataclass(frozen=True)
class Scope:
    """Whose data: exactly one of service user / provider / council, optionally narrowed to
    one worker's own visits or one provider of a council."""

    service_user_id: int | None = None
    provider_id: int | None = None
    council_id: int | None = None
    worker_id: int | None = None

    def q(self, prefix: str = "service_user__") -> Q:
        """Filter on the service user reached through ``prefix`` (``""`` for ServiceUser)."""
        q = Q()
        if self.service_user_id is not None:
            q &= Q(**{(prefix + "id") if prefix else "id": self.service_user_id})
        if self.provider_id is not None:
            q &= Q(**{prefix + "provider_id": self.provider_id})
        if self.council_id is not None:
            q &= Q(**{prefix + "council_id": self.council_id})
        return q


def _b(field: str, w: Window):
    return TRUNC[w.bucket](field, tzinfo=LONDON)


def _key(v: dt.datetime | dt.date, w: Window) -> str:
    if isinstance(v, dt.datetime):
        return bucket_start(v, w.bucket).isoformat()
    return v.isoformat()


def _labels(w: Window) -> list[str]:
    return [b.isoformat() for b in buckets(w)]


def _minutes(td: dt.timedelta | None) -> float | None:
    return None if td is None else round(td.total_seconds() / 60, 1)


def _pct(n: int, d: int) -> float | None:
    return round(100 * n / d, 1) if d else None


LATE = Q(visit__checked_in_at__gt=F("window_end"))
LATENESS = ExpressionWrapper(
    F("visit__checked_in_at") - F("window_end"), output_field=DurationField()
)
RESPONSE = ExpressionWrapper(F("acknowledged_at") - F("opened_at"), output_field=DurationField())


def _planned(scope: Scope, w: Window):
    qs = PlannedVisit.objects.filter(
        scope.q(),
        status=PlannedVisit.Status.PLANNED,
        window_start__gte=w.start,
        window_start__lt=w.end,
    )
    if scope.worker_id is not None:
        qs = qs.filter(worker_id=scope.worker_id)
    return qs


def _visits(scope: Scope, w: Window):
    qs = Visit.objects.filter(scope.q(), checked_in_at__gte=w.start, checked_in_at__lt=w.end)
    if scope.worker_id is not None:
        qs = qs.filter(worker_id=scope.worker_id)
    return qs


VISIT_KEYS = ("planned", "delivered", "late", "late_seconds", "unplanned", "visit_minutes")
ALERT_KEYS = ("opened", "acked", "within_15", "escalated", "safeguarding", "response_seconds")
Key = tuple  # (bucket label, council id, provider id[, domain])


def _local_midnight(d: dt.date) -> dt.datetime:
    return dt.datetime.combine(d, dt.time(), LONDON)


def _split(scope: Scope, w: Window) -> tuple[Window | None, Window | None]:
    """(rollup part, live part) of a window. Person- and worker-level figures are always
    live (small, indexed per person); provider and council figures read the daily rollups
    for complete days the rollup covers and the base tables for the days after."""
    if scope.service_user_id is not None or scope.worker_id is not None:
        return None, w
    mark = RollupMark.objects.filter(name=ROLLUP).first()
    first = w.start.astimezone(LONDON).date()
    # refresh_all covers every day from the oldest data, so the mark is complete up to
    # through_day; a window starting after it is all live.
    if mark is None or mark.through_day < first:
        return None, w
    cut = _local_midnight(mark.through_day + dt.timedelta(days=1))
    if cut >= w.end:
        return replace(w, end=w.end), None
    return replace(w, end=cut), replace(w, start=cut)


def _roll_q(scope: Scope) -> Q:
    q = Q()
    if scope.council_id is not None:
        q &= Q(council_id=scope.council_id)
    if scope.provider_id is not None:
        q &= Q(provider_id=scope.provider_id)
    return q


def _roll_bucket(w: Window):
    if w.bucket == "day":
        return F("day")
    return Trunc("day", w.bucket, output_field=DateField())


def _rollup_rows(model, scope: Scope, w: Window, keys, extra=()):
    return (
        model.objects.filter(
            _roll_q(scope),
            day__gte=w.start.astimezone(LONDON).date(),
            day__lt=w.end.astimezone(LONDON).date(),
        )
        .annotate(b=_roll_bucket(w))
        .values("b", "council_id", "provider_id", *extra)
        .annotate(**{k: Sum(k) for k in keys})
        .order_by()
    )


def _add(out: dict, key: Key, row: dict, keys) -> None:
    acc = out.setdefault(key, dict.fromkeys(keys, 0))
    for k in keys:
        v = row.get(k) or 0
        acc[k] += v.total_seconds() if isinstance(v, dt.timedelta) else v


def live_visit_sums(scope: Scope, w: Window) -> dict[Key, dict]:
    """Visit figures from the base tables, per (bucket, council, provider)."""
    out: dict[Key, dict] = {}
    su = ("service_user__council_id", "service_user__provider_id")
    for r in (
        _planned(scope, w)
        .annotate(b=_b("window_start", w))
        .values("b", *su)
        .annotate(
            planned=Count("id"),
            delivered=Count("visit"),
            late=Count("visit", filter=LATE),
            late_seconds=Sum(LATENESS, filter=LATE),
        )
        .order_by()
    ):
        _add(out, (_key(r["b"], w), r[su[0]], r[su[1]]), r, VISIT_KEYS)
    visits = _visits(scope, w)
    # Delivered minutes are the stored rules' figures; bring any missing or outdated
    # rows of these visits up to date first (careplan.delivered: one computation).
    delivered.sync(visits, clock.now())
    for r in (
        visits.annotate(b=_b("checked_in_at", w))
        .values("b", *su)
        .annotate(
            unplanned=Count("id", filter=Q(planned_visit__isnull=True)),
            visit_minutes=Sum("minutes__delivered_minutes"),
        )
        .order_by()
    ):
        _add(out, (_key(r["b"], w), r[su[0]], r[su[1]]), r, VISIT_KEYS)
    return out


def live_alert_sums(scope: Scope, w: Window) -> dict[Key, dict]:
    out: dict[Key, dict] = {}
    su = ("service_user__council_id", "service_user__provider_id")
    for r in (
        Alert.objects.filter(scope.q(), opened_at__gte=w.start, opened_at__lt=w.end)
        .annotate(b=_b("opened_at", w))
        .values("b", *su)
        .annotate(
            opened=Count("id"),
            acked=Count("acknowledged_at"),
            within_15=Count(
                "id", filter=Q(acknowledged_at__lte=F("opened_at") + dt.timedelta(minutes=15))
            ),
            escalated=Count("council_notified_at"),
            safeguarding=Count("id", filter=Q(severity="safeguarding")),
            response_seconds=Sum(RESPONSE),
        )
        .order_by()
    ):
        _add(out, (_key(r["b"], w), r[su[0]], r[su[1]]), r, ALERT_KEYS)
    return out


def live_domain_sums(scope: Scope, w: Window, domains: list[str]) -> dict[Key, dict]:
    out: dict[Key, dict] = {}
    su = ("service_user__council_id", "service_user__provider_id")
    for r in (
        Observation.objects.filter(scope.q(), at__gte=w.start, at__lt=w.end, domain__in=domains)
        .annotate(b=_b("at", w))
        .values("b", "domain", *su)
        .annotate(score_sum=Sum("score"), n=Count("id"))
        .order_by()
    ):
        _add(out, (_key(r["b"], w), r[su[0]], r[su[1]], r["domain"]), r, ("score_sum", "n"))
    return out


def _sums(scope: Scope, w: Window, live_fn, model, keys, extra=(), **kw) -> dict[Key, dict]:
    roll, live = _split(scope, w)
    out: dict[Key, dict] = {}
    if roll is not None:
        for r in _rollup_rows(model, scope, roll, keys, extra):
            key = (_key(r["b"], w), r["council_id"], r["provider_id"], *[r[e] for e in extra])
            _add(out, key, r, keys)
    if live is not None:
        for key, row in live_fn(scope, live, **kw).items():
            _add(out, key, row, keys)
    return out


def visit_sums(scope: Scope, w: Window) -> dict[Key, dict]:
    if scope.worker_id is not None:
        return live_visit_sums(scope, w)
    return _sums(scope, w, live_visit_sums, DayTotals, VISIT_KEYS)


def alert_sums(scope: Scope, w: Window) -> dict[Key, dict]:
    return _sums(scope, w, live_alert_sums, DayTotals, ALERT_KEYS)


def domain_sums(scope: Scope, w: Window, domains: list[str]) -> dict[Key, dict]:
    return _sums(
        scope, w, live_domain_sums, DomainDay, ("score_sum", "n"), ("domain",), domains=domains
    )


def _by(sums: dict[Key, dict], keys, index: int = 0) -> dict:
    """Collapse (bucket, council, provider, ...) sums onto one key part."""
    out: dict = {}
    for key, row in sums.items():
        _add(out, key[index], row, keys)
    return out


def visit_series(scope: Scope, w: Window, sums: dict | None = None) -> dict:
    """Planned, delivered, on time, late and unplanned visits per bucket, with totals.
    ``sums``: ``visit_sums(scope, w)`` already read for another figure of the same page."""
    by = _by(visit_sums(scope, w) if sums is None else sums, VISIT_KEYS)
    labels = _labels(w)
    series = {
        k: []
        for k in (
            "planned",
            "delivered",
            "on_time",
            "late",
            "unplanned",
            "on_time_pct",
            "avg_minutes_late",
        )
    }
    tot = dict.fromkeys(VISIT_KEYS, 0)
    for lab in labels:
        r = by.get(lab) or dict.fromkeys(VISIT_KEYS, 0)
        on_time = r["delivered"] - r["late"]
        for k in ("planned", "delivered", "late", "unplanned"):
            series[k].append(r[k])
        series["on_time"].append(on_time)
        series["on_time_pct"].append(_pct(on_time, r["delivered"]))
        series["avg_minutes_late"].append(
            round(r["late_seconds"] / r["late"] / 60, 1) if r["late"] else None
        )
        for k in VISIT_KEYS:
            tot[k] += r[k]
    totals = {
        "planned": tot["planned"],
        "delivered": tot["delivered"],
        "late": tot["late"],
        "unplanned": tot["unplanned"],
        "on_time": tot["delivered"] - tot["late"],
        "missed": tot["planned"] - tot["delivered"],
        "delivered_pct": _pct(tot["delivered"], tot["planned"]),
        "on_time_pct": _pct(tot["delivered"] - tot["late"], tot["delivered"]),
        "avg_minutes_late": round(tot["late_seconds"] / tot["late"] / 60, 1)
        if tot["late"]
        else None,
    }
    return {"labels": labels, "series": series, "totals": totals}


def today_visits(scope: Scope, now: dt.datetime) -> dict:
    """Today's planned and delivered visits so far (the live tile), local day."""
    day = now.astimezone(LONDON).replace(hour=0, minute=0, second=0, microsecond=0)
    qs = PlannedVisit.objects.filter(
        scope.q(),
        status=PlannedVisit.Status.PLANNED,
        window_start__gte=day,
        window_start__lt=day + dt.timedelta(days=1),
    )
    if scope.worker_id is not None:
        qs = qs.filter(worker_id=scope.worker_id)
    agg = qs.aggregate(
        planned=Count("id"),
        delivered=Count("visit"),
        due=Count("id", filter=Q(window_end__lte=now)),
        late=Count("visit", filter=LATE),
    )
    return {"date": day.date().isoformat(), "at": now.isoformat(), **agg}


def continuity(scope: Scope, w: Window) -> dict:
    """Distinct workers per person: distribution (1, 2, ... 6+), mean, and the people
    with the most (ids only here; the view decides whether names may be shown)."""
    per_person = list(
        _visits(scope, w)
        .values("service_user_id")
        .annotate(workers=Count("worker_id", distinct=True), visits=Count("id"))
        .order_by("-workers", "service_user_id")
    )
    hist = [0] * 6
    for r in per_person:  # one row per person (bounded by the caseload), not per visit
        hist[min(r["workers"], 6) - 1] += 1
    n = len(per_person)
    return {
        "labels": ["1", "2", "3", "4", "5", "6+"],
        "people": hist,
        "mean_workers": round(sum(r["workers"] for r in per_person) / n, 2) if n else None,
        "people_visited": n,
        "least_continuity": per_person[:10],
    }


def alert_series(scope: Scope, w: Window, sums: dict | None = None) -> dict:
    """Alerts opened per bucket, acknowledged, escalated to the council, mean response."""
    by = _by(alert_sums(scope, w) if sums is None else sums, ALERT_KEYS)
    labels = _labels(w)
    series = {k: [] for k in ("opened", "escalated", "safeguarding", "mean_response_minutes")}
    tot = dict.fromkeys(ALERT_KEYS, 0)
    for lab in labels:
        r = by.get(lab) or dict.fromkeys(ALERT_KEYS, 0)
        for k in ("opened", "escalated", "safeguarding"):
            series[k].append(r[k])
        series["mean_response_minutes"].append(
            round(r["response_seconds"] / r["acked"] / 60, 1) if r["acked"] else None
        )
        for k in ALERT_KEYS:
            tot[k] += r[k]
    totals = {k: tot[k] for k in ("opened", "acked", "within_15", "escalated", "safeguarding")}
    totals["mean_response_minutes"] = (
        round(tot["response_seconds"] / tot["acked"] / 60, 1) if tot["acked"] else None
    )
    totals["within_15_pct"] = _pct(tot["within_15"], tot["acked"])
    return {"labels": labels, "series": series, "totals": totals}


def alert_list(service_user_id: int, w: Window, limit: int = 50) -> list[dict]:
    """One person's alerts in the period: concern, severity, state and times (no text)."""
    return [
        {
            "id": a["id"],
            "opened_at": a["opened_at"],
            "concern": a["concern"],
            "severity": a["severity"],
            "state": a["state"],
            "response_minutes": _minutes(a["acknowledged_at"] - a["opened_at"])
            if a["acknowledged_at"]
            else None,
            "escalated": a["council_notified_at"] is not None,
        }
        for a in Alert.objects.filter(
            service_user_id=service_user_id, opened_at__gte=w.start, opened_at__lt=w.end
        )
        .order_by("-opened_at")
        .values(
            "id",
            "opened_at",
            "concern",
            "severity",
            "state",
            "acknowledged_at",
            "council_notified_at",
        )[:limit]
    ]


def domain_series(scope: Scope, w: Window, domains: list[str] | None = None) -> dict:
    """Mean observation score per domain per bucket (0 = as good as it gets, 4 = worst)."""
    domains = domains or DOMAINS
    by: dict = {}
    for key, row in domain_sums(scope, w, domains).items():
        _add(by, (key[0], key[3]), row, ("score_sum", "n"))
    labels = _labels(w)
    series, counts, overall = {}, {}, {}
    for d in domains:
        cells = [by.get((lab, d)) for lab in labels]
        series[d] = [round(c["score_sum"] / c["n"], 2) if c and c["n"] else None for c in cells]
        counts[d] = [c["n"] if c else 0 for c in cells]
        n = sum(counts[d])
        total = sum(c["score_sum"] for c in cells if c)
        overall[d] = round(total / n, 2) if n else None
    return {"labels": labels, "series": series, "counts": counts, "overall": overall}


def domain_means(service_user_id: int, start: dt.datetime, end: dt.datetime) -> dict:
    """One person's mean score per domain between two times (re-assessment comparison)."""
    return {
        r["domain"]: {"mean": round(r["mean"], 2), "n": r["n"]}
        for r in Observation.objects.filter(
            service_user_id=service_user_id, at__gte=start, at__lt=end
        )
        .values("domain")
        .annotate(mean=Avg("score"), n=Count("id"))
        .order_by()
    }


def visit_log(scope: Scope, w: Window, limit: int = 60) -> list[dict]:
    """The latest visits: when, who came, planned window, minutes late, length, location."""
    rows = (
        _visits(scope, w)
        .order_by("-checked_in_at")
        .values(
            "id",
            "checked_in_at",
            "checked_out_at",
            "duration_minutes",
            "checkin_location",
            "worker__display_name",
            "planned_visit__window_start",
            "planned_visit__window_end",
        )[:limit]
    )
    out = []
    for r in rows:
        end = r["planned_visit__window_end"]
        late = _minutes(r["checked_in_at"] - end) if end and r["checked_in_at"] > end else 0.0
        out.append(
            {
                "id": r["id"],
                "checked_in_at": r["checked_in_at"],
                "checked_out_at": r["checked_out_at"],
                "worker": r["worker__display_name"],
                "planned_start": r["planned_visit__window_start"],
                "planned_end": end,
                "minutes_late": late if end else None,
                "duration_minutes": r["duration_minutes"],
                "location": r["checkin_location"],
            }
        )
    return out


def goals(service_user_id: int, w: Window) -> list[dict]:
    """Active and recent goals with their progress series (0 = done/on track, 3 = not yet)."""
    gs = list(
        Goal.objects.filter(service_user_id=service_user_id)
        .filter(Q(active=True) | Q(achieved_at__gte=w.start))
        .order_by("-active", "-created_at")
        .values("id", "text", "active", "achieved_at", "created_at")[:10]
    )
    if not gs:
        return []
    rows = (
        Observation.objects.filter(goal_id__in=[g["id"] for g in gs], at__gte=w.start, at__lt=w.end)
        .annotate(b=_b("at", w))
        .values("goal_id", "b")
        .annotate(mean=Avg("score"))
        .order_by()
    )
    by = {(r["goal_id"], _key(r["b"], w)): r["mean"] for r in rows}
    last = dict(
        Observation.objects.filter(goal_id__in=[g["id"] for g in gs])
        .values("goal_id")
        .annotate(at=Max("at"))
        .order_by()
        .values_list("goal_id", "at")
    )
    labels = _labels(w)
    for g in gs:
        g["series"] = [
            round(by[(g["id"], lab)], 2) if (g["id"], lab) in by else None for lab in labels
        ]
        g["last_answer_at"] = last.get(g["id"])
        latest = (
            Observation.objects.filter(goal_id=g["id"])
            .order_by("-at")
            .values_list("score", flat=True)
            .first()
        )
        g["latest_score"] = latest
    return gs


def hours(scope: Scope, w: Window, sums: dict | None = None) -> dict:
    """Commissioned vs delivered hours per bucket, overall and per provider."""
    commissioned = {
        r["provider_id"]: float(r["h"] or 0)
        for r in ServiceUser.objects.filter(scope.q(prefix=""))
        .values("provider_id")
        .annotate(h=Sum("commissioned_hours_per_week"))
        .order_by()
    }
    sums = visit_sums(scope, w) if sums is None else sums
    per_bucket = _by(sums, ("visit_minutes",))
    per_provider = _by(sums, ("visit_minutes",), index=2)
    labels = _labels(w)
    weekly = sum(commissioned.values())
    series = {
        "commissioned": [round(weekly * bucket_weeks(b, w), 1) for b in buckets(w)],
        "delivered": [
            round(per_bucket.get(lab, {"visit_minutes": 0})["visit_minutes"] / 60, 1)
            for lab in labels
        ],
    }
    providers = []
    for pid in sorted(set(commissioned) | set(per_provider)):
        got = per_provider.get(pid, {"visit_minutes": 0})["visit_minutes"] / 60
        want = commissioned.get(pid, 0) * w.weeks
        providers.append(
            {
                "provider_id": pid,
                "commissioned_per_week": commissioned.get(pid, 0),
                "commissioned": round(want, 1),
                "delivered": round(got, 1),
                "delivered_minutes": per_provider.get(pid, {"visit_minutes": 0})["visit_minutes"],
                "delivered_pct": _pct(got, want) if want else None,
            }
        )
    total_want = weekly * w.weeks
    total_minutes = sum(v["visit_minutes"] for v in per_bucket.values())
    total_got = total_minutes / 60
    return {
        "labels": labels,
        "series": series,
        "providers": providers,
        "totals": {
            "commissioned": round(total_want, 1),
            "delivered": round(total_got, 1),
            "delivered_minutes": total_minutes,
            "commissioned_per_week": round(weekly, 1),
            "delivered_pct": _pct(total_got, total_want) if total_want else None,
        },
    }


def provider_table(
    scope: Scope, w: Window, visits: dict | None = None, alerts: dict | None = None
) -> list[dict]:
    """Per provider of a council: visits, punctuality, alerts, escalations (aggregates)."""
    names = dict(
        Organisation.objects.filter(
            kind=Organisation.Kind.PROVIDER, commissioned_by_id=scope.council_id
        ).values_list("id", "name")
    )
    if scope.provider_id is not None:
        names = {k: v for k, v in names.items() if k == scope.provider_id}
    visits = _by(visit_sums(scope, w) if visits is None else visits, VISIT_KEYS, index=2)
    alerts = _by(alert_sums(scope, w) if alerts is None else alerts, ALERT_KEYS, index=2)
    people = dict(
        ServiceUser.objects.filter(scope.q(prefix=""))
        .values("provider_id")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("provider_id", "n")
    )
    out = []
    for pid, name in sorted(names.items(), key=lambda kv: kv[1]):
        v = visits.get(pid) or dict.fromkeys(VISIT_KEYS, 0)
        a = alerts.get(pid) or dict.fromkeys(ALERT_KEYS, 0)
        out.append(
            {
                "provider_id": pid,
                "provider": name,
                "people": people.get(pid, 0),
                "planned": v["planned"],
                "delivered": v["delivered"],
                "delivered_pct": _pct(v["delivered"], v["planned"]),
                "on_time_pct": _pct(v["delivered"] - v["late"], v["delivered"]),
                "alerts": a["opened"],
                "escalated": a["escalated"],
                "mean_response_minutes": round(a["response_seconds"] / a["acked"] / 60, 1)
                if a["acked"]
                else None,
            }
        )
    return out
