"""Idle connections: server memory per authenticated, subscribed, idle websocket.

One Daphne process (PostgreSQL + Redis layer, the production shape; ``--embedded`` for
SQLite + in-memory layer). After a warm-up of ``--warmup`` sockets, the RSS of the
Daphne process is read; then sockets are opened up to each level (1,000 and 5,000 by
default) by the load-generator processes — each signs in with its own session, receives
``hello`` and subscribes to its care room — and the RSS is read again once it is stable.
Memory per socket = (RSS at level - RSS after warm-up) / (level - warm-up).

    .venv/bin/python bench/connections.py --quick     # 200 and 1,000 sockets
    .venv/bin/python bench/connections.py             # 1,000 and 5,000 sockets

Prints JSON; writes the "Idle connections" section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import uuid
from pathlib import Path

import harness as h
from fanout import Generator, ws_specs

TARGET_KIB = 100
MEMBERS_PER_ROOM = 5


def stable_rss(server: h.Server, settle: float = 2.0, timeout: float = 30.0) -> int:
    """RSS once two readings ``settle`` seconds apart differ by under 1%."""
    deadline = time.monotonic() + timeout
    prev = server.rss()
    while time.monotonic() < deadline:
        time.sleep(settle)  # sampling interval of a measurement, not synchronisation
        cur = server.rss()
        if abs(cur - prev) < 0.01 * prev:
            return cur
        prev = cur
    return prev


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--levels", default="")
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--embedded", action="store_true")
    p.add_argument(
        "--concurrency",
        type=int,
        default=10,
        help="handshakes in flight per generator process (memory, not a storm)",
    )
    p.add_argument("--database", default="cocare_bench")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument(
        "--server-root",
        type=Path,
        default=None,
        help="run CoCare from another source tree (e.g. a git archive export)",
    )
    p.add_argument("--no-docs", action="store_true")
    args = p.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",") if x] or (
        [200, 1000] if args.quick else [1000, 5000]
    )
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = max(levels) * 2 + 1000
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, need)), hard))
    extra = dict(e.split("=", 1) for e in args.env)
    if args.embedded:
        env = h.cocare_env(h.sqlite_url("connections"), redis=False, **extra)
    else:
        env = h.cocare_env(h.ensure_pg_database(args.database), redis=True, **extra)
    h.migrate(env, args.server_root)
    total = max(levels)
    n_rooms = -(-total // MEMBERS_PER_ROOM)
    rooms = h.seed(env, n_rooms, MEMBERS_PER_ROOM, uuid.uuid4().hex[:8], args.server_root)["rooms"]
    server = h.daphne("connections-daphne", env, root=args.server_root).start()
    load_before = h.loadavg()
    gens: list[Generator] = []
    out = {
        "benchmark": "connections",
        "machine": h.machine(),
        "date": h.now_utc(),
        "config": "embedded (SQLite, in-memory layer)"
        if args.embedded
        else "PostgreSQL + Redis layer",
        "loadavg_before": load_before,
        "levels": [],
    }
    try:
        specs = ws_specs(rooms, 0, [f"ws://127.0.0.1:{server.port}/ws/"], cocare=True)[:total]
        rss_start = stable_rss(server)
        gens.append(Generator("ws", specs[: args.warmup], 1, None))
        rss0 = stable_rss(server)
        opened = args.warmup
        for level in levels:
            t0 = time.monotonic()
            gens.append(
                Generator(
                    "ws", specs[opened:level], args.workers, None, concurrency=args.concurrency
                )
            )
            connect_s = time.monotonic() - t0
            retried = gens[-1].connect_retries
            rss = stable_rss(server)
            per = (rss - rss0) / (level - args.warmup)
            out["levels"].append(
                {
                    "sockets": level,
                    "rss_mib": round(rss / 2**20, 1),
                    "per_socket_kib": round(per / 1024, 1),
                    "connect_rate_per_s": round((level - opened) / connect_s, 1),
                    "connect_retries": retried,
                    "loadavg": h.loadavg(),
                    "target_met": per / 1024 <= TARGET_KIB,
                }
            )
            print(
                f"[connections] {level} sockets: {per / 1024:.1f} KiB each, "
                f"RSS {rss / 2**20:.0f} MiB",
                file=sys.stderr,
                flush=True,
            )
            opened = level
        out["rss_empty_mib"] = round(rss_start / 2**20, 1)
        out["rss_after_warmup_mib"] = round(rss0 / 2**20, 1)
    finally:
        for g in gens:
            g.close()
        server.stop()
    if not args.no_docs:
        cmd = ".venv/bin/python bench/connections.py " + " ".join(
            argv if argv is not None else sys.argv[1:]
        )
        rows = [
            "| sockets | server RSS (MiB) | per socket (KiB) | connects/s | handshakes retried "
            "| target <= 100 KiB | load |",
            "|---|---|---|---|---|---|---|",
        ]
        for lv in out["levels"]:
            rows.append(
                f"| {lv['sockets']} | {lv['rss_mib']} | {lv['per_socket_kib']} | "
                f"{lv['connect_rate_per_s']} | {lv['connect_retries']} | "
                f"{'met' if lv['target_met'] else 'MISSED'} "
                f"| {lv['loadavg'][0]} |"
            )
        h.update_section(
            "Idle connections",
            "\n".join(
                [
                    h.provenance(cmd.strip(), load_before),
                    "",
                    f"One Daphne process, {out['config']}. Each socket is a different signed-in care "
                    f"worker who received `hello` and subscribed to one room. RSS empty: "
                    f"{out['rss_empty_mib']} MiB; after {args.warmup} warm-up sockets: "
                    f"{out['rss_after_warmup_mib']} MiB. Per socket = RSS growth / sockets added.",
                    "",
                    *rows,
                ]
            ),
        )
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
