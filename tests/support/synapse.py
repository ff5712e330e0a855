"""A real Synapse homeserver on loopback for the bridge tests (DESIGN.md §8–9).

Synapse comes from PyPI in its own venv (``.synapse-venv``, made by ``./dev setup``). The
suite writes ``homeserver.yaml`` into a temp dir: SQLite, one client listener on a free
127.0.0.1 port, no federation (no trusted key servers, federation listener absent),
registration closed except through the shared secret, rate limits raised, presence off,
and the application-service registration produced by ``manage.py matrix_registration``.

Readiness is a poll of ``/_matrix/client/versions`` with a deadline — never a blind sleep.
``stop()``/``start()`` keep the same data directory, port and database, so the "Synapse
down" test restarts the same homeserver.

``Synapse(..., postgres=...)`` runs it on PostgreSQL instead (the recommended production
database): ``create_postgres_database`` makes a fresh database with the C collation
Synapse requires; it needs ``psycopg2`` in ``.synapse-venv`` (``matrix-synapse[postgres]``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import signal
import sqlite3
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import yaml

from tests.support.services import ROOT

SYNAPSE_PY = ROOT / ".synapse-venv" / "bin" / "python"
SERVER_NAME = "cocare.test"
_BIG = {"per_second": 10000, "burst_count": 100000}


def synapse_available() -> bool:
    return SYNAPSE_PY.exists()


def create_postgres_database(server_url: str, name: str) -> dict:
    """A fresh, empty database ``name`` for Synapse (dropped first if it exists), with the
    C collation and ctype Synapse refuses to run without. Returns Synapse's ``database``
    config for it. ``server_url``: ``postgres://user@host:port`` (any database part is
    ignored)."""
    parts = urlsplit(server_url)
    admin = urlunsplit((parts.scheme, parts.netloc, "/postgres", "", ""))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(
            f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' LC_COLLATE 'C' "
            "LC_CTYPE 'C' TEMPLATE template0"
        )
    return {
        "name": "psycopg2",
        "args": {
            "user": parts.username or "postgres",
            "password": parts.password or "",
            "host": parts.hostname or "127.0.0.1",
            "port": parts.port or 5432,
            "database": name,
            "cp_min": 1,
            "cp_max": 5,
        },
    }


def drop_postgres_database(server_url: str, name: str) -> None:
    parts = urlsplit(server_url)
    admin = urlunsplit((parts.scheme, parts.netloc, "/postgres", "", ""))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def homeserver_config(
    *,
    data_dir: Path,
    port: int,
    registration_file: Path,
    shared_secret: str,
    database: dict | None = None,
) -> dict:
    """The Synapse config the suite runs with (also the example in docs/matrix.md).

    ``database``: Synapse's database section; SQLite in ``data_dir`` by default.
    """
    return {
        "server_name": SERVER_NAME,
        "pid_file": str(data_dir / "homeserver.pid"),
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
        "database": database
        or {"name": "sqlite3", "args": {"database": str(data_dir / "homeserver.db")}},
        "log_config": str(data_dir / "log.yaml"),
        "media_store_path": str(data_dir / "media"),
        "signing_key_path": str(data_dir / "signing.key"),
        "report_stats": False,
        "enable_registration": False,
        "registration_shared_secret": shared_secret,
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "federation_domain_whitelist": [],
        "use_presence": False,
        "presence": {"enabled": False},
        "app_service_config_files": [str(registration_file)],
        "url_preview_enabled": False,
        "enable_metrics": False,
        "rc_message": _BIG,
        "rc_registration": _BIG,
        "rc_login": {"address": _BIG, "account": _BIG, "failed_attempts": _BIG},
        "rc_joins": {"local": _BIG, "remote": _BIG},
        "rc_joins_per_room": _BIG,
        "rc_invites": {"per_room": _BIG, "per_user": _BIG, "per_sender": _BIG},
        "rc_admin_redaction": _BIG,
        "rc_3pid_validation": _BIG,
        "rc_presence": {"per_user": _BIG},
        "rc_room_creation": _BIG,
    }


LOG_CONFIG = {
    "version": 1,
    "formatters": {"f": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"file": {"class": "logging.FileHandler", "formatter": "f", "filename": "__LOG__"}},
    "root": {"level": "WARNING", "handlers": ["file"]},
    "disable_existing_loggers": False,
}


@dataclass
class Synapse:
    """One Synapse process; ``start()`` and ``stop()`` may be called repeatedly."""

    data_dir: Path
    port: int
    registration_file: Path
    shared_secret: str = "shared-" + "s" * 20
    # Synapse's database section (create_postgres_database); None: SQLite in data_dir.
    database: dict | None = None
    proc: subprocess.Popen | None = None
    _users: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.data_dir / "homeserver.yaml"

    def write_config(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "media").mkdir(exist_ok=True)
        cfg = homeserver_config(
            data_dir=self.data_dir,
            port=self.port,
            registration_file=self.registration_file,
            shared_secret=self.shared_secret,
            database=self.database,
        )
        self.config_path.write_text(yaml.safe_dump(cfg))
        log_cfg = dict(LOG_CONFIG)
        log_cfg["handlers"] = {
            "file": {
                **LOG_CONFIG["handlers"]["file"],
                "filename": str(self.data_dir / "homeserver.log"),
            }
        }
        (self.data_dir / "log.yaml").write_text(yaml.safe_dump(log_cfg))
        subprocess.run(
            [
                str(SYNAPSE_PY),
                "-m",
                "synapse.app.homeserver",
                "-c",
                str(self.config_path),
                "--generate-keys",
            ],
            cwd=self.data_dir,
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self, timeout: float = 90) -> Synapse:
        if not self.config_path.exists():
            self.write_config()
        out = open(self.data_dir / "stdout.log", "ab")  # noqa: SIM115 - lives with proc
        env = {k: v for k, v in os.environ.items() if not k.startswith("COCARE_")}
        self.proc = subprocess.Popen(
            [str(SYNAPSE_PY), "-m", "synapse.app.homeserver", "-c", str(self.config_path)],
            cwd=self.data_dir,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("synapse exited:\n" + self.log_tail())
            try:
                if httpx.get(self.url + "/_matrix/client/versions", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)  # polling interval of a readiness check, not synchronisation
        self.stop()
        raise RuntimeError("synapse did not become ready:\n" + self.log_tail())

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def pending_appservice_txns(self) -> int:
        """Appservice transactions Synapse has not completed (SQLite only: read its file).

        On SQLite Synapse numbers the next transaction after the highest one still in this
        table, so once it is empty a restart starts again from 1.
        """
        assert self.database is None, "SQLite only"
        with sqlite3.connect(
            f"file:{self.data_dir / 'homeserver.db'}?mode=ro", uri=True, timeout=10
        ) as db:
            return db.execute("SELECT count(*) FROM application_services_txns").fetchone()[0]

    def log_tail(self, n: int = 40) -> str:
        lines = []
        for name in ("stdout.log", "homeserver.log"):
            p = self.data_dir / name
            if p.exists():
                lines += p.read_text(errors="replace").splitlines()[-n:]
        return "\n".join(lines)

    def register_user(
        self, localpart: str, password: str = "pw-" + "x" * 12, admin: bool = False
    ) -> tuple[str, str]:
        """Create a real user via the shared-secret admin API; returns (user_id, token).

        Idempotent within a session: a second call logs the same user in again.
        """
        if localpart in self._users:
            return self._users[localpart]
        base = self.url + "/_synapse/admin/v1/register"
        nonce = httpx.get(base, timeout=10).json()["nonce"]
        mac = hmac.new(self.shared_secret.encode(), digestmod=hashlib.sha1)
        mac.update(
            b"\x00".join(
                [
                    nonce.encode(),
                    localpart.encode(),
                    password.encode(),
                    b"admin" if admin else b"notadmin",
                ]
            )
        )
        r = httpx.post(
            base,
            json={
                "nonce": nonce,
                "username": localpart,
                "password": password,
                "admin": admin,
                "mac": mac.hexdigest(),
            },
            timeout=30,
        )
        if r.status_code == 400 and r.json().get("errcode") == "M_USER_IN_USE":
            r = httpx.post(
                self.url + "/_matrix/client/v3/login",
                timeout=30,
                json={
                    "type": "m.login.password",
                    "identifier": {"type": "m.id.user", "user": localpart},
                    "password": password,
                },
            )
        r.raise_for_status()
        body = r.json()
        self._users[localpart] = (body["user_id"], body["access_token"])
        return self._users[localpart]
