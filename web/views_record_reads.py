"""``/people/<id>/manage/record-reads/``: which council staff read this person's record.

For the provider's care managers (``rooms.access.access_record_reads``); anyone else gets
the 404 page. Same data as ``GET /api/service-users/{id}/record-reads``; the read is
audited.
"""

from __future__ import annotations

import datetime as dt

from rooms import audit
from rooms.access import access_record_reads
from rooms.record_reads import record_reads
from web.pages import page, person_page


@person_page
def record_reads_page(request, su_id: int):
    person = request.person
    su = access_record_reads(person, su_id)
    audit.record(person, "record_reads.read", service_user=su)
    data = record_reads(su, limit=100)
    for row in (*data["readers"], *data["reads"]):
        for key in ("at", "first_at", "last_at"):
            if key in row:
                row[key] = dt.datetime.fromisoformat(row[key])
    return page(request, "web/record_reads.html", {"su": su, **data}, active="home")
