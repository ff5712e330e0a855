"""The bridge's health: the pure verdict, ``manage.py bridge_status`` exit codes in each
state (driven by the real outbox consumer and sender against stub homeservers), and the
care managers' page and API scoped to their own provider."""

from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.test import Client

from bridge import conf
from bridge.matrix import MatrixRefused, MatrixUnavailable
from bridge.models import InboundEvent, OutboxEntry
from bridge.outbound import OutboxConsumer
from bridge.sender import MatrixSender
from bridge.status import BridgeFacts, RoomFacts, Thresholds, Verdict, assess
from rooms.messages import check_post_message
from rooms.models import Person, Role, Room
from rooms.network import do_add_member, do_create_service_user
from tests.bridge.conftest import AS_TOKEN, HS_TOKEN, make_config
from tests.support.cast import T0, person
from tests.support.services import ROOT, subprocess_env
from tests.support.synapse import SERVER_NAME

MIN = dt.timedelta(minutes=1)


# --- the pure verdict ---


def test_a_quiet_bridge_is_ok_and_reports_its_last_success():
    facts = BridgeFacts(configured=True, rooms=[RoomFacts(room_id=1, last_sent_at=T0)])
    status = assess(facts, T0 + MIN)
    assert (status.verdict, status.exit_code, status.reasons) == (Verdict.OK, 0, [])
    assert status.last_success == T0 and status.rooms[0].state == Verdict.OK


def test_a_backlog_is_behind_only_once_its_oldest_entry_is_older_than_the_threshold():
    facts = BridgeFacts(
        configured=True,
        rooms=[
            RoomFacts(room_id=1, pending=40, oldest_pending_at=T0),
            RoomFacts(room_id=2, last_sent_at=T0),
        ],
    )
    th = Thresholds(behind_after=5 * MIN)
    assert assess(facts, T0 + 5 * MIN, th).verdict == Verdict.OK
    late = assess(facts, T0 + 5 * MIN + dt.timedelta(seconds=1), th)
    assert (late.verdict, late.exit_code) == (Verdict.BEHIND, 1)
    assert [r.state for r in late.rooms] == [Verdict.BEHIND, Verdict.OK]
    assert late.rooms[0].oldest_pending_age_s == 301 and late.pending == 40
    assert late.reasons == ["room 1: 40 pending, oldest 301 s"]


@pytest.mark.parametrize(
    "facts",
    [
        BridgeFacts(
            configured=True,
            rooms=[
                RoomFacts(
                    room_id=1,
                    pending=1,
                    oldest_pending_at=T0,
                    head_failures=3,
                    head_error="unavailable",
                )
            ],
        ),
        BridgeFacts(configured=True, rooms=[RoomFacts(room_id=1, failed=1, failed_recent=1)]),
        BridgeFacts(configured=True, inbound_failed_recent=2),
    ],
    ids=["head-keeps-failing", "entry-given-up", "inbound-failed"],
)
def test_failures_make_the_bridge_failing_even_without_a_backlog(facts):
    status = assess(facts, T0 + MIN)
    assert (status.verdict, status.exit_code) == (Verdict.FAILING, 2)
    assert status.reasons


def test_an_old_failure_outside_the_window_and_a_short_retry_streak_are_not_failing():
    facts = BridgeFacts(
        configured=True,
        rooms=[
            RoomFacts(room_id=1, failed=3, failed_recent=0),
            RoomFacts(room_id=2, pending=1, oldest_pending_at=T0, head_failures=2),
        ],
    )
    assert assess(facts, T0 + MIN).verdict == Verdict.OK


def test_a_dead_worker_leaves_the_log_unqueued_and_owed_kicks_waiting_which_is_behind():
    th = Thresholds(behind_after=MIN)
    assert (
        assess(
            BridgeFacts(configured=True, unqueued=7, oldest_unqueued_at=T0), T0 + 2 * MIN, th
        ).verdict
        == Verdict.BEHIND
    )
    assert (
        assess(
            BridgeFacts(configured=True, actions_pending=1, oldest_action_at=T0), T0 + 2 * MIN, th
        ).verdict
        == Verdict.BEHIND
    )


def test_an_unconfigured_bridge_is_off_and_exits_zero():
    status = assess(
        BridgeFacts(configured=False, unqueued=5, oldest_unqueued_at=T0), T0 + dt.timedelta(days=3)
    )
    assert (status.verdict, status.exit_code) == (Verdict.OFF, 0)


# --- the command, through the real consumer and sender ---


class Homeserver:
    """A stub homeserver: accepts everything, or refuses / is down for ``send``."""

    def __init__(self, send_fails: Exception | None = None):
        self.send_fails = send_fails
        self.n = 0

    def create_room(self, **kw):
        return f"!room{self.n}:cocare.test"

    def send(self, *args, **kw):
        if self.send_fails is not None:
            raise self.send_fails
        self.n += 1
        return f"$event{self.n}"

    def recent_events(self, *args, **kw):
        return [], None

    def __getattr__(self, name):  # register, display name, invite, join, kick
        return lambda *args, **kw: None


def exit_code(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("bridge_status", *args, stdout=out)
    except SystemExit as exc:
        return int(exc.code), out.getvalue()
    return 0, out.getvalue()


@pytest.fixture
def bridge_on(monkeypatch, frozen_clock):
    cfg = make_config()
    monkeypatch.setattr(conf, "load", lambda: cfg)
    return cfg


def post(cast, n=3, now=T0):
    for i in range(n):
        check_post_message(person=cast.anna, room_id=cast.team.id, body=f"m{i}", now=now)


@pytest.mark.django_db
def test_command_exits_zero_when_everything_crossed(cast, bridge_on, frozen_clock):
    post(cast)
    OutboxConsumer().run_once(T0)
    MatrixSender(bridge_on, client=Homeserver()).run_once(T0)
    frozen_clock.freeze(T0 + dt.timedelta(hours=1))
    code, out = exit_code()
    assert code == 0 and "Matrix bridge: OK" in out
    data = json.loads(exit_code("--json")[1])
    assert data["verdict"] == "ok" and data["pending"] == 0
    assert data["last_success"].startswith("2026-03-02T09:00")


@pytest.mark.django_db
def test_command_exits_one_when_the_sender_has_not_sent_for_longer_than_the_threshold(
    cast, bridge_on, frozen_clock
):
    post(cast)
    OutboxConsumer().run_once(T0)
    frozen_clock.freeze(T0 + 4 * MIN)
    assert exit_code()[0] == 0
    frozen_clock.freeze(T0 + 6 * MIN)
    code, out = exit_code("--json")
    data = json.loads(out)
    assert code == 1 and data["verdict"] == "behind"
    team = next(r for r in data["rooms"] if r["room_id"] == cast.team.id)
    assert (team["pending"], team["oldest_pending_age_s"]) == (3, 360.0)
    assert exit_code("--behind-after", "600")[0] == 0  # configurable


@pytest.mark.django_db
def test_command_exits_one_when_the_outbox_consumer_is_not_running(cast, bridge_on, frozen_clock):
    post(cast)  # nothing takes them from the log
    frozen_clock.freeze(T0 + 10 * MIN)
    code, out = exit_code()
    assert code == 1 and "not yet queued" in out


@pytest.mark.django_db
def test_command_exits_two_while_the_homeserver_is_down(cast, bridge_on, frozen_clock):
    post(cast)
    OutboxConsumer().run_once(T0)
    sender = MatrixSender(bridge_on, client=Homeserver(MatrixUnavailable("ConnectError")))
    now = T0
    for _ in range(3):
        sender.run_once(now)
        now = OutboxEntry.objects.order_by("seq").first().next_attempt_at
    frozen_clock.freeze(now)  # 7 s: not behind yet, but failing
    code, out = exit_code()
    assert code == 2 and "FAILING" in out and "unavailable" in out


@pytest.mark.django_db
def test_command_exits_two_after_an_entry_was_given_up_on(cast, bridge_on, frozen_clock):
    post(cast, n=1)
    OutboxConsumer().run_once(T0)
    sender = MatrixSender(bridge_on, client=Homeserver(MatrixRefused(403, "M_FORBIDDEN")))
    now = T0
    while OutboxEntry.objects.filter(status="pending").exists():
        sender.run_once(now)
        now += MIN
    assert OutboxEntry.objects.get().status == "failed"
    frozen_clock.freeze(now)
    assert exit_code()[0] == 2
    frozen_clock.freeze(T0 + dt.timedelta(hours=25))  # outside the 24 h window
    assert exit_code()[0] == 0


@pytest.mark.django_db
def test_command_exits_two_when_an_inbound_event_failed(cast, bridge_on, frozen_clock):
    InboundEvent.objects.create(
        event_id="$bad",
        matrix_room_id="!x:cocare.test",
        sender="@nadia:cocare.test",
        event_type="m.room.message",
        outcome="failed",
        reason="error",
        received_at=T0,
    )
    assert exit_code()[0] == 2


@pytest.mark.django_db
def test_command_reports_off_and_exits_zero_when_no_homeserver_is_configured(cast):
    post(cast)
    code, out = exit_code()
    assert code == 0 and "OFF" in out


@pytest.mark.django_db(transaction=True)
def test_the_installed_command_exits_non_zero_in_a_real_process_when_behind(cast):
    post(cast, now=T0)  # T0 is long past: the consumer never ran
    env = subprocess_env(
        redis=False,
        COCARE_MATRIX_HOMESERVER_URL="http://127.0.0.1:9",
        COCARE_MATRIX_SERVER_NAME=SERVER_NAME,
        COCARE_MATRIX_AS_TOKEN=AS_TOKEN,
        COCARE_MATRIX_HS_TOKEN=HS_TOKEN,
    )
    r = subprocess.run(
        [sys.executable, "manage.py", "bridge_status"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1, r.stdout + r.stderr
    assert "BEHIND" in r.stdout


# --- the page and the API, across two providers ---


@pytest.fixture
def two_providers(cast, bridge_on, frozen_clock):
    """Peggy (Brightwater, Carol's) has a stuck room; Walter (Elsewhere Care, Oscar's) is fine."""
    walter = do_create_service_user(
        full_name="Walter Green",
        provider=cast.other_provider,
        council=cast.council,
        created_by=cast.other_manager,
        now=T0,
    )
    wroom = Room.objects.get(service_user=walter, kind="professional")
    worker = person("wendy", "Wendy Other", Role.CARE_WORKER, cast.other_provider)
    for p in (cast.other_manager, worker):
        do_add_member(wroom, p, by=cast.other_manager, now=T0, notify=False)
    check_post_message(person=worker, room_id=wroom.id, body="Walter is well", now=T0)
    OutboxConsumer().run_once(T0)
    MatrixSender(bridge_on, client=Homeserver()).run_once(T0)
    post(cast, n=2, now=T0 + MIN)
    OutboxConsumer().run_once(T0 + MIN)
    frozen_clock.freeze(T0 + dt.timedelta(hours=1))
    return walter, wroom


def signed_in(p: Person) -> Client:
    c = Client()
    c.force_login(p.user)
    return c


@pytest.mark.django_db
def test_each_care_manager_sees_the_bridge_status_of_their_own_providers_rooms_only(
    cast, two_providers
):
    walter, wroom = two_providers
    carol = signed_in(cast.carol).get("/bridge/")
    assert carol.status_code == 200
    html = carol.content.decode()
    assert "Peggy" in html and "Behind" in html and "Walter" not in html
    oscar = signed_in(cast.other_manager).get("/bridge/")
    html = oscar.content.decode()
    assert oscar.status_code == 200
    assert "Walter" in html and "Working" in html and "Peggy" not in html

    api = signed_in(cast.carol).get("/api/bridge/status").json()
    assert api["verdict"] == "behind"
    assert {r["room_id"] for r in api["rooms"]} == {cast.team.id}
    assert {r["service_user_id"] for r in api["rooms"]} == {cast.peggy.id}
    other = signed_in(cast.other_manager).get("/api/bridge/status").json()
    assert other["verdict"] == "ok" and other["pending"] == 0 and other["unqueued"] == 0
    assert {r["room_id"] for r in other["rooms"]} == {wroom.id}


@pytest.mark.django_db
def test_the_bridge_status_is_not_found_for_anyone_but_care_managers(cast, two_providers):
    for p in (cast.anna, cast.nadia, cast.debbie, cast.colin, cast.margaret):
        page = signed_in(p).get("/bridge/")
        api = signed_in(p).get("/api/bridge/status")
        assert (page.status_code, api.status_code) == (404, 404), p.display_name
        assert api.json() == {"error": "not_found", "message": "Not found."}
    assert Client().get("/api/bridge/status").status_code == 401
    assert Client().get("/bridge/").status_code == 302  # to the sign-in page


@pytest.mark.django_db
def test_the_manager_navigation_links_the_bridge_page(cast):
    html = signed_in(cast.carol).get("/").content.decode()
    assert 'href="/bridge/"' in html
    assert 'href="/bridge/"' not in signed_in(cast.anna).get("/").content.decode()
