"""In-process websocket clients through the real ASGI stack (origin check, session auth)."""

from __future__ import annotations

import json

from channels.db import database_sync_to_async as sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from cocare_chat.asgi import application
from rooms.models import Person


@sync_to_async
def session_cookie(person: Person) -> str:
    c = Client()
    c.force_login(person.user)
    return c.cookies["sessionid"].value


async def ws_connect(person: Person | None, origin: str = "http://localhost"):
    """Open the rooms socket as ``person``; returns (communicator, hello-or-error frame)."""
    headers = [(b"origin", origin.encode())]
    if person is not None:
        headers.append((b"cookie", f"sessionid={await session_cookie(person)}".encode()))
    comm = WebsocketCommunicator(application, "/ws/", headers=headers)
    connected, _ = await comm.connect(timeout=5)
    if not connected:
        return comm, None
    return comm, json.loads(await comm.receive_from(timeout=5))


async def recv(comm, timeout: float = 5) -> dict:
    return json.loads(await comm.receive_from(timeout=timeout))


async def expect(comm, type_: str, timeout: float = 5, **match) -> dict:
    """Next frame of ``type_`` matching ``match``, skipping others."""
    while True:
        f = await recv(comm, timeout)
        if f.get("type") == type_ and all(f.get(k) == v for k, v in match.items()):
            return f


async def send(comm, frame: dict | str) -> None:
    await comm.send_to(text_data=frame if isinstance(frame, str) else json.dumps(frame))
