"""Shared helpers for the bot tests: post as a person, run the bot workers, read the log."""

from __future__ import annotations

import itertools

from bots.runner import make_workers
from rooms.messages import check_post_message
from rooms.models import Message, Role
from rooms.workers import drain

HOME = {"lat": 53.4808, "lon": -2.2426, "accuracy": 15.0}
FAR = {"lat": 53.4950, "lon": -2.2426, "accuracy": 20.0}
_ids = itertools.count(1)


def say(person, room, body, **payload):
    return check_post_message(
        person=person,
        room_id=room.id,
        body=body,
        payload=payload or None,
        client_id=f"t-{next(_ids)}",
    ).message


def tap(person, room, card_id, value):
    return check_post_message(
        person=person,
        room_id=room.id,
        kind="answer",
        payload={"card_id": card_id, "value": value},
        client_id=f"t-{next(_ids)}",
    ).message


def run(workers=None):
    workers = workers if workers is not None else make_workers()
    drain(workers)
    return workers


def bot_entries(room, kind=None):
    qs = Message.objects.filter(room=room, sender__role=Role.BOT).order_by("seq")
    if kind:
        qs = qs.filter(kind=kind)
    return list(qs)


def open_card(room):
    cards = [m for m in bot_entries(room, "card") if m.payload["card_type"] != "key_info"]
    return cards[-1] if cards else None
