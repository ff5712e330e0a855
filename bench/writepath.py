"""Write-path probe: what one ``check_post_message`` costs on PostgreSQL, serially.

The cost of one post, serially (issue 12 lifted the global log lock: posts of different
rooms now commit side by side, see bench/concurrent_posts.py and docs/log-contract.md). Runs
in-process against the bench database with live fan-out disabled (only the database part
is timed), like the websocket consumer does it: ``close_old_connections()`` around each
post, so ``COCARE_DB_CONN_MAX_AGE`` decides whether each post opens a new connection.

    .venv/bin/python bench/writepath.py [--posts 300]

Prints JSON; writes the "Write path" section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import uuid

import harness as h

CHILD = r"""
import json, os, sys, time, uuid
sys.path.insert(0, os.getcwd())
import django
django.setup()
from django.db import close_old_connections, connection
from django.test.utils import CaptureQueriesContext
from rooms import publish, sessions
from rooms.messages import check_post_message
from rooms.models import Membership
from rooms.socket import _limited_post

publish._send = lambda group, event: None  # time the database part only
m = Membership.objects.select_related("person").order_by("-id").first()
n = int(sys.argv[1]); tag = uuid.uuid4().hex[:8]
with CaptureQueriesContext(connection) as q:
    check_post_message(person=m.person, room_id=m.room_id, client_id=f"wp-{tag}-q", body="x")
queries = len(q.captured_queries)
# The whole "send" frame as the websocket runs it in its worker thread: session check,
# send limit (in-process cache here: its Redis round trips are not queries), then the post.
ref = sessions.SessionRef(key=sys.argv[2], user_pk=str(m.person.user_id))
with CaptureQueriesContext(connection) as q:
    _limited_post(person=m.person, session=ref, room_id=m.room_id, client_id=f"wp-{tag}-f", body="x")
frame_queries = len(q.captured_queries)
times, locked = [], []
for i in range(n):
    close_old_connections()
    t = time.perf_counter()
    check_post_message(person=m.person, room_id=m.room_id, client_id=f"wp-{tag}-{i}", body="x")
    times.append(time.perf_counter() - t)
    close_old_connections()
# This process's CPU per send frame (the web tier's share of a post; PostgreSQL and
# Redis work is in their own processes): CPU time, not wall time, so a busy box inflates
# it far less than latency.
cpu = time.process_time()
for i in range(n):
    _limited_post(person=m.person, session=ref, room_id=m.room_id, client_id=f"wp-{tag}-c{i}", body="x")
frame_cpu_ms = (time.process_time() - cpu) * 1000 / n
print(json.dumps({"queries_per_post": queries, "queries_per_frame": frame_queries,
                  "frame_cpu_ms": frame_cpu_ms, "times": times}))
"""


def probe(env: dict[str, str], n: int, session_key: str, root: str) -> dict:
    r = subprocess.run(
        [h.PY, "-c", CHILD, str(n), session_key],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if r.returncode:
        raise RuntimeError(r.stderr[-3000:])
    d = json.loads(r.stdout.strip().splitlines()[-1])
    s = h.latency_summary(d["times"])
    mean = sum(d["times"]) / len(d["times"])
    return {
        "queries_per_post": d["queries_per_post"],
        "queries_per_send_frame": d["queries_per_frame"],
        "send_frame_cpu_ms": round(d["frame_cpu_ms"], 3),
        "mean_ms": round(mean * 1000, 2),
        **{k: v for k, v in s.items() if k != "n"},
        "serial_posts_per_s": round(1 / mean, 1),
        "loadavg": h.loadavg(),
    }


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--posts", type=int, default=300)
    p.add_argument("--database", default="cocare_bench")
    p.add_argument("--no-docs", action="store_true")
    p.add_argument(
        "--root", default=str(h.ROOT), help="probe another source tree (before/after runs)"
    )
    args = p.parse_args(argv)
    url = h.ensure_pg_database(args.database)
    # Redis as the cache, as deployed: the send limit's round trips are real (the probe
    # stubs the channel-layer send, so only the cache uses it).
    env = h.cocare_env(url, redis=True, COCARE_REDIS_PREFIX="benchwp")
    h.migrate(env)
    seeded = h.seed(env, 1, 2, uuid.uuid4().hex[:8])
    # The member the probe posts as (the newest membership) and its signed-in session.
    session_key = seeded["rooms"][-1]["members"][-1]["session"]
    load_before = h.loadavg()
    out = {
        "benchmark": "writepath",
        "machine": h.machine(),
        "date": h.now_utc(),
        "loadavg_before": load_before,
        "posts": args.posts,
        "results": {},
    }
    for label, age in (
        ("new connection per post (CONN_MAX_AGE=0, default)", "0"),
        ("persistent connection (COCARE_DB_CONN_MAX_AGE=60)", "60"),
    ):
        out["results"][label] = probe(
            {**env, "COCARE_DB_CONN_MAX_AGE": age}, args.posts, session_key, args.root
        )
    if not args.no_docs:
        rows = [
            "| connection | queries/post | queries/send frame | CPU ms/send frame | mean ms | p50 "
            "| p99 | serial posts/s | load |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for label, r in out["results"].items():
            rows.append(
                f"| {label} | {r['queries_per_post']} | {r['queries_per_send_frame']} | "
                f"{r['send_frame_cpu_ms']} | "
                f"{r['mean_ms']} | {r['p50_ms']} | "
                f"{r['p99_ms']} | {r['serial_posts_per_s']} | {r['loadavg'][0]} |"
            )
        cmd = ".venv/bin/python bench/writepath.py " + " ".join(
            argv if argv is not None else sys.argv[1:]
        )
        head = h.provenance(cmd.strip(), load_before)
        h.update_section(
            "Write path",
            head
            + "\n\n"
            + "\n".join(rows)
            + (
                "\n\nOne `check_post_message` on PostgreSQL, serially, live fan-out disabled. "
                "Only the room's row is held to COMMIT (no global lock since issue 12), so "
                "posts of different rooms run side by side; see `bench/concurrent_posts.py`."
            ),
        )
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    os.environ.pop("COCARE_DB_CONN_MAX_AGE", None)
    main()
