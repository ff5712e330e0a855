"""End to end over real websockets: a Daphne subprocess running the bot workers in-process.

Anna checks in with her phone's position, gets the key-information card, checks out,
answers the three cards; the observations are stored, and Debbie's socket on the family
room shows the arrival and the departure. Waiting is by deadline on websocket frames.
"""

from __future__ import annotations

import time

import pytest
from channels.db import database_sync_to_async as sync_to_async

from bots.models import Observation, Visit
from tests.support.cast import PASSWORD
from tests.support.live import ServerProcess, WsClient, login_cookies
from tests.support.services import subprocess_env

HOME = {"lat": 53.4808, "lon": -2.2426, "accuracy": 12.0}


async def next_message(ws: WsClient, room: int, pred, timeout: float = 20) -> dict:
    """The next message frame in ``room`` satisfying ``pred`` (others are passed over)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("expected message did not arrive")
        f = await ws.expect("message", timeout=left, room=room)
        if pred(f):
            return f


def card_of(kind):
    return lambda f: f["kind"] == "card" and f["payload"]["card_type"] in kind


def event_of(name):
    return lambda f: f["kind"] == "system" and f["payload"].get("event") == name


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
async def test_visit_end_to_end_over_real_websockets(cast):
    team, family = cast.team.id, cast.family.id
    server = ServerProcess(subprocess_env(redis=False), with_workers=True).start()
    anna = debbie = None
    try:
        anna = await WsClient(server.ws_url, login_cookies(server.url, "anna", PASSWORD)).connect()
        debbie = await WsClient(
            server.ws_url, login_cookies(server.url, "debbie", PASSWORD)
        ).connect()
        await anna.expect("hello")
        await debbie.expect("hello")
        await anna.send({"type": "subscribe", "room": team})
        await anna.expect("subscribed", room=team)
        await debbie.send({"type": "subscribe", "room": family})
        await debbie.expect("subscribed", room=family)

        await anna.send(
            {
                "type": "send",
                "room": team,
                "client_id": "e2e-in",
                "body": "📍 Check in",
                "payload": {"location": HOME},
            }
        )
        key = await next_message(anna, team, card_of({"key_info"}))
        assert key["payload"]["data"]["preferences"] == "Tea, one sugar"
        arrived = await next_message(debbie, family, event_of("visit.arrived"))
        assert arrived["body"].startswith("Anna arrived ")

        await anna.send(
            {
                "type": "send",
                "room": team,
                "client_id": "e2e-out",
                "body": "Check out",
                "payload": {"location": HOME},
            }
        )
        answered = []
        for i in range(3):
            card = await next_message(anna, team, card_of({"screener", "question", "goal"}))
            assert card["payload"]["data"]["n"] == i + 1
            options = card["payload"]["options"]
            assert 2 <= len(options) <= 5
            assert all(o["emoji"] for o in options)
            answered.append(card["payload"]["card_id"])
            await anna.send(
                {
                    "type": "send",
                    "room": team,
                    "client_id": f"e2e-a{i}",
                    "kind": "answer",
                    "payload": {"card_id": card["payload"]["card_id"], "value": 1},
                }
            )
        await next_message(anna, team, event_of("bot.thanks"))
        left = await next_message(debbie, family, event_of("visit.left"))
        assert left["body"].startswith("Anna left ")
        assert len(set(answered)) == 3

        obs = await sync_to_async(
            lambda: list(
                Observation.objects.filter(visit__isnull=False)
                .order_by("id")
                .values_list("question_key", "score", "answered_by_id")
            )
        )()
        assert len(obs) == 3
        assert obs[0][0] == "different_from_usual"
        assert {o[1] for o in obs} == {0}
        assert {o[2] for o in obs} == {cast.anna.id}
        visit = await sync_to_async(Visit.objects.get)()
        assert visit.checkin_location == "in_range"
        assert visit.checked_out_at is not None
    finally:
        for ws in (anna, debbie):
            if ws is not None:
                await ws.close()
        server.stop()
