"""Real Daphne processes and real websocket clients over loopback sockets."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import httpx
import websockets

from tests.support.services import ROOT, free_port


class LineReader:
    """Reads a process's output on a thread, so waiting for a line never blocks on a
    pipe whose data already sits in Python's buffer (select() cannot see that)."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self._q: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream) -> None:
        for line in stream:
            self._q.put(line)
        self._q.put(None)

    def wait_for(self, predicate, timeout: float) -> bool:
        """True once a line satisfies ``predicate``; False at EOF or the deadline."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._q.get(timeout=left)
            except queue.Empty:
                return False
            if line is None:
                return False
            self.lines.append(line)
            if predicate(line):
                return True
        return False


class ManagedProcess:
    """A subprocess the tests start, crash (SIGKILL) or stop (SIGTERM, then SIGKILL)."""

    proc: subprocess.Popen | None = None

    def kill(self) -> None:
        """SIGKILL: no cleanup, no goodbye — a crash."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


class ServerProcess(ManagedProcess):
    """``manage.py serve`` in a subprocess; ready when it prints its Listening line."""

    def __init__(
        self,
        env: dict[str, str],
        *,
        with_workers: bool = False,
        port: int | None = None,
        args: list[str] | None = None,
    ):
        self.port = port or free_port()
        self.env = env
        self.with_workers = with_workers
        self.args = args or []
        self.proc: subprocess.Popen | None = None
        self.output: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/"

    def start(self, timeout: float = 30) -> ServerProcess:
        cmd = [sys.executable, "manage.py", "serve", "--port", str(self.port), *self.args]
        if self.with_workers:
            cmd.append("--with-workers")
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.reader = LineReader(self.proc.stdout)
        self.output = self.reader.lines
        if self.reader.wait_for(lambda line: line.startswith("Listening on"), timeout):
            return self
        self.stop()
        raise RuntimeError("server did not start:\n" + "".join(self.output))


def login_cookies(base_url: str, username: str, password: str) -> dict[str, str]:
    """Sign in through the real login form; returns the session and CSRF cookies."""
    with httpx.Client(base_url=base_url, follow_redirects=False, timeout=20) as c:
        c.get("/login/")
        token = c.cookies["csrftoken"]
        r = c.post(
            "/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": token},
            headers={"Referer": base_url + "/login/"},
        )
        if r.status_code != 302:
            raise AssertionError(f"login failed for {username}: {r.status_code}")
        return dict(c.cookies)


@dataclass
class WsClient:
    """A websocket client that keeps every frame it receives, by type and room."""

    url: str
    cookies: dict[str, str]
    origin: str = "http://127.0.0.1"
    ws: websockets.ClientConnection | None = None
    frames: list[dict] = field(default_factory=list)
    pending: list[dict] = field(default_factory=list)

    async def connect(self) -> WsClient:
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self.ws = await websockets.connect(
            self.url,
            additional_headers={"Cookie": cookie, "Origin": self.origin},
            open_timeout=20,
            max_size=2**22,
        )
        self.pending = []
        return self

    async def send(self, frame: dict) -> None:
        await self.ws.send(json.dumps(frame))

    async def recv(self, timeout: float = 10) -> dict:
        if self.pending:
            return self.pending.pop(0)
        frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        self.frames.append(frame)
        return frame

    async def expect(self, type_: str, timeout: float = 10, **match) -> dict:
        """Next frame of ``type_`` matching ``match``; others are kept for later."""
        deadline = time.monotonic() + timeout
        skipped = []
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {type_} {match} within {timeout}s")
                f = await self.recv(left)
                if f.get("type") == type_ and all(f.get(k) == v for k, v in match.items()):
                    return f
                skipped.append(f)
        finally:
            self.pending = skipped + self.pending

    def messages(self, room: int) -> list[dict]:
        return [f for f in self.frames if f.get("type") == "message" and f.get("room") == room]

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
