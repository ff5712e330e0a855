"""Fan-out benchmark: R rooms x M members, S senders per room, open-loop rate ladder.

Targets, driven with the same workload shape in one run:
- ``cocare2``: two Daphne processes over Redis, PostgreSQL persistence (members spread
  over both processes, so most deliveries cross Redis);
- ``cocare2-before``: the same as ``cocare2`` run from ``--before-root`` (an older tree), so
  a change is measured before and after in one run, under the same machine load;
- ``cocare1``: the embedded default, one Daphne process, SQLite, in-memory layer;
- ``ceiling``: a bare ``websockets`` broadcast server (bench/ceiling_server.py);
- ``synapse``: Synapse from PyPI on loopback, PUT /send and /sync long-poll.

For each target the offered rate (deliveries/s = messages/s x (M-1)) climbs a ladder
until p99 > 100 ms or a delivery is lost/duplicated/out of order; the last passing rung
is the knee. Results are printed as JSON and written to docs/performance.md ("Fan-out").

    .venv/bin/python bench/fanout.py --quick      # ~2 minutes, short steps
    .venv/bin/python bench/fanout.py              # full ladder, 10 s steps
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import sys
import time
import uuid
from pathlib import Path

import harness as h
import psutil
from loadgen import WS_CONNECT_CONCURRENCY, ClientSpec, StepPlan, worker_main
from synapse_peer import setup_rooms, synapse_server, wait_ready

LADDER = [
    10,
    25,
    50,
    75,
    100,
    150,
    200,
    300,
    400,
    500,
    700,
    1000,
    1500,
    2000,
    2500,
    3000,
    4000,
    5000,
    6500,
    8000,
    10000,
    13000,
    16000,
    20000,
    25000,
    32000,
    40000,
]
START = {"cocare2": 100, "cocare2-before": 100, "cocare1": 100, "ceiling": 2000, "synapse": 10}
P99_LIMIT_MS = 100.0
# Past the knee the ladder goes on while the system still keeps up (nothing lost, p99 under
# a second): the "sustained" rate, a second comparison for systems whose p99 is never
# under 100 ms.
SUSTAINED_P99_MS = 1000.0
TARGETS = ["cocare2", "cocare1", "ceiling", "synapse"]


# ---- per-target setup: servers + client specs ---------------------------------------------


def ws_specs(rooms: list[dict], senders: int, urls: list[str], cocare: bool) -> list[ClientSpec]:
    specs = []
    for i, room in enumerate(rooms):
        for j, m in enumerate(room["members"]):
            url = urls[(i + j) % len(urls)]  # senders alternate servers; members spread
            if cocare:
                headers = {"Cookie": f"sessionid={m['session']}", "Origin": h.ORIGIN}
            else:
                url = f"{url}?user={i * 1000 + j}"
                headers = {}
            specs.append(
                ClientSpec(
                    room=i,
                    room_ref=str(room["id"]),
                    member=j,
                    sender=j if j < senders else None,
                    url=url,
                    headers=headers,
                )
            )
    return specs


def setup_target(name: str, args, tag: str, cpus) -> tuple[list[h.Server], list[ClientSpec], str]:
    R, M, S = args.rooms, args.members, args.senders
    if name in ("cocare2", "cocare2-before"):
        root = args.before_root if name == "cocare2-before" else args.server_root
        if name == "cocare2-before" and root is None:
            raise SystemExit("cocare2-before needs --before-root")
        # The older tree gets its own fresh database: its migrations cannot follow a schema
        # the newer tree already moved on (a shared database failed its seed).
        before = name == "cocare2-before"
        url = h.ensure_pg_database(
            f"{args.database}_before" if before else args.database, fresh=before
        )
        env = h.cocare_env(url, redis=True, **args.env)
        h.migrate(env, root)
        rooms = h.seed(env, R, M, tag + ("b" if before else ""), root)["rooms"]
        servers = [
            h.daphne(f"fanout-daphne-{k}", env, cpus=cpus, root=root).start() for k in range(2)
        ]
        urls = [f"ws://127.0.0.1:{s.port}/ws/" for s in servers]
        return servers, ws_specs(rooms, S, urls, cocare=True), "ws"
    if name == "cocare1":
        env = h.cocare_env(h.sqlite_url("embedded"), redis=False, **args.env)
        h.migrate(env, args.server_root)
        rooms = h.seed(env, R, M, tag, args.server_root)["rooms"]
        servers = [h.daphne("fanout-embedded", env, cpus=cpus, root=args.server_root).start()]
        return (
            servers,
            ws_specs(rooms, S, [f"ws://127.0.0.1:{servers[0].port}/ws/"], cocare=True),
            "ws",
        )
    if name == "ceiling":
        port = h.free_port()
        srv = h.Server(
            "fanout-ceiling",
            [h.PY, str(h.ROOT / "bench" / "ceiling_server.py"), "--port", str(port)],
            port,
            cpus=cpus,
        ).start()
        rooms = [{"id": i + 1, "members": [{}] * M} for i in range(R)]
        return [srv], ws_specs(rooms, S, [f"ws://127.0.0.1:{port}/"], cocare=False), "ws"
    if name == "synapse":
        srv, base = synapse_server()
        srv.cpus = cpus
        srv.start(timeout=120)
        try:
            asyncio.run(wait_ready(base))
            rooms = asyncio.run(setup_rooms(base, R, M, tag.replace("-", "_")))
        except BaseException:
            srv.stop()
            raise
        specs = []
        for i, room in enumerate(rooms):
            for j, m in enumerate(room["members"]):
                specs.append(
                    ClientSpec(
                        room=i,
                        room_ref=room["id"],
                        member=j,
                        sender=j if j < S else None,
                        url=base,
                        token=m["token"],
                    )
                )
        return [srv], specs, "matrix"
    raise ValueError(name)


# ---- the ladder ---------------------------------------------------------------------------


class Generator:
    def __init__(
        self,
        kind: str,
        specs: list[ClientSpec],
        n: int,
        cpus,
        concurrency: int = WS_CONNECT_CONCURRENCY,
    ):
        ctx = mp.get_context("spawn")
        self.pipes, self.procs = [], []
        self.connect_retries = 0
        for w in range(n):
            mine = specs[w::n]
            a, b = ctx.Pipe()
            p = ctx.Process(
                target=worker_main, args=(b, kind, mine, cpus, concurrency), daemon=True
            )
            p.start()
            self.pipes.append(a)
            self.procs.append(p)
        for a in self.pipes:
            if not a.poll(300 + 0.2 * len(specs)):  # connecting thousands takes minutes
                raise RuntimeError("a load-generator worker did not connect in time")
            msg = a.recv()
            if "error" in msg:
                raise RuntimeError(msg["error"])
            self.connect_retries += msg.get("connect_retries", 0)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def step(self, plan: StepPlan) -> list[dict]:
        for a in self.pipes:
            a.send(("step", plan))
        out = []
        for a in self.pipes:
            if not a.poll(plan.n * plan.interval + plan.drain + 120):
                raise RuntimeError("a load-generator worker hung")
            out.append(a.recv())
        return out

    def close(self) -> None:
        for a in self.pipes:
            with contextlib.suppress(OSError):
                a.send(("close", None))
        for p in self.procs:
            p.join(15)
            if p.is_alive():
                p.terminate()


def quiesce(servers: list[h.Server], below: float = 0.2, timeout: float = 60) -> float:
    """Wait until the servers are idle (a backlog from the previous step is worked off)."""
    meter = h.CpuMeter([s.pid for s in servers])
    deadline = time.monotonic() + timeout
    t0 = time.monotonic()
    while time.monotonic() < deadline:
        meter.start()
        time.sleep(0.5)  # a CPU sampling window, not synchronisation
        if meter.stop()["cores"] < below:
            break
    return round(time.monotonic() - t0, 1)


def run_step(gen: Generator, servers: list[h.Server], args, step: int, rate: float) -> dict:
    quiet_s = quiesce(servers)
    R, M, S = args.rooms, args.members, args.senders
    msgs_per_s = rate / (M - 1)
    per_sender = msgs_per_s / (R * S)
    interval = 1.0 / per_sender
    n = max(1, round(args.duration * per_sender))
    plan = StepPlan(
        step=step,
        t0=time.monotonic() + 0.5,
        interval=interval,
        n=n,
        senders_per_room=S,
        n_rooms=R,
        drain=args.drain,
    )
    gen_cpu = h.CpuMeter(gen.pids)
    srv_cpu = h.CpuMeter([s.pid for s in servers])
    sys0 = psutil.cpu_times()
    gen_cpu.start()
    srv_cpu.start()
    profs = (
        [h.Profiler(sv.pid, f"{sv.name}-{rate}", plan.n * interval + 0.5) for sv in servers]
        if args.profile
        else []
    )
    results = gen.step(plan)
    window = n * interval
    g, s = gen_cpu.stop(), srv_cpu.stop()
    sys1 = psutil.cpu_times()
    busy = (sum(sys1) - sys1.idle - sys1.iowait) - (sum(sys0) - sys0.idle - sys0.iowait)
    total = sum(sys1) - sum(sys0)
    lat, lags, acks = [], [], []
    agg = {
        k: 0
        for k in (
            "sent",
            "send_errors",
            "expected",
            "received",
            "dups",
            "order_errors",
            "late",
            "limited",
            "errors",
        )
    }
    for r in results:
        lat.extend(r["latencies"])
        lags.extend(r["lags"])
        acks.extend(r["acks"])
        for k in agg:
            agg[k] += r[k]
    send_end = max(r["send_end"] for r in results)
    lost = agg["expected"] - agg["received"]
    summary = h.latency_summary(lat)
    lag = h.latency_summary(lags)
    clean = (
        lost == 0
        and agg["dups"] == 0
        and agg["order_errors"] == 0
        and agg["send_errors"] == 0
        and agg["errors"] == 0
    )
    ok = clean and summary["p99_ms"] <= P99_LIMIT_MS
    delivered = agg["received"] / (window or 1)
    sustained = clean and summary["p99_ms"] <= SUSTAINED_P99_MS and delivered >= 0.95 * rate
    return {
        "offered_deliveries_per_s": rate,
        "messages_per_s": round(msgs_per_s, 1),
        "deliveries_per_s": round(agg["received"] / (window or 1), 1),
        "duration_s": round(window, 2),
        "send_overrun_s": round(send_end - (plan.t0 + window), 3),
        **{k: v for k, v in summary.items() if k != "n"},
        "deliveries": agg["received"],
        "expected": agg["expected"],
        "lost": lost,
        "duplicates": agg["dups"],
        "order_errors": agg["order_errors"],
        "send_errors": agg["send_errors"],
        "error_frames": agg["errors"],
        "late_from_earlier_step": agg["late"],
        "ack_p50_ms": h.latency_summary(acks)["p50_ms"],
        "ack_p99_ms": h.latency_summary(acks)["p99_ms"],
        "generator_send_lag_p99_ms": lag["p99_ms"],
        "generator_cores": g["cores"],
        "server_cores": s["cores"],
        # CPU-normalised: deliveries per CPU-second of the target's server processes (for
        # CoCare the Daphne processes; PostgreSQL and Redis are not counted). On a shared,
        # loaded box this is the fairer comparison than the knee.
        "deliveries_per_server_cpu_s": (
            round(agg["received"] / (window or 1) / s["cores"]) if s["cores"] else None
        ),
        "machine_busy_pct": round(100 * busy / total, 1) if total else 0.0,
        "loadavg": h.loadavg(),
        "quiesce_s": quiet_s,
        "pass": ok,
        "sustained": sustained,
        **(
            {"profile": {sv.name: p.finish() for sv, p in zip(servers, profs, strict=True)}}
            if profs
            else {}
        ),
    }


def ladder_for(name: str, args) -> list[int]:
    start = args.start.get(name, START[name])
    rungs = [r for r in LADDER if r >= start]
    if args.quick:
        rungs = rungs[::2]
    return rungs[: args.max_steps]


def run_target(name: str, args, tag: str) -> dict:
    srv_cpus = gen_cpus = None
    if args.pin:
        n = psutil.cpu_count()
        gen_cpus, srv_cpus = {n - 1}, set(range(n - 1)) or {0}
    t0 = time.monotonic()
    servers, specs, kind = setup_target(name, args, tag, srv_cpus)
    gen = None
    steps = []
    try:
        gen = Generator(kind, specs, args.workers, gen_cpus)
        setup_s = round(time.monotonic() - t0, 1)
        for i, rate in enumerate(ladder_for(name, args)):
            res = run_step(gen, servers, args, i, rate)
            first_miss = not res["pass"] and all(st["pass"] for st in steps)
            if (first_miss or not res["sustained"]) and args.confirm:
                retry = run_step(gen, servers, args, 100 + i, rate)  # one noisy step must
                retry["first_attempt_p99_ms"] = res["p99_ms"]  # not decide the knee
                res = retry
            steps.append(res)
            print(
                f"[{name}] offered {rate}/s -> {res['deliveries_per_s']}/s "
                f"p99 {res['p99_ms']} ms lost {res['lost']} gen {res['generator_cores']} "
                f"srv {res['server_cores']} busy {res['machine_busy_pct']}% "
                f"{'ok' if res['pass'] else 'over 100 ms' if res['sustained'] else 'STOP'}",
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
    knee = sus = None
    for st in steps:
        if not st["pass"]:
            break
        knee = st
    for st in steps:
        if not st["sustained"]:
            break
        sus = st
    return {
        "target": name,
        "setup_s": setup_s if gen else None,
        "steps": steps,
        "knee_deliveries_per_s": knee["deliveries_per_s"] if knee else 0.0,
        "knee_offered": knee["offered_deliveries_per_s"] if knee else 0,
        "knee_p99_ms": knee["p99_ms"] if knee else None,
        "sustained_deliveries_per_s": sus["deliveries_per_s"] if sus else 0.0,
        "sustained_p99_ms": sus["p99_ms"] if sus else None,
        "ladder_exhausted": bool(steps) and steps[-1]["sustained"],
        # Median deliveries per server CPU-second over the steps that kept up (nothing
        # lost, p99 under a second): the per-core figure docs/scaling.md sizes from.
        "cpu_normalised": _median(
            [st["deliveries_per_server_cpu_s"] for st in steps if st["sustained"]]
        ),
    }


def _median(xs: list) -> float | None:
    xs = sorted(x for x in xs if x)
    if not xs:
        return None
    mid = len(xs) // 2
    return float(xs[mid]) if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2


# ---- report -------------------------------------------------------------------------------

LABEL = {
    "cocare2": "CoCare, 2 Daphne + Redis + PostgreSQL",
    "cocare2-before": "CoCare before (--before-root), 2 Daphne + Redis + PostgreSQL",
    "cocare1": "CoCare embedded (1 process, SQLite, in-memory layer)",
    "ceiling": "bare websockets broadcast (ceiling)",
    "synapse": "Synapse (PostgreSQL, /send + /sync)",
}


def ratios(results: dict) -> dict:
    out = {}
    for key, label in (
        ("knee_deliveries_per_s", "knee"),
        ("sustained_deliveries_per_s", "sustained"),
    ):
        k = {n: r[key] for n, r in results.items()}
        for ours in ("cocare2", "cocare2-before", "cocare1"):
            if ours not in k:
                continue
            if k.get("synapse"):
                out[f"{ours}_vs_synapse_{label}"] = round(k[ours] / k["synapse"], 2)
            if k.get("ceiling"):
                out[f"{ours}_vs_ceiling_{label}"] = round(k[ours] / k["ceiling"], 3)
    if "cocare2" in results and "cocare2-before" in results:
        a, b = results["cocare2"], results["cocare2-before"]
        if b["knee_deliveries_per_s"]:
            out["cocare2_after_vs_before_knee"] = round(
                a["knee_deliveries_per_s"] / b["knee_deliveries_per_s"], 2
            )
        if a.get("cpu_normalised") and b.get("cpu_normalised"):
            out["cocare2_after_vs_before_per_cpu_s"] = round(
                a["cpu_normalised"] / b["cpu_normalised"], 2
            )
    return out


def verdicts(results: dict, rat: dict) -> dict:
    v = {}
    c2 = results.get("cocare2")
    if c2:
        at = [s for s in c2["steps"] if s["offered_deliveries_per_s"] >= 2000 and s["pass"]]
        v["cocare2_2000_per_s_p99_100ms_zero_loss"] = bool(at)
    if "cocare2_vs_synapse_knee" in rat:
        v["cocare2_15x_synapse"] = rat["cocare2_vs_synapse_knee"] >= 15
    elif "cocare2_vs_synapse_sustained" in rat:
        v["cocare2_15x_synapse_sustained"] = rat["cocare2_vs_synapse_sustained"] >= 15
    if "cocare2_vs_ceiling_knee" in rat:
        v["cocare2_25pct_of_ceiling"] = rat["cocare2_vs_ceiling_knee"] >= 0.25
    return v


def markdown(out: dict, command: str) -> str:
    w = out["workload"]
    lines = [
        h.provenance(command, out["loadavg_before"]),
        "",
        f"Workload: {w['rooms']} rooms x {w['members']} members, {w['senders']} sender(s) "
        f"per room, {w['duration_s']} s per step, drain {w['drain_s']} s, "
        f"{w['generator_processes']} generator processes"
        f"{', pinned' if w['pinned'] else ''}. Deliveries = messages x (members - 1).",
        "",
        "| system | knee deliveries/s (p99 <= 100 ms) | p99 at knee (ms) | sustained "
        "deliveries/s (p99 <= 1 s) | p99 there (ms) | ladder exhausted "
        "| deliveries per server CPU-s (median, kept-up steps) |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, r in out["results"].items():
        lines.append(
            f"| {LABEL[n]} | {r['knee_deliveries_per_s']} | {r['knee_p99_ms']} | "
            f"{r['sustained_deliveries_per_s']} | {r['sustained_p99_ms']} | "
            f"{'yes (a lower bound)' if r['ladder_exhausted'] else 'no'} | "
            f"{r.get('cpu_normalised')} |"
        )
    lines += [
        "",
        "Ratios: " + (", ".join(f"{k} = {v}" for k, v in out["ratios"].items()) or "n/a"),
        "",
        "Targets: "
        + (
            ", ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in out["targets"].items())
            or "n/a"
        ),
        "",
        "Every step (p50/p95/p99/max in ms; cores = CPU cores busy on average; load = "
        "1-minute load average after the step):",
        "",
        "| system | offered/s | delivered/s | p50 | p95 | p99 | max | lost | dup | order "
        "| gen cores | server cores | per server CPU-s | machine busy | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, r in out["results"].items():
        for s in r["steps"]:
            lines.append(
                f"| {n} | {s['offered_deliveries_per_s']} | {s['deliveries_per_s']} | "
                f"{s['p50_ms']} | {s['p95_ms']} | {s['p99_ms']} | {s['max_ms']} | {s['lost']} | "
                f"{s['duplicates']} | {s['order_errors']} | {s['generator_cores']} | "
                f"{s['server_cores']} | {s.get('deliveries_per_server_cpu_s')} | "
                f"{s['machine_busy_pct']}% | {s['loadavg'][0]} |"
            )
    return "\n".join(lines)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--quick", action="store_true", help="small workload, 3 s steps, every other rung"
    )
    p.add_argument("--targets", default=",".join(TARGETS))
    p.add_argument("--rooms", type=int)
    p.add_argument("--members", type=int)
    p.add_argument("--senders", type=int, default=1)
    p.add_argument("--duration", type=float)
    p.add_argument("--drain", type=float, default=5.0)
    p.add_argument("--workers", type=int, default=2, help="load-generator processes")
    p.add_argument("--max-steps", type=int)
    p.add_argument("--start", default="", help="e.g. cocare2=1000,synapse=25")
    p.add_argument(
        "--pin", action="store_true", help="generator on the last core, servers on the others"
    )
    p.add_argument("--database", default="cocare_bench")
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the CoCare servers (repeatable)",
    )
    p.add_argument(
        "--server-root",
        type=Path,
        default=None,
        help="run CoCare from another source tree (before/after comparisons)",
    )
    p.add_argument(
        "--before-root",
        type=Path,
        default=None,
        help="the tree target cocare2-before runs (e.g. a worktree of the commit you start from)",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="py-spy every server during every step (var/bench/profile-*.txt)",
    )
    p.add_argument("--section", default="Fan-out", help="docs/performance.md section title")
    p.add_argument("--no-docs", action="store_true")
    args = p.parse_args(argv)
    args.rooms = args.rooms or (10 if args.quick else 50)
    args.members = args.members or (5 if args.quick else 6)
    args.duration = args.duration or (3.0 if args.quick else 10.0)
    args.max_steps = args.max_steps or (6 if args.quick else 22)
    args.confirm = not args.quick
    args.env = dict(e.split("=", 1) for e in args.env)
    args.start = dict((k, int(v)) for k, v in (x.split("=") for x in args.start.split(",") if x))
    if args.members < 2 or args.senders > args.members:
        p.error("need at least 2 members and no more senders than members")
    tag = uuid.uuid4().hex[:8]
    load_before = h.loadavg()
    results = {}
    for name in [t for t in args.targets.split(",") if t]:
        results[name] = run_target(name, args, tag)
    rat = ratios(results)
    out = {
        "benchmark": "fanout",
        "machine": h.machine(),
        "date": h.now_utc(),
        "loadavg_before": load_before,
        "loadavg_after": h.loadavg(),
        "workload": {
            "rooms": args.rooms,
            "members": args.members,
            "senders": args.senders,
            "duration_s": args.duration,
            "drain_s": args.drain,
            "generator_processes": args.workers,
            "pinned": args.pin,
        },
        "results": results,
        "ratios": rat,
        "targets": verdicts(results, rat),
    }
    if not args.no_docs:
        cmd = ".venv/bin/python bench/fanout.py " + " ".join(
            argv if argv is not None else sys.argv[1:]
        )
        h.update_section(args.section, markdown(out, cmd.strip()))
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
