"""Who may use the organisation set-up pages and API: role × organisation × action.

Written out by hand from docs/decisions.md "Administrators":
- staff pages and endpoints: administrators only, each for their own organisation's staff
  (a provider administrator grants provider roles, a council administrator council roles);
- service-user set-up: the provider's administrator or care managers, their own provider's
  service users only;
- everyone else — care workers, clinicians, family, the service user, commissioners,
  assessors, and every administrator or manager of another provider or council — gets the
  same 404 body as for an id nobody has (API: byte-identical JSON; pages: the same 404
  page), and nothing is written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from rooms.models import AuditEvent, Membership, Message, Person, ServiceUser
from tests.security.helpers import client_for
from tests.web.org_support import build_admins
from web.models import Invitation

pytestmark = pytest.mark.django_db
UNKNOWN_ID = 9_000_000_000
REFUSED = 404

# Everyone who can sign in: the cast, plus the administrators and an assessor.
CAST_ACTORS = [
    "service_user",
    "care_worker",
    "nurse",
    "therapist",
    "care_manager",
    "family",
    "commissioner",
    "unassigned_worker",
    "other_provider_manager",
    "other_provider_worker",
    "other_council_manager",
    "other_council_worker",
    "other_council_nurse",
    "other_council_commissioner",
    "other_council_service_user",
    "other_council_family",
]
ADMIN_ACTORS = {
    "provider_admin": "pam",
    "other_provider_admin": "eddie",
    "other_council_provider_admin": "rhea",
    "council_admin": "nora",
    "other_council_admin": "sam",
    "assessor": "ash",
}
ALL_ACTORS = CAST_ACTORS + list(ADMIN_ACTORS)
PROVIDER_ADMINS = {"provider_admin", "other_provider_admin", "other_council_provider_admin"}
COUNCIL_ADMINS = {"council_admin", "other_council_admin"}
PROVIDER_SETUP = PROVIDER_ADMINS | {
    "care_manager",
    "other_provider_manager",
    "other_council_manager",
}
PEGGYS = {"provider_admin", "care_manager"}  # Peggy's provider's administrator and manager


@dataclass(frozen=True)
class Op:
    """One action: ``call(client, world, target_id)``; ``allowed`` -> the status they get."""

    name: str
    call: Callable[[Client, dict, int | None], object]
    allowed: dict[str, int]
    api: bool = True
    targeted: bool = True  # has an id in its path (else: a list or create endpoint)


def _api(method: str, path: str, body: dict | None = None):
    def call(c: Client, w: dict, target: int | None):
        url = "/api" + path.format(t=target, **w)
        if method == "get":
            return c.get(url)
        data = json.dumps(body if body is not None else {})
        return getattr(c, method)(url, data=data, content_type="application/json")

    return call


def _page(method: str, path: str, form: Callable[[dict, int | None], dict] | None = None):
    def call(c: Client, w: dict, target: int | None):
        url = path.format(t=target, **w)
        if method == "get":
            return c.get(url)
        return c.post(url, form(w, target) if form else {})

    return call


def only(actors, status: int) -> dict[str, int]:
    return dict.fromkeys(actors, status)


OPS = [
    # ---- staff (target: Anna, Brightwater's care worker; Colin, Northshire's commissioner)
    Op(
        "api list staff",
        _api("get", "/org/staff"),
        only(PROVIDER_ADMINS | COUNCIL_ADMINS, 200),
        targeted=False,
    ),
    Op(
        "page list staff",
        _page("get", "/org/staff/"),
        only(PROVIDER_ADMINS | COUNCIL_ADMINS, 200),
        api=False,
        targeted=False,
    ),
    Op(
        "api invite care worker",
        _api("post", "/org/staff/invitations", {"display_name": "New", "role": "care_worker"}),
        only(PROVIDER_ADMINS, 201) | only(COUNCIL_ADMINS, 422),
        targeted=False,
    ),
    Op(
        "page invite care worker",
        _page(
            "post",
            "/org/staff/",
            lambda w, t: {"display_name": "New", "role": "care_worker", "days": 7},
        ),
        only(PROVIDER_ADMINS, 200) | only(COUNCIL_ADMINS, 422),
        api=False,
        targeted=False,
    ),
    Op(
        "api change Anna's role",
        _api("post", "/org/staff/{t}/role", {"role": "care_manager"}),
        only({"provider_admin"}, 200),
    ),
    Op(
        "page change Anna's role",
        _page("post", "/org/staff/{t}/role", lambda w, t: {f"p{t}-role": "care_manager"}),
        only({"provider_admin"}, 302),
        api=False,
    ),
    Op(
        "api deactivate Anna",
        _api("post", "/org/staff/{t}/deactivate"),
        only({"provider_admin"}, 200),
    ),
    Op(
        "page deactivate Anna",
        _page("post", "/org/staff/{t}/deactivate"),
        only({"provider_admin"}, 302),
        api=False,
    ),
    Op(
        "api change Colin's role",
        _api("post", "/org/staff/{t}/role", {"role": "assessor"}),
        only({"council_admin"}, 200),
    ),
    Op(
        "api deactivate Colin",
        _api("post", "/org/staff/{t}/deactivate"),
        only({"council_admin"}, 200),
    ),
    Op(
        "api withdraw Brightwater's staff link",
        _api("delete", "/org/staff/invitations/{t}"),
        only({"provider_admin"}, 204),
    ),
    Op(
        "page withdraw Brightwater's staff link",
        _page("post", "/org/staff/invitations/{t}/cancel"),
        only({"provider_admin"}, 302),
        api=False,
    ),
    # ---- service users (target: Peggy)
    Op(
        "api list service users",
        _api("get", "/org/service-users"),
        only(PROVIDER_SETUP, 200),
        targeted=False,
    ),
    Op(
        "page list service users",
        _page("get", "/org/service-users/"),
        only(PROVIDER_SETUP, 200),
        api=False,
        targeted=False,
    ),
    Op(
        "api create service user",
        _api("post", "/org/service-users", {"full_name": "New Person"}),
        only(PROVIDER_SETUP, 201),
        targeted=False,
    ),
    Op(
        "page create service user",
        _page("post", "/org/service-users/", lambda w, t: {"full_name": "New Person"}),
        only(PROVIDER_SETUP, 302),
        api=False,
        targeted=False,
    ),
    Op("api read Peggy's set-up", _api("get", "/org/service-users/{t}"), only(PEGGYS, 200)),
    Op(
        "page read Peggy's set-up",
        _page("get", "/org/service-users/{t}/"),
        only(PEGGYS, 200),
        api=False,
    ),
    Op(
        "api edit Peggy",
        _api("patch", "/org/service-users/{t}", {"preferred_name": "Pegs"}),
        only(PEGGYS, 200),
    ),
    Op(
        "page edit Peggy",
        _page(
            "post",
            "/org/service-users/{t}/",
            lambda w, t: {"full_name": "Margaret Hughes", "preferred_name": "Pegs"},
        ),
        only(PEGGYS, 302),
        api=False,
    ),
    Op(
        "api put Olly on Peggy's team",
        lambda c, w, t: _api("post", "/org/service-users/{t}/team", {"person_id": w["olly"]})(
            c, w, t
        ),
        only(PEGGYS, 201),
    ),
    Op(
        "page put Olly on Peggy's team",
        _page("post", "/org/service-users/{t}/team", lambda w, t: {"person": w["olly"]}),
        only(PEGGYS, 302),
        api=False,
    ),
    Op(
        "api own-account link for Peggy",
        _api("post", "/org/service-users/{t}/account-invitation"),
        only(PEGGYS, 409),
    ),
    Op(
        "page own-account link for Peggy",
        _page("post", "/org/service-users/{t}/account", lambda w, t: {"days": 7}),
        only(PEGGYS, 422),
        api=False,
    ),
    Op("api archive Peggy", _api("post", "/org/service-users/{t}/archive"), only(PEGGYS, 200)),
    Op(
        "page archive Peggy",
        _page("post", "/org/service-users/{t}/archive"),
        only(PEGGYS, 302),
        api=False,
    ),
]
TARGETS = {
    "api change Anna's role": "anna",
    "page change Anna's role": "anna",
    "api deactivate Anna": "anna",
    "page deactivate Anna": "anna",
    "api change Colin's role": "colin",
    "api deactivate Colin": "colin",
    "api withdraw Brightwater's staff link": "staff_link",
    "page withdraw Brightwater's staff link": "staff_link",
}


def _snapshot() -> tuple:
    return (
        AuditEvent.objects.count(),
        Message.objects.count(),
        sorted(Membership.objects.values_list("room_id", "person_id", "removed_at")),
        sorted(Person.objects.values_list("id", "role", "organisation_id")),
        sorted(get_user_model().objects.filter(is_active=True).values_list("id", flat=True)),
        sorted(Invitation.objects.values_list("id", "used_at", "cancelled_at")),
        sorted(
            ServiceUser.objects.values_list(
                "id", "full_name", "preferred_name", "archived_at", "person_id"
            )
        ),
    )


@pytest.fixture
def world(cast):
    admins = build_admins(cast)
    people = cast.everyone() | {k: getattr(admins, v) for k, v in ADMIN_ACTORS.items()}
    link = Invitation.objects.create(
        kind="staff",
        organisation=cast.provider,
        role="care_worker",
        display_name="Pending",
        token_hash="0" * 64,
        created_by=admins.pam,
        created_at=cast.peggy.created_at,
        expires_at=cast.peggy.created_at.replace(year=2099),
    )
    return {
        "people": people,
        "olly": cast.outsider_worker.id,
        "anna": cast.anna.id,
        "colin": cast.colin.id,
        "staff_link": link.id,
        "peggy": cast.peggy.id,
    }


def _target(op: Op, w: dict) -> int | None:
    if not op.targeted:
        return None
    return w[TARGETS.get(op.name, "peggy")]


@pytest.mark.parametrize("op", OPS, ids=[o.name for o in OPS])
def test_set_up_access_by_role_and_organisation_and_one_404(world, op):
    people = world["people"]
    target = _target(op, world)
    # The reference refusal: a target nobody has, asked by someone allowed to act.
    some_allowed = client_for(people[next(iter(op.allowed))])
    if op.api:
        reference = _api("post", "/org/staff/{t}/role", {"role": "care_worker"})(
            client_for(people["provider_admin"]), world, UNKNOWN_ID
        )
    else:
        reference = _page("get", "/org/service-users/{t}/")(some_allowed, world, UNKNOWN_ID)
    assert reference.status_code == REFUSED
    got, bodies = {}, set()
    # Refused actors first (nothing may change), then the allowed ones.
    order = [a for a in ALL_ACTORS if a not in op.allowed] + list(op.allowed)
    for actor in order:
        before = _snapshot()
        r = op.call(client_for(people[actor]), world, target)
        got[actor] = r.status_code
        if r.status_code == REFUSED:
            bodies.add(r.content)
            assert _snapshot() == before, (op.name, actor)
    want = {a: op.allowed.get(a, REFUSED) for a in ALL_ACTORS}
    assert got == want
    assert bodies == {reference.content}, op.name


def test_an_unknown_target_reads_like_another_tenants(world):
    """Asking for Reg (another council's service user) or an id nobody has: one answer."""
    pam = client_for(world["people"]["provider_admin"])
    reg = ServiceUser.objects.get(full_name="Reginald Turner").id
    a = pam.get(f"/api/org/service-users/{reg}")
    b = pam.get(f"/api/org/service-users/{UNKNOWN_ID}")
    assert (
        (a.status_code, a.content)
        == (b.status_code, b.content)
        == (
            404,
            b'{"error": "not_found", "message": "No such person."}',
        )
    )


def test_lists_hold_only_the_callers_own_organisation(world, cast):
    people = world["people"]
    for actor, (sees, hidden) in {
        "provider_admin": ("Anna Kowalski", "Erin Elsewhere"),
        "other_provider_admin": ("Eddie Admin", "Anna Kowalski"),
        "other_council_provider_admin": ("Wes Hall", "Anna Kowalski"),
        "council_admin": ("Colin Price", "Sofia Green"),
        "other_council_admin": ("Sofia Green", "Colin Price"),
    }.items():
        names = {p["name"] for p in client_for(people[actor]).get("/api/org/staff").json()}
        assert sees in names and hidden not in names, actor
    for actor, (sees, hidden) in {
        "provider_admin": ("Margaret Hughes", "Reginald Turner"),
        "care_manager": ("Margaret Hughes", "Reginald Turner"),
        "other_council_manager": ("Reginald Turner", "Margaret Hughes"),
        "other_provider_manager": (None, "Margaret Hughes"),
    }.items():
        got = client_for(people[actor]).get("/api/org/service-users").json()
        names = {s["full_name"] for s in got}
        assert hidden not in names and (sees is None or sees in names), actor


def test_signed_out_callers_are_asked_to_sign_in(world):
    assert Client().get("/api/org/staff").status_code == 401
    r = Client().get("/org/staff/")
    assert r.status_code == 302 and r["Location"].startswith("/login/")
