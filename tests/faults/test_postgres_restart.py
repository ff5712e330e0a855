"""A real PostgreSQL crash-restart under a live chat stream loses and doubles nothing.

A private PostgreSQL cluster (initdb in a temp dir, its own loopback port — never the
shared server other test runs use) backs one Daphne process. While a care worker streams
messages and a nurse reads them, the cluster is stopped with ``pg_ctl -m immediate`` (no
shutdown checkpoint: crash recovery on start) and started again. The sender retries
unacknowledged sends with the same client id; the reader resumes by ``after_seq``.
Afterwards every message is stored once, seqs are gap-free, and the reader holds them
all, once, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import shutil
import subprocess
import sys
import tempfile
import time

import psycopg
import pytest
import websockets

from tests.support.cast import PASSWORD
from tests.support.live import ServerProcess, WsClient, login_cookies
from tests.support.services import ROOT, free_port, missing

pytestmark = [pytest.mark.services, pytest.mark.slow]

N = 60
RESTART_AFTER = 20
SEED = (
    "import django, json; django.setup(); from tests.support.cast import build_cast; "
    "c = build_cast(); print(json.dumps({'team': c.team.id}))"
)


class PrivatePostgres:
    """initdb + pg_ctl as the postgres user (PostgreSQL refuses to run as root)."""

    def __init__(self):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not bins:
            missing("PostgreSQL server binaries (/usr/lib/postgresql/*/bin)")
        self.bin = bins[-1].rsplit("/", 1)[0]
        self.dir = tempfile.mkdtemp(prefix="cocare-pg-")
        self.port = free_port()
        shutil.chown(self.dir, "postgres", "postgres")

    def _as_postgres(self, *args: str) -> None:
        cmd = ["runuser", "-u", "postgres", "--", *args] if shutil.which("runuser") else args
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/cocare"

    def init(self) -> PrivatePostgres:
        self._as_postgres(
            f"{self.bin}/initdb",
            "-D",
            f"{self.dir}/data",
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        )
        self.start()
        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True
        ) as c:
            c.execute("CREATE DATABASE cocare")
        return self

    def start(self) -> None:
        self._as_postgres(
            f"{self.bin}/pg_ctl",
            "-D",
            f"{self.dir}/data",
            "-w",
            "-l",
            f"{self.dir}/log",
            "-o",
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1",
            "start",
        )

    def crash(self) -> None:
        self._as_postgres(f"{self.bin}/pg_ctl", "-D", f"{self.dir}/data", "-m", "immediate", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.crash()
        shutil.rmtree(self.dir, ignore_errors=True)

    def rows(self, sql: str, *params) -> list[tuple]:
        with psycopg.connect(self.url.replace("postgres://", "postgresql://")) as c:
            return c.execute(sql, params).fetchall()


@pytest.fixture
def private_pg():
    if not shutil.which("runuser"):
        missing("runuser (util-linux) to run PostgreSQL as the postgres user")
    pg = PrivatePostgres().init()
    yield pg
    pg.destroy()


def run(env, *args, timeout=300) -> str:
    r = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return r.stdout


def test_postgres_crash_restart_mid_stream_loses_and_doubles_nothing(private_pg):
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("COCARE_")}
    env.update(
        {
            "COCARE_DATABASE_URL": private_pg.url,
            "COCARE_LOG_LEVEL": "ERROR",
            "DJANGO_SETTINGS_MODULE": "cocare_chat.settings",
            "PYTHONUNBUFFERED": "1",
        }
    )
    run(env, "manage.py", "migrate", "-v0")
    team = json.loads(run(env, "-c", SEED).strip().splitlines()[-1])["team"]
    server = ServerProcess(env).start()
    reader_seqs: list[int] = []
    stats = {"send_retries": 0, "reader_reconnects": 0}

    async def connect(user: str) -> WsClient:
        while True:
            try:
                cookies = await asyncio.to_thread(login_cookies, server.url, user, PASSWORD)
                return await WsClient(server.ws_url, cookies).connect()
            except (OSError, AssertionError, websockets.InvalidStatus, TimeoutError):
                await asyncio.sleep(0.2)  # the database is down: back off, as a phone would

    async def reader():
        while not reader_seqs or reader_seqs[-1] < N:
            client = await connect("nadia")
            try:
                after = reader_seqs[-1] if reader_seqs else 0
                await client.send({"type": "subscribe", "room": team, "after_seq": after})
                while not reader_seqs or reader_seqs[-1] < N:
                    f = json.loads(await asyncio.wait_for(client.ws.recv(), 60))
                    if f.get("type") == "message":
                        reader_seqs.append(f["seq"])
                    elif f.get("type") == "error":
                        break  # e.g. subscribe failed while the database was down
            except (websockets.ConnectionClosed, OSError, TimeoutError):
                pass
            stats["reader_reconnects"] += 1
            await client.close()

    async def writer():
        sender = await connect("anna")
        i = 0
        while i < N:
            cid = f"pg-{i}"
            try:
                await sender.send(
                    {"type": "send", "room": team, "client_id": cid, "body": f"entry {i}"}
                )
                f = await sender.expect("ack", client_id=cid, timeout=10)
                assert f["seq"] >= 1
                i += 1
            except (websockets.ConnectionClosed, OSError, TimeoutError):
                stats["send_retries"] += 1
                sender = await connect("anna")
                continue
            if i == RESTART_AFTER:
                await asyncio.to_thread(private_pg.crash)
                down_at = time.monotonic()
                # Sends while it is down fail with an error frame; keep retrying them.
                await sender.send(
                    {"type": "send", "room": team, "client_id": f"pg-{i}", "body": f"entry {i}"}
                )
                err = await sender.expect("error", timeout=30)
                assert err["code"] == "server_error" and err["client_id"] == f"pg-{i}"
                stats["send_retries"] += 1
                await asyncio.to_thread(private_pg.start)
                stats["down_s"] = round(time.monotonic() - down_at, 2)
        await sender.close()

    async def main():
        r = asyncio.create_task(reader())
        await writer()
        await asyncio.wait_for(r, 120)

    try:
        asyncio.run(main())
    finally:
        server.stop()
    stored = private_pg.rows(
        "SELECT client_id, seq FROM rooms_message WHERE room_id = %s AND client_id LIKE 'pg-%%'"
        " ORDER BY seq",
        team,
    )
    assert [c for c, _ in stored] == [f"pg-{k}" for k in range(N)]
    assert [s for _, s in stored] == list(range(1, N + 1))
    assert reader_seqs == list(range(1, N + 1))
    assert stats["send_retries"] >= 1
    print(f"postgres restart: {N} messages, {stats}")
