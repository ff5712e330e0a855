"""CSV exports of the dashboards: the same figures the page shows for the same grant.

Long format, one figure per row: ``section, bucket, series, value``. The council export
holds aggregates only (per provider and overall), never a person. Text cells that a
spreadsheet would run as a formula are prefixed with ``'``.
"""

from __future__ import annotations

import csv
import io

HEADER = ["section", "bucket", "series", "value"]


def _cell(v) -> object:
    if v is None:
        return ""
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v
    return v


def _series(section: str, block: dict, rows: list) -> None:
    for name, values in block["series"].items():
        for label, value in zip(block["labels"], values, strict=True):
            rows.append([section, label, name, value])
    for name, value in block.get("totals", {}).items():
        rows.append([section, "total", name, value])


def service_user_rows(data: dict) -> list[list]:
    rows: list[list] = []
    if "visits" in data:
        _series("visits", data["visits"], rows)
    if "domains" in data:
        _series("domains", data["domains"], rows)
    for name, value in data.get("hours", {}).items():  # the person's totals (no buckets)
        rows.append(["hours", "total", name, value])
    for g in data.get("goals", []):
        for label, value in zip(
            data["domains"]["labels"] if "domains" in data else [], g["series"], strict=False
        ):
            rows.append(["goal", label, g["text"], value])
    if "alerts" in data:
        _series("alerts", data["alerts"], rows)
    for a in data.get("alert_list", []):
        rows.append(
            [
                "alert",
                a["opened_at"].isoformat(),
                f"{a['concern']} ({a['severity']})",
                a["response_minutes"],
            ]
        )
    for v in data.get("visit_log", []):
        rows.append(["visit", v["checked_in_at"].isoformat(), v["worker"], v["duration_minutes"]])
    return rows


def provider_rows(data: dict) -> list[list]:
    rows: list[list] = []
    _series("visits", data["visits"], rows)
    for label, n in zip(data["continuity"]["labels"], data["continuity"]["people"], strict=True):
        rows.append(["continuity", "period", f"people seeing {label} workers", n])
    rows.append(
        ["continuity", "period", "mean workers per person", data["continuity"]["mean_workers"]]
    )
    _series("alerts", data["alerts"], rows)
    _series("domains", data["domains"], rows)
    return rows


def council_rows(data: dict) -> list[list]:
    rows: list[list] = []
    _series("hours", data["hours"], rows)
    _series("domains", data["domains"], rows)
    _series("alerts", data["alerts"], rows)
    for p in data["providers"]:
        for key in (
            "people",
            "planned",
            "delivered",
            "delivered_pct",
            "on_time_pct",
            "alerts",
            "escalated",
            "mean_response_minutes",
        ):
            rows.append(["provider:" + p["provider"], "period", key, p[key]])
    for p in data["hours"]["providers"]:
        for key in ("commissioned", "delivered", "delivered_minutes", "delivered_pct"):
            rows.append([f"hours:provider:{p['provider_id']}", "period", key, p[key]])
    return rows


def to_csv(rows: list[list]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(HEADER)
    for r in rows:
        w.writerow([_cell(x) for x in r])
    return buf.getvalue()
