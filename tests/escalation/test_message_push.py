"""Issue 15: pushes for new messages in my rooms — generic text only, to the people who
may read the room now, honouring each person's mute and quiet hours; keyed, so a replay
sends nothing twice. Plus the preferences API and page, with odd input refused."""

from __future__ import annotations

import datetime as dt
import itertools
import json

import pytest
from django.test import Client

from cocare_chat import clock
from escalation import push
from escalation.message_push import MAX_AGE, MessagePush
from escalation.models import Notification, PushPreference
from escalation.push_sender import PushSender
from escalation.quiet import in_quiet_hours, wants_message_push
from rooms.messages import check_post_message
from rooms.models import Message, Person, PushDevice
from rooms.network import check_remove_member, do_revoke_family_basis
from tests.bots.helpers import HOME
from tests.bots.helpers import run as bot_run
from tests.support.cast import T0

SECRET = "Mum fell on the stairs and her hip hurts"
_ids = itertools.count(1)


def say(person, room, body=SECRET):
    return check_post_message(
        person=person, room_id=room.id, body=body, client_id=f"mp-{next(_ids)}"
    ).message


def device(person, n=1):
    return PushDevice.objects.create(
        person=person,
        token=f"tok-{person.id}-{n}",
        token_hash=f"{person.id:032d}{n:032d}",
        created_at=T0,
    )


def run():
    MessagePush().run_once(clock.now())


def pushed_to(msg=None):
    qs = Notification.objects.filter(channel="push", message__isnull=False)
    if msg is not None:
        qs = qs.filter(message=msg)
    return sorted(qs.values_list("recipient__user__username", flat=True))


# ---- pure ------------------------------------------------------------------------------


def test_quiet_hours_wrap_midnight_and_equal_ends_mean_none():
    t = dt.time
    assert in_quiet_hours(t(23, 0), t(22, 0), t(7, 0))
    assert in_quiet_hours(t(6, 59), t(22, 0), t(7, 0))
    assert not in_quiet_hours(t(7, 0), t(22, 0), t(7, 0))
    assert in_quiet_hours(t(13, 0), t(12, 0), t(14, 0))
    assert not in_quiet_hours(t(14, 0), t(12, 0), t(14, 0))
    assert not in_quiet_hours(t(3, 0), t(5, 0), t(5, 0))
    assert not in_quiet_hours(t(3, 0), None, None)
    assert not wants_message_push(muted=True, quiet_from=None, quiet_until=None, local=t(9))


def test_the_push_text_names_the_room_never_what_was_said():
    room = push.RoomPush(service_user_id=7, service_user_name="Peggy", family=True)
    data = push.payload_for(41, room)
    assert data == {
        "notification": "41",
        "kind": "message",
        "title": "CoCare",
        "body": "New message in Peggy's family room",
        "url": "/people/7/family/",
        "tag": "/people/7/family/",
    }
    team = push.RoomPush(service_user_id=7, service_user_name="Peggy", family=False)
    assert push.payload_for(41, team)["body"] == "New message in Peggy's team room"
    assert push.payload_for(41) == {"notification": "41", "kind": "alert"}


# ---- the consumer ----------------------------------------------------------------------

pytestmark_db = pytest.mark.django_db


@pytestmark_db
def test_team_room_notes_push_to_the_team_and_visit_notices_to_the_family(cast, frozen_clock):
    device(cast.nadia)
    device(cast.debbie)
    note = say(cast.anna, cast.team, "Team only")
    run()
    assert pushed_to(note) == ["nadia"]
    # A check-in: the bot's team notices push nobody; "Anna arrived 09:00" reaches Debbie.
    check_post_message(
        person=cast.anna,
        room_id=cast.team.id,
        body="Check in",
        client_id="mp-ci",
        payload={"location": HOME},
    )
    bot_run()
    run()
    arrived = Message.objects.get(room=cast.family, kind="system")
    assert arrived.body.startswith("Anna arrived")
    assert pushed_to(arrived) == ["debbie"]
    assert Notification.objects.filter(message__room=cast.team, message__kind="system").count() == 0


@pytestmark_db
def test_a_family_message_pushes_to_other_readers_devices_only(cast, frozen_clock):
    for p in (cast.debbie, cast.anna, cast.nadia, cast.rita, cast.carol):
        device(p)
    device(cast.debbie, 2)
    msg = say(cast.anna, cast.family)
    run()
    # Debbie twice (two phones), Carol; not Anna (sender), not Nadia (team only), not Rita
    # (another council's family), not the bot.
    assert pushed_to(msg) == ["carol", "debbie", "debbie"]
    PushSender().run_once(clock.now())
    assert set(Notification.objects.filter(message=msg).values_list("status", flat=True)) == {
        "recorded"
    }
    for n in Notification.objects.filter(message=msg):
        for field in Notification._meta.fields:
            assert "fell" not in str(getattr(n, field.attname))


@pytestmark_db
def test_the_sender_pushes_generic_text_for_messages(cast, frozen_clock, monkeypatch):
    device(cast.debbie)
    sent = []
    monkeypatch.setattr(
        push,
        "send",
        lambda token, nid, room=None: (
            sent.append((token, nid, room)) or push.PushResult(ok=True, code="recorded")
        ),
    )
    say(cast.anna, cast.family)
    run()
    PushSender().run_once(clock.now())
    [(token, nid, room)] = sent
    assert token == f"tok-{cast.debbie.id}-1"
    assert room.body == f"New message in {cast.peggy.name}'s family room"
    assert room.url == f"/people/{cast.peggy.id}/family/"
    assert SECRET not in json.dumps(push.payload_for(nid, room))


@pytestmark_db
def test_a_replay_queues_nothing_twice(cast, frozen_clock):
    device(cast.debbie)
    say(cast.anna, cast.family)
    run()
    consumer = MessagePush()
    consumer.reset()
    consumer.run_once(clock.now())
    assert pushed_to() == ["debbie"]


@pytestmark_db
def test_muted_and_quiet_hours_stop_message_pushes(cast, frozen_clock):
    device(cast.debbie)
    device(cast.carol)
    # T0 is 09:00 in London.
    PushPreference.objects.create(person=cast.debbie, messages_muted=True, updated_at=T0)
    PushPreference.objects.create(
        person=cast.carol, quiet_from=dt.time(8, 0), quiet_until=dt.time(10, 0), updated_at=T0
    )
    msg = say(cast.anna, cast.family)
    run()
    assert pushed_to(msg) == []
    clock.advance(dt.timedelta(hours=2))  # 11:00: Carol's quiet hours are over
    msg2 = say(cast.anna, cast.family, "Second")
    run()
    assert pushed_to(msg2) == ["carol"]


@pytestmark_db
def test_people_who_may_no_longer_read_the_room_get_no_push(cast, frozen_clock):
    device(cast.debbie)
    device(cast.margaret)
    do_revoke_family_basis(cast.peggy, cast.debbie, by=cast.carol)
    msg = say(cast.anna, cast.family)
    run()
    assert "debbie" not in pushed_to(msg)
    check_remove_member(cast.carol, cast.family.id, cast.margaret.id)
    msg2 = say(cast.anna, cast.family, "Again")
    run()
    assert "margaret" not in pushed_to(msg2)


@pytestmark_db
def test_entries_read_long_after_they_were_written_get_no_push(cast, frozen_clock):
    device(cast.debbie)
    say(cast.anna, cast.family)
    clock.advance(MAX_AGE + dt.timedelta(seconds=1))  # the consumer was down this long
    run()
    assert pushed_to() == []


# ---- preferences: API and page ---------------------------------------------------------


def client(person) -> Client:
    c = Client()
    c.force_login(person.user)
    return c


@pytestmark_db
def test_preferences_api_round_trip_is_idempotent(cast, frozen_clock):
    c = client(cast.debbie)
    assert c.get("/api/push/preferences").json() == {
        "messages_muted": False,
        "quiet_from": None,
        "quiet_until": None,
    }
    body = {"messages_muted": False, "quiet_from": "22:00", "quiet_until": "07:00"}
    for _ in range(2):
        r = c.put("/api/push/preferences", body, content_type="application/json")
        assert r.status_code == 200 and r.json() == body
    assert PushPreference.objects.filter(person=cast.debbie).count() == 1
    assert "/api/push/preferences" in c.get("/api/openapi.json").json()["paths"]


@pytestmark_db
@pytest.mark.parametrize(
    "body",
    [
        {"quiet_from": "22:00"},
        {"quiet_from": "25:00", "quiet_until": "07:00"},
        {"quiet_from": "22:00", "quiet_until": "22:00"},
        {"quiet_from": "22:00+01:00", "quiet_until": "07:00"},
        {"messages_muted": "yes"},
        {"messages_muted": 1},
        {"messages_muted": False, "volume": 11},
        {"quiet_from": 79200, "quiet_until": 25200},
    ],
)
def test_odd_preferences_are_refused_and_nothing_written(cast, frozen_clock, body):
    r = client(cast.debbie).put("/api/push/preferences", body, content_type="application/json")
    assert r.status_code == 422, r.content
    assert not PushPreference.objects.exists()


@pytestmark_db
def test_the_page_says_push_is_not_set_up_and_saves_quiet_hours(cast, frozen_clock):
    c = client(cast.anna)
    page = c.get("/me/notifications/").content.decode()
    assert "Push notifications are not set up" in page
    assert 'src="/static/web/push.js"' not in page
    r = c.post("/me/notifications/", {"quiet_from": "21:30", "quiet_until": "06:45"})
    assert r.status_code == 302
    p = PushPreference.objects.get(person=cast.anna)
    assert (p.quiet_from, p.quiet_until, p.messages_muted) == (
        dt.time(21, 30),
        dt.time(6, 45),
        False,
    )
    bad = c.post("/me/notifications/", {"quiet_from": "21:30"})
    assert bad.status_code == 200 and "both a start and an end" in bad.content.decode()
    p.refresh_from_db()
    assert p.quiet_until == dt.time(6, 45)


@pytestmark_db
def test_with_firebase_configured_the_page_offers_to_turn_push_on(cast, monkeypatch):
    from cocare_chat.config import get_config

    cfg = get_config()
    for k, v in {
        "fcm_web_api_key": "AIzaTest",
        "fcm_project_id": "cocare-test",
        "fcm_web_sender_id": "1234",
        "fcm_web_app_id": "1:1234:web:abc",
        "fcm_web_vapid_key": "BOr-test",
    }.items():
        monkeypatch.setattr(cfg, k, v)
    page = client(cast.anna).get("/me/notifications/").content.decode()
    assert "Turn on notifications" in page and 'src="/static/web/push.js"' in page
    assert '"projectId": "cocare-test"' in page


@pytestmark_db
def test_the_push_text_is_in_each_recipients_language_and_stays_generic(
    cast, frozen_clock, monkeypatch
):
    """Built when the push is sent, from the recipient's own ``Person.language``: Debbie
    reads Welsh, Carol English — and neither text carries the body, the sender or a
    condition (the alert line too)."""
    Person.objects.filter(pk=cast.debbie.pk).update(language="cy")
    device(cast.debbie)
    device(cast.carol)
    sent = {}

    def fake_send(token, nid, room=None, language="en-gb"):
        sent[token] = (nid, room, language)
        return push.PushResult(ok=True, code="recorded")

    monkeypatch.setattr(push, "send", fake_send)
    say(cast.anna, cast.family)
    run()
    PushSender().run_once(clock.now())
    nid, welsh, _ = sent[f"tok-{cast.debbie.id}-1"]
    assert welsh.body == f"Neges newydd yn ystafell deulu {cast.peggy.name}"
    _, english, _ = sent[f"tok-{cast.carol.id}-1"]
    assert english.body == f"New message in {cast.peggy.name}'s family room"
    for room in (welsh, english):
        wire = json.dumps(push.payload_for(nid, room)).lower()
        for secret in ("mum", "stairs", "hurts", cast.anna.display_name.lower()):
            assert secret not in wire, secret
    team = push.RoomPush(service_user_id=7, service_user_name="Peggy", family=False, language="cy")
    assert push.payload_for(41, team)["body"] == "Neges newydd yn ystafell tîm Peggy"
    # An alert says only that there is one, in the recipient's words; an unknown language
    # (never stored: the field is a choice) would fall back to English, not fail.
    assert push.alert_body("cy") == "Mae gennych rybudd newydd yn CoCare"
    assert push.alert_body("en-gb") == "You have a new alert in CoCare"
    assert push.alert_body("xx") == "You have a new alert in CoCare"
