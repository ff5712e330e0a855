"""Two movement tickers racing on real PostgreSQL: a claimed check is skipped, not waited
for and not fired twice (``select_for_update(skip_locked=True)`` + the state re-read)."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection

from cocare_chat import clock
from rooms.models import Message
from sensors.models import MovementCheck
from sensors.ticker import MovementTicker
from tests.sensors.helpers import freeze_local, make_hub
from tests.support.cast import build_cast
from tests.support.services import missing

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_a_check_claimed_by_one_ticker_is_skipped_by_another_and_fired_once(monkeypatch):
    if connection.vendor != "postgresql":
        missing("PostgreSQL (set COCARE_DATABASE_URL=postgres://...)")
    cast = build_cast()
    freeze_local("06:00")
    make_hub(cast.peggy)
    MovementTicker().run_once(clock.now())
    clock.advance(dt.timedelta(hours=4, minutes=1))

    inside, release = threading.Event(), threading.Event()
    real = MovementTicker.evaluate

    def held_by_a(self, check, now):
        if threading.current_thread().name == "ticker-a":
            inside.set()
            assert release.wait(20)  # keeps the row lock until the test lets go
        return real(self, check, now)

    monkeypatch.setattr(MovementTicker, "evaluate", held_by_a)
    fired: dict[str, int] = {}

    def run(name: str) -> None:
        try:
            fired[name] = MovementTicker().fire_due(clock.now())
        finally:
            connection.close()

    a = threading.Thread(target=run, args=("ticker-a",), name="ticker-a")
    a.start()
    assert inside.wait(20)
    b = threading.Thread(target=run, args=("ticker-b",), name="ticker-b")
    b.start()
    b.join(20)
    assert not b.is_alive() and fired["ticker-b"] == 0  # skipped the locked row, no wait
    release.set()
    a.join(20)
    assert fired["ticker-a"] == 1
    assert MovementTicker().fire_due(clock.now()) == 0  # state re-read: already decided
    assert MovementCheck.objects.get(state="raised").message is not None
    assert Message.objects.filter(room=cast.team, kind="signal").count() == 1
