"""The one authenticated websocket per client, multiplexing the rooms it can see.

Protocol: docs/protocol.md. Guarantees per subscribed room: entries arrive in seq order,
each once, with gaps (lost channel-layer hints) filled from the database; access is
re-checked at least every ``ACCESS_TTL`` seconds while entries flow and at once when an
``access.changed`` hint arrives, so a removed member stops receiving within a second.
When the socket's session ends (sign-out, password change, deactivation, expiry:
rooms/sessions.py) it sends ``signed_out`` and closes with 4401; from that moment it
delivers nothing more, and a frame that reads or writes checks the session in its own
thread hop before its work, so it is refused even before the close.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from pydantic import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from cocare_chat.config import get_config
from rooms import access, audit, bounds, publish, ratelimit, sessions
from rooms.accesswatch import WATCH
from rooms.errors import CoCareError
from rooms.frames import (
    Delivered,
    Edit,
    Ping,
    Read,
    Redact,
    Send,
    Subscribe,
    Typing,
    Unsubscribe,
    client_frame,
)
from rooms.messages import check_post_message, history
from rooms.models import Person, Room
from rooms.reads import check_mark_delivered, check_mark_read
from rooms.throttle import TokenBucket
from rooms.wire import for_member, message_wire, person_wire, rooms_wire

log = logging.getLogger(__name__)

ACCESS_TTL = 1.0
TYPING_MIN_INTERVAL = 2.0
REPLAY_PAGE = 200
# Subscribes per socket (rooms/throttle.py): a burst, then one every 3 seconds.
SUBSCRIBE_BURST = 20
SUBSCRIBE_PER_SECOND = 1 / 3
# While the channel layer is unreachable (a Redis restart), a socket's channel receive
# retries with this back-off instead of closing the socket.
LAYER_RETRY_FIRST = 0.05
LAYER_RETRY_MAX = 1.0
_LAYER_DOWN = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)


@dataclass
class Sub:
    last_seq: int
    visible_from: int
    checked_at: float


def _reader(fn):
    # Off the shared sync thread: access checks, replays and audit rows of different
    # sockets run side by side instead of queueing behind each other and behind posts.
    return database_sync_to_async(fn, thread_sensitive=False)


@_reader
def _load_person(user) -> Person | None:
    if user is None or not user.is_authenticated:
        return None
    return Person.objects.filter(user=user).first()


_my_rooms = _reader(rooms_wire)


_session_alive = _reader(sessions.alive)


@_reader
def _authorise(
    person: Person, room_id: int, record: bool, session: sessions.SessionRef | None
) -> tuple[int, int]:
    sessions.require_alive(session)
    room, m = access.access_room(person, room_id, access.Action.SUBSCRIBE)
    if record:
        audit.record(person, "room.subscribe", room=room)
    return room.last_seq, m.visible_from_seq


_allowed_pairs = _reader(access.allowed_pairs)


class AccessBatch:
    """Per process: the access re-checks that sockets make on their own (the watch was
    late) share one batched decision, ``rooms.access.allowed_pairs`` (two queries and one
    thread hop for every socket due), instead of a thread hop and two queries each.

    Profiled under fan-out load (docs/performance.md, "Fan-out path profiled"): on a
    loaded box the watch's tick slips past ``ACCESS_TTL``, every subscribed socket then
    re-checked alone, and those checks were ~20% of the web tier's samples. A check asked
    for while a batch is in flight joins the next batch, which starts as soon as that one
    ends, so every answer is decided after it was asked for: the bound holds as before.
    """

    def __init__(self) -> None:
        self.waiting: dict[tuple[int, int], list[asyncio.Future[bool]]] = {}
        self.runner: asyncio.Task[None] | None = None
        self.batches = 0  # batched decisions made (tests, bench)

    async def allowed(self, person_id: int, room_id: int) -> bool:
        loop = asyncio.get_running_loop()
        if self.runner is not None and self.runner.get_loop() is not loop:
            # A previous event loop (tests run one per test) ended mid-batch.
            self.runner = None
            self.waiting = {}
        fut: asyncio.Future[bool] = loop.create_future()
        self.waiting.setdefault((person_id, room_id), []).append(fut)
        if self.runner is None or self.runner.done():
            self.runner = loop.create_task(self._run())
        return await fut

    async def _run(self) -> None:
        while self.waiting:
            batch, self.waiting = self.waiting, {}
            try:
                ok = await _allowed_pairs(set(batch))
            except asyncio.CancelledError:
                for futs in batch.values():
                    for f in futs:
                        f.cancel()
                raise
            except Exception as exc:  # each waiting socket sees the failure, as before
                for futs in batch.values():
                    for f in futs:
                        if not f.done():
                            f.set_exception(exc)
                continue
            self.batches += 1
            for key, futs in batch.items():
                for f in futs:
                    if not f.done():
                        f.set_result(key in ok)


ACCESS_BATCH = AccessBatch()


@_reader
def _page(room_id: int, after_seq: int, visible_from: int, upto: int | None = None):
    room = Room(pk=room_id)
    rows = history(room, after_seq=after_seq, visible_from=visible_from, limit=REPLAY_PAGE)
    return [message_wire(m) for m in rows if upto is None or m.seq < upto]


def _surviving(receive: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
    """A channel receive that outlives an unreachable channel layer.

    channels-redis raises from ``receive`` while its Redis is down; channels then ends the
    consumer and Daphne closes the socket, so a Redis restart would make every client
    reconnect. Here the receive waits (with back-off) and resumes on the restarted server.
    Nothing is lost meanwhile: hints are not the record (DESIGN.md §3.3), the process's
    watch re-joins this socket's groups once it sees the layer was reset
    (rooms/accesswatch.py) and fills any gap from the database.
    """

    async def surviving() -> Any:
        pause = LAYER_RETRY_FIRST
        while True:
            try:
                return await receive()
            except _LAYER_DOWN as exc:
                log.warning("channel layer receive failed, retrying: %s", type(exc).__name__)
                await asyncio.sleep(pause)  # back-off while the layer is down
                pause = min(pause * 2, LAYER_RETRY_MAX)

    return surviving


class RoomsSocket(AsyncWebsocketConsumer):
    # channels' AsyncConsumer.__call__ assigns the layer receive here just before it
    # starts dispatching: wrap it so a Redis restart does not end the socket.
    @property
    def channel_receive(self) -> Callable[[], Awaitable[Any]]:
        return self._channel_receive

    @channel_receive.setter
    def channel_receive(self, receive: Callable[[], Awaitable[Any]]) -> None:
        self._channel_receive = _surviving(receive)

    async def connect(self):
        self.person: Person | None = await _load_person(self.scope.get("user"))
        self.subs: dict[int, Sub] = {}
        self.typing_at: dict[int, float] = {}
        self.subscribe_bucket = TokenBucket(SUBSCRIBE_BURST, SUBSCRIBE_PER_SECOND)
        self.audited: set[int] = set()  # rooms whose subscribe this socket has audited
        self.session = sessions.ref_for(self.scope)
        self.signed_out = False
        if self.person is None:
            await self.accept()
            await self._send(
                {"type": "error", "code": "unauthenticated", "message": "Sign in first."}
            )
            await self.close(code=4401)
            return
        # Join before accepting: if the layer fails here the handshake is refused and the
        # client retries, rather than holding an open socket that never gets events.
        await self.channel_layer.group_add(publish.person_group(self.person.id), self.channel_name)
        await self.accept()
        WATCH.register(self.channel_name, self.person.id, self.subs, session=self.session)
        await self._send(
            {"type": "hello", "me": person_wire(self.person), "rooms": await _my_rooms(self.person)}
        )

    async def disconnect(self, code):
        WATCH.unregister(self.channel_name)
        person = getattr(self, "person", None)
        if person is None:
            return
        await self.channel_layer.group_discard(publish.person_group(person.id), self.channel_name)
        for room_id in list(self.subs):
            await self.channel_layer.group_discard(publish.room_group(room_id), self.channel_name)

    async def dispatch(self, message):
        """As channels' ``AsyncConsumer.dispatch``, without its per-event
        ``aclose_old_connections()``: that is a hop onto the process's one shared sync
        thread for every delivery to every socket (profiled: the per-delivery thread
        hop). This consumer touches the database only through ``database_sync_to_async``,
        which closes stale connections in its own thread before and after each call."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # ---- client frames -------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None):
        if self.person is None or self.signed_out:
            return
        if text_data is None:
            await self._error("bad_frame", "Send JSON text frames, not binary.")
            return
        limit = get_config().max_frame_bytes
        if len(text_data.encode()) > limit:
            await self._error("too_large", f"Frame is larger than {limit} bytes.")
            return
        try:
            raw = bounds.loads(text_data)
        except bounds.BadNumber as exc:  # NaN, Infinity, 1e999, 2**64: names the field
            await self._error("invalid", str(exc))
            return
        except (ValueError, RecursionError):
            await self._error("bad_json", "Frame is not valid JSON.")
            return
        ref = raw.get("ref") if isinstance(raw, dict) and isinstance(raw.get("ref"), str) else None
        try:
            frame = client_frame.validate_python(raw)
        except ValidationError as exc:
            await self._error("invalid", _describe(exc), ref=ref)
            return
        try:
            await self._dispatch(frame)
        except sessions.SessionEnded:
            await self._sign_out()
        except CoCareError as exc:
            await self._error(
                exc.code,
                exc.message,
                ref=ref,
                client_id=getattr(frame, "client_id", None),
                room=getattr(frame, "room", None),
            )
        except Exception as exc:
            # Type and ids only, never a traceback: its frames can quote the body.
            log.error(
                "websocket frame %s of person %s failed: %s",
                type(frame).__name__,
                self.person.id,
                type(exc).__name__,
            )
            await self._error(
                "server_error",
                "Something went wrong; retry with the same client_id.",
                ref=ref,
                client_id=getattr(frame, "client_id", None),
            )

    async def _dispatch(self, f) -> None:
        if isinstance(f, Subscribe):
            await self._subscribe(f)
        elif isinstance(f, Unsubscribe):
            await self._unsubscribe(f.room)
            await self._send({"type": "unsubscribed", "room": f.room, "ref": f.ref})
        elif isinstance(f, Send):
            await self._post(
                f, kind=f.kind, body=f.body, payload=f.payload, reply_to_seq=f.reply_to
            )
        elif isinstance(f, Edit):
            await self._post(f, kind="edit", body=f.body, target_seq=f.target)
        elif isinstance(f, Redact):
            await self._post(f, kind="redaction", target_seq=f.target)
        elif isinstance(f, Typing):
            await self._typing(f.room)
        elif isinstance(f, Read):
            seq = await database_sync_to_async(_mark_read)(self.person, self.session, f.room, f.seq)
            await self._send({"type": "read_ok", "room": f.room, "seq": seq, "ref": f.ref})
        elif isinstance(f, Delivered):
            seq = await database_sync_to_async(_mark_delivered)(
                self.person, self.session, f.room, f.seq
            )
            await self._send({"type": "delivered_ok", "room": f.room, "seq": seq, "ref": f.ref})
        elif isinstance(f, Ping):
            await self._send({"type": "pong", "ref": f.ref})

    async def _subscribe(self, f: Subscribe) -> None:
        """Authorise, audit once per socket and room, replay after ``after_seq``, go live.

        Limited per socket (``SUBSCRIBE_BURST``, then ``SUBSCRIBE_PER_SECOND``): over it,
        an ``error`` frame ``rate_limited`` with ``retry_after`` seconds and no work done.
        A subscribe to a room this socket already follows re-checks access and answers
        ``subscribed`` without replaying: the subscription has delivered those entries.
        """
        wait = self.subscribe_bucket.take(time.monotonic())
        if wait:
            await self._error(
                "rate_limited",
                f"Too many subscribes; try again in {wait} s.",
                ref=f.ref,
                room=f.room,
                retry_after=wait,
            )
            return
        head, visible_from = await _authorise(
            self.person, f.room, record=f.room not in self.audited, session=self.session
        )
        self.audited.add(f.room)
        current = self.subs.get(f.room)
        if current is not None:
            current.checked_at = time.monotonic()
            await self._send(
                {
                    "type": "subscribed",
                    "room": f.room,
                    "head_seq": max(head, current.last_seq),
                    "visible_from": visible_from,
                    "ref": f.ref,
                }
            )
            return
        await self.channel_layer.group_add(publish.room_group(f.room), self.channel_name)
        # An after_seq past the head (a client holding a stale position) is clamped to the
        # head, or the socket would silently drop everything until the room caught up.
        sub = Sub(
            last_seq=max(min(f.after_seq, head), visible_from),
            visible_from=visible_from,
            checked_at=time.monotonic(),
        )
        self.subs[f.room] = sub
        # Replay from the database. Live hints that arrive meanwhile wait in the channel
        # queue (a consumer handles one event at a time) and are de-duplicated by seq.
        while True:
            page = await _page(f.room, sub.last_seq, visible_from)
            for wire in page:
                await self._deliver(wire, sub)
            if len(page) < REPLAY_PAGE:
                break
        await self._send(
            {
                "type": "subscribed",
                "room": f.room,
                "head_seq": max(head, sub.last_seq),
                "visible_from": visible_from,
                "ref": f.ref,
            }
        )

    async def _unsubscribe(self, room_id: int) -> None:
        if self.subs.pop(room_id, None) is not None:
            await self.channel_layer.group_discard(publish.room_group(room_id), self.channel_name)

    async def _post(self, f, **kw) -> None:
        # Off the shared sync thread: one socket still posts in order (frames are handled
        # one at a time), while different sockets no longer queue behind each other.
        # The post's hints are handed to this loop without the worker thread waiting for
        # them (rooms.publish.SEND_LOOP): the thread is free as soon as it has committed.
        token = publish.SEND_LOOP.set(asyncio.get_running_loop())
        try:
            posted = await database_sync_to_async(_limited_post, thread_sensitive=False)(
                person=self.person,
                session=self.session,
                room_id=f.room,
                client_id=f.client_id,
                **kw,
            )
        finally:
            publish.SEND_LOOP.reset(token)
        m = posted.message
        await self._send(
            {
                "type": "ack",
                "ref": f.ref,
                "client_id": f.client_id,
                "room": f.room,
                "id": m.id,
                "seq": m.seq,
                "duplicate": not posted.created,
            }
        )

    async def _typing(self, room_id: int) -> None:
        if room_id not in self.subs:
            await self._error("not_subscribed", "Subscribe to the room first.", room=room_id)
            return
        now = time.monotonic()
        if now - self.typing_at.get(room_id, 0) < TYPING_MIN_INTERVAL:
            return
        self.typing_at[room_id] = now
        await self.channel_layer.group_send(
            publish.room_group(room_id),
            {"type": "room.typing", "room": room_id, "person": person_wire(self.person)},
        )

    # ---- channel-layer events --------------------------------------------------------

    async def room_message(self, event):
        wire = event["message"]
        sub = self.subs.get(wire["room"])
        if sub is None or not await self._recheck(wire["room"], sub):
            return
        if wire["seq"] <= sub.last_seq:
            return
        await self._fill(wire["room"], sub, upto=wire["seq"])  # a lost hint before this one
        await self._deliver(wire, sub)

    async def room_behind(self, event):
        """From the process's watch: the record has been ahead of this socket for a tick
        (a lost hint with no later message). Deliver what is missing, in seq order."""
        sub = self.subs.get(event["room"])
        if sub is None or not await self._recheck(event["room"], sub):
            return
        await self._fill(event["room"], sub, upto=event["head"] + 1)

    async def room_typing(self, event):
        sub = self.subs.get(event["room"])
        if sub is None or event["person"]["id"] == self.person.id:
            return
        if await self._recheck(event["room"], sub):
            await self._send({"type": "typing", "room": event["room"], "person": event["person"]})

    async def room_read(self, event):
        sub = self.subs.get(event["room"])
        if sub is not None and await self._recheck(event["room"], sub):
            await self._send(
                {
                    "type": "read",
                    "room": event["room"],
                    "person": event["person"],
                    "seq": event["seq"],
                }
            )

    async def room_delivered(self, event):
        """As ``room_read``: only to sockets subscribed to the room, access re-checked."""
        sub = self.subs.get(event["room"])
        if sub is not None and await self._recheck(event["room"], sub):
            await self._send(
                {
                    "type": "delivered",
                    "room": event["room"],
                    "person": event["person"],
                    "seq": event["seq"],
                }
            )

    async def access_changed(self, event):
        room_id = event["room"]
        sub = self.subs.get(room_id)
        if sub is not None:
            sub.checked_at = 0.0
            await self._recheck(room_id, sub)
        await self._send({"type": "rooms_changed", "rooms": await _my_rooms(self.person)})

    async def session_ended(self, event):
        """A session of this person may have ended (rooms.sessions): a sign-out names it
        by digest; otherwise (password or account change) re-check this socket's own."""
        if self.person is None or self.signed_out:
            return
        named = event.get("session")
        if named is not None:
            if self.session is not None and named == self.session.digest:
                await self._sign_out()
            return
        try:
            alive = await _session_alive(self.session)
        except Exception as exc:  # the watch checks again within a tick
            log.warning("session re-check failed: %s", type(exc).__name__)
            return
        if not alive:
            await self._sign_out()

    async def person_event(self, event):
        """Any other per-person event (alerts, notices) is passed through as-is."""
        await self._send(event["payload"])

    # ---- helpers ---------------------------------------------------------------------

    async def _sign_out(self) -> None:
        """Nothing more is delivered or accepted; tell the client, then close (4401)."""
        if self.signed_out:
            return
        self.signed_out = True
        WATCH.unregister(self.channel_name)
        await self.send(text_data=json.dumps({"type": "signed_out"}))
        await self.close(code=4401)

    async def _recheck(self, room_id: int, sub: Sub) -> bool:
        now = time.monotonic()
        if now - sub.checked_at < ACCESS_TTL:
            return True
        if await ACCESS_BATCH.allowed(self.person.id, room_id):
            sub.checked_at = now
            return True
        await self._unsubscribe(room_id)
        self.audited.discard(room_id)  # access regained later is a new read: audit it
        await self._send({"type": "revoked", "room": room_id})
        return False

    async def _fill(self, room_id: int, sub: Sub, upto: int) -> None:
        """Deliver the stored entries after ``sub.last_seq`` and before ``upto``."""
        while upto > sub.last_seq + 1:
            missed = await _page(room_id, sub.last_seq, sub.visible_from, upto=upto)
            if not missed:
                break
            for m in missed:
                await self._deliver(m, sub)

    async def _deliver(self, wire: dict, sub: Sub) -> None:
        """Every entry, live or replayed, reaches the client through here: in seq order,
        once, and as this member may see it (an amendment of hidden history concealed)."""
        if wire["seq"] <= sub.last_seq:
            return
        sub.last_seq = wire["seq"]
        await self._send(for_member(wire, sub.visible_from))

    async def _send(self, obj: dict) -> None:
        if self.signed_out:
            return
        await self.send(text_data=json.dumps(obj, separators=(",", ":")))

    async def _error(self, code: str, message: str, **extra) -> None:
        frame = {"type": "error", "code": code, "message": message}
        frame.update({k: v for k, v in extra.items() if v is not None})
        await self._send(frame)


def _limited_post(*, person: Person, session: sessions.SessionRef | None, **kw):
    """``check_post_message`` for a signed-in session (else ``SessionEnded``), behind the
    per-person send limit (error code rate_limited)."""
    sessions.require_alive(session)
    ratelimit.hit("send", person.id)
    return check_post_message(person=person, **kw)


def _mark_read(person: Person, session: sessions.SessionRef | None, room_id: int, seq: int) -> int:
    sessions.require_alive(session)
    return check_mark_read(person, room_id, seq)


def _mark_delivered(
    person: Person, session: sessions.SessionRef | None, room_id: int, seq: int
) -> int:
    sessions.require_alive(session)
    return check_mark_delivered(person, room_id, seq)


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(x) for x in err["loc"])
        parts.append(f"{loc}: {err['msg']}" if loc else err["msg"])
    return "; ".join(parts)
