"""Load-generator worker processes for the fan-out and resume benchmarks.

A worker owns a slice of the simulated members (one connection each). The coordinator
sends it commands over a pipe:

- ``("step", StepPlan)``: every sender of the slice sends its scheduled messages (open
  loop: at ``t0 + offset + k * interval`` whether or not earlier sends were answered);
  every receiver records, for each message of this step from *another* member, the delay
  from the message's scheduled send time to its arrival. The worker returns once every
  receiver holds everything it should, or the drain deadline passes.
- ``("close", None)``: disconnect and exit.

Each message carries a unique client id ``step.room.sender.k`` and its scheduled time, so
receivers detect loss and duplicates; for CoCare and the ceiling they also check that the
per-room ``seq`` goes up by exactly one, and for Synapse that each sender's messages arrive
in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import os
import random
import resource
import time
from dataclasses import dataclass, field
from urllib.parse import quote

WS_CONNECT_CONCURRENCY = 50
CONNECT_ATTEMPTS = 8


@dataclass
class ClientSpec:
    room: int  # room index in the workload
    room_ref: str  # the system's id for the room (int as str, or a Matrix room id)
    member: int
    sender: int | None  # sender index within the room, or None for a pure receiver
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    token: str = ""  # Matrix access token


@dataclass
class StepPlan:
    step: int
    t0: float  # time.monotonic() of the first slot (CLOCK_MONOTONIC is system-wide)
    interval: float  # seconds between one sender's messages
    n: int  # messages per sender
    senders_per_room: int
    n_rooms: int
    drain: float


@dataclass
class Recv:
    """What one receiving member saw during a step."""

    expected: int
    seen: set[str] = field(default_factory=set)
    latencies: list[float] = field(default_factory=list)
    dups: int = 0
    order_errors: int = 0
    last_k: dict[int, int] = field(default_factory=dict)


class Member:
    kind = ""

    def __init__(self, spec: ClientSpec):
        self.spec = spec
        self.recv: Recv | None = None
        self.step = -1
        self.late = 0
        self.errors = 0
        self.acks: list[float] = []  # scheduled send -> ack, for this member's own sends
        self.sched: dict[str, float] = {}
        self.order_errors = 0  # seq order is checked across steps, not per step
        self.last_seq = 0
        self.done = asyncio.Event()

    def begin(self, plan: StepPlan) -> None:
        others = plan.senders_per_room - (1 if self.spec.sender is not None else 0)
        self.recv = Recv(expected=others * plan.n)
        self.step = plan.step
        self.done = asyncio.Event()
        if self.recv.expected == 0:
            self.done.set()

    def acked(self, cid: str, now: float) -> None:
        sched = self.sched.pop(cid, None)
        if sched is not None:
            self.acks.append(now - sched)

    def got(self, cid: str, sched: float, seq: int | None, now: float) -> None:
        parts = cid.split(".")
        step, sender, k = int(parts[0]), int(parts[2]), int(parts[3])
        r = self.recv
        if seq is not None:
            if seq != self.last_seq + 1:
                self.order_errors += 1
            self.last_seq = max(self.last_seq, seq)
        if sender == self.spec.sender:
            return
        if r is None or step != self.step:
            self.late += 1
            return
        if cid in r.seen:
            r.dups += 1
            return
        if seq is None:  # Matrix: each sender's messages must arrive in order
            if k <= r.last_k.get(sender, -1):
                r.order_errors += 1
            r.last_k[sender] = k
        r.seen.add(cid)
        r.latencies.append(now - sched)
        if len(r.seen) >= r.expected:
            self.done.set()


class WsMember(Member):
    """CoCare or the ceiling server: one websocket, one subscribed room."""

    kind = "ws"

    async def connect(self) -> None:
        from websockets.asyncio.client import connect

        self.ws = await connect(
            self.spec.url,
            additional_headers=self.spec.headers,
            open_timeout=60,
            max_size=2**22,
            compression=None,
        )
        subscribed = asyncio.get_running_loop().create_future()
        self.reader = asyncio.create_task(self._read(subscribed))
        await self.ws.send(
            json.dumps({"type": "subscribe", "room": int(self.spec.room_ref), "after_seq": 0})
        )
        self.last_seq = await asyncio.wait_for(subscribed, 60)

    async def _read(self, subscribed: asyncio.Future) -> None:
        mono = time.monotonic
        async for raw in self.ws:
            now = mono()
            f = json.loads(raw)
            t = f.get("type")
            if t == "message":
                self.got(f["client_id"], float(f["body"]), f["seq"], now)
            elif t == "ack":
                self.acked(f["client_id"], now)
            elif t == "subscribed" and not subscribed.done():
                subscribed.set_result(f["head_seq"])
            elif t == "error":  # e.g. rate_limited, server_error: the send did not happen
                self.errors += 1

    async def send(self, cid: str, sched: float) -> None:
        self.sched[cid] = sched
        await self.ws.send(
            json.dumps(
                {
                    "type": "send",
                    "room": int(self.spec.room_ref),
                    "client_id": cid,
                    "body": f"{sched:.6f}",
                }
            )
        )

    async def close(self) -> None:
        self.reader.cancel()
        await self.ws.close()


class MatrixMember(Member):
    """Synapse: send with PUT /send, receive with a /sync long-poll loop."""

    kind = "matrix"
    http = None  # one httpx.AsyncClient per worker process

    def _filter(self) -> str:
        return json.dumps(
            {
                "room": {
                    "rooms": [self.spec.room_ref],
                    "timeline": {"limit": 1000, "types": ["m.room.message"]},
                    "state": {"types": []},
                    "ephemeral": {"types": []},
                    "account_data": {"types": []},
                },
                "presence": {"types": []},
                "account_data": {"types": []},
            },
            separators=(",", ":"),
        )

    async def connect(self) -> None:
        self.auth = {"Authorization": f"Bearer {self.spec.token}"}
        self.filter = self._filter()
        r = await self.http.get(
            f"{self.spec.url}/_matrix/client/v3/sync",
            params={"filter": self.filter, "timeout": 0},
            headers=self.auth,
        )
        r.raise_for_status()
        self.since = r.json()["next_batch"]
        self.limited = 0
        self.reader = asyncio.create_task(self._sync_loop())

    async def _sync_loop(self) -> None:
        mono = time.monotonic
        while True:
            try:
                r = await self.http.get(
                    f"{self.spec.url}/_matrix/client/v3/sync",
                    params={"filter": self.filter, "timeout": 30000, "since": self.since},
                    headers=self.auth,
                    timeout=60,
                )
            except Exception:  # the server is overloaded or stopping: retry like a client
                await asyncio.sleep(0.1)
                continue
            now = mono()
            if r.status_code != 200:
                await asyncio.sleep(0.1)
                continue
            body = r.json()
            self.since = body["next_batch"]
            room = body.get("rooms", {}).get("join", {}).get(self.spec.room_ref)
            if not room:
                continue
            tl = room.get("timeline", {})
            if tl.get("limited"):
                self.limited += 1
            for ev in tl.get("events", []):
                c = ev.get("content", {})
                if "cid" in c:
                    self.got(c["cid"], float(c["body"]), None, now)

    async def send(self, cid: str, sched: float) -> None:
        url = (
            f"{self.spec.url}/_matrix/client/v3/rooms/{quote(self.spec.room_ref)}"
            f"/send/m.room.message/{cid}"
        )
        try:
            r = await self.http.put(
                url,
                headers=self.auth,
                json={"msgtype": "m.text", "body": f"{sched:.6f}", "cid": cid},
            )
            r.raise_for_status()
        except Exception:  # counted, like an error frame on a websocket
            self.errors += 1
            return
        self.acks.append(time.monotonic() - sched)

    async def close(self) -> None:
        self.reader.cancel()


def _cpu_seconds() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


async def _run_step(members: list[Member], plan: StepPlan) -> dict:
    for m in members:
        m.begin(plan)
    senders = [m for m in members if m.spec.sender is not None]
    per = plan.n_rooms * plan.senders_per_room
    heap = []
    for m in senders:
        slot = m.spec.room * plan.senders_per_room + m.spec.sender
        offset = plan.interval * slot / per
        heapq.heappush(heap, (plan.t0 + offset, 0, id(m), m))
    lags: list[float] = []
    send_errors = 0
    pending: set[asyncio.Task] = set()
    sent = 0
    while heap:
        sched, k, _, m = heapq.heappop(heap)
        delay = sched - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        lags.append(time.monotonic() - sched)
        cid = f"{plan.step}.{m.spec.room}.{m.spec.sender}.{k}"
        if m.kind == "matrix":  # HTTP: each send is its own request, never awaited in line
            t = asyncio.create_task(m.send(cid, sched))
            pending.add(t)
            t.add_done_callback(pending.discard)
        else:
            try:
                await m.send(cid, sched)
            except Exception:
                send_errors += 1
        sent += 1
        if k + 1 < plan.n:
            heapq.heappush(heap, (sched + plan.interval, k + 1, id(m), m))
    send_end = time.monotonic()
    deadline = plan.t0 + plan.n * plan.interval + plan.drain
    if pending:
        done = await asyncio.wait(pending, timeout=max(0.1, deadline - time.monotonic()))
        send_errors += sum(1 for t in done[0] if t.exception() is not None) + len(done[1])
    waits = [asyncio.create_task(m.done.wait()) for m in members]
    if waits:
        await asyncio.wait(waits, timeout=max(0.1, deadline - time.monotonic()))
        for w in waits:
            w.cancel()
    out = {
        "sent": sent,
        "send_errors": send_errors,
        "send_end": send_end,
        "expected": 0,
        "received": 0,
        "dups": 0,
        "order_errors": 0,
        "late": 0,
        "errors": 0,
        "latencies": [],
        "lags": lags,
        "acks": [],
        "limited": 0,
    }
    for m in members:
        r = m.recv
        out["expected"] += r.expected
        out["received"] += len(r.seen)
        out["dups"] += r.dups
        out["order_errors"] += r.order_errors + m.order_errors
        m.order_errors = 0
        out["late"] += m.late
        out["errors"] += m.errors
        m.errors = 0
        out["latencies"].extend(r.latencies)
        out["acks"].extend(m.acks)
        m.acks = []
        m.sched.clear()
        out["limited"] += getattr(m, "limited", 0)
        m.late = 0
    return out


async def _amain(conn, kind: str, specs: list[ClientSpec], concurrency: int) -> None:
    loop = asyncio.get_running_loop()
    cls = MatrixMember if kind == "matrix" else WsMember
    if kind == "matrix":
        import httpx

        MatrixMember.http = httpx.AsyncClient(
            timeout=60, limits=httpx.Limits(max_connections=None, max_keepalive_connections=None)
        )
    members = [cls(s) for s in specs]
    sem = asyncio.Semaphore(concurrency)

    retries = 0

    async def connect(m: Member) -> None:
        """Like a real client: a refused or dropped handshake is retried with backoff
        (Daphne drops websockets its application has not accepted within 5 s)."""
        nonlocal retries
        for attempt in range(CONNECT_ATTEMPTS):
            async with sem:
                try:
                    await m.connect()
                    return
                except Exception:
                    if attempt == CONNECT_ATTEMPTS - 1:
                        raise
                    retries += 1
            await asyncio.sleep(random.uniform(0, min(2.0, 0.1 * 2**attempt)))

    try:
        await asyncio.gather(*[connect(m) for m in members])
    except Exception as exc:
        conn.send({"error": f"connect failed: {type(exc).__name__}: {exc}"})
        return
    conn.send({"ready": len(members), "connect_retries": retries})
    while True:
        cmd, arg = await loop.run_in_executor(None, conn.recv)
        if cmd == "close":
            break
        if cmd == "step":
            c0 = _cpu_seconds()
            result = await _run_step(members, arg)
            result["cpu_s"] = _cpu_seconds() - c0
            conn.send(result)
    for m in members:
        with contextlib.suppress(Exception):  # closing at exit; the server may be gone
            await asyncio.wait_for(m.close(), 5)
    if MatrixMember.http is not None:
        await MatrixMember.http.aclose()


def worker_main(
    conn,
    kind: str,
    specs: list[ClientSpec],
    cpus: set[int] | None,
    concurrency: int = WS_CONNECT_CONCURRENCY,
) -> None:
    if cpus:
        os.sched_setaffinity(0, cpus)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(_amain(conn, kind, specs, concurrency))
