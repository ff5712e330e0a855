"""Changes to the visit record: ``do_*`` mutate, ``check_*`` authorise (``careplan.access``)
then call ``do_*``. Each runs in one transaction and writes an audit event (who, what —
never the content).

Guarantees:

- :func:`do_save_plan` makes a new version only when the content changed; two editors
  from the same base lose/win by the unique ``(service_user, number)`` (the loser gets a
  conflict). A retried save of the same content returns the stored version.
- :func:`do_change_medicine` / :func:`do_stop_medicine` lock the medicine row; a line is
  changed by stopping it and starting the new one (``Medicine.replaces``); a retry of a
  change that already happened returns the line it made.
- :func:`do_record_task` is idempotent on ``(visit, task)`` and on the worker's client id;
  a correction during the visit updates the tick. :func:`do_record_dose` locks the
  medicine row (so two as-needed doses cannot both pass the 24-hour check), is idempotent
  on the client id, and a scheduled dose has one outcome (``(medicine, scheduled_for)``).
- :func:`do_check_out` (run by ``careplan.consumer`` when the visit bot records a
  check-out) posts the family-safe summary and flags time-critical doses left unrecorded.
- :func:`do_correct_dose`: a care manager's correction supersedes a dose record (never
  edits it), under the medicine row lock, idempotent on the manager's client id.
- Flags (essential task not done, time-critical dose not given) are ``signal`` entries
  in the team room through ``rooms.messages.post_message`` (system sender, client id
  ``cp:task:<record>`` / ``cp:dose:<record>``): the escalation detector turns them into
  alerts, at most once per record.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Generic, TypeVar

from django.db import IntegrityError, transaction
from django.utils.translation import gettext

from bots.models import Goal, Visit
from careplan import access
from careplan.common import FlagOut, local_hhmm
from careplan.medicines import (
    TOLERANCE,
    DoseRecordIn,
    MedicineSpec,
    dose_flag,
    doses_due,
    prn_allowed,
)
from careplan.models import (
    CarePlanVersion,
    Medicine,
    MedicineChange,
    MedicineRecord,
    PlanOutcome,
    PlanTask,
    TaskRecord,
)
from careplan.rules import PlanSpec, TaskOutcome, family_summary, task_flag
from careplan.store import (
    VisitPlan,
    current_version,
    medicine_ref,
    medicine_spec,
    medicines_active_between,
    plan_spec,
    task_spec,
)
from rooms import audit
from rooms.access import family_basis_active
from rooms.errors import Conflict, Invalid
from rooms.messages import post_message
from rooms.models import Message, Person, Room, ServiceUser
from rooms.network import system_person

T = TypeVar("T")


@dataclass(frozen=True)
class Saved(Generic[T]):
    obj: T
    created: bool


# ---- flags -------------------------------------------------------------------------------


def _post_flag(su_id: int, flag: FlagOut, client_id: str, now: dt.datetime) -> Message:
    room = Room.objects.get(service_user_id=su_id, kind=Room.Kind.PROFESSIONAL)
    return post_message(
        room=room,
        sender=system_person(),
        kind=Message.Kind.SIGNAL,
        payload=flag.payload(),
        client_id=client_id,
        now=now,
    ).message


# ---- care plan ---------------------------------------------------------------------------


def do_save_plan(
    su: ServiceUser, spec: PlanSpec, *, by: Person | None, now: dt.datetime, note: str = ""
) -> Saved[CarePlanVersion]:
    """Store ``spec`` as the next version (unless it equals the current one)."""
    goals = {o.goal_id for o in spec.outcomes if o.goal_id is not None}
    if goals and Goal.objects.filter(pk__in=goals, service_user=su).count() != len(goals):
        raise Invalid("outcomes: goal_id must be one of this person's goals.")
    with transaction.atomic():
        cur = current_version(su)
        if cur is not None and plan_spec(cur) == spec:
            return Saved(cur, created=False)
        try:
            with transaction.atomic():
                version = CarePlanVersion.objects.create(
                    service_user=su,
                    number=(cur.number if cur else 0) + 1,
                    visit_types=[v.model_dump() for v in spec.visit_types],
                    note=note,
                    created_by=by,
                    created_at=now,
                )
        except IntegrityError:
            raise Conflict("The care plan was changed meanwhile; reload it.") from None
        PlanOutcome.objects.bulk_create(
            [
                PlanOutcome(version=version, key=o.key, text=o.text, goal_id=o.goal_id, position=i)
                for i, o in enumerate(spec.outcomes)
            ]
        )
        PlanTask.objects.bulk_create(
            [
                PlanTask(
                    version=version,
                    key=t.key,
                    label=t.label,
                    visit_type=t.visit_type,
                    essential=t.essential,
                    family_label=t.family_label,
                    outcome_key=t.outcome or "",
                    details=t.details,
                    position=i,
                )
                for i, t in enumerate(spec.tasks)
            ]
        )
        audit.record(
            by,
            "careplan.version",
            service_user=su,
            target=f"careplan_version:{version.pk}",
            now=now,
        )
    return Saved(version, created=True)


def check_save_plan(
    person: Person | None,
    su_id: int,
    spec: PlanSpec,
    *,
    base_version: int,
    now: dt.datetime,
    note: str = "",
) -> Saved[CarePlanVersion]:
    """``base_version`` is the version the editor started from (0 for the first plan)."""
    su = access.access_record(person, su_id, edit=True)
    cur = current_version(su)
    if cur is not None and plan_spec(cur) == spec:
        return Saved(cur, created=False)  # a retry, or nothing changed
    if base_version != (cur.number if cur else 0):
        raise Conflict("The care plan was changed meanwhile; reload it.")
    return do_save_plan(su, spec, by=person, now=now, note=note)


# ---- medicines list ----------------------------------------------------------------------


def _medicine_fields(spec: MedicineSpec) -> dict:
    return {
        "name": spec.name,
        "dose": spec.dose,
        "route": spec.route,
        "times": spec.times,
        "prn_max_doses_24h": spec.prn.max_doses_24h if spec.prn else None,
        "prn_min_interval_minutes": spec.prn.min_interval_minutes if spec.prn else None,
        "time_critical": spec.time_critical,
        "instructions": spec.instructions,
    }


def _change(med: Medicine, action: str, by: Person, now: dt.datetime, reason: str) -> None:
    MedicineChange.objects.create(
        medicine=med,
        action=action,
        changed_by=by,
        at=now,
        spec=medicine_spec(med).model_dump(mode="json"),
        reason=reason,
    )
    audit.record(
        by,
        f"medicine.{action}",
        service_user=med.service_user_id,
        target=f"medicine:{med.pk}",
        now=now,
    )


def do_add_medicine(
    su: ServiceUser,
    spec: MedicineSpec,
    *,
    by: Person,
    now: dt.datetime,
    reason: str = "",
    replaces: Medicine | None = None,
) -> Medicine:
    with transaction.atomic():
        med = Medicine.objects.create(
            service_user=su,
            started_at=now,
            created_by=by,
            updated_at=now,
            replaces=replaces,
            **_medicine_fields(spec),
        )
        _change(
            med,
            MedicineChange.Action.CHANGED if replaces else MedicineChange.Action.ADDED,
            by,
            now,
            reason,
        )
    return med


def _locked(medicine_id: int) -> Medicine:
    return Medicine.objects.select_for_update().get(pk=medicine_id)


def do_stop_medicine(
    med: Medicine, *, by: Person, now: dt.datetime, reason: str = ""
) -> Saved[Medicine]:
    with transaction.atomic():
        med = _locked(med.pk)
        if med.stopped_at is not None:
            return Saved(med, created=False)
        med.stopped_at = now
        med.updated_at = now
        med.save(update_fields=["stopped_at", "updated_at"])
        _change(med, MedicineChange.Action.STOPPED, by, now, reason)
    return Saved(med, created=True)


def do_change_medicine(
    med: Medicine, spec: MedicineSpec, *, by: Person, now: dt.datetime, reason: str = ""
) -> Saved[Medicine]:
    """Stop ``med`` and start ``spec`` in its place. Conflict if ``med`` was already
    stopped — unless it was replaced by exactly ``spec`` (a retry)."""
    with transaction.atomic():
        med = _locked(med.pk)
        if med.stopped_at is not None:
            newer = Medicine.objects.filter(replaces=med).first()
            if newer is not None and medicine_spec(newer) == spec:
                return Saved(newer, created=False)
            raise Conflict("This medicine was changed or stopped meanwhile; reload the list.")
        if medicine_spec(med) == spec:
            return Saved(med, created=False)
        do_stop_medicine(med, by=by, now=now, reason=reason or "changed")
        return Saved(
            do_add_medicine(med.service_user, spec, by=by, now=now, reason=reason, replaces=med),
            created=True,
        )


def access_medicine(person: Person | None, medicine_id: int, *, edit: bool) -> Medicine:
    med = Medicine.objects.filter(pk=medicine_id).first()
    if med is None:
        access.refuse()
    access.access_record(person, med.service_user_id, edit=edit)
    return med


def check_add_medicine(
    person: Person | None, su_id: int, spec: MedicineSpec, *, now: dt.datetime, reason: str = ""
) -> Medicine:
    su = access.access_record(person, su_id, edit=True)
    return do_add_medicine(su, spec, by=person, now=now, reason=reason)


def check_change_medicine(
    person: Person | None,
    medicine_id: int,
    spec: MedicineSpec,
    *,
    now: dt.datetime,
    reason: str = "",
) -> Saved[Medicine]:
    med = access_medicine(person, medicine_id, edit=True)
    return do_change_medicine(med, spec, by=person, now=now, reason=reason)


def check_stop_medicine(
    person: Person | None, medicine_id: int, *, now: dt.datetime, reason: str = ""
) -> Saved[Medicine]:
    med = access_medicine(person, medicine_id, edit=True)
    return do_stop_medicine(med, by=person, now=now, reason=reason)


# ---- task outcomes -----------------------------------------------------------------------


def do_record_task(
    visit: Visit,
    task: PlanTask,
    outcome: TaskOutcome,
    *,
    by: Person,
    client_id: str,
    now: dt.datetime,
    visit_title: str,
) -> Saved[TaskRecord]:
    with transaction.atomic():
        same_id = TaskRecord.objects.filter(recorded_by=by, client_id=client_id).first()
        if same_id is not None:
            if (same_id.visit_id, same_id.task_id) != (visit.pk, task.pk):
                raise Conflict("client_id was already used for another record.")
            return Saved(same_id, created=False)
        rec = TaskRecord.objects.select_for_update().filter(visit=visit, task=task).first()
        created = rec is None
        if rec is None:
            try:
                with transaction.atomic():
                    rec = TaskRecord.objects.create(
                        visit=visit,
                        task=task,
                        done=outcome.done,
                        reason=outcome.reason or "",
                        recorded_by=by,
                        client_id=client_id,
                        recorded_at=now,
                        updated_at=now,
                    )
            except IntegrityError:  # a racing first tick of the same task: theirs stands
                rec = TaskRecord.objects.select_for_update().get(visit=visit, task=task)
                created = False
        if not created:
            if (rec.done, rec.reason or None) == (outcome.done, outcome.reason):
                return Saved(rec, created=False)
            rec.done, rec.reason = outcome.done, outcome.reason or ""
            rec.recorded_by, rec.client_id, rec.updated_at = by, client_id, now
            rec.save(update_fields=["done", "reason", "recorded_by", "client_id", "updated_at"])
        flag = task_flag(task_spec(task), outcome, visit_id=visit.pk, visit_title=visit_title)
        if flag is not None and rec.flag_message_id is None:
            rec.flag_message = _post_flag(visit.service_user_id, flag, f"cp:task:{rec.pk}", now)
            rec.save(update_fields=["flag_message"])
        audit.record(
            by,
            "task.record",
            service_user=visit.service_user_id,
            target=f"task_record:{rec.pk}",
            now=now,
        )
    return Saved(rec, created=True)


def check_record_task(
    person: Person | None,
    visit_id: int,
    task_id: int,
    outcome: TaskOutcome,
    *,
    client_id: str,
    now: dt.datetime,
) -> Saved[TaskRecord]:
    visit = access.access_visit_for_recording(person, visit_id, now)
    plan = VisitPlan(visit)
    task = next((t for t in plan.tasks if t.pk == task_id), None)
    if task is None:
        access.refuse()
    return do_record_task(
        visit, task, outcome, by=person, client_id=client_id, now=now, visit_title=plan.title
    )


# ---- dose outcomes -----------------------------------------------------------------------


def visit_end(visit: Visit, now: dt.datetime) -> dt.datetime:
    """Where a visit's dose window ends: check-out, else the later of now and the planned
    end (an open visit can still give the doses it was planned for)."""
    if visit.checked_out_at is not None:
        return visit.checked_out_at
    planned_end = visit.planned_visit.window_end if visit.planned_visit_id else None
    return max(now, planned_end) if planned_end else now


def do_record_dose(
    visit: Visit,
    med: Medicine,
    rec_in: DoseRecordIn,
    *,
    by: Person,
    client_id: str,
    now: dt.datetime,
    scheduled_for: dt.datetime | None,
    given_at: dt.datetime,
) -> Saved[MedicineRecord]:
    """Record one dose outcome (see the module docstring for the keys and the lock)."""
    with transaction.atomic():
        med = _locked(med.pk)
        same_id = MedicineRecord.objects.filter(recorded_by=by, client_id=client_id).first()
        if same_id is not None:
            if (same_id.medicine_id, same_id.scheduled_for) != (med.pk, scheduled_for):
                raise Conflict("client_id was already used for another record.")
            return Saved(same_id, created=False)
        ref = medicine_ref(med)
        if scheduled_for is not None:
            stored = MedicineRecord.objects.filter(
                medicine=med, scheduled_for=scheduled_for, superseded_at__isnull=True
            ).first()
            if stored is not None:
                if (stored.outcome, stored.reason or None) == (rec_in.outcome, rec_in.reason):
                    return Saved(stored, created=False)
                raise Conflict(
                    f"This dose was already recorded as {stored.get_outcome_display().lower()}."
                )
        elif rec_in.outcome == "given":
            given = list(
                MedicineRecord.objects.filter(
                    medicine=med, outcome="given", superseded_at__isnull=True
                ).values_list("given_at", flat=True)
            )
            decision = prn_allowed(ref.spec.prn, given, given_at)
            if not decision.allowed:
                # The care worker reads this on the card, in their own language.
                when = (
                    " "
                    + gettext("Next possible at %(time)s.")
                    % {"time": local_hhmm(decision.next_allowed_at)}
                    if decision.next_allowed_at
                    else ""
                )
                raise Conflict(
                    gettext("Not allowed now: %(why)s") % {"why": decision.reason} + when
                )
        record = MedicineRecord.objects.create(
            medicine=med,
            visit=visit,
            scheduled_for=scheduled_for,
            outcome=rec_in.outcome,
            reason=rec_in.reason or "",
            prn_reason=rec_in.prn_reason,
            note=rec_in.note,
            given_at=given_at,
            recorded_by=by,
            client_id=client_id,
            recorded_at=now,
        )
        flag = dose_flag(
            ref,
            rec_in,
            ref=f"dose:{record.pk}",
            time=local_hhmm(scheduled_for) if scheduled_for else None,
        )
        if flag is not None:
            record.flag_message = _post_flag(med.service_user_id, flag, f"cp:dose:{record.pk}", now)
            record.save(update_fields=["flag_message"])
        audit.record(
            by,
            "medicine.record",
            service_user=med.service_user_id,
            target=f"medicine_record:{record.pk}",
            now=now,
        )
    return Saved(record, created=True)


def check_record_dose(
    person: Person | None,
    visit_id: int,
    medicine_id: int,
    rec_in: DoseRecordIn,
    *,
    client_id: str,
    now: dt.datetime,
    scheduled_for: dt.datetime | None = None,
    given_at: dt.datetime | None = None,
) -> Saved[MedicineRecord]:
    """A scheduled dose must be due in this visit; an as-needed dose is given during it
    (``given_at`` from check-in to now, default now)."""
    visit = access.access_visit_for_recording(person, visit_id, now)
    med = Medicine.objects.filter(pk=medicine_id, service_user_id=visit.service_user_id).first()
    if med is None:
        access.refuse()
    ref = medicine_ref(med)
    if ref.spec.as_needed:
        if scheduled_for is not None:
            raise Invalid("scheduled_for: an as-needed medicine has no scheduled doses.")
        given_at = given_at or now
        if not visit.checked_in_at <= given_at <= visit_end(visit, now) or given_at > now:
            raise Invalid("given_at: must be during the visit and not in the future.")
        if not ref.active_at(given_at):
            raise Invalid("This medicine is not prescribed at that time.")
    else:
        if scheduled_for is None:
            raise Invalid("scheduled_for: name the dose (its scheduled time).")
        if given_at is not None:
            raise Invalid("given_at: only for as-needed doses.")
        due = {
            d.scheduled_for for d in doses_due([ref], visit.checked_in_at, visit_end(visit, now))
        }
        if scheduled_for not in due:
            raise Invalid("scheduled_for: that dose is not due in this visit.")
        given_at = now
    return do_record_dose(
        visit,
        med,
        rec_in,
        by=person,
        client_id=client_id,
        now=now,
        scheduled_for=scheduled_for,
        given_at=given_at,
    )


# ---- corrections -------------------------------------------------------------------------


def do_correct_dose(
    record: MedicineRecord,
    rec_in: DoseRecordIn,
    *,
    by: Person,
    why: str,
    client_id: str,
    now: dt.datetime,
) -> Saved[MedicineRecord]:
    """A care manager's correction of a recorded dose: it supersedes, never edits.

    Locks the medicine row (as :func:`do_record_dose`), then: idempotent on the manager's
    ``(recorded_by, client_id)`` — a retry returns the correction it made; a record that
    is already superseded is a conflict (correct the newest one). The new record keeps the
    dose (medicine, visit, scheduled time, time given) and ``corrects`` the old one, whose
    ``superseded_at`` is set; who = ``recorded_by``, when = ``recorded_at``, why =
    ``correction_reason``. An as-needed dose corrected to *given* must still fit the
    24-hour maximum and the minimum interval (the other current doses). A correction to
    an outcome that flags posts its own flag (``cp:dose:<new record>``); the old record's
    flag stands (its alert is resolved in the inbox). Audit event ``medicine.correct``.
    """
    with transaction.atomic():
        med = _locked(record.medicine_id)
        same_id = MedicineRecord.objects.filter(recorded_by=by, client_id=client_id).first()
        if same_id is not None:
            if same_id.corrects_id != record.pk:
                raise Conflict("client_id was already used for another record.")
            return Saved(same_id, created=False)
        old = MedicineRecord.objects.get(pk=record.pk)
        if old.superseded_at is not None:
            raise Conflict("This record was already corrected: correct the newest one.")
        same = (rec_in.outcome, rec_in.reason, rec_in.note)
        if (old.outcome, old.reason or None, old.note) == same:
            raise Invalid("The correction records the same outcome: nothing to correct.")
        ref = medicine_ref(med)
        if old.scheduled_for is None and rec_in.outcome == "given" and ref.spec.prn is not None:
            given = list(
                MedicineRecord.objects.filter(
                    medicine=med, outcome="given", superseded_at__isnull=True
                )
                .exclude(pk=old.pk)
                .values_list("given_at", flat=True)
            )
            decision = prn_allowed(ref.spec.prn, given, old.given_at)
            if not decision.allowed:
                raise Conflict(f"Not allowed: {decision.reason}")
        old.superseded_at = now
        old.save(update_fields=["superseded_at"])
        new = MedicineRecord.objects.create(
            medicine=med,
            visit_id=old.visit_id,
            scheduled_for=old.scheduled_for,
            outcome=rec_in.outcome,
            reason=rec_in.reason or "",
            prn_reason=rec_in.prn_reason or old.prn_reason,
            note=rec_in.note,
            given_at=old.given_at,
            recorded_by=by,
            client_id=client_id,
            recorded_at=now,
            corrects=old,
            correction_reason=why,
        )
        flag = dose_flag(
            ref,
            rec_in,
            ref=f"dose:{new.pk}",
            time=local_hhmm(old.scheduled_for) if old.scheduled_for else None,
        )
        if flag is not None:
            new.flag_message = _post_flag(med.service_user_id, flag, f"cp:dose:{new.pk}", now)
            new.save(update_fields=["flag_message"])
        audit.record(
            by,
            "medicine.correct",
            service_user=med.service_user_id,
            target=f"medicine_record:{old.pk}->{new.pk}",
            now=now,
        )
    return Saved(new, created=True)


def check_correct_dose(
    person: Person | None,
    record_id: int,
    rec_in: DoseRecordIn,
    *,
    why: str,
    client_id: str,
    now: dt.datetime,
) -> Saved[MedicineRecord]:
    """Only a care manager of the person's provider corrects a dose (everyone else: the
    same not-found refusal)."""
    record = access.access_dose_for_correction(person, record_id)
    return do_correct_dose(record, rec_in, by=person, why=why, client_id=client_id, now=now)


# ---- check-out ---------------------------------------------------------------------------


def do_post_family_summary(visit: Visit, now: dt.datetime) -> Message | None:
    """Post the family-safe summary of a checked-out visit in the family room, once
    (client id ``cp:summary:<visit>``). Nothing when the person has no recorded lawful
    basis for family sharing or the visit type has no tasks."""
    if visit.checked_out_at is None or not family_basis_active(visit.service_user_id):
        return None
    plan = VisitPlan(visit)
    outcomes = {
        r.task.key: TaskOutcome(done=r.done, reason=r.reason or None)
        for r in TaskRecord.objects.filter(visit=visit).select_related("task")
    }
    text = family_summary(plan.title, [task_spec(t) for t in plan.tasks], outcomes)
    if text is None:
        return None
    room = Room.objects.get(service_user_id=visit.service_user_id, kind=Room.Kind.FAMILY)
    return post_message(
        room=room,
        sender=system_person(),
        kind=Message.Kind.SYSTEM,
        body=text,
        payload={"event": "visit.summary", "data": {"visit": visit.pk}},
        client_id=f"cp:summary:{visit.pk}",
        now=now,
    ).message


def do_check_out(visit: Visit, now: dt.datetime) -> list[Message]:
    """What the visit record does when a visit ends: the family-safe summary, and a high
    flag for each time-critical dose due in the visit that has no outcome recorded.

    Idempotent: the summary is keyed ``cp:summary:<visit>``, each flag
    ``cp:nr:<visit>:<medicine>:<epoch of the dose>``.
    """
    posted: list[Message] = []
    with transaction.atomic():
        summary = do_post_family_summary(visit, now)
        if summary is not None:
            posted.append(summary)
        end = visit_end(visit, now)
        meds = [
            medicine_ref(m)
            for m in medicines_active_between(
                visit.service_user, visit.checked_in_at - TOLERANCE, end + TOLERANCE
            )
        ]
        due = [
            d
            for d in doses_due([m for m in meds if m.spec.time_critical], visit.checked_in_at, end)
        ]
        recorded = set(
            MedicineRecord.objects.filter(
                superseded_at__isnull=True,
                medicine_id__in=[d.medicine_id for d in due],
                scheduled_for__in=[d.scheduled_for for d in due],
            ).values_list("medicine_id", "scheduled_for")
        )
        for d in due:
            if (d.medicine_id, d.scheduled_for) in recorded:
                continue
            flag = FlagOut(
                concern="medication",
                severity="high",
                source="careplan.medicine",
                ref=f"visit:{visit.pk}:unrecorded:{d.medicine_id}:{d.time}",
                reason=f"Time-critical medicine not recorded by check-out: the {d.time} "
                f"dose (see the MAR chart).",
            )
            stamp = int(d.scheduled_for.timestamp())
            posted.append(
                _post_flag(
                    visit.service_user_id, flag, f"cp:nr:{visit.pk}:{d.medicine_id}:{stamp}", now
                )
            )
    return posted
