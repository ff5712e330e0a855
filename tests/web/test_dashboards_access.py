"""Who sees which dashboard (DESIGN.md §4, docs/dashboards.md): every role x dashboard x
page/CSV through the Django test client, deny cases included; what each level hides;
every read audited."""

from __future__ import annotations

import pytest
from django.test import Client

from cocare_chat import clock
from rooms.errors import NotFound
from rooms.models import AuditEvent, FamilyBasis
from rooms.network import do_record_family_basis
from tests.web.dashboards_data import NOW, build_history
from web.dashboards.access import Dashboard, Level, authorise

pytestmark = pytest.mark.django_db

ROLES = [
    "service_user",
    "care_worker",
    "nurse",
    "therapist",
    "care_manager",
    "family",
    "commissioner",
    "unassigned_worker",
    "other_provider_manager",
]

# role -> expected status for (su page, su csv, summary, provider, provider csv,
#                              council, council csv)
EXPECTED = {
    "service_user": (200, 200, 403, 404, 404, 404, 404),
    "care_worker": (200, 200, 403, 404, 404, 404, 404),
    "nurse": (200, 200, 200, 404, 404, 404, 404),
    "therapist": (200, 200, 200, 404, 404, 404, 404),
    "care_manager": (200, 200, 200, 200, 200, 404, 404),
    "family": (200, 200, 403, 404, 404, 404, 404),
    "commissioner": (404, 404, 404, 404, 404, 200, 200),
    "unassigned_worker": (404, 404, 404, 404, 404, 404, 404),
    "other_provider_manager": (404, 404, 404, 200, 200, 404, 404),
}


@pytest.fixture
def world(cast):
    build_history(cast)
    clock.freeze(NOW)
    return cast


def urls(su_id: int) -> list[str]:
    return [
        f"/dashboards/service-user/{su_id}/",
        f"/dashboards/service-user/{su_id}/export.csv",
        f"/dashboards/service-user/{su_id}/summary/",
        "/dashboards/provider/",
        "/dashboards/provider/export.csv",
        "/dashboards/council/",
        "/dashboards/council/export.csv",
    ]


def client_for(person) -> Client:
    c = Client()
    c.force_login(person.user)
    return c


@pytest.mark.parametrize("role", ROLES)
def test_access_matrix_pages_and_exports(world, role):
    who = world.everyone()[role]
    c = client_for(who)
    got = tuple(c.get(u).status_code for u in urls(world.peggy.pk))
    assert got == EXPECTED[role], f"{role}: {got}"


def test_signed_out_visitors_are_sent_to_sign_in(world):
    for u in urls(world.peggy.pk):
        r = Client().get(u)
        assert r.status_code == 302 and r["Location"].startswith("/login/")


def test_the_bot_has_no_dashboard(world):
    for d in Dashboard:
        with pytest.raises(NotFound):
            authorise(world.bot, d, service_user_id=world.peggy.pk)


def test_family_needs_consent_or_lpa_and_loses_it_on_revocation(world):
    su = world.peggy
    assert (
        authorise(world.debbie, Dashboard.SERVICE_USER, service_user_id=su.pk).level == Level.FAMILY
    )
    FamilyBasis.objects.filter(service_user=su).update(revoked_at=NOW)
    assert client_for(world.debbie).get(f"/dashboards/service-user/{su.pk}/").status_code == 404
    do_record_family_basis(
        su, world.debbie, "best_interests", by=world.carol, decision="MDT, 2 Mar", now=NOW
    )
    # A best-interests decision lets Debbie chat in the family room, not see the dashboard.
    assert client_for(world.debbie).get(f"/dashboards/service-user/{su.pk}/").status_code == 404
    FamilyBasis.objects.filter(service_user=su).update(revoked_at=NOW)
    do_record_family_basis(su, world.debbie, "lpa", by=world.carol, lpa_reference="L1", now=NOW)
    assert client_for(world.debbie).get(f"/dashboards/service-user/{su.pk}/").status_code == 200


def test_family_view_has_no_clinical_detail(world):
    page = client_for(world.debbie).get(f"/dashboards/service-user/{world.peggy.pk}/")
    body = page.content.decode()
    assert "Care experience" in body and "Ben Okafor" in body  # who came
    assert "Health" not in body and "Social care needs" not in body
    assert "confusion" not in body and "falls" not in body  # no alerts
    assert "summary" not in page.context["grant"].sections
    rows = (
        client_for(world.debbie)
        .get(f"/dashboards/service-user/{world.peggy.pk}/export.csv")
        .content.decode()
    )
    assert ",health," not in rows and "alert" not in rows


def test_care_worker_sees_only_their_own_visits(world):
    page = client_for(world.anna).get(f"/dashboards/service-user/{world.peggy.pk}/?period=4w")
    body = page.content.decode()
    assert "Anna Kowalski" in body and "Ben Okafor" not in body
    assert "Health" not in body and "confusion" not in body
    d = page.context["d"]
    assert d["visits"]["totals"]["planned"] == 2 and "domains" not in d


def test_service_user_sees_own_outcomes_but_not_the_alert_list(world):
    page = client_for(world.margaret).get(f"/dashboards/service-user/{world.peggy.pk}/")
    d = page.context["d"]
    assert d["alerts"]["totals"]["opened"] == 2 and "alert_list" not in d
    assert "Health" in page.content.decode() and "confusion" not in page.content.decode()


def test_council_pages_are_aggregates_without_names(world):
    c = client_for(world.colin)
    for u in (
        "/dashboards/council/?period=4w",
        f"/dashboards/council/?provider={world.provider.pk}",
        "/dashboards/council/export.csv?period=1y",
    ):
        body = c.get(u).content.decode()
        for name in ("Peggy", "Margaret", "Hughes", "Anna", "Ben Okafor", "Nadia"):
            assert name not in body, (u, name)
    assert "Brightwater" in c.get("/dashboards/council/").content.decode()


def test_council_provider_filter_only_for_its_own_providers(world, django_user_model):
    from rooms.models import Organisation

    other_council = Organisation.objects.create(name="Elsewhere Council", kind="council")
    foreign = Organisation.objects.create(
        name="Foreign Care", kind="provider", commissioned_by=other_council
    )
    c = client_for(world.colin)
    assert c.get(f"/dashboards/council/?provider={world.other_provider.pk}").status_code == 200
    assert c.get(f"/dashboards/council/?provider={foreign.pk}").status_code == 404
    assert c.get(f"/dashboards/council/export.csv?provider={foreign.pk}").status_code == 404
    # A care manager cannot look at another provider by id.
    assert (
        client_for(world.carol)
        .get(f"/dashboards/provider/?provider={world.other_provider.pk}")
        .status_code
        == 404
    )


def test_bad_filters_are_400_with_the_field_named(world):
    c = client_for(world.carol)
    r = c.get("/dashboards/provider/?period=forever")
    assert r.status_code == 400 and b"period" in r.content
    r = c.get("/dashboards/provider/?colour=red")
    assert r.status_code == 400 and b"colour" in r.content
    r = c.get(f"/dashboards/service-user/{world.peggy.pk}/?provider=3")
    assert r.status_code == 400


def test_every_read_poll_and_export_is_audited_without_content(world):
    su = world.peggy
    c = client_for(world.carol)
    c.get(f"/dashboards/service-user/{su.pk}/")
    c.get(f"/dashboards/service-user/{su.pk}/export.csv")
    c.get("/dashboards/provider/today.json")
    client_for(world.colin).get("/dashboards/council/")
    ev = list(
        AuditEvent.objects.filter(action__startswith="dashboard.")
        .order_by("id")
        .values_list("actor_id", "action", "service_user_id", "target")
    )
    assert ev == [
        (world.carol.pk, "dashboard.read", su.pk, f"dashboard:service_user:{su.pk}:full"),
        (world.carol.pk, "dashboard.export", su.pk, f"dashboard:service_user:{su.pk}:full"),
        (world.carol.pk, "dashboard.poll", None, f"dashboard:provider:{world.provider.pk}"),
        (world.colin.pk, "dashboard.read", None, f"dashboard:council:{world.council.pk}"),
    ]
    # A denied read writes nothing.
    client_for(world.colin).get(f"/dashboards/service-user/{su.pk}/")
    assert AuditEvent.objects.filter(action__startswith="dashboard.").count() == 4


def test_live_tile_json_follows_the_same_rules(world):
    su = world.peggy
    assert (
        client_for(world.anna).get(f"/dashboards/service-user/{su.pk}/today.json").status_code
        == 200
    )
    assert (
        client_for(world.outsider_worker)
        .get(f"/dashboards/service-user/{su.pk}/today.json")
        .status_code
        == 404
    )
    assert client_for(world.colin).get("/dashboards/provider/today.json").status_code == 404
