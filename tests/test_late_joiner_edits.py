"""A late joiner never reads amended text from before she joined (issue 11, finding 9).

Peggy's family room shows family members history from when they joined
(``family_history_from_join``). On main, an edit of an older message reached a daughter
who joined later — live and on replay — carrying the new text. Now the edit (and a
redaction) of hidden history reaches her as a placeholder in its place in the sequence:
no text, no payload, no target. Edits of messages after her join reach her as before.
Through a real Daphne process: her live socket, a resumed socket, and the history API.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from django.db import connection

from rooms.models import Membership, Role
from rooms.network import do_add_member, do_record_family_basis
from tests.support.cast import PASSWORD, build_cast, person
from tests.support.live import ServerProcess, WsClient, login_cookies
from tests.support.services import port_open, subprocess_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

OLD = "Mum's new diagnosis is vascular dementia"
NEW = "Mum's diagnosis is now confirmed as Alzheimer's"
AFTER = "Lunch went well today"
AFTER_EDITED = "Lunch went well today, she ate it all"


async def _connect(srv: ServerProcess, cookies: dict[str, str]) -> WsClient:
    client = await WsClient(srv.ws_url, cookies).connect()
    await client.expect("hello")
    return client


async def _acked(client: WsClient, frame: dict) -> int:
    await client.send(frame)
    return (await client.expect("ack", client_id=frame["client_id"]))["seq"]


def test_a_late_joiner_never_gets_old_text_edited_after_she_joined_but_sees_later_edits():
    cast = build_cast()
    assert cast.peggy.family_history_from_join
    redis = connection.vendor == "postgresql" and port_open("127.0.0.1", 6379)
    srv = ServerProcess(subprocess_env(redis=redis)).start()
    family = cast.family.id
    try:
        anna_cookies = login_cookies(srv.url, "anna", PASSWORD)

        async def before_she_joins() -> int:
            anna = await _connect(srv, anna_cookies)
            seq = await _acked(
                anna, {"type": "send", "room": family, "client_id": "a1", "body": OLD}
            )
            await anna.close()
            return seq

        old_seq = asyncio.run(before_she_joins())
        dora = person("dora", "Dora Hughes", Role.FAMILY, None)
        do_record_family_basis(cast.peggy, dora, "consent", by=cast.carol)
        do_add_member(cast.family, dora, by=cast.carol, notify=False)
        assert Membership.objects.get(room=cast.family, person=dora).visible_from_seq == old_seq
        dora_cookies = login_cookies(srv.url, "dora", PASSWORD)

        async def after_she_joins() -> tuple[WsClient, WsClient, dict[str, int]]:
            live = await _connect(srv, dora_cookies)
            await live.send({"type": "subscribe", "room": family, "after_seq": 0})
            sub = await live.expect("subscribed", room=family)
            assert sub["visible_from"] == old_seq
            anna = await _connect(srv, anna_cookies)
            seqs = {
                "edit_old": await _acked(
                    anna,
                    {
                        "type": "edit",
                        "room": family,
                        "client_id": "a2",
                        "target": old_seq,
                        "body": NEW,
                    },
                ),
                "redact_old": await _acked(
                    anna, {"type": "redact", "room": family, "client_id": "a3", "target": old_seq}
                ),
            }
            seqs["after"] = await _acked(
                anna, {"type": "send", "room": family, "client_id": "a4", "body": AFTER}
            )
            seqs["edit_after"] = await _acked(
                anna,
                {
                    "type": "edit",
                    "room": family,
                    "client_id": "a5",
                    "target": seqs["after"],
                    "body": AFTER_EDITED,
                },
            )
            await live.expect("message", seq=seqs["edit_after"])
            # A second socket resuming from 0 gets the same history from the database.
            resumed = await _connect(srv, dora_cookies)
            await resumed.send({"type": "subscribe", "room": family, "after_seq": 0})
            await resumed.expect("subscribed", room=family)
            for c in (live, resumed, anna):
                await c.close()
            return live, resumed, seqs

        live, resumed, seqs = asyncio.run(after_she_joins())
        with httpx.Client(base_url=srv.url, cookies=dora_cookies) as http:
            page = http.get(f"/api/rooms/{family}/messages", params={"after_seq": 0})
        assert page.status_code == 200
    finally:
        srv.stop()

    for name, frames in (
        ("live", live.messages(family)),
        ("resumed", resumed.messages(family)),
        ("history API", page.json()["messages"]),
    ):
        by_seq = {f["seq"]: f for f in frames}
        assert sorted(by_seq) == list(range(old_seq + 1, seqs["edit_after"] + 1)), name
        for key in ("edit_old", "redact_old"):  # placeholders: their place, nothing else
            hidden = by_seq[seqs[key]]
            assert (hidden["body"], hidden["payload"], hidden["target"]) == ("", {}, None), name
        assert by_seq[seqs["edit_after"]]["body"] == AFTER_EDITED, name
        assert by_seq[seqs["edit_after"]]["target"] == seqs["after"], name
        assert "diagnosis" not in str(frames), name
    assert "diagnosis" not in page.text
    assert page.json()["messages"][-2]["body"] == AFTER_EDITED  # shown amended in history
