"""Done means (issue 13, item 4), in Chromium against a real Synapse: a care manager links
a nurse's Matrix account from the members page, proven by the code the bridge bot sends
to that account in Matrix (read by the nurse's matrix-nio client); a wrong code is
refused; unlinking kicks the nurse from every bridged room she was in."""

from __future__ import annotations

import asyncio
import re
import secrets
import threading

import httpx
import pytest
from nio import InviteMemberEvent, SyncResponse
from playwright.sync_api import expect

from bridge.models import BridgedRoom
from rooms.messages import check_post_message
from rooms.models import Person, Room
from rooms.network import do_add_member, do_create_service_user
from tests.bridge import nio_helpers
from tests.bridge.conftest import AS_TOKEN, wait_until
from tests.bridge.nio_helpers import Bridge, nio_client, timeline
from tests.support.cast import T0
from tests.web.browser import browser, phone, shot  # noqa: F401  (the Chromium fixture)

pytestmark = [pytest.mark.synapse, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def run():
    """matrix-nio on a loop of its own thread: Playwright's sync API marks this thread's
    loop as running, so ``run_until_complete`` cannot be used here."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def run(coro, timeout: float = 120):
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    yield run
    while nio_helpers.open_clients:
        run(nio_helpers.open_clients.pop().close())
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def code_from_the_bot(run, client, bot_user_id: str) -> str:
    """Accept the bot's direct-message invite, as a person would, and read the code."""
    for _ in range(100):
        resp = run(client.sync(timeout=300))
        assert isinstance(resp, SyncResponse), resp
        for room_id, info in resp.rooms.invite.items():
            direct = [
                e
                for e in info.invite_state
                if isinstance(e, InviteMemberEvent)
                and e.state_key == client.user_id
                and e.content.get("is_direct")
                and e.sender == bot_user_id
            ]
            if direct:
                run(client.join(room_id))
                bodies = [
                    e["content"].get("body", "")
                    for e in timeline(run, client, room_id)
                    if e["sender"] == bot_user_id
                ]
                codes = [m.group(1) for b in bodies if (m := re.search(r"code is (\d{6})", b))]
                assert codes, bodies
                return codes[-1]
    raise AssertionError("no direct message from the bridge bot")


def membership(matrix, room_id: str, user_id: str) -> str | None:
    r = httpx.get(
        f"{matrix.synapse.url}/_matrix/client/v3/rooms/{room_id}/state/m.room.member/{user_id}",
        headers={"Authorization": f"Bearer {AS_TOKEN}"},
        timeout=10,
    )
    return r.json().get("membership")


def test_a_manager_links_a_nurse_by_the_code_she_gets_in_matrix_and_unlinking_kicks_her(
    browser,  # noqa: F811  (the fixture imported above)
    matrix,
    cast,
    run,
):
    nurse = nio_client(matrix, run, f"nadia{secrets.token_hex(3)}")
    # A second service user of Carol's provider, Nadia in the team room of both.
    stan = do_create_service_user(
        full_name="Stanley Moss",
        provider=cast.provider,
        council=cast.council,
        created_by=cast.carol,
        now=T0,
    )
    stan_team = Room.objects.get(service_user=stan, kind="professional")
    for p in (cast.carol, cast.anna, cast.nadia):
        do_add_member(stan_team, p, by=cast.carol, now=T0, notify=False)

    ctx, page = phone(browser, matrix.appservice, "carol")
    try:
        page.goto(f"/people/{cast.peggy.id}/manage/members/")
        page.get_by_role("link", name="Matrix account of Nadia Rahman").click()
        expect(page.get_by_role("heading", name="Matrix account of Nadia Rahman")).to_be_visible()
        page.get_by_label("Matrix id").fill(nurse.user_id)
        page.get_by_role("button", name="Send code").click()
        expect(page.get_by_text("Code sent.")).to_be_visible()
        expect(page.get_by_text("No Matrix account is linked.")).to_be_visible()
        assert Person.objects.get(pk=cast.nadia.pk).matrix_id is None

        code = code_from_the_bot(run, nurse, matrix.cfg.bot_user_id)
        wrong = f"{(int(code) + 1) % 10**6:06d}"
        page.get_by_role("textbox", name="Code").fill(wrong)
        page.get_by_role("button", name="Link account").click()
        expect(page.get_by_role("alert")).to_have_text("That code is not right. 4 tries left.")
        assert Person.objects.get(pk=cast.nadia.pk).matrix_id is None
        page.get_by_role("textbox", name="Code").fill(code)
        page.get_by_role("button", name="Link account").click()
        expect(page.get_by_text("Matrix account linked.")).to_be_visible()
        expect(page.locator("#linked-id")).to_have_text(nurse.user_id)
        shot(page, "matrix-linked")
        assert Person.objects.get(pk=cast.nadia.pk).matrix_id == nurse.user_id

        # The bridge invites her to both bridged team rooms; she joins them.
        bridge = Bridge(matrix.cfg)
        for room in (cast.team, stan_team):
            check_post_message(person=cast.anna, room_id=room.id, body="Hello from CoCare")
        bridge.drain()
        rooms = [BridgedRoom.objects.get(room=r).matrix_room_id for r in (cast.team, stan_team)]

        def join_invites():
            run(nurse.sync(timeout=200))
            for room_id in set(rooms) & set(nurse.invited_rooms):
                run(nurse.join(room_id))

        wait_until(
            lambda: all(membership(matrix, r, nurse.user_id) == "join" for r in rooms),
            step=lambda: (bridge.drain(), join_invites()),
            what="invited and joined",
            timeout=60,
        )

        page.get_by_role("button", name="Unlink this Matrix account").click()
        expect(page.get_by_text("Matrix account unlinked.")).to_be_visible()
        assert Person.objects.get(pk=cast.nadia.pk).matrix_id is None
        wait_until(
            lambda: all(membership(matrix, r, nurse.user_id) == "leave" for r in rooms),
            step=bridge.drain,
            what="the nurse kicked from both rooms",
            timeout=30,
        )
    finally:
        ctx.close()
