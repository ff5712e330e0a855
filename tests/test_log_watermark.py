"""Writers of different rooms commit side by side, out of id order, and a cursor reader
still sees every entry exactly once (docs/log-contract.md; issue 12, Done means 2 and 3).

Real PostgreSQL, one connection per writer thread. Each writer runs commands sent by the
test (open a transaction, take its transaction id, post, commit) and answers when done,
so the interleaving is forced on every run rather than left to luck. A writer blocked on
a global lock would never answer: the test would fail on the answer's deadline.
"""

from __future__ import annotations

import queue
import random
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connection, transaction

from cocare_chat import clock
from rooms.logconsumer import LogConsumer
from rooms.messages import post_message
from rooms.models import Message, Room
from rooms.network import do_create_service_user
from rooms.workers import drain
from tests.support.cast import T0, Cast, build_cast
from tests.support.services import missing

ANSWER_DEADLINE_S = 20


class Writer:
    """A thread with its own database connection, running one command at a time."""

    def __init__(self) -> None:
        self._commands: queue.Queue[Callable[[], Any] | None] = queue.Queue()
        self._answers: queue.Queue[tuple[bool, Any]] = queue.Queue()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while (command := self._commands.get()) is not None:
                try:
                    self._answers.put((True, command()))
                except BaseException as exc:  # surfaced in do()
                    self._answers.put((False, exc))
        finally:
            connection.close()

    def do(self, command: Callable[[], Any]) -> Any:
        self._commands.put(command)
        ok, value = self._answers.get(timeout=ANSWER_DEADLINE_S)
        if not ok:
            raise value
        return value

    def stop(self) -> None:
        self._commands.put(None)
        self._thread.join(ANSWER_DEADLINE_S)


class OpenTransaction:
    """``transaction.atomic`` entered and left by separate commands of one writer."""

    def __init__(self) -> None:
        self._atomic = transaction.atomic()

    def begin(self) -> None:
        self._atomic.__enter__()

    def take_txid(self) -> int:
        with connection.cursor() as cur:
            cur.execute("SELECT pg_current_xact_id()::text::bigint")
            return cur.fetchone()[0]

    def commit(self) -> None:
        self._atomic.__exit__(None, None, None)


class Collect(LogConsumer):
    name = "test.watermark"
    batch_size = 3

    def __init__(self) -> None:
        self.seen: list[int] = []

    def handle(self, message: Message, now) -> None:
        self.seen.append(message.id)


@contextmanager
def writers(n: int) -> Iterator[list[Writer]]:
    ws = [Writer() for _ in range(n)]
    try:
        yield ws
    finally:
        for w in ws:
            w.stop()


@pytest.fixture
def rooms(transactional_db) -> tuple[Cast, list[Room]]:
    if connection.vendor != "postgresql":
        missing("PostgreSQL (set COCARE_DATABASE_URL=postgres://...)")
    cast = build_cast(T0)
    extra = [
        do_create_service_user(
            full_name=f"Person {k}", provider=cast.provider, council=cast.council
        ).rooms.get(kind="professional")
        for k in range(4)
    ]
    return cast, [cast.team, cast.family, *extra]


def _post(cast: Cast, room: Room, body: str) -> Callable[[], int]:
    return lambda: post_message(room=room, sender=cast.bot, body=body, client_id=body).message.id


@pytest.mark.services
def test_a_late_commit_of_a_smaller_id_is_read_not_skipped(rooms):
    cast, (room_a, room_b, *_) = rooms
    reader = Collect()
    with writers(2) as (a, b):
        ta, tb = OpenTransaction(), OpenTransaction()
        a.do(ta.begin)
        first = a.do(_post(cast, room_a, "a-1"))  # the smaller id, not yet committed
        b.do(tb.begin)
        second = b.do(_post(cast, room_b, "b-1"))  # commits while a's is open
        b.do(tb.commit)
        assert second > first
        reader.run_once(clock.now())
        assert reader.seen == []  # b's entry waits below a's open transaction
        a.do(ta.commit)
    drain([reader])
    assert sorted(reader.seen) == [first, second]


@pytest.mark.services
def test_many_writers_committing_out_of_order_are_each_read_exactly_once(rooms):
    """Transaction ids taken in one order, ids in the reverse, commits shuffled, with the
    reader running between every two commits."""
    cast, room_list = rooms
    rng = random.Random(12)  # noqa: S311 - a reproducible interleaving, not a secret
    reader = Collect()
    posted: list[int] = []
    out_of_id_order = 0
    with writers(len(room_list)) as ws:
        for rnd in range(6):
            txs = [OpenTransaction() for _ in ws]
            for w, tx in zip(ws, txs, strict=True):
                w.do(tx.begin)
                w.do(tx.take_txid)  # transaction ids in writer order
            ids = {}
            for k in reversed(range(len(ws))):  # ids in the reverse order
                ids[k] = ws[k].do(_post(cast, room_list[k], f"r{rnd}-w{k}"))
            order = list(range(len(ws)))
            rng.shuffle(order)
            committed: list[int] = []
            for k in order:
                ws[k].do(txs[k].commit)
                out_of_id_order += any(ids[k] < c for c in committed)
                committed.append(ids[k])
                reader.run_once(clock.now())
            posted.extend(ids.values())
    drain([reader])
    assert out_of_id_order > 0  # the interleaving really committed smaller ids later
    assert sorted(reader.seen) == sorted(posted)  # every entry, none twice
    assert len(reader.seen) == len(set(reader.seen))
    in_log_order = list(
        Message.objects.filter(id__in=posted).order_by("txid", "id").values_list("id", flat=True)
    )
    assert reader.seen == in_log_order


class Blocking(LogConsumer):
    """Echoes each entry into its room; blocks at the second entry until released."""

    name = "test.blocking"

    def __init__(self) -> None:
        self.inside = threading.Event()
        self.release = threading.Event()
        self.handled = 0

    def select(self, qs):
        return qs.filter(kind="text")

    def handle(self, message: Message, now) -> None:
        if self.handled == 1:  # the first entry's echo is written, the batch goes on
            self.inside.set()
            assert self.release.wait(ANSWER_DEADLINE_S)
        post_message(
            room=message.room,
            sender=message.sender,
            kind="system",
            body=f"seen {message.seq}",
            payload={"event": "echo"},
            client_id=f"blocking:{message.id}",
            now=now,
        )
        self.handled += 1


@pytest.mark.services
def test_a_post_completes_while_a_consumer_batch_is_open(rooms):
    """No lock outlives one entry: while the consumer is inside its batch (having written
    to room A for the first entry), people post to room A and to another room."""
    cast, (room_a, room_b, *_) = rooms
    for i in range(3):
        post_message(room=room_a, sender=cast.anna, body=f"m{i}", client_id=f"m{i}")
    consumer = Blocking()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            consumer.run_once(clock.now())
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    batch = threading.Thread(target=run)
    batch.start()
    try:
        assert consumer.inside.wait(ANSWER_DEADLINE_S)
        with writers(1) as (w,):
            # Each answer comes within the deadline only if nothing is held across the
            # batch (the old global log lock was held by the first echo until the end).
            same_room = w.do(_post(cast, room_a, "during-a"))
            other_room = w.do(_post(cast, room_b, "during-b"))
        assert Message.objects.filter(id__in=[same_room, other_room]).count() == 2
    finally:
        consumer.release.set()
        batch.join(ANSWER_DEADLINE_S)
    assert not errors
    assert consumer.handled == 3
    assert Message.objects.filter(kind="system", client_id__startswith="blocking:").count() == 3
