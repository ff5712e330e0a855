"""Signing out, changing the password or being deactivated closes that person's open
sockets within a second (rooms/sessions.py): the socket gets ``signed_out``, closes with
4401, receives nothing more, and a frame it sends meanwhile is refused, not acknowledged.

Live tests run real Daphne processes over real websockets; the in-process tests turn the
per-process watch off to prove each hint works alone, and the hints off (a change made
in another process) to prove the watch works alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import httpx
import pytest
import websockets
from channels.db import database_sync_to_async as sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.utils import timezone

from cocare_chat.asgi import application
from rooms.accesswatch import WATCH
from rooms.messages import check_post_message
from rooms.models import AuditEvent, Message
from rooms.sessions import do_deactivate_person
from tests.support.asgi import expect, send
from tests.support.cast import PASSWORD, build_cast
from tests.support.live import ServerProcess, WsClient, login_cookies
from tests.support.services import REDIS_URL, missing, port_open, subprocess_env

pytestmark = pytest.mark.django_db(transaction=True)

WITHIN = 1.0  # seconds: the promise in docs/security.md
NEW_PASSWORD = "another-pass-Qz7!"


# ---- helpers: real Daphne ------------------------------------------------------------


def post_form(base: str, cookies: dict[str, str], path: str, data: dict) -> httpx.Response:
    """A form POST as the browser sends it: session cookie plus the CSRF token."""
    with httpx.Client(base_url=base, cookies=cookies, follow_redirects=False, timeout=20) as c:
        return c.post(
            path,
            data={**data, "csrfmiddlewaretoken": cookies["csrftoken"]},
            headers={"Referer": base + path},
        )


async def until_closed(ws: WsClient, timeout: float) -> tuple[list[dict], int | None]:
    """Every frame until the server closes the socket; the close code (None: still open
    at the deadline)."""
    frames: list[dict] = list(ws.pending)
    ws.pending = []
    deadline = time.monotonic() + timeout
    try:
        while (left := deadline - time.monotonic()) > 0:
            frames.append(json.loads(await asyncio.wait_for(ws.ws.recv(), left)))
    except websockets.ConnectionClosed:
        return frames, ws.ws.close_code
    except TimeoutError:
        pass
    return frames, None


async def open_socket(server: ServerProcess, cookies: dict[str, str], room: int) -> WsClient:
    ws = await WsClient(server.ws_url, cookies).connect()
    await ws.expect("hello")
    await ws.send({"type": "subscribe", "room": room, "after_seq": 0})
    await ws.expect("subscribed", room=room)
    return ws


@pytest.fixture
def team():
    """The cast's team room (Peggy's); the cast is built before the server starts."""
    return build_cast().team.id


@pytest.fixture
def server(team):
    s = ServerProcess(subprocess_env(redis=False)).start()
    yield s
    s.stop()


# ---- real Daphne, one process --------------------------------------------------------


@pytest.mark.slow
async def test_signing_out_closes_the_open_socket_within_a_second_and_refuses_its_frames(
    server, team
):
    cookies = await asyncio.to_thread(login_cookies, server.url, "anna", PASSWORD)
    anna = await open_socket(server, cookies, team)
    nadia = await open_socket(
        server, await asyncio.to_thread(login_cookies, server.url, "nadia", PASSWORD), team
    )

    r = await asyncio.to_thread(post_form, server.url, cookies, "/logout/", {})
    assert r.status_code == 302
    signed_out_at = time.monotonic()
    # What the phone does next: it still holds the socket and sends on it.
    with contextlib.suppress(websockets.ConnectionClosed):  # closed already: refused too
        await anna.send(
            {
                "type": "send",
                "room": team,
                "client_id": "after-logout",
                "body": "sent after signing out",
            }
        )
    await nadia.send(
        {
            "type": "send",
            "room": team,
            "client_id": "n-after",
            "body": "clinical note after anna signed out",
        }
    )
    await nadia.expect("ack", client_id="n-after")

    frames, code = await until_closed(anna, timeout=5)
    assert code == 4401, frames
    assert {"type": "signed_out"} in frames
    assert time.monotonic() - signed_out_at < WITHIN + 0.5  # + the frames above
    assert not [f for f in frames if f.get("type") in ("ack", "message")], frames
    stored = await sync_to_async(Message.objects.filter(client_id="after-logout").exists)()
    assert not stored
    await nadia.close()


@pytest.mark.slow
async def test_signing_out_one_phone_leaves_the_other_phones_socket_open(server, team):
    phone1 = await asyncio.to_thread(login_cookies, server.url, "anna", PASSWORD)
    phone2 = await asyncio.to_thread(login_cookies, server.url, "anna", PASSWORD)
    a1 = await open_socket(server, phone1, team)
    a2 = await open_socket(server, phone2, team)
    await asyncio.to_thread(post_form, server.url, phone1, "/logout/", {})
    _, code = await until_closed(a1, timeout=WITHIN)
    assert code == 4401
    await a2.send({"type": "send", "room": team, "client_id": "still-in", "body": "still here"})
    await a2.expect("ack", client_id="still-in")
    await a2.close()


@pytest.mark.slow
async def test_a_password_set_in_the_admin_closes_that_persons_sockets(server, team):
    await sync_to_async(get_user_model().objects.create_superuser)(
        "root", "root@example.org", PASSWORD
    )
    anna_cookies = await asyncio.to_thread(login_cookies, server.url, "anna", PASSWORD)
    anna = await open_socket(server, anna_cookies, team)
    admin = await asyncio.to_thread(login_cookies, server.url, "root", PASSWORD)
    anna_id = await sync_to_async(lambda: get_user_model().objects.get(username="anna").pk)()

    path = f"/admin/auth/user/{anna_id}/password/"
    r = await asyncio.to_thread(
        post_form,
        server.url,
        admin,
        path,
        {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert r.status_code == 302, r.text[:500]
    changed_at = time.monotonic()
    frames, code = await until_closed(anna, timeout=5)
    assert code == 4401 and {"type": "signed_out"} in frames
    assert time.monotonic() - changed_at < WITHIN


@pytest.mark.slow
async def test_a_deactivation_made_in_another_process_closes_the_socket_within_a_second(
    server, team
):
    """No hint reaches the server (the change is made here, in the test process): the
    server's watch finds the inactive user on its own."""
    cookies = await asyncio.to_thread(login_cookies, server.url, "anna", PASSWORD)
    anna = await open_socket(server, cookies, team)
    from rooms.models import Person

    anna_p, carol = await sync_to_async(
        lambda: (
            Person.objects.get(user__username="anna"),
            Person.objects.get(user__username="carol"),
        )
    )()
    assert await sync_to_async(do_deactivate_person)(anna_p, by=carol)
    done_at = time.monotonic()
    frames, code = await until_closed(anna, timeout=5)
    assert code == 4401 and {"type": "signed_out"} in frames
    assert time.monotonic() - done_at < WITHIN


@pytest.mark.slow
async def test_an_expired_session_closes_the_socket_without_any_hint(server, team):
    cookies = await asyncio.to_thread(login_cookies, server.url, "anna", PASSWORD)
    anna = await open_socket(server, cookies, team)
    await sync_to_async(Session.objects.filter(pk=cookies["sessionid"]).update)(
        expire_date=timezone.now() - timezone.timedelta(seconds=1)
    )
    expired_at = time.monotonic()
    frames, code = await until_closed(anna, timeout=5)
    assert code == 4401 and {"type": "signed_out"} in frames
    assert time.monotonic() - expired_at < WITHIN


# ---- real Daphne, two processes over Redis ------------------------------------------


@pytest.mark.services
@pytest.mark.slow
async def test_signing_out_on_one_process_closes_the_socket_held_on_the_other():
    if connection.vendor != "postgresql":
        missing("PostgreSQL (set COCARE_DATABASE_URL=postgres://...)")
    if not port_open("127.0.0.1", 6379):
        missing(f"Redis at {REDIS_URL}")
    team = (await sync_to_async(build_cast)()).team.id
    env = subprocess_env(redis=True)
    a, b = ServerProcess(env).start(), ServerProcess(env).start()
    try:
        cookies = await asyncio.to_thread(login_cookies, a.url, "anna", PASSWORD)
        on_b = await open_socket(b, cookies, team)
        r = await asyncio.to_thread(post_form, a.url, cookies, "/logout/", {})
        assert r.status_code == 302
        signed_out_at = time.monotonic()
        frames, code = await until_closed(on_b, timeout=5)
        assert code == 4401 and {"type": "signed_out"} in frames
        assert time.monotonic() - signed_out_at < WITHIN
    finally:
        a.stop()
        b.stop()


# ---- in process: each mechanism alone -------------------------------------------------


@pytest.fixture
def no_watch(monkeypatch):
    """The per-process watch does nothing: only the hints can close a socket."""

    async def idle() -> int:
        return 0

    monkeypatch.setattr(WATCH, "check_once", idle)


@sync_to_async
def signed_in_client(person) -> Client:
    c = Client()
    c.force_login(person.user)
    return c


async def socket_for(client: Client, room_id: int) -> WebsocketCommunicator:
    comm = WebsocketCommunicator(
        application,
        "/ws/",
        headers=[
            (b"origin", b"http://localhost"),
            (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()),
        ],
    )
    connected, _ = await comm.connect(timeout=5)
    assert connected
    await expect(comm, "hello")
    await send(comm, {"type": "subscribe", "room": room_id})
    await expect(comm, "subscribed", room=room_id)
    return comm


async def closed_with(comm: WebsocketCommunicator, timeout: float = WITHIN) -> tuple[list, int]:
    """Frames up to the close, and the close code; fails if it stays open past timeout."""
    frames = []
    deadline = time.monotonic() + timeout
    while True:
        out = await comm.receive_output(timeout=max(0.01, deadline - time.monotonic()))
        if out["type"] == "websocket.close":
            return frames, out.get("code")
        frames.append(json.loads(out["text"]))


async def test_the_sign_out_hint_alone_closes_the_socket(no_watch):
    cast = await sync_to_async(build_cast)()
    client = await signed_in_client(cast.anna)
    comm = await socket_for(client, cast.team.id)
    r = await sync_to_async(client.post)("/logout/")
    assert r.status_code == 302
    await sync_to_async(check_post_message)(
        person=cast.nadia, room_id=cast.team.id, body="after anna signed out"
    )
    frames, code = await closed_with(comm)
    assert code == 4401 and frames == [{"type": "signed_out"}]


async def test_the_password_change_hint_alone_closes_the_socket(no_watch):
    cast = await sync_to_async(build_cast)()
    comm = await socket_for(await signed_in_client(cast.anna), cast.team.id)

    def change_password():
        user = get_user_model().objects.get(pk=cast.anna.user_id)
        user.set_password(NEW_PASSWORD)
        user.save()

    await sync_to_async(change_password)()
    frames, code = await closed_with(comm)
    assert code == 4401 and frames == [{"type": "signed_out"}]


async def test_the_deactivation_hint_alone_closes_the_socket_and_is_audited(no_watch):
    cast = await sync_to_async(build_cast)()
    comm = await socket_for(await signed_in_client(cast.anna), cast.team.id)
    assert await sync_to_async(do_deactivate_person)(cast.anna, by=cast.carol)
    frames, code = await closed_with(comm)
    assert code == 4401 and frames == [{"type": "signed_out"}]
    audited = AuditEvent.objects.filter(
        action="person.deactivated", actor=cast.carol, target=f"person:{cast.anna.id}"
    )
    assert await sync_to_async(audited.count)() == 1
    # Idempotent: already inactive, nothing more is written.
    assert not await sync_to_async(do_deactivate_person)(cast.anna, by=cast.carol)


async def test_an_account_edit_that_keeps_the_password_keeps_the_socket_open(no_watch):
    cast = await sync_to_async(build_cast)()
    comm = await socket_for(await signed_in_client(cast.anna), cast.team.id)

    def rename():
        user = get_user_model().objects.get(pk=cast.anna.user_id)
        user.first_name = "Anna"
        user.save()

    await sync_to_async(rename)()
    await sync_to_async(check_post_message)(
        person=cast.nadia, room_id=cast.team.id, body="still delivered"
    )
    assert (await expect(comm, "message"))["body"] == "still delivered"
    await comm.disconnect()


async def test_a_frame_on_an_ended_session_is_refused_before_any_hint_or_tick(no_watch):
    """The session is deleted behind the socket's back (no hint, no watch): the next
    frame that writes is checked against the session and refused, not acknowledged."""
    cast = await sync_to_async(build_cast)()
    client = await signed_in_client(cast.anna)
    comm = await socket_for(client, cast.team.id)
    await sync_to_async(Session.objects.filter(pk=client.cookies["sessionid"].value).delete)()
    await send(
        comm,
        {
            "type": "send",
            "room": cast.team.id,
            "client_id": "ghost",
            "body": "written after the session ended",
        },
    )
    frames, code = await closed_with(comm)
    assert code == 4401 and frames == [{"type": "signed_out"}]
    assert not await sync_to_async(Message.objects.filter(client_id="ghost").exists)()


async def test_the_watch_alone_closes_a_socket_whose_session_ended():
    """Hints lost: the session row is deleted with no event at all; the watch notices."""
    cast = await sync_to_async(build_cast)()
    client = await signed_in_client(cast.anna)
    comm = await socket_for(client, cast.team.id)
    await sync_to_async(Session.objects.filter(pk=client.cookies["sessionid"].value).delete)()
    frames, code = await closed_with(comm)
    assert code == 4401 and frames == [{"type": "signed_out"}]


# ---- the watch's batched check -------------------------------------------------------


def test_the_watch_finds_every_ended_session_in_two_queries(django_assert_num_queries):
    from rooms.sessions import SessionRef, ended

    cast = build_cast()
    people = [cast.anna, cast.margaret, cast.nadia, cast.tom, cast.carol, cast.debbie]
    refs = {}
    for p in people:
        c = Client()
        c.force_login(p.user)
        refs[p.id] = SessionRef(key=c.cookies["sessionid"].value, user_pk=str(p.user_id))
    Session.objects.filter(pk=refs[cast.anna.id].key).delete()  # signed out
    Session.objects.filter(pk=refs[cast.margaret.id].key).update(  # expired
        expire_date=timezone.now() - timezone.timedelta(seconds=1)
    )
    do_deactivate_person(cast.nadia, by=cast.carol)  # deactivated
    tom = get_user_model().objects.get(pk=cast.tom.user_id)
    tom.set_password(NEW_PASSWORD)  # password changed elsewhere
    tom.save()
    # A session that names another user than the socket's is not that socket's session.
    wrong_user = SessionRef(key=refs[cast.carol.id].key, user_pk=str(cast.debbie.user_id))

    with django_assert_num_queries(2):
        gone = ended([*refs.values(), wrong_user])
    assert gone == {
        refs[cast.anna.id],
        refs[cast.margaret.id],
        refs[cast.nadia.id],
        refs[cast.tom.id],
        wrong_user,
    }
