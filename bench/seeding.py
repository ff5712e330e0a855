"""Seeding at scale: time ``build_scale`` (what ``seed_demo --scale N --years Y`` runs) on
PostgreSQL and fingerprint what it wrote, so two builds of the code can be compared.

    .venv/bin/python bench/seeding.py --scale 200 --years 3                    # this tree
    .venv/bin/python bench/seeding.py --scale 200 --years 3 --code-root /tmp/old  # another
    .venv/bin/python bench/seeding.py --scale 200 --years 3 --record           # + docs

Each run gets a fresh database (``cocare_seed_bench``), migrated by the code under test,
then the demo cast and ``build_scale`` with the clock frozen at ``--now`` (history is
relative to now: a fixed now makes two runs comparable). The fingerprint is a digest of
the dashboards' daily rollups (every DayTotals and DomainDay row, keyed by provider name)
plus the row counts and a digest of every synthetic visit, observation and message: two
builds with the same seed and now must print the same fingerprint. With ``--record`` the
"Seeding at scale" section of docs/performance.md is rewritten from var/bench/seeding.json
(every run recorded there, by label).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (  # noqa: E402
    PY,
    ROOT,
    VAR,
    cocare_env,
    ensure_pg_database,
    loadavg,
    migrate,
    provenance,
    update_section,
)

RESULTS = VAR / "seeding.json"

CHILD = r"""
import datetime as dt, hashlib, json, sys, time
import django
django.setup()
from django.db import connection
from tqdm import tqdm
from cocare_chat import clock
from web.demo import build_demo, build_scale

now = dt.datetime.fromisoformat(sys.argv[1])
scale, years = int(sys.argv[2]), float(sys.argv[3])
clock.freeze(now)
build_demo(now)
started = time.perf_counter()
with tqdm(total=scale, unit="people") as bar:
    messages = build_scale(scale, years, now=now, progress=bar.update)
elapsed = time.perf_counter() - started

def digest(sql):
    with connection.cursor() as cur:
        cur.execute(sql)
        h = hashlib.sha256()
        for row in cur.fetchall():
            h.update(repr(row).encode())
        return h.hexdigest()[:16]

def count(table):
    with connection.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {table}")
        return cur.fetchone()[0]

prov = "LEFT JOIN rooms_organisation o ON o.id = t.provider_id"
su = "JOIN rooms_serviceuser s ON s.id = t.service_user_id"
print(json.dumps({
    "seconds": round(elapsed, 1),
    "messages_written": messages,
    "counts": {t: count(t) for t in (
        "rooms_message", "bots_visit", "bots_plannedvisit", "bots_observation",
        "escalation_alert", "escalation_flag", "dashboards_daytotals",
        "dashboards_domainday")},
    "rollup_visits": digest(
        f"SELECT t.day, o.name, t.planned, t.delivered, t.late, round(t.late_seconds), "
        f"t.unplanned, t.visit_minutes FROM dashboards_daytotals t {prov} ORDER BY 1, 2"),
    "rollup_alerts": digest(
        f"SELECT t.day, o.name, t.opened, t.acked, t.within_15, t.escalated, t.safeguarding, "
        f"round(t.response_seconds) FROM dashboards_daytotals t {prov} ORDER BY 1, 2"),
    "alerts": digest(
        "SELECT count(*), round(sum(extract(epoch FROM acknowledged_at - opened_at))), "
        "count(council_notified_at), string_agg(concern || '/' || severity, ',' "
        "ORDER BY concern, severity) FROM escalation_alert"),
    "rollup_domainday": digest(
        f"SELECT t.day, o.name, t.domain, t.score_sum, t.n FROM dashboards_domainday t "
        f"{prov} ORDER BY 1, 2, 3"),
    "visits": digest(
        f"SELECT s.full_name, t.checked_in_at, t.duration_minutes, t.late, t.checkin_location, "
        f"p.window_start FROM bots_visit t {su} LEFT JOIN bots_plannedvisit p "
        f"ON p.id = t.planned_visit_id ORDER BY s.id, 2"),
    "observations": digest(
        f"SELECT s.full_name, t.at, t.domain, t.question_key, t.score FROM bots_observation t "
        f"{su} ORDER BY 1, 2, 3, 4, 5"),
    "messages": digest(
        "SELECT r.id, t.seq, t.body, t.created_at FROM rooms_message t "
        "JOIN rooms_room r ON r.id = t.room_id ORDER BY 1, 2"),
}))
"""


def run(scale: int, years: float, now: str, code_root: Path, db: str) -> dict:
    url = ensure_pg_database(db, fresh=True)
    env = cocare_env(url, redis=False)
    env["PYTHONPATH"] = str(code_root)
    migrate(env, root=code_root)
    started = time.perf_counter()
    out = subprocess.run(
        [PY, "-c", CHILD, now, str(scale), str(years)],
        cwd=code_root,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        check=True,
        timeout=7200,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_seconds"] = round(time.perf_counter() - started, 1)
    return result


def record(command: str, load: list[float]) -> None:
    runs = json.loads(RESULTS.read_text())
    rows = "\n".join(
        f"| {label} | {r['scale']} × {r['years']:g} y | {r['seconds']} | "
        f"{r['counts']['bots_visit']:,} / {r['counts']['bots_observation']:,} / "
        f"{r['counts']['rooms_message']:,} | `{r['rollup_visits']}` `{r['rollup_domainday']}` | "
        f"`{r['rollup_alerts']}` `{r['alerts']}` | `{r['visits']}` `{r['observations']}` "
        f"`{r['messages']}` |"
        for label, r in runs.items()
    )
    update_section(
        "Seeding at scale",
        f"""{provenance(command, load)}

`build_scale` (what `seed_demo --scale N --years Y` runs after the demo cast) into a fresh
PostgreSQL database, clock frozen at the same instant for every run, seed 7. Seconds are
the build alone (demo cast and migrations excluded). The fingerprints are digests of the
dashboards' daily rollup rows (DayTotals' visit columns, DomainDay; DayTotals' alert
columns), of the alerts (count, total response time, escalations, concerns) and of every
synthetic visit (with its planned window), observation and message.

| run | scale | seconds | visits / observations / messages | visit + domain rollups | alert rollup, alerts | visit, observation, message rows |
|---|---|---|---|---|---|---|
{rows}

Every synthetic visit (with its planned window and lateness), observation and message is
the same before and after, and so are the dashboards' visit and domain figures. The
alerts are the same too (count, concerns, severities, response times, escalations), but
each hangs on a message the old code drew with `rng.choice` from an *unordered* query
(PostgreSQL's physical row order — e.g. seq 530 came back first), so the old alert days
depended on heap layout; the new code draws from the room's entries in seq order, which
is deterministic. Hence the one differing fingerprint (alert figures per day).

What changed (web/demo.py `build_scale`, `_synthetic_person`, `_visit_history`,
`_planned`, `_alert_history`, `_history_for_demo_cast`, `_update_by_id`;
bots/synthetic.py `generate_history`; rooms/bulkload.py): people still go through the
real actions; their history is buffered as rows with ids reserved from the tables'
sequences, and written ~100,000 rows at a time by binary COPY (one transaction per batch
of people), visits linked to their planned windows in memory instead of an UPDATE, the
rows the seed built itself skipping the foreign-key triggers where the role may. Before
this change the full scale (`seed_demo --scale 2000 --years 3`) took 1,973 s (recorded on
2026-11-23 under "Dashboards"; not re-run here: 33 minutes of a shared box).
""",
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, default=200)
    ap.add_argument("--years", type=float, default=3.0)
    ap.add_argument("--now", default="2026-11-30T12:00:00+00:00")
    ap.add_argument("--code-root", type=Path, default=ROOT)
    ap.add_argument("--label", default="this tree")
    ap.add_argument("--record", action="store_true")
    ap.add_argument("--db", default="cocare_seed_bench")
    args = ap.parse_args()
    load = loadavg()
    result = run(args.scale, args.years, args.now, args.code_root, args.db)
    result.update(scale=args.scale, years=args.years, now=args.now, load_before=load)
    print(json.dumps(result, indent=1))
    VAR.mkdir(parents=True, exist_ok=True)
    runs = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    runs[f"{args.label} (scale {args.scale})"] = result
    RESULTS.write_text(json.dumps(runs, indent=1))
    if args.record:
        record(" ".join(["python", *sys.argv]), load)


if __name__ == "__main__":
    main()
