"""The fault suite: a mixed workload over real processes while faults are injected.

Two Daphne processes share PostgreSQL and a *private* Redis; the bots and escalation
workers run as ``manage.py run_workers`` processes. Senders chat over real websockets (and
HTTP while Redis is down), retrying every send whose ack does not come — with the same
client id, possibly on the other process; a care worker checks in, out and answers the bot's
cards; some messages trip escalation rules. Readers follow the rooms and resume by
``after_seq`` whenever their socket dies or they fall behind.

Faults, one per phase: SIGKILL of a Daphne process; Redis killed and restarted; every
PostgreSQL connection of the test database terminated (``pg_terminate_backend`` — the
shared cluster is not restarted, see docs/reliability.md); SIGKILL of the bots worker;
SIGKILL of the escalation worker; duplicate sends and acks cut short.

Afterwards: every client id is stored exactly once, seqs are gap-free, every reader holds
exactly the room's history in order, every trigger message is flagged, each alert step ran
once, each notification exists once, the visit has one key-information card and three
observations. The counts are printed (and recorded in docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter

import httpx
import pytest
import websockets
from channels.db import database_sync_to_async as sync_to_async
from django.db import connection, connections

from bots.models import Observation, Visit
from escalation.models import Flag, Notification, StepRun
from rooms.models import ConsumerCursor, Message, Room
from tests.faults.procs import PrivateRedis, WorkerProcess, wait_for
from tests.support.cast import PASSWORD, build_cast
from tests.support.live import ServerProcess, login_cookies
from tests.support.services import missing, subprocess_env

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

HOME = {"lat": 53.4808, "lon": -2.2426, "accuracy": 12.0}
TRIGGERS = [
    "She had a fall in the bathroom",
    "Chest pain when she climbs the stairs",
    "Her son took her bank card again",
    "She was on the floor when I arrived",
]
REPORT: dict[str, int] = {}


class Servers:
    def __init__(self, env):
        self.env = env
        self.procs = [ServerProcess(env).start(), ServerProcess(env).start()]

    def live(self) -> list[ServerProcess]:
        return [p for p in self.procs if p.proc and p.proc.poll() is None]

    def kill(self, i: int) -> None:
        self.procs[i].kill()

    def restart(self, i: int) -> None:
        self.procs[i] = ServerProcess(self.env, port=self.procs[i].port).start()

    def stop(self) -> None:
        for p in self.procs:
            p.stop()


class Retry(Exception):
    pass


class Sender:
    """Sends with a client id until acked; on any doubt, resends the same id elsewhere."""

    def __init__(self, name: str, servers: Servers):
        self.name, self.servers = name, servers
        self.ws = None
        self.turn = 0
        self.retries = 0
        self.sent: list[str] = []
        self.cookies: dict[str, dict] = {}

    async def _connect(self):
        live = self.servers.live()
        srv = live[self.turn % len(live)]
        self.turn += 1
        if srv.url not in self.cookies:
            self.cookies[srv.url] = await asyncio.to_thread(
                login_cookies, srv.url, self.name, PASSWORD
            )
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies[srv.url].items())
        self.ws = await websockets.connect(
            srv.ws_url,
            open_timeout=5,
            additional_headers={"Cookie": cookie, "Origin": "http://127.0.0.1"},
        )
        hello = json.loads(await asyncio.wait_for(self.ws.recv(), 5))
        if hello.get("type") != "hello":
            raise Retry(hello)

    async def send(
        self,
        room: int,
        cid: str,
        body: str = "",
        *,
        kind: str = "text",
        payload: dict | None = None,
        dup: bool = False,
        patience: float = 5.0,
        deadline: float = 60,
    ) -> dict:
        frame = {"type": "send", "room": room, "client_id": cid, "body": body, "kind": kind}
        if payload:
            frame["payload"] = payload
        end = time.monotonic() + deadline
        first = True
        while time.monotonic() < end:
            try:
                if self.ws is None:
                    await self._connect()
                await self.ws.send(json.dumps(frame))
                if dup:
                    await self.ws.send(json.dumps(frame))
                ack = await self._ack(cid, patience if not (dup and first) else 0.05)
                self.sent.append(cid)
                return ack
            except (
                Retry,
                TimeoutError,
                OSError,
                websockets.WebSocketException,
                json.JSONDecodeError,
            ):
                self.retries += 1
                first = False
                await self._drop()
                await asyncio.sleep(0.1)  # back-off of a retrying client, not synchronisation
        raise AssertionError(f"{self.name} could not send {cid}")

    async def _ack(self, cid: str, patience: float) -> dict:
        end = time.monotonic() + patience
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError
            f = json.loads(await asyncio.wait_for(self.ws.recv(), left))
            if f.get("client_id") != cid:
                continue
            if f.get("type") == "ack":
                return f
            if f.get("type") == "error":
                if f["code"] in ("server_error", "rate_limited"):
                    raise Retry(f)
                raise AssertionError(f)

    async def _drop(self):
        if self.ws is not None:
            with contextlib.suppress(Exception):  # already dead
                await self.ws.close()
        self.ws = None


class Reader:
    """Follows one room; on a dead socket or silence while behind, resumes by after_seq."""

    def __init__(self, name: str, room: int, servers: Servers):
        self.name, self.room, self.servers = name, room, servers
        self.seqs: list[int] = []
        self.reconnects = 0
        self.target: int | None = None
        self.turn = 0

    async def run(self, deadline: float):
        while time.monotonic() < deadline:
            if self.target is not None and self.seqs and self.seqs[-1] >= self.target:
                return
            ws = None
            try:
                live = self.servers.live()
                srv = live[self.turn % len(live)]
                self.turn += 1
                cookies = await asyncio.to_thread(login_cookies, srv.url, self.name, PASSWORD)
                ws = await websockets.connect(
                    srv.ws_url,
                    open_timeout=5,
                    additional_headers={
                        "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
                        "Origin": "http://127.0.0.1",
                    },
                )
                after = self.seqs[-1] if self.seqs else 0
                await ws.send(
                    json.dumps({"type": "subscribe", "room": self.room, "after_seq": after})
                )
                while True:
                    f = json.loads(await asyncio.wait_for(ws.recv(), 4))
                    if f.get("type") == "message" and f["room"] == self.room:
                        self.seqs.append(f["seq"])
                    if self.target is not None and self.seqs and self.seqs[-1] >= self.target:
                        return
            except (
                TimeoutError,
                OSError,
                websockets.WebSocketException,
                httpx.HTTPError,
                AssertionError,
            ):
                self.reconnects += 1
                await asyncio.sleep(0.2)  # reconnect back-off
            finally:
                if ws is not None:
                    with contextlib.suppress(Exception):
                        await ws.close()


def http_post(srv: ServerProcess, cookies: dict, room: int, cid: str, body: str) -> int:
    with httpx.Client(base_url=srv.url, cookies=cookies, timeout=10) as c:
        r = c.post(
            f"/api/rooms/{room}/messages",
            json={"client_id": cid, "body": body},
            headers={"X-CSRFToken": cookies["csrftoken"], "Referer": srv.url + "/"},
        )
        return r.status_code


def terminate_other_connections() -> int:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cur.fetchone()[0]


def workers_idle() -> bool:
    head = Message.objects.order_by("-id").values_list("id", flat=True).first() or 0
    cursors = dict(ConsumerCursor.objects.values_list("name", "position"))
    return all(cursors.get(n, 0) >= head for n in ("escalation.detect",)) and all(
        pos >= head for name, pos in cursors.items() if not name.endswith("ticker")
    )


@pytest.fixture
def stack():
    if connection.vendor != "postgresql":
        missing("PostgreSQL (set COCARE_DATABASE_URL=postgres://...)")
    cast = build_cast()
    rds = PrivateRedis().start()
    # Persistent connections as in docker-compose.yml: every process holds a live
    # PostgreSQL connection, so terminating them is a real fault (with the default of
    # one connection per request there may be nothing open to terminate).
    env = subprocess_env(
        redis=False,
        COCARE_REDIS_URL=rds.url,
        COCARE_REDIS_PREFIX="faults",
        COCARE_WORKER_POLL_SECONDS="0.5",
        COCARE_DB_CONN_MAX_AGE="60",
    )
    servers = Servers(env)
    workers = {n: WorkerProcess(n, env).start() for n in ("bots", "escalation")}
    yield cast, servers, workers, rds
    for w in workers.values():
        w.stop()
    servers.stop()
    rds.kill()
    # The terminated backends include this thread's own connection: drop it so the test
    # database flush reconnects.
    for conn in connections.all():
        with contextlib.suppress(Exception):
            conn.close()


async def test_mixed_workload_survives_every_fault(stack):
    cast, servers, workers, rds = stack
    team, family = cast.team.id, cast.family.id
    faults: Counter[str] = Counter()
    anna, debbie = Sender("anna", servers), Sender("debbie", servers)
    readers = [
        Reader("nadia", team, servers),
        Reader("carol", team, servers),
        Reader("debbie", family, servers),
    ]
    deadline = time.monotonic() + 180
    tasks = [asyncio.create_task(r.run(deadline)) for r in readers]
    n = 0
    triggers: list[str] = []

    async def chat(phase: str, count: int, **kw):
        nonlocal n
        for _ in range(count):
            n += 1
            await anna.send(team if n % 3 else family, f"{phase}-a{n}", f"{phase} update {n}", **kw)
            await debbie.send(family, f"{phase}-d{n}", f"{phase} from Debbie {n}", **kw)

    async def trigger(phase: str, i: int):
        cid = f"{phase}-t{i}"
        triggers.append(cid)
        await anna.send(team, cid, TRIGGERS[i % len(TRIGGERS)])

    # 1. SIGKILL a Daphne process mid-stream, then bring it back.
    await chat("daphne", 3)
    await trigger("daphne", 0)
    await asyncio.to_thread(servers.kill, 0)
    faults["daphne_sigkill"] += 1
    await chat("daphne", 3)
    await asyncio.to_thread(servers.restart, 0)

    # 2. Redis dies: HTTP writes still persist (fan-out hints are lost), then it returns.
    await chat("redis", 2)
    await asyncio.to_thread(rds.kill)
    faults["redis_restart"] += 1
    srv = servers.live()[0]
    cookies = await asyncio.to_thread(login_cookies, srv.url, "nadia", PASSWORD)
    for i in range(4):
        assert (
            await asyncio.to_thread(
                http_post, srv, cookies, team, f"redis-h{i}", f"written while Redis is down {i}"
            )
            == 201
        )
    await asyncio.to_thread(rds.start)
    await chat("redis", 2)
    await trigger("redis", 1)

    # 3. Every PostgreSQL connection of the test database is terminated mid-workload.
    await chat("postgres", 2)
    killed = await sync_to_async(terminate_other_connections)()
    assert killed >= 2  # at least the workers' connections
    faults["postgres_connections_terminated"] += 1
    await chat("postgres", 2)
    await trigger("postgres", 2)

    # 4. The bots worker is SIGKILLed right after a check-in; restarted, it replies once.
    await anna.send(team, "visit-in", "📍 Check in", payload={"location": HOME})
    workers["bots"].kill()
    faults["bots_worker_sigkill"] += 1
    await chat("bots", 2)
    workers["bots"].start()
    await anna.send(team, "visit-out", "Check out", payload={"location": HOME})
    answered: list[str] = []
    for i in range(3):
        card = await sync_to_async(wait_for)(
            lambda: (
                Message.objects.filter(
                    room_id=team,
                    kind="card",
                    payload__card_type__in=["screener", "question", "goal"],
                )
                .exclude(payload__card_id__in=answered)
                .order_by("seq")
                .first()
            ),
            60,
            "the next wellbeing card",
        )
        answered.append(card.payload["card_id"])
        if i == 1:  # the escalation worker dies between two answers
            workers["escalation"].kill()
            faults["escalation_worker_sigkill"] += 1
            await trigger("escalation", 3)
            await chat("escalation", 2)
            workers["escalation"].start()
        await anna.send(
            team,
            f"answer-{i}",
            kind="answer",
            payload={"card_id": card.payload["card_id"], "value": 1},
        )

    # 6. Clients retry: every frame sent twice and the first ack given up on at once.
    await chat("retry", 3, dup=True)
    faults["duplicate_and_timed_out_sends"] += 3 * 2

    # Let the workers finish, then fix each reader's target at the room's final head.
    await sync_to_async(wait_for)(
        lambda: (
            Observation.objects.filter(visit__isnull=False).count() >= 3
            and Flag.objects.filter(message__client_id__in=triggers)
            .values("message")
            .distinct()
            .count()
            == len(triggers)
            and workers_idle()
        ),
        90,
        "workers to drain",
    )
    heads = await sync_to_async(lambda: dict(Room.objects.values_list("id", "last_seq")))()
    for r in readers:
        r.target = heads[r.room]
    await asyncio.wait_for(asyncio.gather(*tasks), max(5, deadline - time.monotonic()))
    await anna._drop()
    await debbie._drop()

    def verify():
        sent = anna.sent + debbie.sent + [f"redis-h{i}" for i in range(4)]
        per_cid = Counter(
            Message.objects.filter(client_id__in=sent).values_list("client_id", flat=True)
        )
        assert set(per_cid) == set(sent) and set(per_cid.values()) == {1}
        for room_id, head in heads.items():
            seqs = list(
                Message.objects.filter(room_id=room_id)
                .order_by("seq")
                .values_list("seq", flat=True)
            )
            assert seqs == list(range(1, head + 1))
        flagged = Flag.objects.filter(message__client_id__in=triggers)
        assert set(flagged.values_list("message__client_id", flat=True)) == set(triggers)
        runs = list(StepRun.objects.values_list("alert_id", "seq"))
        assert runs and len(runs) == len(set(runs))
        notes = list(
            Notification.objects.values_list("alert_id", "step_seq", "recipient_id", "device_id")
        )
        assert len(notes) == len(set(notes))
        visit = Visit.objects.get()
        assert visit.checked_out_at is not None
        assert (
            Message.objects.filter(room_id=team, kind="card", payload__card_type="key_info").count()
            == 1
        )
        assert Observation.objects.filter(visit=visit).count() == 3
        return len(sent), sum(heads.values()), len(runs)

    distinct_sent, log_entries, step_runs = await sync_to_async(verify)()
    for r in readers:
        assert r.seqs == list(range(1, heads[r.room] + 1)), (r.name, r.reconnects)
    REPORT.update(
        faults=sum(faults.values()),
        **faults,
        client_ids=distinct_sent,
        log_entries=log_entries,
        reader_histories=len(readers),
        entries_checked_by_readers=sum(len(r.seqs) for r in readers),
        retries=anna.retries + debbie.retries,
        step_runs=step_runs,
        reader_reconnects=sum(r.reconnects for r in readers),
    )
    print("FAULT-SUITE", json.dumps(REPORT))
