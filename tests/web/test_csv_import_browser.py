"""A care manager plans a week of visits by CSV through the page: sets the person's
reference, uploads a spreadsheet export with a mistake, reads the row error, fixes it,
previews again and commits — then uploads the same file again and nothing doubles."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from bots.models import PlannedVisit
from rooms.models import ServiceUser
from tests.support.cast import PASSWORD, build_cast
from tests.web.browser import phone, shot, start_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# What a spreadsheet saves as "CSV UTF-8" in a semicolon locale: BOM, CRLF, a blank line.
EXPORT = (
    "\ufeffservice_user;worker;date;start;end;expected_minutes;notes\r\n"
    "PEG-1;anna;09/03/2026;08:00;08:30;;breakfast\r\n"
    "\r\n"
    "PEG-1;anan;10/03/2026;08:00;08:30;;breakfast\r\n"
)


def test_csv_upload_preview_with_an_error_fix_and_commit(browser, tmp_path):
    cast = build_cast()
    server = start_server()
    try:
        ctx, page = phone(browser, server, None)
        page.goto("/login/")
        page.get_by_label("Username").fill("carol")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("link", name="Import visits").click()
        expect(page.get_by_role("heading", name="Import planned visits")).to_be_visible()

        # Peggy has no reference yet: Carol gives her one.
        page.get_by_label("Reference for Margaret Hughes").fill("PEG-1")
        page.get_by_role("button", name="Save reference for Margaret Hughes").click()
        expect(page.get_by_label("Reference for Margaret Hughes")).to_have_value("PEG-1")
        assert ServiceUser.objects.get(pk=cast.peggy.id).reference == "PEG-1"

        f = tmp_path / "week.csv"
        f.write_bytes(EXPORT.encode("utf-8"))
        page.get_by_label("CSV file").set_input_files(str(f))
        page.get_by_role("button", name="Preview").click()
        errors = page.locator("#preview-errors")
        expect(errors).to_be_visible()
        expect(errors.locator("tbody tr")).to_have_count(1)
        row = errors.locator("tbody tr").first
        expect(row).to_contain_text("4")
        expect(row).to_contain_text("worker")
        expect(row).to_contain_text("unknown care worker 'anan'")
        expect(page.get_by_role("button", name=re.compile("^Plan "))).to_have_count(0)
        shot(page, "h14c-01-csv-preview-error", full_page=True)
        assert PlannedVisit.objects.count() == 0

        # Fix the typo in the text box (the file's text is there) and preview again.
        box = page.get_by_label("…or paste it here")
        box.fill(box.input_value().replace("anan", "anna"))
        page.get_by_role("button", name="Preview").click()
        expect(page.locator("#preview-ok")).to_contain_text("2 new visits")
        expect(page.locator("#preview-rows tbody tr")).to_have_count(2)
        assert PlannedVisit.objects.count() == 0  # still nothing until committed
        page.get_by_role("button", name="Plan 2 visits").click()
        expect(page.locator("#import-done")).to_contain_text("2 visit(s) planned")
        shot(page, "h14c-02-csv-committed", full_page=True)
        starts = sorted(
            PlannedVisit.objects.filter(service_user=cast.peggy).values_list(
                "window_start", flat=True
            )
        )
        assert [s.isoformat() for s in starts] == [
            "2026-03-09T08:00:00+00:00",
            "2026-03-10T08:00:00+00:00",
        ]

        # The same (fixed) file again: nothing doubles.
        f.write_bytes(EXPORT.replace("anan", "anna").encode("utf-8"))
        page.get_by_label("CSV file").set_input_files(str(f))
        page.get_by_role("button", name="Preview").click()
        expect(page.locator("#preview-ok")).to_contain_text("0 new visits, 2 already planned")
        page.get_by_role("button", name="Plan 0 visits").click()
        expect(page.locator("#import-done")).to_contain_text("0 visit(s) planned; 2 were")
        assert PlannedVisit.objects.count() == 2
        ctx.close()
    finally:
        server.stop()
