"""The ceiling: a bare ``websockets`` room-broadcast server speaking CoCare's frame shapes.

No database, no auth, no access checks, no channel layer: a client connects with
``?user=N``, subscribes to rooms, sends; the server assigns a per-room seq, acks, and
broadcasts one serialised frame to every subscriber (``websockets.broadcast``). It is
what one Python process can do at all, the reference CoCare is measured against.

Usage: python bench/ceiling_server.py --port P
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import defaultdict
from urllib.parse import parse_qs, urlparse

from websockets.asyncio.server import ServerConnection, broadcast, serve

ROOMS: dict[int, set[ServerConnection]] = defaultdict(set)
SEQ: dict[int, int] = defaultdict(int)


def dumps(obj: dict) -> str:
    return json.dumps(obj, separators=(",", ":"))


async def handler(ws: ServerConnection) -> None:
    query = parse_qs(urlparse(ws.request.path).query)
    user = int(query.get("user", ["0"])[0])
    mine: set[int] = set()
    try:
        async for raw in ws:
            f = json.loads(raw)
            kind = f.get("type")
            room = f.get("room")
            if kind == "subscribe":
                ROOMS[room].add(ws)
                mine.add(room)
                await ws.send(dumps({"type": "subscribed", "room": room, "head_seq": SEQ[room]}))
            elif kind == "send":
                SEQ[room] += 1
                seq = SEQ[room]
                await ws.send(
                    dumps({"type": "ack", "room": room, "client_id": f["client_id"], "seq": seq})
                )
                broadcast(
                    ROOMS[room],
                    dumps(
                        {
                            "type": "message",
                            "room": room,
                            "seq": seq,
                            "client_id": f["client_id"],
                            "sender": {"id": user},
                            "body": f.get("body", ""),
                        }
                    ),
                )
    finally:
        for room in mine:
            ROOMS[room].discard(ws)


async def main(port: int) -> None:
    async with serve(handler, "127.0.0.1", port, max_size=2**20):
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    asyncio.run(main(p.parse_args().port))
