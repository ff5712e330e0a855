"""The path past one machine, measured: 1, 2 and 4 Daphne processes over a channel layer
sharded across several ``redis-server`` instances, PostgreSQL persistence.

The benchmark starts its own Redis shards (``--shards``, default 3) on free loopback
ports, points every Daphne process at all of them (bench/scaleout_settings.py), seeds
``--rooms`` rooms x ``--members`` members per process count, spreads the members over the
processes, and runs the same open-loop steps as bench/fanout.py (the same generator and
the same lost/duplicate/order checks) at each offered rate in ``--rates``. For every step
it reports deliveries/s, p99, and CPU seconds used by the Daphne processes and by the
Redis shards, and the CPU-normalised figure: **deliveries per server CPU-second**. If
posts were serialised somewhere global, that figure would fall as processes are added
(they would wait instead of work) and the delivered rate would flatten.

    .venv/bin/python bench/scaleout.py --quick          # ~4 minutes
    .venv/bin/python bench/scaleout.py                   # 1, 2, 4 processes x 3 rates

Everything is loopback-only and stops by itself; the Redis shards are removed at the end.
Prints JSON and rewrites the "Scale-out" section of docs/performance.md (``--no-docs``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
import uuid

import harness as h
from fanout import Generator, run_step, ws_specs


def redis_shard(i: int) -> h.Server:
    port = h.free_port()
    return h.Server(
        f"scaleout-redis-{i}",
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        + ["--appendonly", "no"],
        port,
    ).start()


def run_processes(n: int, shards: list[h.Server], env: dict, args) -> dict:
    tag = f"{n}-{uuid.uuid4().hex[:6]}"
    rooms = h.seed(env, args.rooms, args.members, tag)["rooms"]
    servers = [h.daphne(f"scaleout-daphne-{n}-{k}", env).start() for k in range(n)]
    gen = None
    steps = []
    try:
        urls = [f"ws://127.0.0.1:{s.port}/ws/" for s in servers]
        gen = Generator("ws", ws_specs(rooms, args.senders, urls, cocare=True), args.workers, None)
        for i, rate in enumerate(args.rates):
            daphne_cpu = h.CpuMeter([s.pid for s in servers])
            redis_cpu = h.CpuMeter([s.pid for s in shards])
            daphne_cpu.start()
            redis_cpu.start()
            res = run_step(gen, servers, args, i, rate)
            d, r = daphne_cpu.stop(), redis_cpu.stop()
            res["daphne_cpu_s"], res["redis_cpu_s"] = d["cpu_s"], r["cpu_s"]
            res["deliveries_per_daphne_cpu_s"] = (
                round(res["deliveries"] / d["cpu_s"], 1) if d["cpu_s"] else None
            )
            res["deliveries_per_server_cpu_s"] = (
                round(res["deliveries"] / (d["cpu_s"] + r["cpu_s"]), 1)
                if d["cpu_s"] + r["cpu_s"]
                else None
            )
            steps.append(res)
            print(
                f"[{n} proc] offered {rate}/s -> {res['deliveries_per_s']}/s p99 "
                f"{res['p99_ms']} ms lost {res['lost']} dup {res['duplicates']} daphne "
                f"{d['cpu_s']} s redis {r['cpu_s']} s -> {res['deliveries_per_server_cpu_s']}"
                " deliveries/server-CPU-s",
                file=sys.stderr,
                flush=True,
            )
            if not res["sustained"]:
                break
    finally:
        if gen is not None:
            gen.close()
        for s in servers:
            s.stop()
    return {"processes": n, "steps": steps}


def markdown(out: dict, command: str) -> str:
    w = out["workload"]
    lines = [
        h.provenance(command, out["loadavg_before"]),
        "",
        f"Workload: {w['rooms']} rooms x {w['members']} members per process count, "
        f"{w['senders']} sender(s) per room, {w['duration_s']} s per step, channel layer "
        f"sharded over {w['shards']} `redis-server` instances started by the benchmark, "
        f"PostgreSQL persistence, {w['generator_processes']} generator processes (unpinned; "
        "they share the 2 cores with the servers). CPU seconds are measured with psutil "
        "over each step including its drain; *per server CPU-s* = deliveries / (Daphne + "
        "Redis CPU seconds) — PostgreSQL is not included.",
        "",
        "| Daphne processes | offered/s | delivered/s | p50 ms | p99 ms | lost | dup | "
        "order | Daphne CPU-s | Redis CPU-s | deliveries per Daphne CPU-s | "
        "deliveries per server CPU-s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in out["results"]:
        for s in r["steps"]:
            lines.append(
                f"| {r['processes']} | {s['offered_deliveries_per_s']} | "
                f"{s['deliveries_per_s']} | {s['p50_ms']} | {s['p99_ms']} | {s['lost']} | "
                f"{s['duplicates']} | {s['order_errors']} | {s['daphne_cpu_s']} | "
                f"{s['redis_cpu_s']} | {s['deliveries_per_daphne_cpu_s']} | "
                f"{s['deliveries_per_server_cpu_s']} |"
            )
    return "\n".join(lines)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer rooms, 4 s steps, two rates")
    p.add_argument("--processes", default="1,2,4")
    p.add_argument("--shards", type=int, default=3)
    p.add_argument("--rates", default=None, help="offered deliveries/s, e.g. 200,500,1000")
    p.add_argument("--rooms", type=int)
    p.add_argument("--members", type=int, default=6)
    p.add_argument("--senders", type=int, default=1)
    p.add_argument("--duration", type=float)
    p.add_argument("--drain", type=float, default=3.0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--database", default="cocare_scaleout")
    p.add_argument("--section", default="Scale-out: processes x Redis shards")
    p.add_argument("--no-docs", action="store_true")
    args = p.parse_args(argv)
    args.rooms = args.rooms or (20 if args.quick else 40)
    args.duration = args.duration or (4.0 if args.quick else 8.0)
    args.rates = [
        int(x) for x in (args.rates or ("200,500" if args.quick else "200,500,900")).split(",")
    ]
    args.profile = False
    procs = [int(x) for x in args.processes.split(",")]
    load_before = h.loadavg()
    shards = [redis_shard(i) for i in range(args.shards)]
    results = []
    try:
        url = h.ensure_pg_database(args.database, fresh=True)
        layer_urls = ",".join(f"redis://127.0.0.1:{s.port}/0" for s in shards)
        env = h.cocare_env(
            url,
            redis=True,
            BENCH_LAYER_URLS=layer_urls,
            COCARE_REDIS_URL=f"redis://127.0.0.1:{shards[0].port}/0",
            COCARE_REDIS_PREFIX="scaleout",
            # Persistent connections, as bench/fanout.py is run: without them every thread
            # hop opens a PostgreSQL connection, and PostgreSQL, not the web tier, is what
            # the figures measure (a quiet-box run used ~1 core of PostgreSQL at 200/s).
            COCARE_DB_CONN_MAX_AGE="60",
            DJANGO_SETTINGS_MODULE="scaleout_settings",
            PYTHONPATH=str(h.ROOT / "bench"),
        )
        h.migrate(env)
        for n in procs:
            results.append(run_processes(n, shards, env, args))
    finally:
        for s in shards:
            with contextlib.suppress(Exception):
                s.stop()
    out = {
        "benchmark": "scaleout",
        "machine": h.machine(),
        "date": h.now_utc(),
        "loadavg_before": load_before,
        "loadavg_after": h.loadavg(),
        "workload": {
            "rooms": args.rooms,
            "members": args.members,
            "senders": args.senders,
            "duration_s": args.duration,
            "shards": args.shards,
            "generator_processes": args.workers,
        },
        "results": results,
    }
    if not args.no_docs:
        cmd = ".venv/bin/python bench/scaleout.py " + " ".join(
            argv if argv is not None else sys.argv[1:]
        )
        h.update_section(args.section, markdown(out, cmd.strip()))
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"scaleout: {time.monotonic() - started:.0f} s", file=sys.stderr)
