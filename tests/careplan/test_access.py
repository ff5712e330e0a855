"""Who reads and changes the visit record, through the HTTP API, across two providers and
two councils. Every refusal is the same 404 body and writes nothing."""

from __future__ import annotations

import datetime as dt

import pytest

from careplan.models import CarePlanVersion, Medicine, MedicineChange, MedicineRecord, TaskRecord
from rooms.assessors import do_allocate
from rooms.models import AuditEvent, Role
from tests.careplan.helpers import (
    MADOPAR,
    MIN,
    PLAN,
    add_medicine,
    build_world,
    cid,
    client_for,
    post,
    put,
    save_plan,
    visit,
)
from tests.support.cast import T0, person

pytestmark = pytest.mark.django_db
NOT_FOUND = {"error": "not_found", "message": "Not found."}
API = "/api/careplan"


@pytest.fixture
def world(cast):
    w = build_world(cast)
    save_plan(cast.peggy, cast.carol)
    add_medicine(cast.peggy, cast.carol, MADOPAR, now=T0 - dt.timedelta(days=1))
    return w


READERS = ["carol", "anna", "nadia", "tom"]
REFUSED = ["debbie", "margaret", "colin", "outsider_worker", "other_manager", "ella"]


def who(cast, world, name):
    return getattr(world, name, None) or getattr(cast, name)


@pytest.mark.parametrize("name", READERS + REFUSED)
def test_only_the_persons_care_team_reads_the_plan_medicines_and_mar(
    cast, world, name, frozen_clock
):
    c = client_for(who(cast, world, name))
    urls = [
        f"{API}/service-users/{cast.peggy.id}/plan",
        f"{API}/service-users/{cast.peggy.id}/plan/versions",
        f"{API}/service-users/{cast.peggy.id}/medicines",
        f"{API}/service-users/{cast.peggy.id}/mar?month=2026-03",
    ]
    before = AuditEvent.objects.count()
    for url in urls:
        r = c.get(url)
        if name in READERS:
            assert r.status_code == 200, (url, r.content)
        else:
            assert (r.status_code, r.json()) == (404, NOT_FOUND), url
    if name in READERS:
        assert r.json()["rows"][0]["name"] == "Co-beneldopa 62.5 mg"
        assert AuditEvent.objects.count() == before + len(urls)
    else:
        assert AuditEvent.objects.count() == before


def test_a_missing_person_and_a_refused_one_answer_alike(cast, world):
    c = client_for(cast.debbie)
    refused = c.get(f"{API}/service-users/{cast.peggy.id}/medicines")
    missing = client_for(cast.carol).get(f"{API}/service-users/999999/medicines")
    other = client_for(cast.other_manager).get(f"{API}/service-users/{world.ray.id}/plan")
    assert refused.content == missing.content == other.content
    assert refused.status_code == missing.status_code == other.status_code == 404


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("carol", True),
        ("nadia", True),
        ("anna", False),
        ("tom", False),
        ("debbie", False),
        ("other_manager", False),
        ("colin", False),
    ],
)
def test_only_nurses_and_the_providers_managers_change_the_medicines_list_and_it_is_audited(
    cast, world, name, allowed, frozen_clock
):
    c = client_for(who(cast, world, name))
    med = Medicine.objects.get(service_user=cast.peggy)
    audits = AuditEvent.objects.count()
    add = post(
        c,
        f"{API}/service-users/{cast.peggy.id}/medicines",
        {
            "name": "Senna 7.5 mg",
            "dose": "2 tablets",
            "route": "oral",
            "times": ["22:00"],
            "reason": "constipation, GP 1 March",
        },
    )
    change = put(c, f"{API}/medicines/{med.id}", {**MADOPAR, "times": ["08:00", "12:00"]})
    stop = post(c, f"{API}/medicines/{med.id}/stop", {"reason": "stopped by GP"})
    if not allowed:
        for r in (add, change, stop):
            assert (r.status_code, r.json()) == (404, NOT_FOUND)
        assert Medicine.objects.filter(service_user=cast.peggy).count() == 1
        assert MedicineChange.objects.count() == 1  # only the set-up's "added"
        assert AuditEvent.objects.count() == audits
        return
    assert add.status_code == 201 and change.status_code == 201, (add.content, change.content)
    new = change.json()
    assert new["times"] == ["08:00", "12:00"] and new["replaces"] == med.id
    assert stop.status_code == 200 and stop.json()["id"] == med.id
    med.refresh_from_db()
    assert med.stopped_at == T0  # changed: the old line stopped, a new one started
    actor = who(cast, world, name)
    changes = list(
        MedicineChange.objects.filter(changed_by=actor)
        .order_by("id")
        .exclude(medicine=med, action="added")  # the set-up's
        .values_list("medicine_id", "action")
    )
    assert changes == [(add.json()["id"], "added"), (med.id, "stopped"), (new["id"], "changed")]
    audited = set(AuditEvent.objects.filter(actor=actor).values_list("action", "target"))
    assert {
        ("medicine.added", f"medicine:{add.json()['id']}"),
        ("medicine.stopped", f"medicine:{med.id}"),
        ("medicine.changed", f"medicine:{new['id']}"),
    } <= audited
    # The change is kept: the history lists both, and the old line cannot be edited again.
    again = put(c, f"{API}/medicines/{med.id}", {**MADOPAR, "times": ["07:00"]})
    assert again.status_code == 409
    hist = c.get(f"{API}/medicines/{med.id}/changes").json()
    assert [h["action"] for h in hist] == ["added", "stopped"]


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("carol", True),
        ("nadia", True),
        ("anna", False),
        ("debbie", False),
        ("other_manager", False),
    ],
)
def test_only_nurses_and_managers_change_the_care_plan_and_each_change_is_a_version(
    cast, world, name, allowed, frozen_clock
):
    c = client_for(who(cast, world, name))
    new = {**PLAN, "tasks": PLAN["tasks"][:2], "base_version": 1, "note": "catheter removed"}
    r = put(c, f"{API}/service-users/{cast.peggy.id}/plan", new)
    if not allowed:
        assert (r.status_code, r.json()) == (404, NOT_FOUND)
        assert CarePlanVersion.objects.count() == 1
        return
    assert r.status_code == 201 and r.json()["version"] == 2
    assert [t["key"] for t in r.json()["tasks"]] == ["personal-care", "breakfast"]
    # A retry of the same save changes nothing; an edit from a stale base is a conflict.
    assert put(c, f"{API}/service-users/{cast.peggy.id}/plan", new).status_code == 200
    stale = put(c, f"{API}/service-users/{cast.peggy.id}/plan", {**PLAN, "base_version": 1})
    assert stale.status_code == 409
    versions = c.get(f"{API}/service-users/{cast.peggy.id}/plan/versions").json()
    actor = who(cast, world, name)
    assert [(v["version"], v["created_by"]) for v in versions] == [
        (2, actor.id),
        (1, cast.carol.id),
    ]
    v2 = CarePlanVersion.objects.get(service_user=cast.peggy, number=2)
    assert (
        AuditEvent.objects.filter(
            actor=actor, action="careplan.version", target=f"careplan_version:{v2.id}"
        ).count()
        == 1
    )


def test_family_never_sees_a_visits_tasks_or_doses(cast, world, frozen_clock):
    v = visit(cast.peggy, cast.anna, T0, None)
    for p in (cast.debbie, cast.margaret, cast.colin, cast.other_manager):
        r = client_for(p).get(f"{API}/visits/{v.id}/record")
        assert (r.status_code, r.json()) == (404, NOT_FOUND)
    r = client_for(cast.carol).get(f"{API}/visits/{v.id}/record")
    assert r.status_code == 200
    assert [t["key"] for t in r.json()["tasks"]] == ["personal-care", "breakfast", "catheter"]
    assert [(d["time"], d["time_critical"]) for d in r.json()["doses_due"]] == [("09:00", True)]


def test_only_the_visits_own_care_worker_records_and_only_during_the_visit(
    cast, world, frozen_clock
):
    v = visit(cast.peggy, cast.anna, T0, None)
    record = client_for(cast.carol).get(f"{API}/visits/{v.id}/record").json()
    task_id = record["tasks"][1]["id"]
    body = {"client_id": cid(), "task": task_id, "done": True}
    dose = {
        "client_id": cid(),
        "medicine": record["doses_due"][0]["medicine"],
        "scheduled_for": record["doses_due"][0]["scheduled_for"],
        "outcome": "given",
    }
    for p in (cast.carol, cast.nadia, cast.outsider_worker, cast.debbie, world.ben):
        c = client_for(p)
        assert post(c, f"{API}/visits/{v.id}/tasks", body).json() == NOT_FOUND
        assert post(c, f"{API}/visits/{v.id}/doses", dose).json() == NOT_FOUND
    assert TaskRecord.objects.count() == MedicineRecord.objects.count() == 0
    anna = client_for(cast.anna)
    assert post(anna, f"{API}/visits/{v.id}/tasks", body).status_code == 201
    # Checked out 2 hours ago: past the grace for late (offline) sends.
    v.checked_out_at = T0 + 30 * MIN
    v.save()
    frozen_clock.advance(dt.timedelta(hours=2, minutes=30))
    late = post(anna, f"{API}/visits/{v.id}/doses", dose)
    assert (late.status_code, late.json()) == (404, NOT_FOUND)
    assert MedicineRecord.objects.count() == 0


@pytest.mark.parametrize("field", ["name", "dose", "instructions", "reason"])
def test_a_nul_character_in_a_medicine_is_a_422_and_nothing_is_written(cast, world, field):
    body = {
        "name": "Senna",
        "dose": "2 tablets",
        "route": "oral",
        "times": ["22:00"],
        field: "bad \x00 text",
    }
    r = post(client_for(cast.carol), f"{API}/service-users/{cast.peggy.id}/medicines", body)
    assert r.status_code == 422 and "NUL" in r.json()["message"]
    assert Medicine.objects.filter(service_user=cast.peggy).count() == 1


def test_a_nul_character_in_a_task_label_is_a_422(cast, world):
    tasks = [{**PLAN["tasks"][0], "label": "wash\x00"}]
    r = put(
        client_for(cast.carol),
        f"{API}/service-users/{cast.peggy.id}/plan",
        {**PLAN, "tasks": tasks, "base_version": 1},
    )
    assert r.status_code == 422 and "NUL" in r.json()["message"]
    assert CarePlanVersion.objects.count() == 1


def test_an_allocated_assessor_reads_the_record_the_provider_sees_it_and_nobody_else_does(
    cast, world, frozen_clock
):
    """Issue 16: the council assessor reads an allocated person's care plan, tasks and
    medicines history (audited, shown to the provider), never changes or records them."""
    ruth = person("ruth", "Ruth Assessor", Role.ASSESSOR, cast.council)
    wendy = person("wendy", "Wendy Westshire", Role.ASSESSOR, world.westshire)
    do_allocate(
        ruth, cast.peggy, by=cast.colin, starts_on=dt.date(2026, 3, 2), ends_on=dt.date(2026, 3, 31)
    )
    do_allocate(wendy, world.ray, by=cast.colin)
    v = visit(cast.peggy, cast.anna, T0, None)
    reads = [
        f"{API}/service-users/{cast.peggy.id}/plan",
        f"{API}/service-users/{cast.peggy.id}/plan/versions",
        f"{API}/service-users/{cast.peggy.id}/medicines",
        f"{API}/service-users/{cast.peggy.id}/mar?month=2026-03",
        f"{API}/visits/{v.id}/record",
    ]
    c = client_for(ruth)
    assert [c.get(u).status_code for u in reads] == [200] * len(reads)
    med = Medicine.objects.get(service_user=cast.peggy)
    for r in (
        post(c, f"{API}/service-users/{cast.peggy.id}/medicines", MADOPAR),
        post(c, f"{API}/medicines/{med.id}/stop", {}),
        put(c, f"{API}/service-users/{cast.peggy.id}/plan", {**PLAN, "base_version": 1}),
        c.get(
            f"{API}/exports/council.csv?council={cast.council.id}&start=2026-03-01&end=2026-03-02"
        ),
    ):
        assert (r.status_code, r.json()) == (404, NOT_FOUND)
    # Another council's assessor, and Ruth for someone not allocated to her: the same 404.
    for who, su in ((wendy, cast.peggy), (ruth, world.ray), (ruth, world.sam)):
        r = client_for(who).get(f"{API}/service-users/{su.id}/medicines")
        assert (r.status_code, r.json()) == (404, NOT_FOUND)
    # The provider's manager sees who from the council read the record.
    listed = client_for(cast.carol).get(f"/api/service-users/{cast.peggy.id}/record-reads")
    actions = {r["action"] for r in listed.json()["reads"] if r["reader"]["id"] == ruth.id}
    assert {"careplan.read", "medicine.list", "mar.read", "visit_record.read"} <= actions
    # After the allocation ends, nothing.
    frozen_clock.advance(dt.timedelta(days=30))
    r = c.get(f"{API}/service-users/{cast.peggy.id}/plan")
    assert (r.status_code, r.json()) == (404, NOT_FOUND)
