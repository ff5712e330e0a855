"""Concurrent write path: posts/s with 1, 2 and 4 writer processes in different rooms.

Each writer is a separate process with a persistent PostgreSQL connection posting
``check_post_message`` into its own room as fast as it can for ``--seconds`` (live
fan-out disabled: only the database part is timed). Under a global log lock the total
stays flat as writers are added; without it, writers of different rooms commit side by
side and the total rises until the CPUs (or the WAL flush) are the bound.

    .venv/bin/python bench/concurrent_posts.py [--root /path/to/checkout] [--seconds 8]

``--root`` runs the code of another checkout (e.g. main, for a before/after in one run);
each root gets its own fresh database. Prints JSON; does not touch docs/.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import harness as h

CHILD = r"""
import json, os, sys, time, uuid
sys.path.insert(0, os.getcwd())
import django
django.setup()
from django.db import connection
from rooms import publish
from rooms.messages import check_post_message
from rooms.models import Membership

publish._send = lambda group, event: None  # time the database part only
index, start_file, seconds = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
rooms = sorted({m.room_id for m in Membership.objects.filter(person__role="care_worker")})
room = rooms[index % len(rooms)]
m = Membership.objects.select_related("person").filter(room_id=room, person__role="care_worker").first()
tag = uuid.uuid4().hex[:8]
check_post_message(person=m.person, room_id=room, client_id=f"cp-{tag}-warm", body="x")
print("ready", flush=True)
while not os.path.exists(start_file):  # every writer is set up and warm before the start
    time.sleep(0.001)
start_at = float(open(start_file).read())
while time.time() < start_at:
    time.sleep(0.001)
n, t_end = 0, start_at + seconds
cpu0 = time.process_time()
while time.time() < t_end:
    check_post_message(person=m.person, room_id=room, client_id=f"cp-{tag}-{n}", body="x")
    n += 1
print(json.dumps({"posts": n, "cpu_s": time.process_time() - cpu0}))
"""


def ladder(root: Path, database: str, writers: list[int], seconds: float) -> dict:
    url = h.ensure_pg_database(database, fresh=True)
    env = {**h.cocare_env(url, redis=False), "COCARE_DB_CONN_MAX_AGE": "60"}
    h.migrate(env, root)
    h.seed(env, max(writers), 2, uuid.uuid4().hex[:8], root)
    out = {}
    for n in writers:
        start_file = Path(tempfile.mkdtemp()) / "start"
        procs = [
            subprocess.Popen(
                [h.PY, "-c", CHILD, str(i), str(start_file), str(seconds)],
                cwd=root,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(n)
        ]
        for p in procs:
            assert p.stdout is not None
            if p.stdout.readline().strip() != "ready":
                raise RuntimeError(p.stderr.read()[-3000:] if p.stderr else "writer failed")
        tmp = start_file.with_suffix(".tmp")
        tmp.write_text(str(time.time() + 0.5))
        tmp.rename(start_file)
        results = []
        for p in procs:
            stdout, stderr = p.communicate(timeout=120 + seconds)
            if p.returncode:
                raise RuntimeError(stderr[-3000:])
            results.append(json.loads(stdout.strip().splitlines()[-1]))
        total = sum(r["posts"] for r in results)
        out[str(n)] = {
            "posts": total,
            "posts_per_s": round(total / seconds, 1),
            "writer_cpu_s": round(sum(r["cpu_s"] for r in results), 2),
            "loadavg": h.loadavg(),
        }
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--root", action="append", default=None, help="checkout(s) to run")
    p.add_argument("--writers", default="1,2,4")
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--database", default="cocare_bench_concurrent")
    args = p.parse_args(argv)
    roots = [Path(r).resolve() for r in (args.root or [str(h.ROOT)])]
    writers = [int(x) for x in args.writers.split(",")]
    out = {
        "benchmark": "concurrent_posts",
        "machine": h.machine(),
        "date": h.now_utc(),
        "loadavg_before": h.loadavg(),
        "seconds": args.seconds,
        "results": {},
    }
    for i, root in enumerate(roots):
        out["results"][str(root)] = ladder(root, f"{args.database}_{i}", writers, args.seconds)
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
