"""Fixtures for the bridge: a config, a real Synapse and our appservice endpoint.

Session-scoped: one Synapse per test session (it takes ~10 s to start), and one Daphne
serving our appservice endpoint on a fixed loopback port written into the registration
before Synapse starts. Tests that use them need ``django_db(transaction=True)``: Daphne
is another process and must see committed rows.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import pytest

from bridge.conf import BridgeConfig
from tests.bridge import nio_helpers
from tests.bridge.nio_helpers import AS_TOKEN
from tests.support.live import ServerProcess
from tests.support.services import ROOT, free_port, missing, port_open, subprocess_env
from tests.support.synapse import (
    SERVER_NAME,
    Synapse,
    create_postgres_database,
    drop_postgres_database,
    synapse_available,
)

HS_TOKEN = "hs-token-" + "h" * 24


def make_config(homeserver_url: str = "http://127.0.0.1:9", **kw) -> BridgeConfig:
    return BridgeConfig(
        homeserver_url=homeserver_url,
        server_name=SERVER_NAME,
        as_token=AS_TOKEN,
        hs_token=HS_TOKEN,
        **kw,
    )


@pytest.fixture
def cfg() -> BridgeConfig:
    return make_config()


def wait_until(predicate, timeout: float = 30, what: str = "condition", step=None):
    """Poll ``predicate`` (optionally running ``step`` first each round) until truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if step is not None:
            step()
        value = predicate()
        if value:
            return value
        time.sleep(0.05)  # polling interval, not synchronisation
    raise AssertionError(f"timed out waiting for {what}")


class MatrixStack:
    """Ports, env and processes of one session's Synapse + appservice pair."""

    def __init__(self, tmp, database: dict | None = None):
        self.tmp = tmp
        self.as_port = free_port()
        self.hs_port = free_port()
        self.synapse = Synapse(
            data_dir=tmp / "synapse",
            port=self.hs_port,
            registration_file=tmp / "registration.yaml",
            database=database,
        )
        self.appservice: ServerProcess | None = None

    @property
    def cfg(self) -> BridgeConfig:
        return make_config(self.synapse.url, retry_max_seconds=1.0)

    def env(self) -> dict[str, str]:
        return subprocess_env(
            redis=False,
            COCARE_MATRIX_HOMESERVER_URL=self.synapse.url,
            COCARE_MATRIX_SERVER_NAME=SERVER_NAME,
            COCARE_MATRIX_AS_TOKEN=AS_TOKEN,
            COCARE_MATRIX_HS_TOKEN=HS_TOKEN,
            COCARE_MATRIX_RETRY_MAX_SECONDS="1",
            COCARE_MATRIX_APPSERVICE_URL=f"http://127.0.0.1:{self.as_port}",
        )

    def write_registration(self) -> None:
        """The real command writes the registration file Synapse loads."""
        subprocess.run(
            [
                sys.executable,
                "manage.py",
                "matrix_registration",
                "-o",
                str(self.synapse.registration_file),
            ],
            cwd=ROOT,
            env=self.env(),
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start_appservice(self) -> ServerProcess:
        self.appservice = ServerProcess(self.env(), port=self.as_port).start()
        return self.appservice


def _start_stack(stack: MatrixStack) -> None:
    try:
        stack.write_registration()
        stack.start_appservice()
        stack.synapse.start()
    except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
        if stack.appservice:
            stack.appservice.stop()
        stack.synapse.stop()
        missing(f"synapse could not start: {exc}")


def _stop_stack(stack: MatrixStack) -> None:
    stack.synapse.stop()
    if stack.appservice:
        stack.appservice.stop()


@pytest.fixture(scope="session")
def matrix_stack(tmp_path_factory, django_db_setup, django_db_blocker):
    if not synapse_available():
        missing("synapse (.synapse-venv; run ./dev setup)")
    stack = MatrixStack(tmp_path_factory.mktemp("matrix"))
    _start_stack(stack)
    yield stack
    _stop_stack(stack)


PG_SERVER = os.environ.get("COCARE_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def matrix_pg_stack(tmp_path_factory, django_db_setup, django_db_blocker):
    """A second homeserver, Synapse on PostgreSQL (its own database, C collation), started
    only by the tests that ask for it."""
    if not synapse_available():
        missing("synapse (.synapse-venv; run ./dev setup)")
    if not port_open("127.0.0.1", 5432):
        missing("postgresql on 127.0.0.1:5432 (for Synapse)")
    name = (
        "synapse_"
        + "".join(c for c in os.environ.get("COCARE_TEST_DB", "suite") if c.isalnum() or c == "_")[
            :40
        ]
    )
    try:
        database = create_postgres_database(PG_SERVER, name)
    except Exception as exc:  # noqa: BLE001 - any failure means: no PostgreSQL for Synapse
        missing(f"a PostgreSQL database for Synapse: {type(exc).__name__}")
    stack = MatrixStack(tmp_path_factory.mktemp("matrix_pg"), database=database)
    _start_stack(stack)
    yield stack
    _stop_stack(stack)
    drop_postgres_database(PG_SERVER, name)


def _running(stack: MatrixStack) -> MatrixStack:
    if not stack.synapse.running:
        stack.synapse.start()
    if stack.appservice.proc is None or stack.appservice.proc.poll() is not None:
        stack.start_appservice()
    return stack


@pytest.fixture
def matrix(matrix_stack):
    """The session's stack, with Synapse and the appservice running at test start."""
    return _running(matrix_stack)


@pytest.fixture(params=["sqlite", "postgres"])
def matrix_on(request):
    """The test runs twice: against Synapse on SQLite (its default) and on PostgreSQL."""
    stack = request.getfixturevalue(
        "matrix_stack" if request.param == "sqlite" else "matrix_pg_stack"
    )
    return _running(stack)


@pytest.fixture
def run():
    """Drive matrix-nio (async) from these sync tests: the ORM must not run in a loop."""
    loop = asyncio.new_event_loop()
    yield loop.run_until_complete
    while nio_helpers.open_clients:
        loop.run_until_complete(nio_helpers.open_clients.pop().close())
    loop.close()
