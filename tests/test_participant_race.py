"""The system sender and each provider's visit bot are one row, even when two processes
race on first use (PostgreSQL, two connections), and notices keep posting afterwards.

Both threads are held at the moment of insert (after each has seen no row), so the race
the issue reproduced happens on every run rather than by luck.
"""

from __future__ import annotations

import contextlib
import threading

import pytest
from django.db import connection
from django.db.models.query import QuerySet

from bots.runner import BOT_NAME, bot_for
from cocare_chat import clock
from rooms.models import Message, Organisation, Person, Room
from rooms.network import SYSTEM_NAME, do_create_service_user, notice, system_person
from tests.support.services import missing


def _race(monkeypatch, make) -> list[Person]:
    """Run ``make()`` in two threads (two connections) that meet just before inserting."""
    barrier = threading.Barrier(2, timeout=10)
    real_create = QuerySet.create

    def create(self, **kwargs):
        if self.model is Person:
            # Only one got here (the other found the row): nothing to line up.
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait()
        return real_create(self, **kwargs)

    monkeypatch.setattr(QuerySet, "create", create)
    got: list[Person] = []
    errors: list[BaseException] = []

    def run():
        try:
            got.append(make())
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    monkeypatch.setattr(QuerySet, "create", real_create)
    assert not errors, errors
    return got


@pytest.fixture
def network(transactional_db):
    if connection.vendor != "postgresql":
        missing("PostgreSQL (set COCARE_DATABASE_URL=postgres://...)")
    council = Organisation.objects.create(name="Northshire", kind="council")
    provider = Organisation.objects.create(
        name="Brightwater", kind="provider", commissioned_by=council
    )
    su = do_create_service_user(full_name="Peggy", provider=provider, council=council)
    return provider, Room.objects.get(service_user=su, kind="professional")


@pytest.mark.services
def test_racing_first_notices_make_one_system_sender_and_both_post(network, monkeypatch):
    _, room = network

    def first_notice() -> Person:
        notice(room, "Visit plan changed", "test.race", clock.now())
        return system_person()

    got = _race(monkeypatch, first_notice)
    assert Person.objects.filter(display_name=SYSTEM_NAME, role="bot").count() == 1
    assert {p.id for p in got} == {system_person().id}
    # Every later notice posts (no MultipleObjectsReturned), all from the one sender.
    notice(room, "Alert acknowledged", "test.after", clock.now())
    senders = set(
        Message.objects.filter(room=room, kind="system").values_list("sender_id", flat=True)
    )
    assert senders == {system_person().id}
    assert Message.objects.filter(room=room, kind="system").count() == 3


@pytest.mark.services
def test_racing_first_use_makes_one_visit_bot_per_provider(network, monkeypatch):
    provider, _ = network
    got = _race(monkeypatch, lambda: bot_for(provider))
    rows = Person.objects.filter(role="bot", display_name=BOT_NAME, organisation=provider)
    assert rows.count() == 1
    assert {p.id for p in got} == {rows.get().id}
    assert rows.get().system_key == f"visit-bot:{provider.id}"


@pytest.mark.django_db(transaction=True)
def test_the_migration_keys_the_lowest_of_duplicates_an_old_race_left():
    """A deployment that already raced: the lowest id becomes the keyed row, per kind."""
    from django.db.migrations.executor import MigrationExecutor

    before = [("rooms", "0005_assessor_role_and_allocation"), ("bots", "0002_dashboard_indexes")]
    after = [
        ("rooms", "0006_participant_keys_and_health_partners"),
        ("bots", "0003_key_visit_bots"),
    ]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        apps = executor.loader.project_state(before).apps
        OldPerson = apps.get_model("rooms", "Person")  # noqa: N806
        OldOrg = apps.get_model("rooms", "Organisation")  # noqa: N806
        provider = OldOrg.objects.create(name="Brightwater", kind="provider")
        other = OldOrg.objects.create(name="Elsewhere", kind="provider")
        made = {
            key: [
                OldPerson.objects.create(role="bot", display_name=name, organisation=org).id
                for _ in range(2)
            ]
            for key, name, org in (
                ("system", SYSTEM_NAME, None),
                (f"visit-bot:{provider.id}", BOT_NAME, provider),
                (f"visit-bot:{other.id}", BOT_NAME, other),
            )
        }
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
    for key, ids in made.items():
        assert Person.objects.get(system_key=key).id == min(ids)
        assert Person.objects.get(pk=max(ids)).system_key is None
    assert system_person().id == min(made["system"])
