"""Check-in pipeline: a care worker checks in (or out) → the family's open socket shows
the arrival (or departure) notice.

One sample: Anna sends "Check in" with her position in Peggy's team room over her
websocket; the clock stops when Debbie's websocket (family room) receives the bot's
``visit.arrived`` notice. Then the same for "Check out" → ``visit.left``. Path: write
path → commit → worker poke → bots runner (pure check-in flow, visit row, location check)
→ notices through the write path → fan-out → the family socket.

Targets as in bench/escalation_latency.py: ``embedded`` (one process, SQLite, in-memory
layer, in-process workers) and ``postgres_redis`` (Daphne + ``run_workers bots``).

    .venv/bin/python bench/checkin_pipeline.py           # N=30 visits per target
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from escalation_latency import login, port_open, seed, until, ws
from harness import (
    latency_summary,
    migrate,
    pipeline_env,
    provenance,
    start_pipeline,
    update_section,
)

HOME = {"lat": 53.4808, "lon": -2.2426, "accuracy": 15.0}


async def measure(base: str, rooms: dict, n: int, warmup: int) -> dict[str, list[float]]:
    ws_url = base.replace("http", "ws") + "/ws/"
    anna = await ws(ws_url, await asyncio.to_thread(login, base, "anna"))
    debbie = await ws(ws_url, await asyncio.to_thread(login, base, "debbie"))
    await debbie.send(json.dumps({"type": "subscribe", "room": rooms["family"], "after_seq": 0}))
    await until(debbie, lambda f: f.get("type") == "subscribed")
    out: dict[str, list[float]] = {"arrival": [], "departure": []}
    try:
        for i in range(warmup + n):
            for word, event, key in (
                ("Check in", "visit.arrived", "arrival"),
                ("Check out", "visit.left", "departure"),
            ):
                t0 = time.perf_counter()
                await anna.send(
                    json.dumps(
                        {
                            "type": "send",
                            "room": rooms["team"],
                            "client_id": f"{key}-{i}",
                            "body": word,
                            "payload": {"location": HOME},
                        }
                    )
                )
                await until(
                    debbie,
                    lambda f, ev=event: (
                        f.get("type") == "message" and (f.get("payload") or {}).get("event") == ev
                    ),
                )
                if i >= warmup:
                    out[key].append(time.perf_counter() - t0)
    finally:
        await anna.close()
        await debbie.close()
    return out


def run_target(name: str, n: int, warmup: int) -> list[dict]:
    env = pipeline_env("checkin-pipeline", name, COCARE_DB_CONN_MAX_AGE="60")
    migrate(env)
    rooms = seed(env)
    port, servers = start_pipeline("checkin", name, env, "bots")
    try:
        lat = asyncio.run(measure(f"http://127.0.0.1:{port}", rooms, n, warmup))
    finally:
        for s in reversed(servers):
            s.stop()
    return [{"target": name, "step": k, **latency_summary(v)} for k, v in lat.items()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=30, help="visits per target")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--no-doc", action="store_true")
    args = ap.parse_args()
    targets = ["embedded"] + (["postgres_redis"] if port_open(5432) and port_open(6379) else [])
    results = [row for t in targets for row in run_target(t, args.n, args.warmup)]
    print(json.dumps({"benchmark": "checkin_pipeline", "results": results}, indent=2))
    if not args.no_doc:
        cmd = "python bench/checkin_pipeline.py" + (f" -n {args.n}" if args.n != 30 else "")
        rows = "\n".join(
            f"| {r['target']} | {r['step']} | {r['n']} | {r['p50_ms']} | {r['p95_ms']} "
            f"| {r['p99_ms']} | {r['max_ms']} |"
            for r in results
        )
        update_section(
            "Check-in pipeline",
            f"""
{provenance(cmd)}

From the care worker's "Check in" / "Check out" (with position) leaving her websocket to
the family member's open socket receiving the bot's arrival / departure notice. Path:
write path → commit → poke → bots runner (check-in flow, visit, location check) → notice
through the write path → fan-out. Target: p95 ≤ 1 s.

| target | step | samples | p50 ms | p95 ms | p99 ms | max ms |
|---|---|---|---|---|---|---|
{rows}
""",
        )


if __name__ == "__main__":
    main()
