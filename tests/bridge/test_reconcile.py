"""Membership reconciliation without a homeserver: isolated, retried, incremental, precise.

A recording stand-in for the homeserver (``FakeHomeserver``) answers like Synapse does for
what these tests need; the real-Synapse behaviour is in ``test_membership_synapse.py``.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bridge.conf import BridgeConfig
from bridge.matrix import MatrixClient, MatrixRefused
from bridge.models import BridgedRoom, MatrixMember, OutboxEntry
from bridge.outbound import OutboxConsumer
from bridge.sender import MatrixSender
from rooms.messages import check_post_message
from rooms.models import Room
from rooms.network import do_add_member, do_create_service_user, do_remove_member
from tests.bridge.conftest import make_config
from tests.support.cast import T0

pytestmark = pytest.mark.django_db
NADIA = "@nadia:cocare.test"


class FakeHomeserver:
    """Records every call; ``refuse`` maps a user id to the errcode its invites get."""

    def __init__(self):
        self.calls: list[tuple] = []
        self.refuse: dict[str, str] = {}

    def create_room(self, *, alias_localpart, name, invite, power_users):
        self.calls.append(("create_room", alias_localpart))
        return f"!{alias_localpart}:cocare.test"

    def register_puppet(self, localpart):
        self.calls.append(("register", localpart))

    def set_display_name(self, user_id, name):
        self.calls.append(("displayname", user_id))

    def invite(self, room_id, user_id):
        self.calls.append(("invite", room_id, user_id))
        if user_id in self.refuse:
            raise MatrixRefused(400, self.refuse[user_id])
        return "invite"

    def join(self, room_id, user_id):
        self.calls.append(("join", room_id, user_id))

    def kick(self, room_id, user_id, reason):
        self.calls.append(("kick", room_id, user_id))

    def send(self, room_id, event_type, content, txn_id, as_user=None):
        self.calls.append(("send", room_id, content.get("body")))
        return f"$e{len(self.calls)}"

    def redact(self, room_id, event_id, txn_id, as_user=None, reason=None):
        self.calls.append(("redact", room_id, event_id, as_user))
        return f"$r{len(self.calls)}"

    def recent_events(self, room_id, limit=100, start=None):
        return [], None

    def of(self, kind: str) -> list[tuple]:
        return [c for c in self.calls if c[0] == kind]


def bridge_for(cfg: BridgeConfig | None = None):
    server = FakeHomeserver()
    sender = MatrixSender(cfg or make_config(), client=server)
    consumer = OutboxConsumer()

    def one_pass(now: dt.datetime) -> int:
        return consumer.run_once(now) + sender.run_once(now)

    return server, one_pass


def second_team_room(cast, name: str) -> Room:
    su = do_create_service_user(
        full_name=name, provider=cast.provider, council=cast.council, created_by=cast.carol, now=T0
    )
    room = Room.objects.get(service_user=su, kind="professional")
    for p in (cast.carol, cast.anna, cast.nadia):
        do_add_member(room, p, by=cast.carol, now=T0, notify=False)
    return room


def test_a_refused_invite_is_retried_with_backoff_and_never_holds_up_messages(cast):
    cast.tom.matrix_id = "@tom"  # a typo made in the admin: no server part
    cast.tom.save()
    cast.nadia.matrix_id = NADIA
    cast.nadia.save()
    joan = second_team_room(cast, "Joan Hughes")
    server, one_pass = bridge_for()
    server.refuse["@tom"] = "M_INVALID_PARAM"
    check_post_message(person=cast.anna, room_id=cast.team.id, body="Peggy's room", now=T0)
    check_post_message(person=cast.anna, room_id=joan.id, body="Joan's room", now=T0)

    one_pass(T0)
    assert {c[2] for c in server.of("send")} == {"Peggy's room", "Joan's room"}
    assert {c[2] for c in server.of("invite")} >= {NADIA, "@tom"}
    assert MatrixMember.objects.filter(user_id=NADIA, state="invited").count() == 2
    tom = MatrixMember.objects.get(user_id="@tom")
    assert (tom.state, tom.failures, tom.last_error) == ("pending", 1, "invite: M_INVALID_PARAM")
    assert tom.next_attempt_at == T0 + dt.timedelta(seconds=1)

    # While it backs off, messages keep flowing and the bad invite is not tried.
    check_post_message(person=cast.anna, room_id=cast.team.id, body="still flowing", now=T0)
    server.calls.clear()
    one_pass(T0 + dt.timedelta(milliseconds=500))
    assert [c[2] for c in server.of("send")] == ["still flowing"]
    assert server.of("invite") == []

    # It is retried 1, 2, 4 ... s apart, then given up until something changes (or the
    # slow full check, every reconcile_full_seconds, tries once more).
    now, tries = T0, 1
    while tries < make_config().max_attempts:
        now = MatrixMember.objects.get(user_id="@tom").next_attempt_at
        one_pass(now)
        tries += 1
        assert MatrixMember.objects.get(user_id="@tom").failures == tries
    assert MatrixMember.objects.get(user_id="@tom").next_attempt_at is None
    server.calls.clear()
    one_pass(now + dt.timedelta(seconds=60))
    assert (
        "invite",
        BridgedRoom.objects.get(room=cast.team).matrix_room_id,
        "@tom",
    ) not in server.calls


def test_a_quiet_pass_costs_the_same_with_one_or_many_bridged_rooms(cast):
    cast.nadia.matrix_id = NADIA
    cast.nadia.save()
    server, one_pass = bridge_for()
    check_post_message(person=cast.anna, room_id=cast.team.id, body="one room", now=T0)
    one_pass(T0)
    one_pass(T0 + dt.timedelta(seconds=1))

    def quiet_pass_queries(now):
        server.calls.clear()
        with CaptureQueriesContext(connection) as ctx:
            one_pass(now)
        assert server.calls == []
        return len(ctx.captured_queries)

    with_one = quiet_pass_queries(T0 + dt.timedelta(seconds=2))
    for i in range(8):
        room = second_team_room(cast, f"Person {i}")
        check_post_message(person=cast.anna, room_id=room.id, body=f"room {i}", now=T0)
    one_pass(T0 + dt.timedelta(seconds=3))
    one_pass(T0 + dt.timedelta(seconds=4))
    assert BridgedRoom.objects.count() == 9
    assert quiet_pass_queries(T0 + dt.timedelta(seconds=5)) == with_one

    # A change in one room is acted on in the next pass, and only there.
    do_remove_member(room, cast.nadia, by=cast.carol, now=T0)
    server.calls.clear()
    one_pass(T0 + dt.timedelta(seconds=6))
    assert server.of("kick") == [("kick", BridgedRoom.objects.get(room=room).matrix_room_id, NADIA)]
    assert [c for c in server.of("invite") if not c[2].startswith("@cocare_")] == []


def test_a_link_made_anywhere_invites_within_one_pass_and_an_unlink_kicks_at_once(cast):
    server, one_pass = bridge_for()
    check_post_message(person=cast.anna, room_id=cast.team.id, body="room open", now=T0)
    one_pass(T0)
    cast.nadia.matrix_id = NADIA  # as the Django admin would
    cast.nadia.save()
    one_pass(T0 + dt.timedelta(seconds=1))
    team_room = BridgedRoom.objects.get(room=cast.team).matrix_room_id
    assert ("invite", team_room, NADIA) in server.calls

    from bridge.actions import do_link_matrix_id, do_unlink_matrix_id

    do_unlink_matrix_id(cast.nadia, by=cast.carol, now=T0)
    server.calls.clear()
    one_pass(T0 + dt.timedelta(seconds=2))
    assert server.of("kick") == [("kick", team_room, NADIA)]
    assert MatrixMember.objects.get(user_id=NADIA).state == "kicked"

    do_link_matrix_id(cast.nadia, NADIA, by=cast.carol, now=T0)
    server.calls.clear()
    one_pass(T0 + dt.timedelta(seconds=3))
    assert server.of("invite") == [("invite", team_room, NADIA)]


def test_a_homeserver_error_on_one_room_does_not_stop_the_others(cast):
    from bridge.matrix import MatrixUnavailable

    joan = second_team_room(cast, "Joan Hughes")
    server, one_pass = bridge_for()
    real_send = server.send

    def send(room_id, event_type, content, txn_id, as_user=None):
        if "room_" + str(cast.team.id) in room_id:
            raise MatrixUnavailable("HTTP 502", status=502)
        return real_send(room_id, event_type, content, txn_id, as_user)

    server.send = send
    check_post_message(person=cast.anna, room_id=cast.team.id, body="stuck", now=T0)
    check_post_message(person=cast.anna, room_id=joan.id, body="goes", now=T0)
    one_pass(T0)
    assert [c[2] for c in server.of("send")] == ["goes"]
    assert OutboxEntry.objects.get(message__body="stuck").failures == 1


@pytest.mark.parametrize(
    ("membership", "succeeds"), [("join", True), ("invite", True), ("ban", False), ("leave", False)]
)
def test_an_invite_refused_as_forbidden_counts_as_done_only_if_she_is_in(membership, succeeds):
    client = MatrixClient(make_config())
    calls = []

    def call(method, path, body=None, *, as_user=None):
        calls.append(method)
        if method == "POST":
            raise MatrixRefused(403, "M_FORBIDDEN")
        return {"membership": membership}

    client.call = call
    if succeeds:
        assert client.invite("!r:cocare.test", NADIA) == membership
    else:
        with pytest.raises(MatrixRefused):
            client.invite("!r:cocare.test", NADIA)
    assert calls == ["POST", "GET"]


@pytest.mark.parametrize(
    ("membership", "succeeds"), [("leave", True), ("ban", True), (None, True), ("join", False)]
)
def test_a_kick_refused_as_forbidden_counts_as_done_only_if_she_is_out(membership, succeeds):
    client = MatrixClient(make_config())

    def call(method, path, body=None, *, as_user=None):
        if method == "POST":
            raise MatrixRefused(403, "M_FORBIDDEN")
        if membership is None:
            raise MatrixRefused(404, "M_NOT_FOUND")
        return {"membership": membership}

    client.call = call
    if succeeds:
        client.kick("!r:cocare.test", NADIA, "bye")
    else:
        with pytest.raises(MatrixRefused):
            client.kick("!r:cocare.test", NADIA, "bye")
