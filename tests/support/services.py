"""Real services for tests: env for subprocesses, and a hard failure when one is missing.

In the services phase (``COCARE_REQUIRE_SERVICES=1``, as ./dev test and CI set) a missing
PostgreSQL, Redis, Synapse or Chromium fails the test: a skipped service test in CI would
hide exactly the behaviour it exists to prove.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("COCARE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def missing(what: str) -> None:
    """Fail (services phase) or skip (a developer's partial run) for a missing service."""
    if os.environ.get("COCARE_REQUIRE_SERVICES") or os.environ.get("CI"):
        pytest.fail(f"required service unavailable: {what}")
    pytest.skip(f"service unavailable: {what}")


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_database_url() -> str:
    """The URL of the database pytest-django created, for subprocesses to share."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{db['NAME']}"


def subprocess_env(*, redis: bool, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("COCARE_REDIS_URL", None)
    env.update(
        {
            "COCARE_DATABASE_URL": test_database_url(),
            "COCARE_SECRET_KEY": settings.SECRET_KEY,
            "COCARE_LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "cocare_chat.settings",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if redis:
        env["COCARE_REDIS_URL"] = REDIS_URL
    env.update(extra)
    return env
