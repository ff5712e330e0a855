"""``GET /api/service-users/{id}/record-reads``: which council staff read this person's
record, for the provider's care managers (``rooms.access.access_record_reads``); anyone
else gets the same 404 as for a person who does not exist. The read itself is audited.
"""

from __future__ import annotations

from ninja import Field, Query, Router, Schema
from pydantic import ConfigDict

from rooms import audit
from rooms.access import access_record_reads
from rooms.api import ErrorOut, me
from rooms.bounds import BoundedDatetime, Id
from rooms.record_reads import record_reads

router = Router(tags=["record reads"])


class ReadsQuery(Schema):
    model_config = ConfigDict(extra="forbid")

    since: BoundedDatetime | None = None
    limit: int = Field(200, ge=1, le=500)


@router.get("/service-users/{int:su_id}/record-reads", response={200: dict, 404: ErrorOut})
def reads(request, su_id: Id, q: Query[ReadsQuery]):
    person = me(request)
    su = access_record_reads(person, su_id)
    audit.record(person, "record_reads.read", service_user=su)
    return {"service_user": su.id} | record_reads(su, since=q.since, limit=q.limit)
