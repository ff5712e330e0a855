"""Set-up for the visit-record tests: a second council, plans, medicines and visits.

The cast (tests/support/cast.py) has two providers under one council; the visit record
also needs a second council: Brightwater (Peggy's provider) cares for Ray, funded by
Westshire; Elsewhere Care (Oscar's provider) cares for Sam, funded by Northshire.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from dataclasses import dataclass

from django.test import Client

from bots.models import PlannedVisit, Visit
from careplan import actions
from careplan.medicines import MedicineSpec
from careplan.models import Medicine
from careplan.rules import PlanSpec
from rooms.models import Organisation, Person, Room, ServiceUser
from rooms.network import do_add_member, do_create_service_user
from tests.support.cast import T0, Cast, person

_ids = itertools.count(1)
MIN = dt.timedelta(minutes=1)

PLAN = {
    "outcomes": [{"key": "home", "text": "Stay living in my own home"}],
    "tasks": [
        {
            "key": "personal-care",
            "label": "Wash and dress; check heels for redness",
            "visit_type": "morning",
            "essential": True,
            "family_label": "personal care",
            "outcome": "home",
        },
        {
            "key": "breakfast",
            "label": "Breakfast: porridge, tea one sugar",
            "visit_type": "morning",
            "family_label": "breakfast",
        },
        {
            "key": "catheter",
            "label": "Empty catheter bag",
            "visit_type": "morning",
            "essential": True,
        },
        {"key": "lunch", "label": "Lunch", "visit_type": "lunch", "family_label": "lunch"},
    ],
}
MADOPAR = {
    "name": "Co-beneldopa 62.5 mg",
    "dose": "1 capsule",
    "route": "oral",
    "times": ["09:00", "13:00"],
    "time_critical": True,
}
PARACETAMOL = {
    "name": "Paracetamol 500 mg",
    "dose": "2 tablets",
    "route": "oral",
    "prn": {"max_doses_24h": 4, "min_interval_minutes": 240},
}


@dataclass
class World:
    westshire: Organisation
    ray: ServiceUser  # Brightwater, funded by Westshire
    sam: ServiceUser  # Elsewhere Care, funded by Northshire
    ben: Person  # Brightwater care worker, visits Ray
    ella: Person  # Elsewhere Care worker, visits Sam


def build_world(cast: Cast) -> World:
    west = Organisation.objects.create(name="Westshire Council", kind="council")
    ray = do_create_service_user(
        full_name="Raymond Booth",
        provider=cast.provider,
        council=west,
        created_by=cast.carol,
        now=T0,
        commissioned_hours_per_week=5,
    )
    sam = do_create_service_user(
        full_name="Samuel Okafor",
        provider=cast.other_provider,
        council=cast.council,
        created_by=cast.other_manager,
        now=T0,
        commissioned_hours_per_week=3,
    )
    ben = person("ben", "Ben Carter", "care_worker", cast.provider)
    ella = person("ella", "Ella Morris", "care_worker", cast.other_provider)
    for su, worker in ((ray, ben), (sam, ella)):
        team = Room.objects.get(service_user=su, kind="professional")
        do_add_member(team, worker, now=T0, notify=False)
    return World(west, ray, sam, ben, ella)


def save_plan(su: ServiceUser, by: Person, plan: dict | None = None, *, now=T0):
    return actions.do_save_plan(su, PlanSpec.model_validate(plan or PLAN), by=by, now=now).obj


def add_medicine(su: ServiceUser, by: Person, spec: dict, *, now=T0) -> Medicine:
    return actions.do_add_medicine(su, MedicineSpec.model_validate(spec), by=by, now=now)


def planned(su: ServiceUser, worker: Person, start: dt.datetime, minutes: int) -> PlannedVisit:
    return PlannedVisit.objects.create(
        service_user=su,
        worker=worker,
        window_start=start,
        window_end=start + minutes * MIN,
        expected_minutes=minutes,
        missed_check_at=start + (minutes + 60) * MIN,
        created_at=T0,
        updated_at=T0,
    )


def visit(
    su: ServiceUser,
    worker: Person,
    start: dt.datetime,
    minutes: int | None,
    *,
    plan: PlannedVisit | None = None,
    pos_in=None,
    pos_out=None,
) -> Visit:
    """A visit as the bot records it (check-in/out times and positions)."""
    v = Visit.objects.create(
        service_user=su,
        worker=worker,
        planned_visit=plan,
        checked_in_at=start,
        checkin_location="in_range",
        checkin_lat=pos_in[0] if pos_in else None,
        checkin_lon=pos_in[1] if pos_in else None,
    )
    if minutes is not None:
        v.checked_out_at = start + minutes * MIN
        v.checkout_location = "in_range"
        if pos_out:
            v.checkout_lat, v.checkout_lon = pos_out
        v.save()
    return v


def client_for(p: Person) -> Client:
    c = Client()
    c.force_login(p.user)
    return c


def cid() -> str:
    return f"cp-test-{next(_ids)}"


def put(c: Client, url: str, body: dict):
    return c.put(url, json.dumps(body), content_type="application/json")


def post(c: Client, url: str, body: dict):
    return c.post(url, json.dumps(body), content_type="application/json")
