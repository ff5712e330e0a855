"""Shared plumbing for the chat benchmarks: machine facts, servers, seeding, statistics,
and the sections of docs/performance.md.

Everything runs on loopback. Servers are started as subprocesses with their output in
``var/bench/*.log`` (never an unread pipe, which would stall a busy server) and are
always stopped by the caller's ``finally``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "bench"
DOC = ROOT / "docs" / "performance.md"
PY = sys.executable
PG_BASE = "postgres://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/0"
SECRET = "bench-secret-key-not-for-production-" + "k" * 30
ORIGIN = "http://127.0.0.1"


# ---- machine and statistics ---------------------------------------------------------------


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def latency_summary(latencies_s: list[float]) -> dict:
    v = sorted(latencies_s)
    ms = lambda x: round(x * 1000, 1)  # noqa: E731
    return {
        "n": len(v),
        "p50_ms": ms(percentile(v, 50)),
        "p95_ms": ms(percentile(v, 95)),
        "p99_ms": ms(percentile(v, 99)),
        "max_ms": ms(v[-1] if v else 0.0),
    }


class CpuMeter:
    """CPU seconds used by a set of processes (and their children) between start and stop."""

    def __init__(self, pids: list[int]):
        self.procs = [psutil.Process(p) for p in pids]
        self.t0 = 0.0
        self.c0: dict[int, float] = {}

    @staticmethod
    def _cpu(p: psutil.Process) -> float:
        try:
            t = p.cpu_times()
            return t.user + t.system
        except psutil.Error:
            return 0.0

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.c0 = {p.pid: self._cpu(p) for p in self.procs}

    def stop(self) -> dict:
        wall = time.monotonic() - self.t0
        used = sum(self._cpu(p) - self.c0.get(p.pid, 0.0) for p in self.procs)
        return {"cpu_s": round(used, 2), "cores": round(used / wall, 2) if wall else 0.0}


# ---- servers ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"server exited ({proc.returncode}); see {log}:\n" + log.read_text()[-2000:]
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)  # polling a port with a deadline, not synchronisation
    raise RuntimeError(f"server on port {port} not ready in {timeout}s; see {log}")


@dataclass
class Server:
    """A subprocess listening on a loopback port, its output in a log file."""

    name: str
    cmd: list[str]
    port: int
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    cwd: Path = ROOT
    cpus: set[int] | None = None
    proc: subprocess.Popen | None = None

    @property
    def log(self) -> Path:
        return VAR / f"{self.name}.log"

    def start(self, timeout: float = 60) -> Server:
        VAR.mkdir(parents=True, exist_ok=True)
        out = open(self.log, "w")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            self.cmd,
            cwd=self.cwd,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        if self.cpus:
            os.sched_setaffinity(self.proc.pid, self.cpus)
        if self.port:  # port 0: a worker process, which listens on nothing
            wait_port(self.port, self.proc, timeout, self.log)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def rss(self) -> int:
        return psutil.Process(self.pid).memory_info().rss

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def cocare_env(db_url: str, redis: bool, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("COCARE_"):
            env.pop(k)
    env.update(
        {
            "COCARE_DATABASE_URL": db_url,
            "COCARE_SECRET_KEY": SECRET,
            "COCARE_LOG_LEVEL": "WARNING",
            "COCARE_DEBUG": "false",
            "DJANGO_SETTINGS_MODULE": "cocare_chat.settings",
            "PYTHONUNBUFFERED": "1",
            # The workload sends faster per person than anyone would; the per-person send
            # limit (rooms/ratelimit.py) stays on but so high it never trips.
            "COCARE_RATE_LIMIT_SENDS": "1000000",
        }
    )
    if redis:
        env["COCARE_REDIS_URL"] = REDIS_URL
        env["COCARE_REDIS_PREFIX"] = "bench"
    env.update(extra)
    return env


def daphne(
    name: str,
    env: dict[str, str],
    port: int | None = None,
    cpus: set[int] | None = None,
    root: Path | None = None,
) -> Server:
    """``manage.py serve`` (no workers). ``root``: another source tree, e.g. an exported
    earlier commit (``git archive``) for before/after figures."""
    port = port or free_port()
    return Server(
        name,
        [PY, "manage.py", "serve", "--port", str(port)],
        port,
        env,
        cwd=root or ROOT,
        cpus=cpus,
    )


class Profiler:
    """``py-spy record`` on a running process, raw collapsed stacks into var/bench/."""

    def __init__(self, pid: int, name: str, seconds: float, rate: int = 200):
        self.out = VAR / f"profile-{name}.txt"
        exe = Path(PY).parent / "py-spy"
        self.proc = subprocess.Popen(
            [
                str(exe),
                "record",
                "-p",
                str(pid),
                "-d",
                str(max(1, int(seconds))),
                "-r",
                str(rate),
                "-f",
                "raw",
                "-o",
                str(self.out),
                "--nonblocking",
                "-t",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def finish(self, top: int = 15) -> list[str]:
        """Wait for py-spy; the hottest project frames (inclusive %), excluding idle."""
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return []
        return summarise_profile(self.out, top)


def summarise_profile(path: Path, top: int = 15) -> list[str]:
    from collections import Counter

    if not path.exists():
        return []
    incl: Counter = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        total += int(n)
        for f in {
            f
            for f in stack.split(";")
            if "/rooms/" in f
            or "rooms/" in f[:60]
            or "channels" in f
            or "psycopg" in f
            or "json/" in f
        }:
            incl[f] += int(n)
    return [f"{100 * n / total:.1f}% {f}" for f, n in incl.most_common(top)] if total else []


# ---- databases ----------------------------------------------------------------------------


def pg_url(name: str) -> str:
    return f"{PG_BASE}/{name}"


def ensure_pg_database(name: str, fresh: bool = False) -> str:
    import psycopg

    with psycopg.connect(pg_url("postgres"), autocommit=True) as c:
        exists = c.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and fresh:
            c.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            c.execute(f'CREATE DATABASE "{name}"')
    return pg_url(name)


def sqlite_url(name: str) -> str:
    VAR.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{VAR / name}.sqlite3"


def migrate(env: dict[str, str], root: Path | None = None) -> None:
    r = subprocess.run(
        [PY, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=root or ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if r.returncode:
        raise RuntimeError("migrate failed:\n" + r.stdout[-2000:] + r.stderr[-2000:])


def seed(env: dict[str, str], rooms: int, members: int, tag: str, root: Path | None = None) -> dict:
    """Create ``rooms`` professional rooms of ``members`` care workers with live sessions."""
    r = subprocess.run(
        [PY, str(ROOT / "bench" / "seed.py"), str(rooms), str(members), tag],
        cwd=root or ROOT,
        env={**env, "BENCH_CODE_ROOT": str(root or ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    if r.returncode:
        raise RuntimeError("seed failed:\n" + r.stdout[-2000:] + r.stderr[-3000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


# ---- docs/performance.md ------------------------------------------------------------------

HEADER = """# Performance

Benchmarks live in `bench/`; each is one command that stops by itself, prints JSON and
rewrites its own section below (command, machine, date, load average). Other sections
are left untouched.

## How the figures are made

- **Machine.** Figures below come from the 2-core development VM (see each section's
  machine line). It was shared with other engineers running test suites while these
  figures were taken, so every figure carries the load average at the time. **Final
  numbers must be re-run on a quiet machine** with the commands shown in each section.
- **Everything on one box, generator included.** Servers, PostgreSQL, Redis, Synapse and
  the load generator share the same cores over loopback. The generator runs as several
  processes and reports its own CPU use, so a saturated generator is visible.
- **Open loop.** Senders send at scheduled times regardless of how fast the server
  answers; latency is measured from the *scheduled* send time to the receipt at every
  other member (no coordinated omission).
- **Ratios, same run.** Each fan-out run drives CoCare, a bare `websockets` broadcast
  server (the ceiling) and Synapse with the same workload shape, and reports ratios.
- **The knee** is the highest offered rate at which p99 <= 100 ms with no lost,
  duplicated or out-of-order delivery.

Benchmarks:

- `bench/fanout.py`: fan-out throughput and latency (see "Fan-out" below)
- `bench/connections.py`: memory per idle authenticated websocket (see "Idle connections")
- `bench/resume.py`: reconnect and catch-up after a restart (see "Resume after restart")
- `bench/writepath.py`: the cost of one post on PostgreSQL, which bounds the fan-out knee
  (see "Write path"); profiles and suggestions in "Chat core: analysis and suggestions"
- escalation latency, the Matrix bridge and dashboards: see the sections below, written by
  their own benchmarks.
"""


def update_section(title: str, body: str) -> None:
    """Replace (or append) ``## title`` in docs/performance.md, leaving the rest alone."""
    DOC.parent.mkdir(parents=True, exist_ok=True)
    text = DOC.read_text() if DOC.exists() else HEADER
    block = f"## {title}\n\n{body.strip()}\n"
    pat = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pat.search(text):
        text = pat.sub(lambda _m: block + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + block
    DOC.write_text(text.rstrip("\n") + "\n")


def provenance(command: str, load_before: list[float] | None = None) -> str:
    m = machine()
    load = load_before or loadavg()
    return (
        f"Command: `{command}`  \n"
        f"Machine: {m['nproc']} cores ({m['cpu']}), {m['ram_gib']} GiB RAM, "
        f"Python {m['python']}, Linux {m['kernel']}  \n"
        f"Date: {now_utc()}; load average before the run: "
        f"{' / '.join(str(x) for x in load)}"
    )


def pipeline_env(label: str, target: str, **extra: str) -> dict[str, str]:
    """A fresh database for one pipeline target: ``embedded`` (SQLite, in-memory layer)
    or ``postgres_redis`` (PostgreSQL + channels-redis)."""
    if target == "embedded":
        db = VAR / f"{label}.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
        return cocare_env(sqlite_url(label), redis=False, **extra)
    return cocare_env(
        ensure_pg_database("bench_" + label.replace("-", "_"), fresh=True),
        redis=True,
        COCARE_REDIS_PREFIX=f"bench-{label}",
        **extra,
    )


def start_pipeline(
    label: str, target: str, env: dict[str, str], workers: str
) -> tuple[int, list[Server]]:
    """Daphne for one pipeline target; returns its port and the processes to stop.

    ``embedded``: one process with every worker in it. ``postgres_redis``: the production
    shape, a web process plus a separate ``manage.py run_workers WORKERS`` process.
    """
    port = free_port()
    serve = [PY, "manage.py", "serve", "--port", str(port)]
    if target == "embedded":
        return port, [Server(f"{label}-embedded", [*serve, "--with-workers"], port, env).start()]
    web = Server(f"{label}-web", serve, port, env).start()
    try:
        worker = Server(
            f"{label}-workers", [PY, "manage.py", "run_workers", workers], 0, env
        ).start()
    except Exception:
        web.stop()
        raise
    return port, [web, worker]
