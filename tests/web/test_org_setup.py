"""Organisation set-up: bootstrap on an empty database, staff invited by single-use links,
roles changed, accounts deactivated; service users created (rooms, bot, managers in one
action), edited, archived (read-only rooms), with an optional own account; the API docs
page served from our own static files."""

from __future__ import annotations

import datetime as dt
import io
import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders
from django.core.management import CommandError, call_command
from django.test import Client

from cocare_chat import clock
from rooms.models import AuditEvent, Membership, Organisation, Person, Room, ServiceUser
from tests.support.cast import T0
from tests.web.org_support import build_admins
from web.invitations import token_hash
from web.models import Invitation

pytestmark = pytest.mark.django_db
GOOD_PASSWORD = "lilac-harbour-71"


@pytest.fixture
def admins(cast):
    return build_admins(cast)


def client(p: Person) -> Client:
    c = Client()
    c.force_login(p.user)
    return c


def api(c: Client, method: str, path: str, body=None):
    kw = {"content_type": "application/json"}
    if body is not None:
        kw["data"] = body if isinstance(body, str) else json.dumps(body)
    return getattr(c, method)(f"/api{path}", **kw)


def link_path(content: bytes) -> str:
    m = re.search(rb'value="http://testserver(/invite/[^"]+/)"', content)
    assert m, content.decode()[:3000]
    return m.group(1).decode()


def accept(path: str, username: str, password: str = GOOD_PASSWORD):
    c = Client()
    r = c.post(path, {"username": username, "password": password, "password2": password})
    return c, r


# ---- bootstrap ---------------------------------------------------------------------------


def run_bootstrap(**kw) -> str:
    out = io.StringIO()
    args = {
        "council": "Northshire Council",
        "provider": "Brightwater Care",
        "admin_email": "pam@brightwater.example",
        **kw,
    }
    call_command(
        "bootstrap", *[f"--{k.replace('_', '-')}={v}" for k, v in args.items()], stdout=out
    )
    return out.getvalue()


def test_bootstrap_on_an_empty_database_prints_a_single_use_link_for_the_first_admin(
    frozen_clock,
):
    out = run_bootstrap(base_url="https://care.example")
    council = Organisation.objects.get(kind="council")
    provider = Organisation.objects.get(kind="provider")
    assert (council.name, provider.name) == ("Northshire Council", "Brightwater Care")
    assert provider.commissioned_by == council
    link = re.search(r"https://care\.example(/invite/([^/\s]+)/)", out)
    assert link, out
    path, token = link.group(1), link.group(2)
    inv = Invitation.objects.get()
    # Stored only as a hash; expires in two days; a provider administrator of the provider.
    assert inv.token_hash == token_hash(token) and token not in json.dumps(
        list(Invitation.objects.values()), default=str
    )
    assert inv.expires_at == T0 + dt.timedelta(days=2)
    assert (inv.kind, inv.role, inv.organisation) == ("staff", "provider_admin", provider)

    page = Client().get(path)
    assert page.status_code == 200
    assert b"Brightwater Care" in page.content and b"Provider administrator" in page.content
    assert b'value="pam@brightwater.example"' in page.content  # offered as the username
    c, r = accept(path, "pam@brightwater.example")
    assert r.status_code == 302 and r["Location"] == "/org/staff/"
    pam = Person.objects.get(user__username="pam@brightwater.example")
    assert (pam.role, pam.organisation) == ("provider_admin", provider)
    assert c.get("/org/staff/").status_code == 200  # signed in
    # Single use: the same link now answers "already used", and signs nobody in.
    again, r2 = accept(path, "mallory")
    assert r2.status_code == 410
    assert not get_user_model().objects.filter(username="mallory").exists()


def test_bootstrap_refuses_a_database_that_has_organisations_and_writes_nothing():
    run_bootstrap()
    counts = (Organisation.objects.count(), Invitation.objects.count(), AuditEvent.objects.count())
    with pytest.raises(CommandError, match="already exist"):
        run_bootstrap(council="Other", provider="Other Care")
    assert counts == (
        Organisation.objects.count(),
        Invitation.objects.count(),
        AuditEvent.objects.count(),
    )


@pytest.mark.parametrize(
    ("kw", "error"),
    [
        ({"admin_email": "not-an-email"}, "email"),
        ({"council": "   "}, "name"),
        ({"provider": "x" * 201}, "200"),
    ],
)
def test_bootstrap_rejects_odd_input_clearly(kw, error):
    with pytest.raises(CommandError, match=error):
        run_bootstrap(**kw)
    assert not Organisation.objects.exists() and not Invitation.objects.exists()


def test_the_bootstrap_link_expires_after_two_days(frozen_clock):
    out = run_bootstrap()
    path = re.search(r"(/invite/[^/\s]+/)", out).group(1)
    clock.freeze(T0 + dt.timedelta(days=2, seconds=1))
    assert Client().get(path).status_code == 410
    _, r = accept(path, "late")
    assert r.status_code == 410 and not Person.objects.exists()


# ---- staff -------------------------------------------------------------------------------


def test_admin_invites_a_care_worker_who_sets_a_password_and_is_staff_of_the_provider(cast, admins):
    pam = client(admins.pam)
    r = pam.post(
        "/org/staff/",
        {"display_name": "Bea Worker", "email": "bea@bw.example", "role": "care_worker", "days": 3},
    )
    assert r.status_code == 200 and b"will not be shown again" in r.content
    path = link_path(r.content)
    # The link is shown once: the staff page does not show it again.
    assert path.encode() not in pam.get("/org/staff/").content
    c, r = accept(path, "bea")
    assert r.status_code == 302 and r["Location"] == "/"
    bea = Person.objects.get(user__username="bea")
    assert (bea.role, bea.organisation, bea.display_name) == (
        "care_worker",
        cast.provider,
        "Bea Worker",
    )
    assert b"Bea Worker" in pam.get("/org/staff/").content
    assert AuditEvent.objects.filter(action="invitation.redeem", actor=bea).exists()


def test_a_council_admin_invites_council_roles_only(cast, admins):
    nora = client(admins.nora)
    r = api(nora, "post", "/org/staff/invitations", {"display_name": "Ann", "role": "care_worker"})
    assert r.status_code == 422 and Invitation.objects.count() == 0
    r = api(nora, "post", "/org/staff/invitations", {"display_name": "Ann", "role": "assessor"})
    assert r.status_code == 201, r.content
    c, r2 = accept(r.json()["link"].removeprefix("http://testserver"), "ann")
    ann = Person.objects.get(user__username="ann")
    assert (ann.role, ann.organisation) == ("assessor", cast.council)


def test_a_care_manager_invites_no_staff(cast):
    r = api(
        client(cast.carol),
        "post",
        "/org/staff/invitations",
        {"display_name": "X", "role": "care_worker"},
    )
    assert r.status_code == 404 and not Invitation.objects.exists()
    assert client(cast.carol).get("/org/staff/").status_code == 404


def test_changing_a_role_takes_effect_at_once(cast, admins):
    pam = client(admins.pam)
    r = api(pam, "post", f"/org/staff/{cast.anna.id}/role", {"role": "care_manager"})
    assert r.status_code == 200 and r.json() == {"id": cast.anna.id, "role": "care_manager"}
    cast.anna.refresh_from_db()
    assert cast.anna.role == "care_manager"
    # An administrator's role gives no room access: Anna made an administrator reads nothing.
    api(pam, "post", f"/org/staff/{cast.anna.id}/role", {"role": "provider_admin"})
    r = client(cast.anna).get(f"/api/rooms/{cast.team.id}/messages")
    assert r.status_code == 404
    assert AuditEvent.objects.filter(action="person.role", actor=admins.pam).count() == 2


def test_an_admin_cannot_change_or_deactivate_themselves(admins):
    pam = client(admins.pam)
    r = api(pam, "post", f"/org/staff/{admins.pam.id}/role", {"role": "care_worker"})
    assert r.status_code == 422 and "another administrator" in r.json()["message"]
    r = api(pam, "post", f"/org/staff/{admins.pam.id}/deactivate")
    assert r.status_code == 422
    admins.pam.refresh_from_db()
    assert admins.pam.role == "provider_admin" and admins.pam.user.is_active


def test_deactivating_a_worker_signs_them_out_everywhere(cast, admins):
    anna = client(cast.anna)
    assert anna.get("/api/me").status_code == 200
    r = api(client(admins.pam), "post", f"/org/staff/{cast.anna.id}/deactivate")
    assert r.status_code == 200 and r.json()["changed"] is True
    assert anna.get("/api/me").status_code == 401
    r = api(client(admins.pam), "post", f"/org/staff/{cast.anna.id}/deactivate")
    assert r.json()["changed"] is False  # idempotent
    assert AuditEvent.objects.filter(action="person.deactivated").count() == 1
    page = client(admins.pam).get("/org/staff/").content.decode()
    assert re.search(r"Anna Kowalski.*?deactivated", page, re.S)


@pytest.mark.parametrize(
    "body",
    [
        {"display_name": "", "role": "care_worker"},
        {"display_name": "X", "role": "bot"},
        {"display_name": "X", "role": "family"},
        {"display_name": "X", "role": "care_worker", "days": 31},
        {"display_name": "X", "role": "care_worker", "days": 1e999},
        {"display_name": "X", "role": "care_worker", "email": "no-at-sign"},
        {"display_name": "X", "role": "care_worker", "organisation": 1},
        {"display_name": "X" * 121, "role": "care_worker"},
    ],
)
def test_odd_staff_invitations_are_refused_clearly_and_write_nothing(admins, body):
    r = api(client(admins.pam), "post", "/org/staff/invitations", body)
    assert r.status_code == 422 and r.json()["error"] == "invalid"
    assert (
        not Invitation.objects.exists()
        and not AuditEvent.objects.filter(action="invitation.create").exists()
    )


def test_a_withdrawn_staff_link_cannot_be_used(admins):
    r = api(
        client(admins.pam), "post", "/org/staff/invitations", {"display_name": "Z", "role": "nurse"}
    )
    inv_id = r.json()["id"]
    assert (
        api(client(admins.eddie), "delete", f"/org/staff/invitations/{inv_id}").status_code == 404
    )
    assert api(client(admins.pam), "delete", f"/org/staff/invitations/{inv_id}").status_code == 204
    _, r2 = accept(r.json()["link"].removeprefix("http://testserver"), "zed")
    assert r2.status_code == 410 and not Person.objects.filter(user__username="zed").exists()


# ---- service users -----------------------------------------------------------------------


def test_creating_a_service_user_makes_both_rooms_with_the_bot_and_managers_in_one_action(
    cast, admins
):
    r = client(admins.pam).post(
        "/org/service-users/",
        {"full_name": "Arthur Penn", "preferred_name": "Art", "managers": [cast.carol.id]},
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    su = ServiceUser.objects.get(full_name="Arthur Penn")
    assert r["Location"] == f"/org/service-users/{su.id}/"
    assert (su.provider, su.council) == (cast.provider, cast.council)
    rooms = {room.kind: room for room in Room.objects.filter(service_user=su)}
    assert set(rooms) == {"professional", "family"}
    for room in rooms.values():
        members = set(
            Membership.objects.filter(room=room, removed_at__isnull=True).values_list(
                "person_id", flat=True
            )
        )
        assert members == {cast.bot.id, cast.carol.id}
    ev = AuditEvent.objects.get(action="service_user.create", service_user=su)
    assert ev.actor == admins.pam
    # Carol (a member now) manages the new rooms; nobody else's manager does.
    assert client(cast.carol).get(f"/people/{su.id}/manage/members/").status_code == 200


def test_a_manager_of_another_provider_cannot_be_put_in_the_rooms(cast, admins):
    before = ServiceUser.objects.count()
    r = api(
        client(admins.pam),
        "post",
        "/org/service-users",
        {"full_name": "Arthur Penn", "manager_ids": [cast.other_manager.id]},
    )
    assert r.status_code == 422 and ServiceUser.objects.count() == before


@pytest.mark.parametrize(
    "body",
    [
        '{"full_name": "A", "home_lat": NaN}',
        '{"full_name": "A", "home_lat": 1e999}',
        '{"full_name": "A", "home_lat": 91}',
        '{"full_name": "A", "checkin_radius_m": 18446744073709551616}',
        '{"full_name": "A", "manager_ids": [18446744073709551616]}',
        '{"full_name": "A", "commissioned_hours_per_week": 1000}',
        '{"full_name": ""}',
        '{"full_name": "A", "provider": 1}',
        '{"full_name": ["A"]}',
    ],
)
def test_odd_service_user_bodies_are_refused_clearly_and_write_nothing(admins, body):
    before = (ServiceUser.objects.count(), Room.objects.count(), AuditEvent.objects.count())
    r = api(client(admins.pam), "post", "/org/service-users", body)
    assert r.status_code == 422 and r.json()["error"] == "invalid", r.content
    after = (ServiceUser.objects.count(), Room.objects.count(), AuditEvent.objects.count())
    assert before == after


def test_editing_details_is_audited_with_field_names_only(cast, admins):
    r = api(
        client(cast.carol),
        "patch",
        f"/org/service-users/{cast.peggy.id}",
        {"preferred_name": "Peg", "checkin_radius_m": 300},
    )
    assert r.status_code == 200 and r.json()["preferred_name"] == "Peg"
    ev = AuditEvent.objects.filter(action="service_user.update").latest("id")
    assert ev.target == "fields:checkin_radius_m,preferred_name" and "Peg" not in ev.target


def test_null_details_clear_text_and_leave_numbers_as_they_were(cast, admins):
    """Found by schemathesis: a null preferred name was a 500 (NOT NULL column)."""
    radius = cast.peggy.checkin_radius_m
    hours = cast.peggy.commissioned_hours_per_week
    r = api(
        client(cast.carol),
        "patch",
        f"/org/service-users/{cast.peggy.id}",
        {"preferred_name": None, "checkin_radius_m": None, "commissioned_hours_per_week": None},
    )
    assert r.status_code == 200, r.content
    cast.peggy.refresh_from_db()
    assert cast.peggy.preferred_name == ""
    assert (cast.peggy.checkin_radius_m, cast.peggy.commissioned_hours_per_week) == (radius, hours)


def test_archiving_makes_the_rooms_read_only_with_a_clear_message(cast, admins, frozen_clock):
    r = client(admins.pam).post(f"/org/service-users/{cast.peggy.id}/archive")
    assert r.status_code == 302
    cast.peggy.refresh_from_db()
    assert cast.peggy.archived_at == T0
    r = api(
        client(cast.anna),
        "post",
        f"/rooms/{cast.team.id}/messages",
        {"client_id": "after-archive-1", "body": "hello"},
    )
    assert r.status_code == 403
    assert r.json() == {
        "error": "archived",
        "message": "This person's care has ended: their rooms are read-only.",
    }
    # History stays readable; archiving again changes nothing.
    assert client(cast.anna).get(f"/api/rooms/{cast.team.id}/messages").status_code == 200
    n = AuditEvent.objects.filter(action="service_user.archive").count()
    api(client(admins.pam), "post", f"/org/service-users/{cast.peggy.id}/archive")
    assert AuditEvent.objects.filter(action="service_user.archive").count() == n == 1
    page = client(admins.pam).get(f"/org/service-users/{cast.peggy.id}/")
    assert b"the rooms are read-only" in page.content


def test_a_service_user_gets_their_own_account_by_a_single_use_link(cast, admins):
    su = ServiceUser.objects.get(
        pk=api(
            client(admins.pam), "post", "/org/service-users", {"full_name": "Arthur Penn"}
        ).json()["id"]
    )
    r = client(admins.pam).post(f"/org/service-users/{su.id}/account", {"days": 7})
    path = link_path(r.content)
    c, r = accept(path, "arthur")
    assert r.status_code == 302
    su.refresh_from_db()
    me = Person.objects.get(user__username="arthur")
    assert su.person == me and me.role == "service_user"
    assert c.get("/api/rooms").json()[0]["kind"] == "family"
    # Already has one: a second link is refused.
    r = api(client(admins.pam), "post", f"/org/service-users/{su.id}/account-invitation", {})
    assert r.status_code == 409


def test_staff_are_put_on_a_care_team_only_from_their_own_provider(cast, admins):
    su_id = api(
        client(admins.pam), "post", "/org/service-users", {"full_name": "Arthur Penn"}
    ).json()["id"]
    r = api(
        client(admins.pam), "post", f"/org/service-users/{su_id}/team", {"person_id": cast.anna.id}
    )
    assert r.status_code == 201 and len(r.json()["rooms"]) == 2
    for who in (cast.other_worker, cast.far_worker, cast.nadia, cast.debbie, admins.eddie):
        r = api(
            client(admins.pam), "post", f"/org/service-users/{su_id}/team", {"person_id": who.id}
        )
        assert r.status_code == 404 and r.json()["message"] == "No such person."
    assert not Membership.objects.filter(
        room__service_user_id=su_id, person__in=[cast.other_worker, cast.far_worker]
    ).exists()


# ---- API docs and schema -----------------------------------------------------------------


def test_api_docs_page_names_no_other_host_and_its_assets_are_ours(cast):
    r = client(cast.carol).get("/api/docs")
    assert r.status_code == 200
    html = r.content.decode()
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html, re.I), html
    assets = re.findall(r'(?:src|href)="/static/([^"]+)"', html)
    assert sorted(assets) == [
        "swagger-ui/swagger-ui-bundle.js",
        "swagger-ui/swagger-ui.css",
        "web/api-docs.css",
        "web/api-docs.js",
    ]
    for a in assets:
        assert finders.find(a), f"{a} is not in our static files (run scripts/vendor-static.sh)"


SET_UP_OPERATIONS = {
    ("get", "/api/org/staff"),
    ("post", "/api/org/staff/invitations"),
    ("delete", "/api/org/staff/invitations/{invitation_id}"),
    ("post", "/api/org/staff/{person_id}/role"),
    ("post", "/api/org/staff/{person_id}/deactivate"),
    ("get", "/api/org/service-users"),
    ("post", "/api/org/service-users"),
    ("get", "/api/org/service-users/{su_id}"),
    ("patch", "/api/org/service-users/{su_id}"),
    ("post", "/api/org/service-users/{su_id}/archive"),
    ("post", "/api/org/service-users/{su_id}/team"),
    ("post", "/api/org/service-users/{su_id}/account-invitation"),
}


def test_every_set_up_action_is_in_the_openapi_schema_with_a_body(cast):
    schema = client(cast.carol).get("/api/openapi.json").json()
    found = {(m, p) for p, ops in schema["paths"].items() for m in ops}
    assert found >= SET_UP_OPERATIONS
    for method, path in SET_UP_OPERATIONS:
        op = schema["paths"][path][method]
        if method in ("post", "patch") and not path.endswith(("/archive", "/deactivate")):
            assert "requestBody" in op, (method, path)
    body = schema["components"]["schemas"]["StaffInviteIn"]
    assert body.get("additionalProperties") is False


def test_an_administrator_signing_in_starts_on_the_staff_page(admins):
    r = client(admins.nora).get("/")
    assert r.status_code == 302 and r["Location"] == "/org/staff/"
    page = client(admins.nora).get("/org/staff/").content.decode()
    assert "Staff of Northshire Council" in page and "Colin Price" in page
    assert 'href="/org/service-users/"' not in page  # no service users for a council admin
