"""Resume after restart: time for N clients to reconnect and catch up while messages flow.

Shape (PostgreSQL + Redis, two Daphne processes): N receiving clients (5 per room) are
connected to Daphne A; one sender per room, connected to Daphne B, keeps posting at a
steady rate the whole time. Daphne A is restarted (SIGTERM, then started again on the same
port). Clients reconnect with full-jitter exponential backoff (0.25 s doubling to 8 s) and
subscribe with ``after_seq`` = the last seq they hold.

Measured, from the moment A is listening again (``t_up``):
- reconnected: when each client's new socket is subscribed;
- caught up: when each client holds every entry of its room up to the room's head at
  ``t_up`` (entries posted while A was down and during its start-up);
and at the end, after the senders stop, that every client holds every entry exactly once,
in seq order (no loss across the restart).

    .venv/bin/python bench/resume.py --quick      # 100 clients
    .venv/bin/python bench/resume.py              # 500 clients

Prints JSON; writes the "Resume after restart" section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import random
import resource
import sys
import time
import uuid
from pathlib import Path

import harness as h

MEMBERS = 6  # member 0 sends (on B); members 1..5 receive (on A)
# Client reconnect policy: full jitter, 0.25 s doubling to 8 s. With a 1 s cap, 500 clients
# hammering one restarting Daphne on this 2-core box never converged (see the analysis).
BACKOFF_BASE, BACKOFF_CAP = 0.25, 8.0


# ---- receiver worker ----------------------------------------------------------------------


class Client:
    def __init__(self, room: int, url: str, headers: dict[str, str]):
        self.room, self.url, self.headers = room, url, headers
        self.last = 0  # highest contiguous seq held
        self.arrivals: list[tuple[int, float]] = []  # (seq, arrival) of first receipt
        self.dups = self.gaps = self.reconnects = 0
        self.subscribed_at: list[float] = []

    async def run(self, first: asyncio.Semaphore) -> None:
        from websockets.asyncio.client import connect

        delay = BACKOFF_BASE
        while True:
            try:
                if not self.subscribed_at:  # set-up ramps up; the storm after restart doesn't
                    async with first:
                        ws = await connect(
                            self.url,
                            additional_headers=self.headers,
                            open_timeout=30,
                            max_size=2**22,
                            compression=None,
                        )
                else:
                    ws = await connect(
                        self.url,
                        additional_headers=self.headers,
                        open_timeout=30,
                        max_size=2**22,
                        compression=None,
                    )
            except Exception:  # refused or reset while A restarts: back off, retry
                await asyncio.sleep(random.uniform(0, delay))
                delay = min(BACKOFF_CAP, delay * 2)
                continue
            delay = BACKOFF_BASE
            try:
                await ws.send(
                    json.dumps({"type": "subscribe", "room": self.room, "after_seq": self.last})
                )
                async for raw in ws:
                    f = json.loads(raw)
                    t = f.get("type")
                    if t == "message":
                        self.got(f["seq"])
                    elif t == "subscribed":
                        self.subscribed_at.append(time.monotonic())
            except Exception:  # noqa: S110 - the connection dropped: reconnect below
                pass
            self.reconnects += 1

    def got(self, seq: int) -> None:
        if seq <= self.last:
            self.dups += 1
            return
        if seq != self.last + 1:
            self.gaps += 1
        self.last = seq
        self.arrivals.append((seq, time.monotonic()))

    def reached(self, seq: int) -> float | None:
        for s, t in self.arrivals:
            if s >= seq:
                return t
        return None


async def _receivers(conn, specs: list[tuple[int, str, dict]]) -> None:
    loop = asyncio.get_running_loop()
    clients = [Client(*s) for s in specs]
    first = asyncio.Semaphore(10)
    tasks = [asyncio.create_task(c.run(first)) for c in clients]
    while any(not c.subscribed_at for c in clients):
        await asyncio.sleep(0.05)
    conn.send({"ready": len(clients)})
    while True:
        cmd, arg = await loop.run_in_executor(None, conn.recv)
        if cmd == "wait_heads":  # arg: ({room: seq}, deadline) -> report when all hold it
            heads, timeout = arg
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and any(
                c.last < heads.get(c.room, 0) for c in clients
            ):
                await asyncio.sleep(0.02)
            conn.send(
                [
                    {
                        "room": c.room,
                        "last": c.last,
                        "subscribed_at": c.subscribed_at,
                        "reached": c.reached(heads.get(c.room, 0)),
                        "dups": c.dups,
                        "gaps": c.gaps,
                        "reconnects": c.reconnects,
                    }
                    for c in clients
                ]
            )
        elif cmd == "close":
            break
    for t in tasks:
        t.cancel()


def receiver_main(conn, specs) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(_receivers(conn, specs))


# ---- sender worker ------------------------------------------------------------------------


async def _senders(conn, specs: list[tuple[int, str, dict]], rate: float) -> None:
    from websockets.asyncio.client import connect

    loop = asyncio.get_running_loop()
    socks, acks = {}, {room: [] for room, _, _ in specs}
    for room, url, headers in specs:
        socks[room] = await connect(url, additional_headers=headers, max_size=2**22)

    async def read(room, ws):
        async for raw in ws:
            f = json.loads(raw)
            if f.get("type") == "ack":
                acks[room].append((f["seq"], time.monotonic()))

    readers = [asyncio.create_task(read(r, w)) for r, w in socks.items()]
    conn.send({"ready": len(socks)})
    stop = asyncio.Event()

    async def pump():
        rooms = list(socks)
        interval = 1.0 / rate
        t, k = time.monotonic(), 0
        while not stop.is_set():
            room = rooms[k % len(rooms)]
            with contextlib.suppress(Exception):
                await socks[room].send(
                    json.dumps(
                        {
                            "type": "send",
                            "room": room,
                            "client_id": f"r{uuid.uuid4().hex[:12]}",
                            "body": "resume bench",
                        }
                    )
                )
            k += 1
            t += interval
            await asyncio.sleep(max(0.0, t - time.monotonic()))

    cmd, _ = await loop.run_in_executor(None, conn.recv)  # "go"
    pumping = asyncio.create_task(pump())
    while True:
        cmd, arg = await loop.run_in_executor(None, conn.recv)
        if cmd == "heads_at":  # per room: highest acked seq acknowledged by time arg
            conn.send({r: max((s for s, t in a if t <= arg), default=0) for r, a in acks.items()})
        elif cmd == "stop":
            stop.set()
            await pumping
            await asyncio.sleep(1.0)  # let the last acks arrive
            conn.send({r: max((s for s, _ in a), default=0) for r, a in acks.items()})
        elif cmd == "close":
            break
    for r in readers:
        r.cancel()


def sender_main(conn, specs, rate) -> None:
    asyncio.run(_senders(conn, specs, rate))


# ---- coordinator --------------------------------------------------------------------------


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--clients", type=int)
    p.add_argument("--rate", type=float, default=50.0, help="messages/s posted throughout")
    p.add_argument("--warm", type=float, default=3.0, help="seconds of traffic before restart")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--timeout", type=float, default=180, help="give up catching up after")
    p.add_argument("--database", default="cocare_bench")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument(
        "--profile",
        type=float,
        default=0,
        help="py-spy Daphne A for this many seconds after it restarts",
    )
    p.add_argument(
        "--server-root",
        type=Path,
        default=None,
        help="run CoCare from another source tree (e.g. a git archive export)",
    )
    p.add_argument("--no-docs", action="store_true")
    args = p.parse_args(argv)
    n_clients = args.clients or (100 if args.quick else 500)
    n_rooms = -(-n_clients // (MEMBERS - 1))
    env = h.cocare_env(
        h.ensure_pg_database(args.database), redis=True, **dict(e.split("=", 1) for e in args.env)
    )
    h.migrate(env, args.server_root)
    rooms = h.seed(env, n_rooms, MEMBERS, uuid.uuid4().hex[:8], args.server_root)["rooms"]
    a = h.daphne("resume-daphne-a", env, root=args.server_root).start()
    b = h.daphne("resume-daphne-b", env, root=args.server_root).start()
    ctx = mp.get_context("spawn")
    procs, pipes = [], []

    def hdr(m):
        return {"Cookie": f"sessionid={m['session']}", "Origin": h.ORIGIN}

    recv_specs = [
        (r["id"], f"ws://127.0.0.1:{a.port}/ws/", hdr(m)) for r in rooms for m in r["members"][1:]
    ][:n_clients]
    send_specs = [(r["id"], f"ws://127.0.0.1:{b.port}/ws/", hdr(r["members"][0])) for r in rooms]
    load_before = h.loadavg()
    out = {
        "benchmark": "resume",
        "machine": h.machine(),
        "date": h.now_utc(),
        "clients": len(recv_specs),
        "rooms": n_rooms,
        "rate_msgs_per_s": args.rate,
        "loadavg_before": load_before,
    }
    try:
        sp, sc = ctx.Pipe()
        proc = ctx.Process(target=sender_main, args=(sc, send_specs, args.rate), daemon=True)
        proc.start()
        procs.append(proc)
        for w in range(args.workers):
            rp, rc = ctx.Pipe()
            proc = ctx.Process(
                target=receiver_main, args=(rc, recv_specs[w :: args.workers]), daemon=True
            )
            proc.start()
            procs.append(proc)
            pipes.append(rp)
        for pipe in [sp, *pipes]:
            if not pipe.poll(300):
                raise RuntimeError("a worker did not get ready")
            pipe.recv()
        sp.send(("go", None))
        time.sleep(args.warm)  # traffic flows for a while before the restart
        t_kill = time.monotonic()
        a.stop()
        t_down = time.monotonic()
        a.start()
        t_up = time.monotonic()
        prof = h.Profiler(a.pid, "resume-daphne-a", args.profile) if args.profile else None
        sp.send(("heads_at", t_up))
        heads_up = sp.recv()
        for pipe in pipes:
            pipe.send(("wait_heads", (heads_up, args.timeout)))
        caught = [c for pipe in pipes for c in pipe.recv()]
        t_all = time.monotonic()
        if prof is not None:
            out["profile"] = prof.finish(25)
        sp.send(("stop", None))
        final = sp.recv()
        for pipe in pipes:
            pipe.send(("wait_heads", (final, 30)))
        end = [c for pipe in pipes for c in pipe.recv()]
        sp.send(("close", None))
        for pipe in pipes:
            pipe.send(("close", None))
    finally:
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.terminate()
        a.stop()
        b.stop()
    resub = [c["subscribed_at"][-1] - t_up for c in caught if len(c["subscribed_at"]) > 1]
    # A client that already held its room's head when A came back counts as 0.
    reached = [max(0.0, c["reached"] - t_up) for c in caught if c["reached"] is not None]
    missing = sum(1 for c in caught if c["reached"] is None)
    lost = sum(max(0, final.get(c["room"], 0) - c["last"]) for c in end)
    backlog = sum(heads_up.values())  # informative: entries in the rooms at t_up
    out.update(
        {
            "stop_s": round(t_down - t_kill, 2),
            "start_s": round(t_up - t_down, 2),
            "reconnected": len(resub),
            "not_caught_up": missing,
            "reconnect_after_up": h.latency_summary(resub),
            "caught_up_after_up": h.latency_summary(reached),
            "all_caught_up_s": round(t_all - t_up, 2) if not missing else None,
            "room_entries_at_up": backlog,
            "lost": lost,
            "duplicates": sum(c["dups"] for c in end),
            "order_errors": sum(c["gaps"] for c in end),
            "loadavg": h.loadavg(),
        }
    )
    if not args.no_docs:
        cmd = ".venv/bin/python bench/resume.py " + " ".join(
            argv if argv is not None else sys.argv[1:]
        )
        r, c = out["reconnect_after_up"], out["caught_up_after_up"]
        h.update_section(
            "Resume after restart",
            "\n".join(
                [
                    h.provenance(cmd.strip(), load_before),
                    "",
                    f"{out['clients']} clients in {n_rooms} rooms on Daphne A; {args.rate:g} messages/s "
                    "posted through Daphne B the whole time; A restarted (SIGTERM, start on the same "
                    "port). Times from the moment A listens again.",
                    "",
                    "| what | p50 | p95 | p99 | max |",
                    "|---|---|---|---|---|",
                    f"| reconnected and subscribed (s) | {r['p50_ms'] / 1000:.2f} | "
                    f"{r['p95_ms'] / 1000:.2f} | {r['p99_ms'] / 1000:.2f} | {r['max_ms'] / 1000:.2f} |",
                    f"| caught up to the head at restart (s) | {c['p50_ms'] / 1000:.2f} | "
                    f"{c['p95_ms'] / 1000:.2f} | {c['p99_ms'] / 1000:.2f} | {c['max_ms'] / 1000:.2f} |",
                    "",
                    (
                        f"All {out['clients']} caught up after {out['all_caught_up_s']} s. "
                        if out["all_caught_up_s"] is not None
                        else f"**{missing} of {out['clients']} had not caught up after {args.timeout:g} s** "
                        "(see the analysis: abandoned handshakes). "
                    )
                    + f"Daphne stop took "
                    f"{out['stop_s']} s and start-up {out['start_s']} s (the outage). Lost: {lost}, "
                    f"duplicates: {out['duplicates']}, out of order: {out['order_errors']}. "
                    f"Load average after: {out['loadavg'][0]}.",
                ]
            ),
        )
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
