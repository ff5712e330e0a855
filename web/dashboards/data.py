"""What each dashboard shows for a grant: the queries it runs and the chart specs it
draws. Used alike by the pages, the JSON endpoints and the CSV exports, so all three show
the same figures under the same access level.

A chart spec is plain JSON for ``web/static/web/dashboards/charts.js`` (Chart.js):
``{type, title, labels, datasets: [{label, data, type?, axis?}], y: {min?, max?, title,
reverse?}}`` plus a ``table`` of rows for the accessible data table under each chart.
"""

from __future__ import annotations

import datetime as dt

from web.dashboards import queries as q
from web.dashboards.access import Grant
from web.dashboards.labels import definition as chart_definition
from web.dashboards.periods import Window, window
from web.dashboards.replica import on_replica

SCORE_AXIS = {"min": 0, "max": 4, "title": "Mean score (0 = good, 4 = most concerning)"}


def chart(
    cid: str,
    title: str,
    kind: str,
    labels: list,
    datasets: list[dict],
    y: dict | None = None,
    stacked: bool = False,
) -> dict:
    table = [[lab, *[d["data"][i] for d in datasets]] for i, lab in enumerate(labels)]
    return {
        "id": cid,
        "title": title,
        "type": kind,
        "labels": labels,
        "datasets": datasets,
        "y": y or {},
        "stacked": stacked,
        "columns": [d["label"] for d in datasets],
        "table": table,
        "definition": chart_definition(cid),
    }


def _visit_charts(v: dict, prefix: str) -> list[dict]:
    s = v["series"]
    return [
        chart(
            f"{prefix}-visits",
            "Visits: planned vs delivered",
            "bar",
            v["labels"],
            [
                {"label": "Planned", "data": s["planned"]},
                {"label": "Delivered", "data": s["delivered"]},
                {"label": "Unplanned", "data": s["unplanned"]},
            ],
            y={"title": "Visits", "min": 0, "integer": True},
        ),
        chart(
            f"{prefix}-punctuality",
            "Punctuality",
            "line",
            v["labels"],
            [
                {"label": "On time %", "data": s["on_time_pct"]},
                {
                    "label": "Mean minutes late (late visits)",
                    "data": s["avg_minutes_late"],
                    "axis": "y1",
                },
            ],
            y={"title": "% on time", "min": 0, "max": 100, "y1": "Minutes late"},
        ),
    ]


def _domain_chart(d: dict, cid: str, title: str) -> dict:
    return chart(
        cid,
        title,
        "line",
        d["labels"],
        [{"label": q.DOMAIN_LABELS[k], "data": vals} for k, vals in d["series"].items()],
        y=SCORE_AXIS,
    )


def _alert_chart(a: dict, cid: str) -> dict:
    s = a["series"]
    return chart(
        cid,
        "Alerts and response times",
        "bar",
        a["labels"],
        [
            {"label": "Alerts opened", "data": s["opened"]},
            {"label": "Escalated to council", "data": s["escalated"]},
            {
                "label": "Mean minutes to acknowledge",
                "data": s["mean_response_minutes"],
                "type": "line",
                "axis": "y1",
            },
        ],
        y={"title": "Alerts", "min": 0, "integer": True, "y1": "Minutes"},
    )


@on_replica
def service_user(grant: Grant, w: Window, now: dt.datetime) -> dict:
    su = grant.service_user
    scope = grant.scope
    out: dict = {
        "service_user": {"id": su.pk, "name": su.name},
        "level": str(grant.level),
        "period": w.name,
        "charts": [],
    }
    if grant.shows("visits"):
        out["visits"] = q.visit_series(scope, w)
        out["today"] = q.today_visits(scope, now)
        out["charts"] += _visit_charts(out["visits"], "su")
    if grant.shows("domains"):
        out["domains"] = q.domain_series(scope, w, grant.domains)
        out["charts"].append(_domain_chart(out["domains"], "su-domains", "Outcomes by domain"))
    if grant.shows("goals"):
        out["goals"] = q.goals(su.pk, w)
        if out["goals"]:
            out["charts"].append(
                chart(
                    "su-goals",
                    "Personal goals progress",
                    "line",
                    q._labels(w),
                    [{"label": g["text"], "data": g["series"]} for g in out["goals"]],
                    y={"min": 0, "max": 3, "title": "Progress (0 = done / on track, 3 = not yet)"},
                )
            )
    if grant.shows("alerts"):
        out["alerts"] = q.alert_series(scope, w)
        if grant.shows("alert_list"):
            out["alert_list"] = q.alert_list(su.pk, w)
            out["charts"].append(_alert_chart(out["alerts"], "su-alerts"))
    if grant.shows("visit_log"):
        out["visit_log"] = q.visit_log(scope, w)
        # Delivered time under the hours rules, as the council export has it (staff only).
        out["hours"] = q.hours(scope, w)["totals"]
    return out


@on_replica
def summary(grant: Grant, now: dt.datetime) -> dict:
    """Re-assessment summary: the last 13 weeks against the 13 before, on one page."""
    su = grant.service_user
    w = window("13w", now)
    prev_start = w.start - (w.end - w.start)
    before = q.domain_means(su.pk, prev_start, w.start)
    recent = q.domain_means(su.pk, w.start, w.end)
    domains = []
    for d in q.DOMAINS:
        a, b = recent.get(d), before.get(d)
        change = round(a["mean"] - b["mean"], 2) if a and b else None
        domains.append(
            {
                "domain": d,
                "label": q.DOMAIN_LABELS[d],
                "recent": a,
                "before": b,
                "change": change,
                "trend": None
                if change is None
                else ("worse" if change > 0.25 else "better" if change < -0.25 else "steady"),
            }
        )
    visits = q.visit_series(grant.scope, w)
    hours = q.hours(grant.scope, w)
    cont = q.continuity(grant.scope, w)  # one person: live, per-person indexes
    return {
        "service_user": su,
        "window": w,
        "domains": domains,
        "visits": visits["totals"],
        "hours": hours["totals"],
        "continuity": cont,
        "goals": q.goals(su.pk, w),
        "alerts": q.alert_list(su.pk, w, limit=20),
        "alert_totals": q.alert_series(grant.scope, w)["totals"],
        "charts": [
            _domain_chart(
                q.domain_series(grant.scope, window("1y", now)),
                "summary-domains",
                "Outcomes by domain, last year",
            )
        ],
    }


@on_replica
def provider(grant: Grant, w: Window, now: dt.datetime) -> dict:
    scope = grant.scope
    visits = q.visit_series(scope, w)
    cont = q.continuity(scope, w)
    alerts = q.alert_series(scope, w)
    domains = q.domain_series(scope, w)
    charts = _visit_charts(visits, "provider")
    charts.append(
        chart(
            "provider-continuity",
            "Continuity: distinct care workers per person",
            "bar",
            cont["labels"],
            [{"label": "People", "data": cont["people"]}],
            y={"title": "People", "min": 0, "integer": True},
        )
    )
    charts.append(_alert_chart(alerts, "provider-alerts"))
    charts.append(_domain_chart(domains, "provider-domains", "Outcomes across the caseload"))
    return {
        "provider": {"id": grant.organisation.pk, "name": grant.organisation.name},
        "period": w.name,
        "visits": visits,
        "today": q.today_visits(scope, now),
        "continuity": cont,
        "alerts": alerts,
        "domains": domains,
        "charts": charts,
    }


@on_replica
def council(grant: Grant, w: Window, now: dt.datetime) -> dict:
    """Aggregates only: no person's name, no message, no per-person row."""
    scope = grant.scope
    visit_sums, alert_sums = q.visit_sums(scope, w), q.alert_sums(scope, w)  # read once
    hours = q.hours(scope, w, visit_sums)
    domains = q.domain_series(scope, w)
    alerts = q.alert_series(scope, w, alert_sums)
    table = q.provider_table(scope, w, visit_sums, alert_sums)
    charts = [
        chart(
            "council-hours",
            "Hours: commissioned vs delivered",
            "bar",
            hours["labels"],
            [
                {"label": "Commissioned", "data": hours["series"]["commissioned"]},
                {"label": "Delivered", "data": hours["series"]["delivered"]},
            ],
            y={"title": "Hours", "min": 0},
        ),
        _domain_chart(domains, "council-domains", "Outcome trends by domain"),
        chart(
            "council-escalations",
            "Escalations",
            "bar",
            alerts["labels"],
            [
                {"label": "Alerts opened", "data": alerts["series"]["opened"]},
                {"label": "Escalated to council", "data": alerts["series"]["escalated"]},
                {"label": "Safeguarding", "data": alerts["series"]["safeguarding"]},
            ],
            y={"title": "Alerts", "min": 0, "integer": True},
        ),
    ]
    # Drop per-person detail that aggregate helpers carry (hours has none; be explicit).
    return {
        "council": {"id": grant.organisation.pk, "name": grant.organisation.name},
        "provider_filter": scope.provider_id,
        "period": w.name,
        "hours": hours,
        "domains": domains,
        "alerts": alerts,
        "providers": table,
        "charts": charts,
    }
