"""The durable cursor framework: ordered, transactional, replay-safe, poison-tolerant."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from cocare_chat import clock
from rooms.logconsumer import LogConsumer
from rooms.messages import check_post_message, post_message
from rooms.models import ConsumerCursor, ConsumerFailure, Message
from rooms.workers import drain
from tests.support.cast import T0, build_cast


class Echo(LogConsumer):
    """Acknowledges each text entry with a system notice keyed on the entry id."""

    name = "test.echo"

    def __init__(self, fail_on: set[str] | None = None):
        self.fail_on = fail_on or set()
        self.seen: list[int] = []

    def select(self, qs):
        return qs.filter(kind="text")

    def handle(self, m, now):
        self.seen.append(m.id)
        post_message(
            room=m.room,
            sender=m.sender,
            kind="system",
            body=f"seen {m.seq}",
            payload={"event": "echo"},
            client_id=f"echo:{m.id}",
            now=now,
        )
        if m.body in self.fail_on:
            raise RuntimeError("boom")


def echoes():
    return list(Message.objects.filter(kind="system").order_by("id").values_list("body", flat=True))


def test_consumer_handles_each_entry_once_in_log_order_and_keeps_its_place(cast):
    for i in range(5):
        check_post_message(person=cast.anna, room_id=cast.team.id, body=f"m{i}")
    c = Echo()
    c.batch_size = 2
    assert drain([c]) >= 5
    assert echoes() == [f"seen {i}" for i in range(1, 6)]
    check_post_message(person=cast.anna, room_id=cast.team.id, body="later")
    drain([Echo()])  # a fresh instance, as after a restart, resumes from the stored cursor
    assert echoes()[-1] == "seen 11"  # the 6th text sits after the 5 echo notices
    assert len(echoes()) == 6


def test_replay_after_cursor_reset_duplicates_nothing(cast):
    for i in range(3):
        check_post_message(person=cast.anna, room_id=cast.team.id, body=f"m{i}")
    c = Echo()
    drain([c])
    before = Message.objects.count()
    c.reset()
    drain([c])
    assert Message.objects.count() == before
    assert len(c.seen) == 6  # every entry was handled twice; effects exist once


def test_a_failing_entry_rolls_back_its_effects_retries_then_is_skipped(cast, frozen_clock):
    for body in ("ok-1", "poison", "ok-2"):
        check_post_message(person=cast.anna, room_id=cast.team.id, body=body)
    c = Echo(fail_on={"poison"})
    c.run_once(clock.now())
    # ok-1 handled and committed; the poison entry's notice rolled back; cursor stops.
    assert echoes() == ["seen 1"]
    f = ConsumerFailure.objects.get(consumer=c.name)
    assert (f.attempts, f.skipped, f.error) == (1, False, "RuntimeError")
    c.run_once(clock.now())
    c.run_once(clock.now())  # third attempt: recorded as skipped, cursor moves on
    f.refresh_from_db()
    assert (f.attempts, f.skipped) == (3, True)
    drain([c])
    assert echoes() == ["seen 1", "seen 3"]
    assert ConsumerCursor.objects.get(name=c.name).position == Message.objects.latest("id").id


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_make_a_reader_skip_an_entry():
    """Entries are read in log order (txid, id) below the watermark: none skipped."""
    cast = build_cast(T0)
    writers, per_writer = 4, 60
    seen: list[int] = []

    class Collect(LogConsumer):
        name = "test.collect"
        batch_size = 7

        def handle(self, m, now):
            seen.append(m.id)

    done = threading.Event()
    errors: list[BaseException] = []

    # Different rooms, so nothing orders the writers: they commit side by side.
    from rooms.network import do_create_service_user

    rooms = [cast.team, cast.family] + [
        do_create_service_user(
            full_name=f"P{k}", provider=cast.provider, council=cast.council
        ).rooms.get(kind="professional")
        for k in range(2)
    ]

    def write(n: int):
        try:
            for i in range(per_writer):
                post_message(room=rooms[n], sender=cast.bot, body=f"{n}-{i}", client_id=f"w{n}-{i}")
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    def read():
        c = Collect()
        while not done.is_set():
            c.run_once(clock.now())
        drain([c])
        connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    reader = threading.Thread(target=read)
    reader.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    reader.join()
    assert not errors
    ids = list(Message.objects.order_by("txid", "id").values_list("id", flat=True))
    assert seen == ids  # every entry once, in log order, none skipped
    for room in rooms:
        seqs = list(Message.objects.filter(room=room).order_by("seq").values_list("seq", flat=True))
        assert seqs == list(range(1, per_writer + 1))
