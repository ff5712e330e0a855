"""Shared helpers for escalation tests: drive the real workers one batch at a time."""

from __future__ import annotations

from cocare_chat import clock
from escalation.detector import Detector
from escalation.push_sender import PushSender
from escalation.ticker import Ticker
from rooms.messages import check_post_message


def drain(*workers) -> int:
    workers = workers or (Detector(), Ticker(), PushSender())
    total = 0
    for _ in range(100):
        done = sum(w.run_once(clock.now()) for w in workers)
        total += done
        if not done:
            return total
    raise AssertionError("workers never went idle")


def say(person, room, body, **kw):
    return check_post_message(person=person, room_id=room.id, body=body, **kw).message
