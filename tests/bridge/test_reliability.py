"""Nothing lost, nothing doubled: homeserver down, bridge worker killed, endpoint killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest
from django.db import connection

from bridge.models import OutboxEntry
from rooms.messages import check_post_message
from rooms.models import Message
from tests.bridge.conftest import wait_until
from tests.bridge.nio_helpers import linked_nurse_in_team_room, timeline
from tests.support.services import ROOT

pytestmark = [pytest.mark.synapse, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def bodies_with(prefix, events):
    return [e["content"]["body"] for e in events if e["content"].get("body", "").startswith(prefix)]


def all_sent():
    return not OutboxEntry.objects.filter(status="pending").exists()


def test_synapse_down_during_a_stream_of_100_loses_and_doubles_nothing(matrix, cast, run):
    nurse, bridge, room_id = linked_nurse_in_team_room(matrix, cast, run)
    # Sent from Matrix just before the homeserver goes down.
    for i in range(5):
        run(nurse.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": f"mx-{i}"}))

    stop = threading.Event()

    def worker():  # the sender loop, as run_workers runs it (poll interval, not a sync sleep)
        try:
            while not stop.is_set():
                if not bridge.drain():
                    stop.wait(0.02)
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        for i in range(100):
            check_post_message(person=cast.anna, room_id=cast.team.id, body=f"cc-{i:03}")
            if i == 40:
                matrix.synapse.stop()
            if i == 70:
                assert not all_sent()
                matrix.synapse.start()
        wait_until(all_sent, timeout=120, what="outbox drained after restart")
    finally:
        stop.set()
        thread.join(60)
    expected = [f"cc-{i:03}" for i in range(100)]
    assert bodies_with("cc-", timeline(run, nurse, room_id)) == expected
    assert list(
        OutboxEntry.objects.filter(message__body__startswith="cc-")
        .values_list("status", flat=True)
        .distinct()
    ) == ["sent"]
    wait_until(
        lambda: Message.objects.filter(body__startswith="mx-").count() >= 5,
        timeout=60,
        what="messages from Matrix",
    )
    assert sorted(Message.objects.filter(sender=cast.nadia).values_list("body", flat=True)) == [
        f"mx-{i}" for i in range(5)
    ]
    # After its restart Synapse keeps pushing echoes to the endpoint, sometimes for
    # minutes (its appservice recoverer backs off); their writes raced the test
    # database's flush in CI. Stop the endpoint: the next test's `matrix` fixture starts
    # a fresh one, and Synapse re-sends whatever it did not get acknowledged.
    matrix.appservice.stop()


def start_worker(matrix) -> subprocess.Popen:
    env = {**matrix.env(), "COCARE_WORKER_POLL_SECONDS": "0.1"}
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_workers", "bridge"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_killing_the_bridge_worker_mid_batch_duplicates_nothing(matrix, cast, run):
    nurse, bridge, room_id = linked_nurse_in_team_room(matrix, cast, run)
    for i in range(150):
        check_post_message(person=cast.anna, room_id=cast.team.id, body=f"kw-{i:03}")
    proc = start_worker(matrix)
    try:
        wait_until(
            lambda: (
                OutboxEntry.objects.filter(status="sent", message__body__startswith="kw-").count()
                >= 30
            ),
            timeout=60,
            what="worker under way",
        )
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        sent = OutboxEntry.objects.filter(status="sent", message__body__startswith="kw-").count()
        assert 0 < sent < 150, "the kill must land mid-batch"
        proc = start_worker(matrix)
        wait_until(all_sent, timeout=120, what="restarted worker drains the outbox")
    finally:
        proc.terminate()
        proc.wait(20)
    assert bodies_with("kw-", timeline(run, nurse, room_id)) == [f"kw-{i:03}" for i in range(150)]


def test_killing_the_appservice_endpoint_mid_stream_duplicates_nothing(matrix, cast, run):
    nurse, bridge, room_id = linked_nurse_in_team_room(matrix, cast, run)
    for i in range(20):
        if i == 10:
            matrix.appservice.kill()
        run(nurse.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": f"ak-{i:02}"}))
    matrix.start_appservice()
    wait_until(
        lambda: Message.objects.filter(body__startswith="ak-").count() >= 20,
        timeout=90,
        what="homeserver retried the pushes",
    )
    bodies = list(
        Message.objects.filter(sender=cast.nadia).order_by("seq").values_list("body", flat=True)
    )
    assert bodies == [f"ak-{i:02}" for i in range(20)]
