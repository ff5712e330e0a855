"""Escalation latency: a flagged message is posted → the care manager's websocket receives
the alert event.

One sample: the daughter sends "Mum was on the floor when I rang ..." in the family room
over her websocket; the clock stops when the care manager's websocket receives
``{"type": "alert", "state": "open"}`` for a new alert. The manager then resolves the
alert over HTTP (one open alert per concern) before the next sample. Path measured: write
path → commit → worker poke → detector (rules) → alert + policy snapshot → first step →
outbox row → ``person.event`` over the channel layer → socket.

Targets:
- ``embedded``: the default — one Daphne process with in-process workers, SQLite, the
  in-memory channel layer;
- ``postgres_redis`` (when PostgreSQL and Redis answer on loopback, or ``--services``):
  a Daphne web process plus a separate ``manage.py run_workers escalation`` process,
  PostgreSQL, channels-redis — the production shape.

    .venv/bin/python bench/escalation_latency.py            # N=40 per target
    .venv/bin/python bench/escalation_latency.py -n 100 --no-doc

Prints JSON and rewrites the "Escalation latency" section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import time

import httpx
import websockets
from harness import (
    PY,
    ROOT,
    latency_summary,
    migrate,
    pipeline_env,
    provenance,
    start_pipeline,
    update_section,
)

SEED = """
import django, json
django.setup()
from tests.support.cast import build_cast
c = build_cast()
print(json.dumps({"family": c.family.id, "team": c.team.id}))
"""
PASSWORD = "test-pass-Xy9!"  # tests.support.cast.PASSWORD


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def seed(env: dict[str, str]) -> dict:
    r = subprocess.run(
        [PY, "-c", SEED], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    if r.returncode:
        raise RuntimeError("seed failed:\n" + r.stderr[-3000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def login(base: str, username: str) -> dict[str, str]:
    with httpx.Client(base_url=base, timeout=20) as c:
        c.get("/login/")
        r = c.post(
            "/login/",
            data={
                "username": username,
                "password": PASSWORD,
                "csrfmiddlewaretoken": c.cookies["csrftoken"],
            },
            headers={"Referer": base + "/login/"},
        )
        if r.status_code != 302:
            raise RuntimeError(f"login failed for {username}: {r.status_code}")
        return dict(c.cookies)


async def ws(url: str, cookies: dict[str, str]):
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    conn = await websockets.connect(
        url, additional_headers={"Cookie": cookie, "Origin": "http://127.0.0.1"}, open_timeout=20
    )
    while json.loads(await conn.recv()).get("type") != "hello":
        pass
    return conn


async def until(conn, pred, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no matching frame")
        frame = json.loads(await asyncio.wait_for(conn.recv(), left))
        if pred(frame):
            return frame


async def measure(base: str, rooms: dict, n: int, warmup: int) -> list[float]:
    ws_url = base.replace("http", "ws") + "/ws/"
    carol_cookies = await asyncio.to_thread(login, base, "carol")
    debbie_cookies = await asyncio.to_thread(login, base, "debbie")
    carol = await ws(ws_url, carol_cookies)
    debbie = await ws(ws_url, debbie_cookies)
    http = httpx.AsyncClient(
        base_url=base,
        cookies=carol_cookies,
        timeout=30,
        headers={"X-CSRFToken": carol_cookies["csrftoken"], "Referer": base + "/"},
    )
    seen: set[int] = set()
    out: list[float] = []
    try:
        for i in range(warmup + n):
            cid = f"bench-{os.getpid()}-{i}"
            t0 = time.perf_counter()
            await debbie.send(
                json.dumps(
                    {
                        "type": "send",
                        "room": rooms["family"],
                        "client_id": cid,
                        "body": f"Mum was on the floor when I rang this morning ({i})",
                    }
                )
            )
            ev = await until(
                carol,
                lambda f: (
                    f.get("type") == "alert"
                    and f.get("state") == "open"
                    and f.get("alert") not in seen
                ),
            )
            dt_s = time.perf_counter() - t0
            seen.add(ev["alert"])
            if i >= warmup:
                out.append(dt_s)
            r = await http.post(
                f"/api/alerts/{ev['alert']}/resolve", json={"outcome": "bench: resolved"}
            )
            if r.status_code != 200:
                raise RuntimeError(f"resolve failed: {r.status_code} {r.text[:200]}")
    finally:
        await http.aclose()
        await carol.close()
        await debbie.close()
    return out


def run_target(name: str, n: int, warmup: int) -> dict:
    env = pipeline_env("escalation-latency", name)
    migrate(env)
    rooms = seed(env)
    port, servers = start_pipeline("escalation", name, env, "escalation")
    try:
        lat = asyncio.run(measure(f"http://127.0.0.1:{port}", rooms, n, warmup))
    finally:
        for s in reversed(servers):
            s.stop()
    return {"target": name, **latency_summary(lat)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=40, help="samples per target")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument(
        "--services",
        action="store_true",
        help="require PostgreSQL + Redis (fail instead of skipping them)",
    )
    ap.add_argument("--no-doc", action="store_true")
    args = ap.parse_args()
    targets = ["embedded"]
    if port_open(5432) and port_open(6379):
        targets.append("postgres_redis")
    elif args.services:
        raise SystemExit("PostgreSQL and Redis are required (--services)")
    results = [run_target(t, args.n, args.warmup) for t in targets]
    print(json.dumps({"benchmark": "escalation_latency", "results": results}, indent=2))
    if not args.no_doc:
        cmd = "python bench/escalation_latency.py" + (f" -n {args.n}" if args.n != 40 else "")
        rows = "\n".join(
            f"| {r['target']} | {r['n']} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} "
            f"| {r['max_ms']} |"
            for r in results
        )
        update_section(
            "Escalation latency",
            f"""
{provenance(cmd)}

From the daughter's message being sent on her websocket (family room, "Mum was on the
floor when I rang this morning") to the care manager's websocket receiving the alert event
(`{{"type": "alert", "state": "open"}}`). Each sample opens a new alert (the previous one is
resolved over HTTP first). The path: write path → commit → worker poke → detector rules →
alert with policy snapshot → first step → outbox → `person.event` → socket.

| target | samples | p50 ms | p95 ms | p99 ms | max ms |
|---|---|---|---|---|---|
{rows}

- `embedded`: one Daphne process with in-process workers, SQLite, in-memory layer.
- `postgres_redis`: Daphne + a separate `run_workers escalation` process, PostgreSQL,
  channels-redis (the production shape; the poke and the alert event cross Redis).

Steps after the first (wait → deputies → council) run from `next_step_at` columns on the
ticker; their lateness is bounded by the worker poll interval (`COCARE_WORKER_POLL_SECONDS`,
default 2 s) and reported by `manage.py escalation_audit`.
""",
        )


if __name__ == "__main__":
    main()
