"""The demo care network: a fixed persona cast plus optional synthetic scale.

The persona cast goes through the real actions (``rooms.network``, ``post_message``).
Synthetic history at ``--scale`` is bulk-inserted, like a data import: it writes
gap-free seqs and ``room.last_seq`` itself and moves every worker cursor past it, so the
bots and the escalation engine do not react to years of invented history. See
docs/decisions.md.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import connection, transaction

from bots.models import PlannedVisit, Visit
from bots.synthetic import generate_history
from careplan.actions import do_add_medicine, do_save_plan
from careplan.medicines import MedicineSpec
from careplan.rules import PlanSpec
from cocare_chat import clock
from escalation.models import Alert, AlertEvent, Flag
from escalation.policy import default_policy
from rooms import logorder
from rooms.assessors import do_allocate
from rooms.bulkload import BulkLoader
from rooms.messages import post_message
from rooms.models import ConsumerCursor, Message, Organisation, Person, Role, Room, ServiceUser
from rooms.network import do_add_member, do_create_service_user, do_record_family_basis
from web.dashboards.rollup import refresh_all

DEMO_PASSWORD = "cocare-demo-2026"


@dataclass(frozen=True)
class Persona:
    username: str
    name: str
    role: str
    org: str  # council | provider | health | none


CAST = [
    Persona("anna", "Anna Kowalski", Role.CARE_WORKER, "provider"),
    Persona("ben", "Ben Okafor", Role.CARE_WORKER, "provider"),
    Persona("nadia", "Nadia Rahman", Role.NURSE, "health"),
    Persona("tom", "Tom Reid", Role.THERAPIST, "health"),
    Persona("carol", "Carol Evans", Role.CARE_MANAGER, "provider"),
    Persona("priya", "Priya Shah", Role.CARE_MANAGER, "provider"),
    Persona("debbie", "Debbie Hughes", Role.FAMILY, "none"),
    Persona("margaret", "Margaret Hughes", Role.SERVICE_USER, "none"),
    Persona("colin", "Colin Price", Role.COMMISSIONER, "council"),
    Persona("ruth", "Ruth Adams", Role.ASSESSOR, "council"),
]


def _user(username: str, password: str | None):
    User = get_user_model()
    user, created = User.objects.get_or_create(username=username)
    if created:
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
    return user


def build_demo(now: dt.datetime | None = None) -> dict[str, Person]:
    """Create the persona cast and three service users. Idempotent on the council name."""
    now = now or clock.now()
    council, created = Organisation.objects.get_or_create(
        name="Northshire County Council", kind=Organisation.Kind.COUNCIL
    )
    if not created:
        return {p.username: Person.objects.get(user__username=p.username) for p in CAST}
    with transaction.atomic():
        provider = Organisation.objects.create(
            name="Brightwater Home Care", kind=Organisation.Kind.PROVIDER, commissioned_by=council
        )
        health = Organisation.objects.create(
            name="Northshire Community Health", kind=Organisation.Kind.HEALTH
        )
        # Its district nurses and physios may be added to Brightwater's team rooms.
        health.partner_providers.add(provider)
        orgs = {"council": council, "provider": provider, "health": health, "none": None}
        people = {
            p.username: Person.objects.create(
                user=_user(p.username, DEMO_PASSWORD),
                display_name=p.name,
                role=p.role,
                organisation=orgs[p.org],
            )
            for p in CAST
        }
        manager = people["carol"]
        margaret = do_create_service_user(
            full_name="Margaret Hughes",
            preferred_name="Peggy",
            provider=provider,
            council=council,
            created_by=manager,
            now=now,
            person=people["margaret"],
            preferences="Tea with one sugar; radio on low; likes to choose her own clothes.",
            what_matters="Staying in her own home; her garden; phone calls with Debbie.",
            communication_needs="Hard of hearing on the left: speak on her right side.",
            access_notes="Key safe by the back door; the dog is friendly.",
            home_lat=53.4808,
            home_lon=-2.2426,
            commissioned_hours_per_week=10.5,
        )
        arthur = do_create_service_user(
            full_name="Arthur Patel",
            provider=provider,
            council=council,
            created_by=manager,
            now=now,
            preferences="Vegetarian; prefers showers to baths.",
            what_matters="Walking to the corner shop for his paper.",
            communication_needs="Gujarati is his first language; reads English well.",
            access_notes="Ring twice and wait: he takes a while to reach the door.",
            home_lat=53.4851,
            home_lon=-2.2360,
            commissioned_hours_per_week=7,
        )
        edith = do_create_service_user(
            full_name="Edith Walsh",
            provider=provider,
            council=council,
            created_by=manager,
            now=now,
            preferences="Early riser; breakfast by 8.",
            what_matters="Her cat, Smudge.",
            communication_needs="Uses a hearing aid.",
            access_notes="Farm track: no mobile signal at the house.",
            home_lat=53.61,
            home_lon=-2.05,
            location_exempt=True,
            location_exempt_reason="No mobile signal at the farmhouse.",
            commissioned_hours_per_week=14,
        )
        do_record_family_basis(
            margaret,
            people["debbie"],
            "consent",
            by=manager,
            notes="Peggy agreed on 2 Nov.",
            now=now,
        )
        do_allocate(people["ruth"], margaret, by=people["colin"], now=now)
        for su in (margaret, arthur, edith):
            team = Room.objects.get(service_user=su, kind=Room.Kind.PROFESSIONAL)
            family = Room.objects.get(service_user=su, kind=Room.Kind.FAMILY)
            for who in ("carol", "priya", "anna", "ben"):
                do_add_member(team, people[who], by=manager, now=now, notify=False)
                do_add_member(family, people[who], by=manager, now=now, notify=False)
            for who in ("nadia", "tom"):
                do_add_member(team, people[who], by=manager, now=now, notify=False)
        fam = Room.objects.get(service_user=margaret, kind=Room.Kind.FAMILY)
        team = Room.objects.get(service_user=margaret, kind=Room.Kind.PROFESSIONAL)
        do_add_member(fam, people["debbie"], by=manager, now=now)
        do_add_member(fam, people["margaret"], by=manager, now=now)
        post_message(
            room=team,
            sender=people["nadia"],
            kind="note",
            now=now,
            body="Dressing changed on left shin; healing well. Review Thursday.",
        )
        post_message(
            room=team,
            sender=people["anna"],
            now=now,
            body="Peggy ate all her lunch today and was chatty.",
        )
        post_message(
            room=fam,
            sender=people["debbie"],
            now=now,
            body="Thanks all. I'll ring Mum on Sunday as usual.",
        )
        post_message(
            room=fam,
            sender=people["anna"],
            now=now,
            body="Peggy enjoyed sitting in the garden this afternoon.",
        )
        _visit_record_for_peggy(margaret, people["nadia"], now)
    return people


# Peggy's care plan and medicines, so a demo check-in shows the tasks card (and, near a
# dose time, the medicines on it) whatever the time of day: the same three tasks under
# every default visit type.
DEMO_TASKS = [
    ("care", "Wash and dress; check heels for redness", True, "personal care"),
    ("meal", "Hot meal and a drink; note how much she ate", False, "a meal"),
    ("walk", "Short walk with the frame", False, "a walk"),
]
DEMO_MEDICINES = [
    # Parkinson's: every four hours while awake, time-critical (30 min either side).
    {
        "name": "Co-beneldopa 62.5 mg",
        "dose": "1 capsule",
        "route": "oral",
        "times": ["07:00", "11:00", "15:00", "19:00"],
        "time_critical": True,
        "instructions": "Give on time; with a little water.",
    },
    {"name": "Senna 7.5 mg", "dose": "2 tablets", "route": "oral", "times": ["20:00"]},
]


def _visit_record_for_peggy(su: ServiceUser, nurse: Person, now: dt.datetime) -> None:
    plan = PlanSpec.model_validate(
        {
            "outcomes": [{"key": "home", "text": "Stay living in my own home"}],
            "tasks": [
                {
                    "key": f"{vt}-{key}",
                    "label": label,
                    "visit_type": vt,
                    "essential": essential,
                    "family_label": family,
                    "outcome": "home",
                }
                for vt in ("morning", "lunch", "tea", "bed")
                for key, label, essential, family in DEMO_TASKS
            ],
        }
    )
    do_save_plan(su, plan, by=nurse, now=now, note="Demo care plan")
    for spec in DEMO_MEDICINES:  # prescribed yesterday, so today's earlier doses count
        do_add_medicine(
            su,
            MedicineSpec.model_validate(spec),
            by=nurse,
            now=now - dt.timedelta(days=1),
            reason="Demo: from the GP's letter",
        )


FIRST = [
    "Joan",
    "Harold",
    "Irene",
    "Stanley",
    "Doris",
    "Kenneth",
    "Mavis",
    "Ronald",
    "Sheila",
    "Derek",
    "Brenda",
    "Norman",
    "Pauline",
    "Gordon",
    "Valerie",
    "Leslie",
    "Hilda",
    "Roy",
]
LAST = [
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Evans",
    "Thomas",
    "Roberts",
    "Khan",
    "Ahmed",
    "Murphy",
    "Kelly",
    "Lewis",
    "Walker",
    "Hall",
    "Wood",
    "Clarke",
]
LINES = [
    "All well today, lunch eaten.",
    "Needed help with stockings this morning.",
    "Chatted about the grandchildren.",
    "Bins put out.",
    "Medication taken with breakfast.",
    "A bit tired but in good spirits.",
    "Went out to the garden with the frame.",
    "Shopping list left on the fridge.",
    "Prescription collected.",
]


def build_scale(
    service_users: int,
    years: float,
    *,
    messages_per_week: int = 6,
    seed: int = 7,
    now: dt.datetime | None = None,
    progress=None,
    visits_per_week: int = 5,
    alerts_per_year: float = 3.0,
    flush_rows: int = 100_000,
) -> int:
    """Add ``service_users`` synthetic people, each with ``years`` of history.

    Per person: room messages, visits and observations (``bots.synthetic``), the planned
    visits those visits delivered plus a few missed ones, and resolved alerts with response
    times (``escalation`` models). The demo cast's own service users get the same visit
    history once (when they have none), so their dashboards are not empty.
    Returns the number of messages written. Providers are spread 1 per 250 people so the
    council dashboards have several to compare. Bounded: about ``visits_per_week * 52 *
    years`` visits per person. People are created through the real actions; their history
    rows are buffered in a ``rooms.bulkload.BulkLoader`` and written about ``flush_rows``
    at a time (COPY on PostgreSQL), one transaction per batch of people. ``progress`` is
    called with the number of people of each committed batch. The same ``seed`` and
    ``now`` give the same rows (docs/performance.md, "Seeding at scale").
    """
    rng = random.Random(seed)
    now = now or clock.now()
    council = Organisation.objects.get(name="Northshire County Council")
    n_providers = max(1, service_users // 250)
    providers = [
        Organisation.objects.get_or_create(
            name=f"Synthetic Care {i + 1}",
            kind=Organisation.Kind.PROVIDER,
            defaults={"commissioned_by": council},
        )[0]
        for i in range(n_providers)
    ]
    workers = {
        prov.id: [
            Person.objects.get_or_create(
                display_name=f"Worker {prov.id}-{j}",
                role=Role.CARE_WORKER,
                organisation=prov,
            )[0]
            for j in range(max(4, service_users // n_providers // 8))
        ]
        for prov in providers
    }
    start = now - dt.timedelta(days=365 * years)
    weeks = max(1, int(years * 52))
    written = 0
    policy = default_policy().model_dump(mode="json")
    loader = BulkLoader(trusted_references=True)
    _history_for_demo_cast(start, now, rng, policy, alerts_per_year, loader)
    i = 0
    while i < service_users:
        # One transaction per batch of people: their rooms, memberships and history are
        # committed together (COPY of about ``flush_rows`` rows), or not at all.
        heads: list[tuple[int, int]] = []
        batch = 0
        with transaction.atomic():
            while i < service_users and (batch == 0 or loader.pending() < flush_rows):
                prov = providers[i % n_providers]
                written += _synthetic_person(
                    prov, council, workers[prov.id], start, now, weeks, rng, policy, loader,
                    heads, messages_per_week, visits_per_week, alerts_per_year,
                )  # fmt: skip
                i += 1
                batch += 1
            loader.flush()
            _update_by_id(Room._meta.db_table, "last_seq", heads)
        if progress is not None:
            progress(batch)
    # Synthetic history is not news: move every worker cursor past it.
    head = logorder.head()
    ConsumerCursor.objects.update(txid=head.txid, position=head.id)
    refresh_all(now)  # the dashboards' daily rollups over the new history
    return written


def _synthetic_person(
    prov, council, workers, start, now, weeks, rng, policy, loader, heads,
    messages_per_week, visits_per_week, alerts_per_year,
) -> int:  # fmt: skip
    """One synthetic person through the real actions, their history into ``loader``.

    The rng is drawn in the same order as before the loader existed (name, place, hours,
    crew, messages, visits, alerts), so a seed gives the same people and the same figures.
    Returns the number of messages buffered; appends (room id, last seq) to ``heads``.
    """
    su = do_create_service_user(
        full_name=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
        provider=prov,
        council=council,
        now=start,
        home_lat=53.4 + rng.random() * 0.3,
        home_lon=-2.3 + rng.random() * 0.3,
        # Commissioned close to what the synthetic visits deliver (~32 min each),
        # so hours delivered vs commissioned reads like a real contract.
        commissioned_hours_per_week=round(visits_per_week * 32 / 60 * rng.uniform(0.95, 1.2) * 2)
        / 2,
    )
    team = Room.objects.get(service_user=su, kind=Room.Kind.PROFESSIONAL)
    crew = rng.sample(workers, k=min(3, len(workers)))
    for w in crew:
        do_add_member(team, w, now=start, notify=False)
    rows = []
    seq = 0
    for week in range(weeks):
        base = start + dt.timedelta(weeks=week)
        for _ in range(messages_per_week):
            seq += 1
            rows.append(
                {
                    "room_id": team.pk,
                    "seq": seq,
                    "sender_id": rng.choice(crew).pk,
                    "kind": "text",
                    "body": rng.choice(LINES),
                    "payload": {},
                    "created_at": base + dt.timedelta(minutes=rng.randrange(7 * 24 * 60)),
                }
            )
    for row, mid in zip(rows, loader.ids(Message, len(rows)), strict=True):
        row["id"] = mid
        loader.add(Message, row)
    heads.append((team.pk, seq))
    _visit_history(su, crew, start, now, rng, visits_per_week, loader)
    # The first 5,000 of the room's entries in seq order, as the query this replaced read.
    msgs = [(r["id"], r["created_at"]) for r in rows[:5000]]
    _alert_history(su, team, start, now, rng, policy, alerts_per_year, msgs, loader)
    return len(rows)


def _update_by_id(table: str, column: str, rows: list[tuple[int, object]], batch: int = 2000):
    """``UPDATE table SET column = value WHERE id = ...`` for many rows, a statement a batch."""
    with connection.cursor() as cur:
        for i in range(0, len(rows), batch):
            chunk = rows[i : i + batch]
            values = ", ".join(["(%s, %s)"] * len(chunk))
            cur.execute(
                f"UPDATE {table} SET {column} = v.column2 "  # noqa: S608
                f"FROM (VALUES {values}) AS v WHERE {table}.id = v.column1",
                [x for row in chunk for x in row],
            )


def _history_for_demo_cast(start, now, rng, policy, alerts_per_year, loader) -> None:
    """Visit and alert history for the demo cast's service users, once."""
    crew = list(Person.objects.filter(user__username__in=["anna", "ben"]))
    if not crew:
        return
    for su in ServiceUser.objects.filter(provider__name="Brightwater Home Care"):
        if Visit.objects.filter(service_user=su).exists():
            continue
        # As many ~32-minute visits a week as their commissioned hours buy (max 4 a day).
        per_week = min(28, max(1, round(float(su.commissioned_hours_per_week) * 60 / 32)))
        with transaction.atomic():
            team = Room.objects.get(service_user=su, kind=Room.Kind.PROFESSIONAL)
            _visit_history(su, crew, start, now, rng, per_week, loader)
            msgs = list(Message.objects.filter(room=team).values_list("id", "created_at")[:5000])
            _alert_history(su, team, start, now, rng, policy, alerts_per_year, msgs, loader)
            loader.flush()


def _visit_history(su, crew, start, now, rng, visits_per_week, loader: BulkLoader) -> None:
    """Visits and observations (bots.synthetic), then the planned visits behind them,
    buffered in ``loader``.

    Each delivered visit gets a 30-minute planned window starting on the hour of its slot
    (check-ins fall 20 min before to 40 min after it, so some are late: ``late`` is set
    from that window); about 3% more planned visits were missed (an afternoon slot nobody
    checked in to).
    """
    visits = generate_history(
        su, crew, start, now, rng, visits_per_week=visits_per_week, loader=loader
    ).visit_rows
    assert visits is not None
    planned = []
    for v in visits:
        ws = (v["checked_in_at"] + dt.timedelta(minutes=20)).replace(
            minute=0, second=0, microsecond=0
        )
        planned.append(_planned(su, v["worker_id"], ws, start))
    missed_days: set[dt.datetime] = set()
    for _ in range(int(len(visits) * 0.03)):
        day = start + dt.timedelta(days=rng.randrange(max(1, (now - start).days - 1)))
        ws = day.replace(hour=14, minute=0, second=0, microsecond=0)
        if ws not in missed_days and ws + dt.timedelta(hours=1) < now:
            missed_days.add(ws)
            pv = _planned(su, rng.choice(crew).id, ws, start)
            pv["missed_flagged_at"] = pv["missed_check_at"]
            planned.append(pv)
    for pv, pid in zip(planned, loader.ids(PlannedVisit, len(planned)), strict=True):
        pv["id"] = pid
        loader.add(PlannedVisit, pv)
    for v, pv in zip(visits, planned, strict=False):  # the missed ones have no visit
        v["planned_visit_id"] = pv["id"]
        v["late"] = v["checked_in_at"] > pv["window_end"]


def _planned(su, worker_id, window_start, created_at) -> dict:
    return {
        "service_user_id": su.pk,
        "worker_id": worker_id,
        "window_start": window_start,
        "window_end": window_start + dt.timedelta(minutes=30),
        "expected_minutes": 30,
        "missed_check_at": window_start + dt.timedelta(minutes=60),
        "created_at": created_at,
        "updated_at": created_at,
    }


CONCERNS = [
    ("falls", "high"),
    ("eating_drinking", "medium"),
    ("confusion", "medium"),
    ("wellbeing_change", "low"),
    ("missed_visit", "medium"),
    ("medication", "medium"),
    ("safeguarding", "safeguarding"),
]


def _alert_history(su, team, start, now, rng, policy, per_year, msgs, loader) -> None:
    """Resolved alerts with response times: open → acknowledged (median ~12 min, a long
    tail), → resolved; ~1 in 10 escalated to the council. Each has a flag on a team-room
    message of its time (``msgs``: (id, created_at) in seq order) and its timeline events
    (no message text anywhere). Rows are buffered in ``loader``."""
    years = (now - start).days / 365
    n = int(round(rng.gauss(per_year * years, 1))) if per_year else 0
    if n <= 0 or not msgs:
        return
    alerts, picks = [], []
    for _ in range(n):
        mid, at = rng.choice(msgs)
        concern, severity = CONCERNS[rng.randrange(len(CONCERNS))]
        opened = at + dt.timedelta(minutes=rng.randint(1, 5))
        ack = opened + dt.timedelta(minutes=min(600, rng.lognormvariate(2.5, 0.9)))
        escalated = severity == "safeguarding" or ack - opened > dt.timedelta(minutes=45)
        alerts.append(
            {
                "service_user_id": su.pk,
                "concern": concern,
                "severity": severity,
                "state": Alert.State.RESOLVED.value,
                "opened_at": opened,
                "acknowledged_at": ack,
                "resolved_at": ack + dt.timedelta(hours=2),
                "outcome": "Synthetic history",
                "policy": policy,
                "next_step_at": None,
                "council_notified_at": opened + dt.timedelta(minutes=45) if escalated else None,
            }
        )
        picks.append(mid)
    flagged: set[int] = set()
    for a, aid, mid in zip(alerts, loader.ids(Alert, n), picks, strict=True):
        a["id"] = aid
        loader.add(Alert, a)
        # One flag per (message, rule): a second alert drawn on the same message gets none.
        if mid not in flagged:
            flagged.add(mid)
            loader.add(
                Flag,
                {
                    "service_user_id": su.pk,
                    "message_id": mid,
                    "rule": "synthetic",
                    "concern": a["concern"],
                    "severity": a["severity"],
                    "source": "synthetic",
                    "alert_id": aid,
                    "created_at": a["opened_at"],
                },
            )
        for kind, at in (
            ("opened", a["opened_at"]),
            ("acknowledged", a["acknowledged_at"]),
            ("resolved", a["resolved_at"]),
        ):
            loader.add(AlertEvent, {"alert_id": aid, "kind": kind, "at": at})


def demo_service_user() -> ServiceUser:
    return ServiceUser.objects.get(full_name="Margaret Hughes")


def build_recent_history(weeks: int = 13, now: dt.datetime | None = None) -> None:
    """A few months of visits, observations and alerts for the demo cast's service users
    (once: skipped for anyone who already has visits), then the dashboards' rollups, so a
    fresh ``./dev demo`` has dashboards with data."""
    now = now or clock.now()
    rng = random.Random(15)
    policy = default_policy().model_dump(mode="json")
    loader = BulkLoader()
    with transaction.atomic():
        _history_for_demo_cast(now - dt.timedelta(weeks=weeks), now, rng, policy, 3.0, loader)
        loader.flush()
    refresh_all(now)
