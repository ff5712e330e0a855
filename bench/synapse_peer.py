"""Synapse (``matrix-synapse`` from PyPI, in ``.synapse-venv``) on loopback, as the peer.

Configured for a fair throughput comparison: PostgreSQL (its production database; SQLite
when psycopg2 is missing), presence off, every rate limit lifted, cheap bcrypt for the
benchmark users, no federation listener, metrics and stats off. Users are registered with
``registration_shared_secret``; rooms are created by their first member and joined by
the rest.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import shutil
import subprocess
from pathlib import Path

import httpx
from harness import PG_BASE, ROOT, VAR, Server, free_port

SYNAPSE_PY = ROOT / ".synapse-venv" / "bin" / "python"
SHARED_SECRET = "bench-registration-secret"
SERVER_NAME = "bench.local"
BIG = {"per_second": 1_000_000, "burst_count": 1_000_000}

LOG_YAML = """version: 1
formatters:
  plain: {format: '%(asctime)s %(levelname)s %(name)s %(message)s'}
handlers:
  file: {class: logging.FileHandler, formatter: plain, filename: LOGFILE}
root: {level: WARNING, handlers: [file]}
disable_existing_loggers: false
"""


def _has_psycopg2() -> bool:
    return (
        subprocess.run([str(SYNAPSE_PY), "-c", "import psycopg2"], capture_output=True).returncode
        == 0
    )


def _pg_database(name: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG_BASE}/postgres", autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(
            f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' "
            "TEMPLATE template0"
        )


def synapse_server(database: str = "postgres") -> tuple[Server, str]:
    """A fresh Synapse (new data dir and database); returns (server, base_url)."""
    if not SYNAPSE_PY.exists():
        raise RuntimeError(f"{SYNAPSE_PY} missing: pip install matrix-synapse into .synapse-venv")
    if database == "postgres" and not _has_psycopg2():
        database = "sqlite"
    d = VAR / "synapse"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    port = free_port()
    (d / "log.yaml").write_text(LOG_YAML.replace("LOGFILE", str(d / "synapse.log")))
    if database == "postgres":
        _pg_database("synapse_bench")
        db = {
            "name": "psycopg2",
            "allow_unsafe_locale": True,
            "args": {
                "user": "postgres",
                "host": "127.0.0.1",
                "port": 5432,
                "database": "synapse_bench",
                "cp_min": 5,
                "cp_max": 10,
            },
        }
    else:
        db = {"name": "sqlite3", "args": {"database": str(d / "homeserver.db")}}
    cfg = {
        "server_name": SERVER_NAME,
        "pid_file": str(d / "homeserver.pid"),
        "listeners": [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ],
        "database": db,
        "log_config": str(d / "log.yaml"),
        "media_store_path": str(d / "media"),
        "signing_key_path": str(d / "signing.key"),
        "registration_shared_secret": SHARED_SECRET,
        "macaroon_secret_key": "bench-macaroon-secret",
        "form_secret": "bench-form-secret",
        "report_stats": False,
        "enable_metrics": False,
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "presence": {"enabled": False},
        "bcrypt_rounds": 4,
        "rc_message": BIG,
        "rc_registration": BIG,
        "rc_room_creation": BIG,
        "rc_login": {"address": BIG, "account": BIG, "failed_attempts": BIG},
        "rc_joins": {"local": BIG, "remote": BIG},
        "rc_joins_per_room": BIG,
        "rc_invites": {"per_room": BIG, "per_user": BIG, "per_issuer": BIG},
        "rc_admin_redaction": BIG,
        "rc_3pid_validation": BIG,
    }
    # JSON is YAML: one top-level key per line, no yaml writer needed.
    (d / "homeserver.yaml").write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in cfg.items()))
    subprocess.run(
        [
            str(SYNAPSE_PY),
            "-m",
            "synapse.app.homeserver",
            "-c",
            str(d / "homeserver.yaml"),
            "--generate-keys",
        ],
        cwd=d,
        check=True,
        capture_output=True,
        timeout=120,
    )
    server = Server(
        "synapse",
        [str(SYNAPSE_PY), "-m", "synapse.app.homeserver", "-c", str(d / "homeserver.yaml")],
        port,
        cwd=d,
    )
    return server, f"http://127.0.0.1:{port}"


async def wait_ready(base: str, timeout: float = 120) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with httpx.AsyncClient(base_url=base, timeout=5) as c:
        while loop.time() < deadline:
            try:
                if (await c.get("/health")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("synapse not healthy in time")


async def register(c: httpx.AsyncClient, localpart: str) -> dict:
    nonce = (await c.get("/_synapse/admin/v1/register")).json()["nonce"]
    password = "bench-" + localpart
    mac = hmac.new(SHARED_SECRET.encode(), digestmod=hashlib.sha1)
    mac.update(b"\x00".join([nonce.encode(), localpart.encode(), password.encode(), b"notadmin"]))
    r = await c.post(
        "/_synapse/admin/v1/register",
        json={
            "nonce": nonce,
            "username": localpart,
            "password": password,
            "admin": False,
            "mac": mac.hexdigest(),
        },
    )
    r.raise_for_status()
    body = r.json()
    return {"user_id": body["user_id"], "token": body["access_token"]}


async def setup_rooms(
    base: str, n_rooms: int, n_members: int, tag: str, concurrency: int = 16
) -> list[dict]:
    """Register ``n_rooms * n_members`` users and put each group of members in a room."""
    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as c:

        async def reg(i: int, j: int) -> dict:
            async with sem:
                return await register(c, f"b{tag}_{i}_{j}")

        users = await asyncio.gather(*[reg(i, j) for i in range(n_rooms) for j in range(n_members)])

        async def make_room(i: int) -> dict:
            members = users[i * n_members : (i + 1) * n_members]
            async with sem:
                r = await c.post(
                    "/_matrix/client/v3/createRoom",
                    headers={"Authorization": f"Bearer {members[0]['token']}"},
                    json={"preset": "public_chat", "name": f"bench {i}"},
                )
                r.raise_for_status()
                room_id = r.json()["room_id"]
            for m in members[1:]:
                async with sem:
                    j = await c.post(
                        f"/_matrix/client/v3/join/{room_id}",
                        headers={"Authorization": f"Bearer {m['token']}"},
                        json={},
                    )
                    j.raise_for_status()
            return {"id": room_id, "members": members}

        return await asyncio.gather(*[make_room(i) for i in range(n_rooms)])


if __name__ == "__main__":  # smoke: start, set up 2 rooms x 3 members, stop
    srv, url = synapse_server()
    srv.start(timeout=120)
    try:
        asyncio.run(wait_ready(url))
        print(asyncio.run(setup_rooms(url, 2, 3, "smoke"))[0]["id"])
    finally:
        srv.stop()
    print(Path(srv.log).read_text()[-500:])
