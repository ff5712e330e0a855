"""Linking a Matrix account from the app, proven by a one-time code (no homeserver: a
recording stub stands in for it; tests/bridge/test_linking_browser.py runs the same flow
in Chromium against a real Synapse)."""

from __future__ import annotations

import datetime as dt
import json
import re
from urllib.parse import quote, unquote

import pytest
from django.contrib.admin.sites import site
from django.test import Client, RequestFactory

from bridge import conf
from bridge.linking import (
    MAX_ATTEMPTS,
    check_confirm_link_code,
    check_request_link_code,
    check_unlink_matrix_id,
    code_hash,
)
from bridge.matrix import MatrixRefused
from bridge.matrixid import InvalidMatrixId, parse_user_id
from bridge.models import BridgedRoom, MatrixLinkCode, MatrixMember
from bridge.sender import MatrixSender
from rooms.errors import NotFound
from rooms.models import AuditEvent, Person, Room
from rooms.network import do_add_member, do_create_service_user
from tests.bridge.conftest import make_config
from tests.support.cast import T0
from web import views_matrix

NADIA = "@nadia:nhs.example.org"


# --- the Matrix id grammar (pure) ---


@pytest.mark.parametrize(
    "text",
    [
        "@nadia:nhs.example.org",
        "@n.rahman_2=x-y/z+w:matrix.org",
        "@a:localhost",
        "@a:127.0.0.1:8448",
        "@a:[::1]:8008",
        "@a:[2001:db8::1]",
        "  @nadia:nhs.example.org\n",
        "@a:Matrix.Example.org",
    ],
)
def test_spec_grammar_matrix_ids_are_accepted(text):
    assert parse_user_id(text) == text.strip()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "Enter a Matrix id"),
        ("nadia:nhs.example.org", "starts with @"),
        ("@nadia", "server after a colon"),
        ("@nadia:", "server after a colon"),
        ("@:nhs.example.org", "name before the colon is missing"),
        ("@Nadia:nhs.example.org", "lower case before the colon: @nadia:nhs.example.org"),
        ("@na dia:nhs.example.org", "“ ” (U+0020 SPACE) is not allowed before the colon"),
        ("@nadia!:nhs.example.org", "U+0021 EXCLAMATION MARK"),
        ("@n\u0430dia:nhs.example.org", "U+0430 CYRILLIC SMALL LETTER A"),
        ("\uff20nadia:nhs.example.org", "U+FF20 FULLWIDTH COMMERCIAL AT"),
        ("@nadia:nhs.ex\u0430mple.org", "U+0430 CYRILLIC SMALL LETTER A"),
        ("@nadia:nhs.example.org\u00a0", "U+00A0 NO-BREAK SPACE"),
        ("@nadia:nhs_example.org", "is not a server name"),
        ("@nadia:-nhs.org", "is not a server name"),
        ("@nadia:nhs.org:0", "is not a server name"),
        ("@nadia:nhs.org:65536", "is not a server name"),
        ("@nadia:999.1.1.1", "is not a server name"),
        ("@nadia:[::1", "is not a server name"),
        ("@" + "a" * 250 + ":x.org", "at most 255"),
    ],
)
def test_malformed_and_look_alike_matrix_ids_are_refused_saying_why(text, says):
    with pytest.raises(InvalidMatrixId) as exc:
        parse_user_id(text)
    assert says in str(exc.value)


# --- the flow, with a stub homeserver ---


class StubHomeserver:
    """Records the bot's requests; ``refuse`` makes createRoom fail with that errcode."""

    def __init__(self, refuse: str | None = None):
        self.requests: list[tuple[str, str, object]] = []
        self.refuse = refuse
        self.rooms = 0
        self.dead_rooms: set[str] = set()  # the bot is no longer in these

    def call(self, method, path, body=None, *, as_user=None):
        data = json.loads(body) if isinstance(body, str) else body
        self.requests.append((method, unquote(path.split("?")[0]), data))
        if any(quote(r) in path for r in self.dead_rooms):
            raise MatrixRefused(403, "M_FORBIDDEN")
        if path.startswith("/_matrix/client/v3/createRoom"):
            if self.refuse:
                raise MatrixRefused(404, self.refuse)
            self.rooms += 1
            return {"room_id": f"!dm{self.rooms}:cocare.test"}
        if "/send/" in path:
            return {"event_id": f"$e{len(self.requests)}"}
        return {}

    def close(self):
        pass

    def codes(self) -> list[str]:
        return [
            re.search(r"code is (\d{6})", b["body"]).group(1)
            for m, p, b in self.requests
            if "/send/" in p
        ]


@pytest.fixture
def hs(monkeypatch, frozen_clock):
    cfg = make_config()
    server = StubHomeserver()
    monkeypatch.setattr(conf, "load", lambda: cfg)
    monkeypatch.setattr(views_matrix, "MatrixClient", lambda cfg: server)
    return server


def signed_in(p: Person) -> Client:
    c = Client()
    c.force_login(p.user)
    return c


def nadia_page(cast) -> str:
    return f"/people/{cast.peggy.id}/manage/matrix/{cast.nadia.id}/"


def send(client: Client, url: str, matrix_id: str = NADIA):
    return client.post(url, {"action": "send", "matrix_id": matrix_id}, follow=True)


def confirm(client: Client, url: str, code: str):
    return client.post(url, {"action": "confirm", "code": code}, follow=True)


@pytest.mark.django_db
def test_a_manager_links_a_nurse_only_after_the_code_sent_to_her_matrix_account_is_typed_in(
    cast, hs
):
    carol = signed_in(cast.carol)
    members = carol.get(f"/people/{cast.peggy.id}/manage/members/").content.decode()
    assert f'href="{nadia_page(cast)}"' in members
    r = send(carol, nadia_page(cast))
    assert r.status_code == 200 and "Code sent." in r.content.decode()
    # The bot opened a direct room with her and put the code in it; nothing linked yet.
    (create, send_req) = hs.requests
    assert create[2]["is_direct"] is True and create[2]["invite"] == [NADIA]
    assert "/rooms/!dm1:cocare.test/send/m.room.message/cocare-link-" in send_req[1]
    [code] = hs.codes()
    assert Person.objects.get(pk=cast.nadia.pk).matrix_id is None
    row = MatrixLinkCode.objects.get()
    assert code not in row.code_hash and row.code_hash == code_hash(cast.nadia.id, NADIA, code)
    assert f"sent to <strong>{NADIA}</strong>" in r.content.decode()

    r = confirm(carol, nadia_page(cast), code[:3] + " " + code[3:])
    assert "Matrix account linked." in r.content.decode()
    assert Person.objects.get(pk=cast.nadia.pk).matrix_id == NADIA
    assert MatrixLinkCode.objects.get().state == "used"
    assert list(
        AuditEvent.objects.filter(action__startswith="matrix.").values_list(
            "action", "actor", "target"
        )
    ) == [
        ("matrix.link_code_sent", cast.carol.id, f"person:{cast.nadia.id}"),
        ("matrix.link", cast.carol.id, f"person:{cast.nadia.id}"),
    ]
    # A used code does not work again.
    again = confirm(carol, nadia_page(cast), code)
    assert "No code is waiting" in again.content.decode()


@pytest.mark.django_db
def test_a_wrong_code_is_refused_with_the_tries_left_and_the_code_locks_after_the_last(cast, hs):
    nadia = signed_in(cast.nadia)
    send(nadia, "/me/matrix/")
    [code] = hs.codes()
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    r = confirm(nadia, "/me/matrix/", wrong)
    assert f"That code is not right. {MAX_ATTEMPTS - 1} tries left." in r.content.decode()
    for _ in range(MAX_ATTEMPTS - 2):
        confirm(nadia, "/me/matrix/", wrong)
    r = confirm(nadia, "/me/matrix/", wrong)
    assert "that was the last try" in r.content.decode()
    r = confirm(nadia, "/me/matrix/", code)  # the right code, too late
    assert "No code is waiting" in r.content.decode()
    assert Person.objects.get(pk=cast.nadia.pk).matrix_id is None
    assert MatrixLinkCode.objects.get().attempts == MAX_ATTEMPTS
    malformed = confirm(nadia, "/me/matrix/", "12ab56")
    assert "The code is the 6 digits" in malformed.content.decode()


@pytest.mark.django_db
def test_an_expired_code_is_refused(cast, hs, frozen_clock):
    nadia = signed_in(cast.nadia)
    send(nadia, "/me/matrix/")
    [code] = hs.codes()
    frozen_clock.freeze(T0 + dt.timedelta(minutes=10))
    r = confirm(nadia, "/me/matrix/", code)
    assert "This code has expired. Send a new code." in r.content.decode()
    assert Person.objects.get(pk=cast.nadia.pk).matrix_id is None


@pytest.mark.django_db
def test_a_new_code_replaces_the_old_one_and_reuses_the_direct_room(cast, hs):
    nadia = signed_in(cast.nadia)
    send(nadia, "/me/matrix/")
    send(nadia, "/me/matrix/")
    first, second = hs.codes()
    assert [p for m, p, b in hs.requests if "createRoom" in p] == ["/_matrix/client/v3/createRoom"]
    assert any(p.endswith("/rooms/!dm1:cocare.test/invite") for m, p, b in hs.requests)
    if first != second:
        assert "not right" in confirm(nadia, "/me/matrix/", first).content.decode()
    assert "linked" in confirm(nadia, "/me/matrix/", second).content.decode()


@pytest.mark.django_db
def test_a_direct_room_the_bot_lost_is_replaced_by_a_new_one(cast, hs):
    nadia = signed_in(cast.nadia)
    send(nadia, "/me/matrix/")
    hs.dead_rooms.add("!dm1:cocare.test")
    r = send(nadia, "/me/matrix/")
    assert "Code sent." in r.content.decode()
    sends = [p for m, p, b in hs.requests if "/send/" in p]
    assert sends[-1].startswith("/_matrix/client/v3/rooms/!dm2:cocare.test/send/")
    assert MatrixLinkCode.objects.order_by("id").last().dm_room_id == "!dm2:cocare.test"
    assert "linked" in confirm(nadia, "/me/matrix/", hs.codes()[-1]).content.decode()


@pytest.mark.django_db
def test_codes_to_one_matrix_account_are_limited_per_hour(cast, hs, frozen_clock):
    nadia = signed_in(cast.nadia)
    for _ in range(3):
        send(nadia, "/me/matrix/")
    r = send(nadia, "/me/matrix/")
    assert "Too many codes were sent to this Matrix account" in r.content.decode()
    assert len(hs.codes()) == 3
    frozen_clock.freeze(T0 + dt.timedelta(hours=1, seconds=1))
    assert "Code sent." in send(nadia, "/me/matrix/").content.decode()


@pytest.mark.django_db
def test_a_look_alike_id_is_refused_on_the_page_and_nothing_is_sent(cast, hs):
    r = send(signed_in(cast.carol), nadia_page(cast), "@n\u0430dia:nhs.example.org")
    assert "U+0430 CYRILLIC SMALL LETTER A" in r.content.decode()
    r = send(signed_in(cast.carol), nadia_page(cast), "@cocare_5:cocare.test")
    assert "one of CoCare&#x27;s own Matrix accounts" in r.content.decode()
    assert hs.requests == [] and not MatrixLinkCode.objects.exists()


@pytest.mark.django_db
def test_an_account_the_homeserver_cannot_invite_is_reported_and_no_code_waits(
    cast, monkeypatch, frozen_clock
):
    server = StubHomeserver(refuse="M_NOT_FOUND")
    monkeypatch.setattr(conf, "load", lambda: make_config())
    monkeypatch.setattr(views_matrix, "MatrixClient", lambda cfg: server)
    r = send(signed_in(cast.nadia), "/me/matrix/", "@nobody:cocare.test")
    html = r.content.decode()
    assert "Matrix could not deliver the code to @nobody:cocare.test (M_NOT_FOUND)" in html
    assert "Enter the code" not in html
    assert MatrixLinkCode.objects.get().state == "unsent"


@pytest.mark.django_db
def test_an_account_linked_to_someone_else_is_not_linked_twice(cast, hs):
    cast.tom.matrix_id = NADIA
    cast.tom.save()
    nadia = signed_in(cast.nadia)
    send(nadia, "/me/matrix/")
    r = confirm(nadia, "/me/matrix/", hs.codes()[0])
    assert "already linked to someone else" in r.content.decode()
    assert Person.objects.get(pk=cast.nadia.pk).matrix_id is None


@pytest.mark.django_db
def test_only_the_person_or_their_providers_care_manager_may_link_and_others_get_404(cast, hs):
    url = nadia_page(cast)
    for p in (cast.other_manager, cast.anna, cast.tom, cast.debbie, cast.colin):
        c = signed_in(p)
        assert c.get(url).status_code == 404, p.display_name
        assert c.post(url, {"action": "send", "matrix_id": NADIA}).status_code == 404
        assert c.post(url, {"action": "unlink"}).status_code == 404
    # Another provider's manager, on a page of their own service user's id, still 404s.
    assert signed_in(cast.other_manager).get(url).status_code == 404
    # A bot is nobody's to link; an unknown person is the same 404.
    bot_url = f"/people/{cast.peggy.id}/manage/matrix/{cast.bot.id}/"
    assert signed_in(cast.carol).get(bot_url).status_code == 404
    assert (
        signed_in(cast.carol).get(f"/people/{cast.peggy.id}/manage/matrix/999999/").status_code
        == 404
    )
    assert hs.requests == [] and not MatrixLinkCode.objects.exists()
    # Everyone has their own page.
    assert signed_in(cast.anna).get("/me/matrix/").status_code == 200


@pytest.mark.django_db
def test_unlinking_kicks_the_account_from_every_bridged_room_on_the_next_pass(cast, hs):
    cast.nadia.matrix_id = NADIA
    cast.nadia.save()
    bridged = BridgedRoom.objects.create(
        room=cast.team, matrix_room_id="!team:cocare.test", created_at=T0
    )
    MatrixMember.objects.create(bridged_room=bridged, user_id=NADIA, state="joined", updated_at=T0)
    r = signed_in(cast.carol).post(nadia_page(cast), {"action": "unlink"}, follow=True)
    assert "Matrix account unlinked." in r.content.decode()
    assert Person.objects.get(pk=cast.nadia.pk).matrix_id is None
    assert AuditEvent.objects.filter(action="matrix.unlink", actor=cast.carol).exists()

    class Recorder:
        def __init__(self):
            self.kicks: list[tuple[str, str]] = []

        def kick(self, room_id, user_id, reason):
            self.kicks.append((room_id, user_id))

        def __getattr__(self, name):
            return lambda *a, **k: None

    rec = Recorder()
    MatrixSender(make_config(), client=rec).run_once(T0)
    assert rec.kicks == [("!team:cocare.test", NADIA)]


@pytest.mark.django_db
def test_the_admin_shows_the_matrix_id_read_only(cast):
    admin = site._registry[Person]
    request = RequestFactory().get("/")
    assert "matrix_id" in admin.get_readonly_fields(request, cast.nadia)


@pytest.mark.django_db
def test_the_link_actions_refuse_anyone_but_the_person_and_their_providers_managers(cast):
    hs = StubHomeserver()
    for actor in (cast.other_manager, cast.anna, cast.tom, cast.debbie, cast.colin, cast.bot):
        with pytest.raises(NotFound):
            check_request_link_code(
                actor, cast.nadia.id, NADIA, cfg=make_config(), client=hs, now=T0
            )
        with pytest.raises(NotFound):
            check_confirm_link_code(actor, cast.nadia.id, "123456", now=T0)
        with pytest.raises(NotFound):
            check_unlink_matrix_id(actor, cast.nadia.id, now=T0)
    assert hs.requests == []
    # Once Nadia also works for the other provider's service user, its manager may.
    walter = do_create_service_user(
        full_name="Walter Green",
        provider=cast.other_provider,
        council=cast.council,
        created_by=cast.other_manager,
        now=T0,
    )
    do_add_member(
        Room.objects.get(service_user=walter, kind="professional"),
        cast.nadia,
        by=cast.other_manager,
        now=T0,
        notify=False,
    )
    check_request_link_code(
        cast.other_manager, cast.nadia.id, NADIA, cfg=make_config(), client=hs, now=T0
    )
    assert len(hs.codes()) == 1
