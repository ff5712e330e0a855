"""Done means 2 (issue 16), on a phone at 390×844 through a real Daphne with its workers:
the care worker signs in on the login page, checks in, ticks the visit's tasks on the
card (one not done, with a reason), records a refused time-critical medicine with a
reason, gives an as-needed dose with its reason (a second one too soon is refused on the
card) and checks out. Then the care manager's inbox shows the medication alert, the
daughter's family room shows the summary without any medicine name, the MAR chart shows
the refusal — and the manager corrects a dose on the MAR page, which lists who, when and
why."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from careplan.common import LOCAL_TZ
from careplan.models import MedicineRecord, TaskRecord
from cocare_chat import clock
from rooms.models import Message
from tests.careplan.helpers import add_medicine, save_plan
from tests.support.cast import PASSWORD, build_cast
from tests.web.browser import phone, shot, start_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VISIT_TYPES = ("morning", "lunch", "tea", "bed")
# The same three tasks under every default visit type, so the card has them whatever the
# wall-clock time of the run.
PLAN = {
    "tasks": [
        t
        for vt in VISIT_TYPES
        for t in (
            {
                "key": f"{vt}-care",
                "label": "Wash and dress",
                "visit_type": vt,
                "essential": True,
                "family_label": "personal care",
            },
            {
                "key": f"{vt}-meal",
                "label": "Hot meal and a drink",
                "visit_type": vt,
                "family_label": "a meal",
            },
            {
                "key": f"{vt}-walk",
                "label": "Short walk with frame",
                "visit_type": vt,
                "family_label": "a walk",
            },
        )
    ]
}
CRITICAL = "Co-beneldopa 62.5 mg"
OTHER = "Senna 7.5 mg"
PRN = "Paracetamol 500 mg"


def fits_the_phone(page) -> None:
    """No sideways scroll, and every button of the card is at least 44 × 44 px."""
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    small = page.evaluate("""[...document.querySelectorAll('.visit-card button')]
        .filter((b) => b.offsetParent !== null)
        .map((b) => b.getBoundingClientRect())
        .filter((r) => r.width < 44 || r.height < 44).length""")
    assert small == 0


def test_visit_card_tasks_refused_medicine_alert_family_summary_and_mar(browser):
    cast = build_cast()
    now = clock.now()
    local_now = now.astimezone(LOCAL_TZ)
    save_plan(cast.peggy, cast.carol, PLAN, now=now - dt.timedelta(days=1))
    dose_time = local_now.strftime("%H:%M")  # due in the visit about to start
    for name, critical in ((CRITICAL, True), (OTHER, False)):
        add_medicine(
            cast.peggy,
            cast.carol,
            {
                "name": name,
                "dose": "1 tablet",
                "route": "oral",
                "times": [dose_time],
                "time_critical": critical,
            },
            now=now - dt.timedelta(days=1),
        )
    add_medicine(
        cast.peggy,
        cast.carol,
        {
            "name": PRN,
            "dose": "2 tablets",
            "route": "oral",
            "prn": {"max_doses_24h": 4, "min_interval_minutes": 240},
        },
        now=now - dt.timedelta(days=1),
    )
    server = start_server()
    try:
        # Debbie (daughter) and Carol (care manager) have their pages open.
        dctx, debbie = phone(browser, server, "debbie")
        debbie.goto(f"/people/{cast.peggy.id}/family/")
        cctx, carol = phone(browser, server, "carol")
        carol.goto("/alerts/")
        expect(carol.get_by_role("heading", name="Alerts")).to_be_visible()

        # Anna signs in through the login page and opens Peggy's team room.
        actx, anna = phone(browser, server, None)
        anna.goto("/login/")
        anna.get_by_label("Username").fill("anna")
        anna.get_by_label("Password").fill(PASSWORD)
        anna.get_by_role("button", name="Sign in").click()
        expect(anna.get_by_role("heading", name="Today's visits")).to_be_visible()
        anna.goto(f"/people/{cast.peggy.id}/team/")
        anna.get_by_role("button", name="Check in").click()

        card = anna.locator("li.visit-card")
        expect(card).to_have_count(1)
        expect(card.locator("li.vc-task:not(.vc-dose):not(.vc-prn)")).to_have_count(3)
        doses = card.locator("li.vc-dose")
        expect(doses).to_have_count(2)
        expect(card.locator("li.vc-dose", has_text=CRITICAL)).to_contain_text("time-critical")
        fits_the_phone(anna)
        shot(anna, "visit-01-tasks-card")

        # Two tasks done; the walk not done: "Not done" opens the reasons, one tap records.
        for label in ("Wash and dress", "Hot meal and a drink"):
            row = card.locator("li.vc-task", has_text=label)
            row.get_by_role("button", name="Done", exact=True).click()
            expect(row.locator(".vc-status")).to_have_text("✓ Done")
        walk = card.locator("li.vc-task", has_text="Short walk")
        walk.get_by_role("button", name="Not done").click()
        walk.get_by_role("button", name="Declined").click()
        expect(walk.locator(".vc-status")).to_have_text("✗ Not done — Declined")

        # The time-critical dose refused, with a reason; the other one given.
        crit = card.locator("li.vc-dose", has_text=CRITICAL)
        crit.get_by_role("button", name="Refused").click()
        fits_the_phone(anna)
        shot(anna, "visit-02-dose-reasons")
        crit.get_by_role("button", name="Unwell / vomiting").click()
        expect(crit.locator(".vc-status")).to_have_text("Refused — Unwell / vomiting")
        senna = card.locator("li.vc-dose", has_text=OTHER)
        senna.get_by_role("button", name="Given", exact=True).click()
        expect(senna.locator(".vc-status")).to_have_text("Given")
        shot(anna, "visit-03-recorded")

        # An as-needed dose: "Give…" asks why before Given; a second one at once is
        # refused on the card with when the next is possible (the minimum interval).
        prn = card.locator("li.vc-prn", has_text=PRN)
        prn.get_by_role("button", name="Give…").click()
        prn.get_by_label(f"Why was {PRN} needed?").fill("Headache")
        prn.get_by_role("button", name="Given", exact=True).click()
        expect(prn.locator(".vc-status")).to_have_text("Given — Headache")
        prn.get_by_role("button", name="Give…").click()
        prn.get_by_label(f"Why was {PRN} needed?").fill("Still sore")
        prn.get_by_role("button", name="Given", exact=True).click()
        expect(prn.locator(".vc-status")).to_contain_text(
            "Not recorded: Not allowed now: At least 240 minutes between doses."
        )
        fits_the_phone(anna)
        shot(anna, "visit-03b-as-needed-refused")

        # A reload draws the card from the record: every tick is still shown.
        anna.reload()
        card = anna.locator("li.visit-card")
        expect(
            card.locator("li.vc-task", has_text="Short walk").locator(".vc-status")
        ).to_have_text("✗ Not done — Declined")
        expect(card.locator("li.vc-dose", has_text=CRITICAL).locator(".vc-status")).to_have_text(
            "Refused — Unwell / vomiting"
        )

        anna.get_by_role("button", name="Check out").click()
        expect(anna.locator("li.notice", has_text="checked out")).to_be_visible()

        # The manager's open inbox gets the high medication alert.
        alert = carol.locator("li.alert-item.sev-high", has_text=re.compile("medication"))
        expect(alert).to_have_count(1)
        expect(alert).not_to_contain_text(CRITICAL)
        shot(carol, "visit-04-manager-alert")

        # The family room: the summary, naming no medicine (and no tasks card at all).
        summary = debbie.locator("li.notice", has_text="visit:")
        expect(summary).to_have_count(1)
        expect(summary).to_contain_text("personal care and a meal done")
        expect(debbie.locator("li.visit-card")).to_have_count(0)
        family_text = debbie.locator("#messages").inner_text()
        assert CRITICAL not in family_text and OTHER not in family_text
        assert "Co-beneldopa" not in debbie.content() and "Senna" not in debbie.content()
        shot(debbie, "visit-05-family-summary")

        # The MAR chart: R on today's column of the time-critical row.
        carol.goto(f"/careplan/people/{cast.peggy.id}/mar/?month={local_now:%Y-%m}")
        row = carol.locator("tr", has_text=CRITICAL)
        expect(row.locator("td.mar-cell").nth(local_now.day - 1)).to_have_text("R")
        other = carol.locator("tr", has_text=OTHER)
        expect(other.locator("td.mar-cell").nth(local_now.day - 1)).to_have_text("G")
        shot(carol, "visit-06-mar-chart")

        # The manager corrects the other dose (recorded as given by mistake): a new record
        # supersedes it; the chart marks the cell and lists who, when and why.
        record = carol.locator("li.mar-record", has_text=OTHER)
        record.locator("summary").click()
        record.get_by_label("Outcome").select_option("not_given")
        record.get_by_label("Reason").select_option("asleep")
        record.get_by_label("Why the correction").fill("Given by mistake on the phone")
        record.get_by_role("button", name="Save correction").click()
        other = carol.locator("tr", has_text=OTHER).first
        expect(other.locator("td.mar-cell").nth(local_now.day - 1)).to_have_text("N*")
        correction = carol.locator("li.mar-correction")
        expect(correction).to_have_count(1)
        expect(correction).to_contain_text("Given")
        expect(correction).to_contain_text("Not given (Asleep)")
        expect(correction).to_contain_text(cast.carol.display_name)
        expect(correction).to_contain_text("Given by mistake on the phone")
        shot(carol, "visit-07-mar-correction")

        # What the taps wrote: one record each (the reload re-sent nothing).
        tasks = {
            r.task.label: (r.done, r.reason) for r in TaskRecord.objects.select_related("task")
        }
        assert tasks == {
            "Wash and dress": (True, ""),
            "Hot meal and a drink": (True, ""),
            "Short walk with frame": (False, "declined"),
        }
        doses = {
            r.medicine.name: (r.outcome, r.reason)
            for r in MedicineRecord.objects.select_related("medicine").filter(
                superseded_at__isnull=True
            )
        }
        assert doses == {
            CRITICAL: ("refused", "unwell"),
            OTHER: ("not_given", "asleep"),
            PRN: ("given", ""),
        }
        [old] = MedicineRecord.objects.filter(superseded_at__isnull=False)
        assert (old.medicine.name, old.outcome, old.corrected_by.recorded_by_id) == (
            OTHER,
            "given",
            cast.carol.id,
        )
        assert not Message.objects.filter(room=cast.family, body__contains="Co-beneldopa").exists()
        actx.close()
        cctx.close()
        dctx.close()
    finally:
        server.stop()
