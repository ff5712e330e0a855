"""Dashboards on a read replica (web/dashboards/replica.py): with a ``replica`` database
configured, a dashboard page reads its figures there, while access, sessions, the audit
row of the read and every chat read stay on the primary.

The "replica" here is a second connection to the same test database (as
``COCARE_REPLICA_DATABASE_URL`` pointing at the primary would be): the rows are the same,
so which connection each query used shows the routing.
"""

from __future__ import annotations

import contextlib

import pytest
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext

from cocare_chat import clock
from rooms.models import AuditEvent
from tests.web.dashboards_data import NOW, build_history
from web.dashboards import replica

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", replica.REPLICA])


@pytest.fixture(scope="module", autouse=True)
def replica_alias():
    # Module scope: the alias must exist before the database fixture validates the
    # test's databases, and only for this module.
    connections.settings[replica.REPLICA] = dict(connections["default"].settings_dict)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            connections[replica.REPLICA].close()
        del connections[replica.REPLICA]
        del connections.settings[replica.REPLICA]


@pytest.fixture
def with_replica():
    return connections[replica.REPLICA]


@pytest.fixture
def world(cast):
    build_history(cast)
    clock.freeze(NOW)
    return cast


def signed_in(person) -> Client:
    c = Client()
    c.force_login(person.user)
    return c


def sql(ctx: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries]


@pytest.mark.parametrize(
    ("who", "url"),
    [
        ("carol", "/dashboards/provider/"),
        ("carol", "/dashboards/provider/export.csv"),
        ("colin", "/dashboards/council/"),
        ("nadia", "/dashboards/service-user/{su}/"),
    ],
)
def test_dashboard_figures_come_from_the_replica_and_access_and_audit_from_the_primary(
    world, with_replica, who, url
):
    client = signed_in(getattr(world, who))
    before = AuditEvent.objects.count()
    with (
        CaptureQueriesContext(with_replica) as on_replica,
        CaptureQueriesContext(connections["default"]) as on_primary,
    ):
        r = client.get(url.format(su=world.peggy.pk))
    assert r.status_code == 200
    figures = sql(on_replica)
    assert figures and all(s.lstrip().upper().startswith("SELECT") for s in figures)
    assert any("bots_visit" in s or "dashboards_daytotals" in s for s in figures)
    primary = sql(on_primary)
    # Figures are not read twice: no visit/observation aggregate ran on the primary.
    assert not any("bots_visit" in s or "bots_observation" in s for s in primary)
    assert any("django_session" in s for s in primary)  # who is asking: the primary
    assert AuditEvent.objects.count() == before + 1  # the read is audited, on the primary


def test_a_refused_dashboard_reads_nothing_from_the_replica(world, with_replica):
    client = signed_in(world.other_manager)  # another provider's manager
    with CaptureQueriesContext(with_replica) as on_replica:
        r = client.get(f"/dashboards/service-user/{world.peggy.pk}/")
    assert r.status_code == 404
    assert sql(on_replica) == []


def test_chat_reads_stay_on_the_primary_with_a_replica_configured(world, with_replica):
    client = signed_in(world.nadia)
    with CaptureQueriesContext(with_replica) as on_replica:
        r = client.get(f"/api/rooms/{world.team.pk}/messages")
        assert r.status_code == 200
        r = client.get(f"/dashboards/service-user/{world.peggy.pk}/today.json")
    assert sql(on_replica) == []


def test_without_a_replica_the_router_leaves_reads_on_default():
    saved = connections.settings.pop(replica.REPLICA)
    try:
        assert not replica.configured()
        with replica.figures_from_replica():
            assert replica.ReplicaRouter().db_for_read(object) is None
    finally:
        connections.settings[replica.REPLICA] = saved
    with replica.figures_from_replica():
        assert replica.ReplicaRouter().db_for_read(object) == replica.REPLICA
    assert replica.ReplicaRouter().db_for_read(object) is None  # outside the block
