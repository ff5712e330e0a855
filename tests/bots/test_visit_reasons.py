"""Issue 15 visit flow over the real runner: both location reasons are kept and shown on
the care manager's exceptions page; after a far check-out the reason is asked before the
first question, which follows the reason."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from bots.models import Visit
from tests.bots.helpers import FAR, bot_entries, run, say


def said(room):
    """What the bot said in the room (notices and cards; flags are signals)."""
    return [m for m in bot_entries(room) if m.kind in ("system", "card")]


pytestmark = pytest.mark.django_db


def test_both_reasons_are_kept_and_shown_and_questions_wait_for_the_reason(cast, frozen_clock):
    say(cast.anna, cast.team, "check in", location=FAR)
    run()
    say(cast.anna, cast.team, "Parked at the surgery first")
    run()
    frozen_clock.advance(dt.timedelta(minutes=30))
    say(cast.anna, cast.team, "check out", location=FAR)
    run()
    after_checkout = said(cast.team)
    assert "short reason" in after_checkout[-1].body
    assert not [
        m for m in after_checkout if m.kind == "card" and m.payload["card_id"].endswith("q1")
    ]
    say(cast.anna, cast.team, "Walked to the chemist for her")
    run()
    latest = said(cast.team)[len(after_checkout) :]
    assert [m.kind for m in latest][:2] == ["system", "card"]
    assert latest[0].body.startswith("Thanks — reason noted")
    assert latest[1].payload["card_id"].endswith("q1")
    v = Visit.objects.get()
    assert v.exception_reason == "Parked at the surgery first"
    assert v.checkout_reason == "Walked to the chemist for her"

    carol = Client()
    carol.force_login(cast.carol.user)
    page = carol.get("/exceptions/").content.decode()
    assert "Check-in reason: Parked at the surgery first" in page
    assert "Check-out reason: Walked to the chemist for her" in page
    api = carol.get(f"/api/visits/service-users/{cast.peggy.id}/visits")
    assert api.status_code == 200
    [row] = api.json()
    assert row["checkin_reason"] == "Parked at the surgery first"
    assert row["checkout_reason"] == "Walked to the chemist for her"
