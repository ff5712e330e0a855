"""Planned visits by CSV with natural keys: preview errors (row, column, message),
all-or-nothing commit, idempotent re-upload, and odd input at the boundary."""

from __future__ import annotations

import datetime as dt

import pytest

from bots.import_csv import (
    CsvRowsInvalid,
    ReferenceIn,
    check_set_reference,
    commit,
    preview,
)
from bots.models import PlannedVisit
from rooms.errors import Conflict, NotFound
from rooms.models import AuditEvent, ServiceUser

pytestmark = pytest.mark.django_db

HEADER = "service_user,worker,date,start,end,expected_minutes,notes\n"


@pytest.fixture
def refs(cast):
    check_set_reference(cast.carol, cast.peggy.id, ReferenceIn(reference="BW-001"))
    check_set_reference(cast.far_manager, cast.reg.id, ReferenceIn(reference="BW-001"))
    cast.anna.user.email = "anna@brightwater.example"
    cast.anna.user.save()
    return cast


def errs(p):
    return [(e.row, e.column) for e in p.errors]


def test_a_clean_file_previews_then_commits_every_row_once(refs):
    cast = refs
    text = HEADER + (
        "BW-001,anna,2026-03-09,08:00,08:30,,breakfast\n"
        "bw-001,ANNA@brightwater.example,10/03/2026,08:00,08:45,40,\n"
    )
    p = preview(text, by=cast.carol)
    assert p.errors == []
    assert [(r.row, r.service_user_id, r.worker_id) for r in p.rows] == [
        (2, cast.peggy.id, cast.anna.id),
        (3, cast.peggy.id, cast.anna.id),
    ]
    assert PlannedVisit.objects.count() == 0  # preview writes nothing
    res = commit(text, by=cast.carol)
    assert (res.created, res.existing) == (2, 0)
    second = PlannedVisit.objects.get(window_start__date=dt.date(2026, 3, 10))
    assert second.expected_minutes == 40
    assert second.window_start.isoformat() == "2026-03-10T08:00:00+00:00"
    # re-upload: nothing doubles
    again = commit(text, by=cast.carol)
    assert (again.created, again.existing) == (0, 2)
    assert PlannedVisit.objects.count() == 2
    assert AuditEvent.objects.filter(action="planned_visit.create").count() == 2


def test_bom_semicolons_and_blank_lines_are_read(refs):
    body = "\n;;;;;;\nBW-001;anna;2026-03-09;08:00;08:30;;\n\n"
    text = "\ufeff" + HEADER.replace(",", ";") + body
    p = preview(text, by=refs.carol)
    assert p.errors == []
    assert [r.row for r in p.rows] == [4]


@pytest.mark.parametrize(
    ("line", "column", "words"),
    [
        ("BW-001,anna,2026-02-30,08:00,08:30,,", "date", "no such date"),
        ("BW-001,anna,46090,08:00,08:30,,", "date", "spreadsheet date number"),
        ("BW-001,anna,1899-12-30,08:00,08:30,,", "date", "between 2000 and 2100"),
        ("BW-001,anna,2026-03-09,25:00,08:30,,", "start", "no such time"),
        ("BW-001,anna,2026-03-09,8am,08:30,,", "start", "HH:MM"),
        ("BW-001,anna,2026-03-09,09:00,08:30,,", "end", "after start"),
        ("BW-001,anna,2026-03-09,08:00,08:30,1e309,", "expected_minutes", "whole number"),
        ("BW-999,anna,2026-03-09,08:00,08:30,,", "service_user", "unknown service user"),
        ("BW-001,nobody,2026-03-09,08:00,08:30,,", "worker", "unknown care worker"),
        ("BW-001,carol,2026-03-09,08:00,08:30,,", "worker", "unknown care worker"),
        (",anna,2026-03-09,08:00,08:30,,", "service_user", "empty"),
    ],
)
def test_a_bad_row_is_reported_by_row_and_column_and_nothing_is_written(refs, line, column, words):
    text = HEADER + "BW-001,anna,2026-03-09,07:00,07:30,,\n" + line + "\n"
    p = preview(text, by=refs.carol)
    assert [(e.row, e.column) for e in p.errors] == [(3, column)]
    assert words in p.errors[0].message
    with pytest.raises(CsvRowsInvalid) as exc:
        commit(text, by=refs.carol)
    assert exc.value.errors == p.errors
    assert PlannedVisit.objects.count() == 0


def test_another_providers_worker_and_person_read_as_unknown(refs):
    cast = refs
    # erin works for Elsewhere; wes for Riverside; Reg's reference is Riverside's.
    text = HEADER + (
        "BW-001,erin,2026-03-09,08:00,08:30,,\n"
        "BW-001,nobody-at-all,2026-03-09,09:00,09:30,,\n"
        "BW-001,wes,2026-03-09,10:00,10:30,,\n"
    )
    p = preview(text, by=cast.carol)
    msgs = [e.message.split("'")[0] for e in p.errors]
    assert msgs == ["unknown care worker "] * 3
    # Riverside's manager using "BW-001" gets Reg (their own reference), never Peggy.
    p2 = preview(HEADER + "BW-001,wes,2026-03-09,08:00,08:30,,\n", by=cast.far_manager)
    assert p2.errors == [] and p2.rows[0].service_user_id == cast.reg.id


def test_duplicate_rows_in_one_file_name_the_first(refs):
    text = HEADER + ("BW-001,anna,2026-03-09,08:00,08:30,,\nBW-001,anna,09/03/2026,08:00,08:45,,\n")
    p = preview(text, by=refs.carol)
    assert errs(p) == [(3, "")]
    assert "same visit as row 2" in p.errors[0].message


def test_header_problems_are_one_clear_error(refs):
    p = preview("service_user,worker,date,start,finish\nx,y,z,a,b\n", by=refs.carol)
    assert errs(p) == [(1, "header")]
    assert "missing column(s): end" in p.errors[0].message
    assert "unknown column(s): finish" in p.errors[0].message
    assert errs(preview("", by=refs.carol)) == [(1, "")]
    assert "no visits" in preview(HEADER, by=refs.carol).errors[0].message


def test_too_many_fields_and_nul_bytes_are_refused(refs):
    p = preview(HEADER + "BW-001,anna,2026-03-09,08:00,08:30,,,extra\n", by=refs.carol)
    assert errs(p) == [(2, "")]
    assert preview("a\x00b", by=refs.carol).errors[0].message == "not a text file"


def test_a_file_partly_planned_already_creates_only_the_new_rows(refs):
    cast = refs
    text = HEADER + "BW-001,anna,2026-03-09,08:00,08:30,,\nBW-001,anna,2026-03-09,09:00,09:30,,\n"
    commit(HEADER + "BW-001,anna,2026-03-09,09:00,09:30,,\n", by=cast.carol)
    assert PlannedVisit.objects.count() == 1
    res = commit(text, by=cast.carol)
    assert (res.created, res.existing) == (1, 1)


def test_only_a_care_manager_may_import(refs):
    for who in (refs.anna, refs.colin, refs.debbie, refs.nadia):
        with pytest.raises(NotFound):
            preview(HEADER, by=who)


def test_references_are_unique_within_a_provider_and_set_only_by_its_managers(refs):
    cast = refs
    other = ServiceUser.objects.create(
        full_name="Other Person",
        provider=cast.provider,
        council=cast.council,
        created_at=cast.peggy.created_at,
    )
    with pytest.raises(Conflict):
        check_set_reference(cast.carol, other.id, ReferenceIn(reference="bw-001"))
    for who in (cast.other_manager, cast.far_manager, cast.anna, cast.colin):
        with pytest.raises(NotFound):
            check_set_reference(who, cast.peggy.id, ReferenceIn(reference="X1"))
    assert ServiceUser.objects.get(pk=cast.peggy.id).reference == "BW-001"
