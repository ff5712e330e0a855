"""As-needed doses recorded at the same instant from two phones still respect the maximum:
the medicine row lock serialises the 24-hour check (real PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection

from careplan import actions
from careplan.medicines import DoseRecordIn
from careplan.models import MedicineRecord
from rooms.errors import Conflict
from tests.careplan.helpers import MIN, add_medicine, visit
from tests.support.cast import T0, build_cast

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

RESCUE = {
    "name": "Salbutamol inhaler",
    "dose": "2 puffs",
    "route": "inhaled",
    "prn": {"max_doses_24h": 1, "min_interval_minutes": 0},
}


def test_simultaneous_as_needed_doses_never_exceed_the_maximum():
    if connection.vendor != "postgresql":
        pytest.fail("this test needs PostgreSQL (run it in the services phase)")
    cast = build_cast(T0)
    med = add_medicine(cast.peggy, cast.nadia, RESCUE, now=T0 - dt.timedelta(days=1))
    v = visit(cast.peggy, cast.anna, T0, None)
    n = 8
    gate = threading.Barrier(n)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def give(k: int) -> None:
        try:
            gate.wait()
            actions.check_record_dose(
                cast.anna,
                v.id,
                med.id,
                DoseRecordIn(outcome="given", prn_reason="wheezy"),
                client_id=f"phone-{k}",
                now=T0 + 10 * MIN,
                given_at=T0 + (k + 1) * MIN,
            )
            outcomes.append("given")
        except Conflict:
            outcomes.append("refused")
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=give, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(outcomes) == ["given"] + ["refused"] * (n - 1)
    assert MedicineRecord.objects.filter(medicine=med, outcome="given").count() == 1
