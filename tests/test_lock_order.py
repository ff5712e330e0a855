"""The documented lock order holds under contention: the escalation detector and a care
manager's acknowledge run side by side on PostgreSQL, many times, without a deadlock
(docs/log-contract.md "Lock order"; issue 12, Done means 3).

Each round sets up the deadlocks the old order allowed: while the manager acknowledges
the chest-pain alert (alert row, then a notice in the team room), the detector handles
one entry that opens an alert (a notice: the room row, then at commit a foreign-key
check on the person) and one that opens a falls alert (room) and attaches to the
chest-pain alert (alert row). Both start from one barrier.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial

import pytest
from django.db import connection

from cocare_chat import clock
from escalation.alerts import do_acknowledge, do_resolve
from escalation.detector import Detector
from escalation.models import Alert, Flag
from rooms.messages import check_post_message
from rooms.models import ConsumerFailure, Message
from rooms.workers import drain
from tests.support.cast import T0, build_cast
from tests.support.services import missing

ROUNDS = 50
DEADLINE_S = 30


def _acknowledge(alert: Alert, by, now, acked: list[bool]) -> None:
    acked.append(do_acknowledge(alert, by, now))


def _together(*actions: Callable[[], object]) -> list[BaseException]:
    """Run ``actions`` in threads (one connection each) released by one barrier."""
    barrier = threading.Barrier(len(actions), timeout=DEADLINE_S)
    errors: list[BaseException] = []

    def run(action: Callable[[], object]) -> None:
        try:
            barrier.wait()
            action()
        except BaseException as exc:  # surfaced by the caller
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(a,)) for a in actions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE_S)
    assert not any(t.is_alive() for t in threads), "stuck"
    return errors


@pytest.mark.services
def test_detector_and_acknowledge_race_without_deadlock(transactional_db):
    if connection.vendor != "postgresql":
        missing("PostgreSQL (set COCARE_DATABASE_URL=postgres://...)")
    cast = build_cast(T0)
    now = clock.now()

    def say(body: str) -> Message:
        return check_post_message(person=cast.nadia, room_id=cast.team.id, body=body).message

    for rnd in range(ROUNDS):
        say(f"Round {rnd}: complaining of chest pain")
        drain([Detector()])
        chest = Alert.objects.get(
            service_user=cast.peggy, concern="chest_pain", state=Alert.State.OPEN
        )
        say(f"Round {rnd}: bruising on her arm")  # opens an alert: a notice in the room
        both = say(f"Round {rnd}: she fell and still has chest pain")  # opens one, attaches
        acked: list[bool] = []
        errors = _together(
            partial(Detector().run_once, now),
            partial(_acknowledge, chest, cast.carol, now, acked),
        )
        assert not errors, f"round {rnd}: {errors!r}"
        # A deadlock inside the detector would be caught and recorded as a failure.
        assert not ConsumerFailure.objects.exists(), f"round {rnd}: detector failed"
        drain([Detector()])
        chest.refresh_from_db()
        assert acked == [True]
        assert chest.state == Alert.State.ACKNOWLEDGED
        assert chest.acknowledged_by_id == cast.carol.id
        flags = dict(Flag.objects.filter(message=both).values_list("concern", "alert_id"))
        assert flags["chest_pain"] == chest.id
        opened = Alert.objects.filter(service_user=cast.peggy).exclude(state=Alert.State.RESOLVED)
        assert sorted(opened.values_list("concern", flat=True)) == [
            "chest_pain",
            "falls",
            "injury",
        ]
        for alert in opened:
            do_resolve(alert, cast.carol, "Seen by the GP", now)
    assert Alert.objects.filter(concern="chest_pain").count() == ROUNDS
    assert Flag.objects.filter(concern="chest_pain").count() == 2 * ROUNDS
