"""Processes the fault suite starts, kills and restarts: a private Redis, worker processes.

A private ``redis-server`` on a free loopback port (never the shared one: other test runs
use it), and ``manage.py run_workers NAME`` subprocesses. Readiness is polled with a
deadline; kills are SIGKILL (a crash: no cleanup).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import redis

from tests.support.live import ManagedProcess
from tests.support.services import ROOT, free_port


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)  # polling interval of a condition, not synchronisation
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class PrivateRedis:
    def __init__(self):
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def ping(self) -> bool:
        try:
            return redis.Redis(port=self.port, socket_timeout=1).ping()
        except redis.RedisError:
            return False

    def start(self) -> PrivateRedis:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self.ping, 20, "private redis")
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


class WorkerProcess(ManagedProcess):
    """``manage.py run_workers NAME`` — the production worker process."""

    def __init__(self, name: str, env: dict[str, str]):
        self.name, self.env = name, env
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> WorkerProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "run_workers", self.name],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.starts += 1
        return self
