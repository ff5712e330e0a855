"""Planning API (mounted at ``/api/planning``): planned visits by CSV, people's references,
location-exception reviews and exemptions.

Thin adapters over ``bots.import_csv`` and ``bots.exceptions``, which authorise (care
managers of the person's provider); every refusal is the same 404 body.
"""

from __future__ import annotations

from ninja import Router, Schema, Status
from pydantic import ConfigDict, Field

from bots.exceptions import (
    ExemptionIn,
    ReviewIn,
    check_review_location_exception,
    check_set_location_exemption,
)
from bots.import_csv import (
    CsvRowsInvalid,
    ReferenceIn,
    check_set_reference,
    commit,
    preview,
)
from rooms.api import ErrorOut, me
from rooms.bounds import Id

router = Router(tags=["planning"])


class CsvIn(Schema):
    model_config = ConfigDict(extra="forbid")

    csv: str = Field(max_length=1_000_000)


def _preview_wire(p) -> dict:
    return {
        "rows": [r.model_dump(mode="json") for r in p.rows],
        "errors": [e.model_dump() for e in p.errors],
        "new": p.new,
        "existing": p.existing,
    }


@router.post("/planned-csv/preview", response={200: dict, 404: ErrorOut, 422: ErrorOut})
def csv_preview(request, data: CsvIn):
    """Check a planned-visits CSV; writes nothing. ``errors``: row, column, message."""
    return _preview_wire(preview(data.csv, by=me(request)))


@router.post("/planned-csv/commit", response={201: dict, 404: ErrorOut, 409: ErrorOut, 422: dict})
def csv_commit(request, data: CsvIn):
    """Plan every new row, or nothing if any row is bad (422 with the rows' errors).
    Idempotent on (person, worker, start): ``existing`` counts rows already planned."""
    try:
        res = commit(data.csv, by=me(request))
    except CsvRowsInvalid as exc:
        return Status(
            422,
            {
                "error": "invalid_rows",
                "message": exc.message,
                "errors": [e.model_dump() for e in exc.errors],
            },
        )
    return Status(201, res.model_dump())


@router.put(
    "/service-users/{su_id}/reference",
    response={200: dict, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
)
def set_reference(request, su_id: Id, data: ReferenceIn):
    su = check_set_reference(me(request), su_id, data)
    return {"id": su.id, "reference": su.reference}


@router.post(
    "/visits/{visit_id}/location-review", response={200: dict, 404: ErrorOut, 422: ErrorOut}
)
def review_location(request, visit_id: Id, data: ReviewIn):
    """Accept or dispute a visit's location exception with a note (audited)."""
    v = check_review_location_exception(me(request), visit_id, data)
    return {
        "id": v.id,
        "review": v.exception_review,
        "note": v.exception_review_note,
        "reviewed_by": v.exception_reviewed_by_id,
        "reviewed_at": v.exception_reviewed_at.isoformat() if v.exception_reviewed_at else None,
    }


@router.put(
    "/service-users/{su_id}/location-exemption",
    response={200: dict, 404: ErrorOut, 422: ErrorOut},
)
def location_exemption(request, su_id: Id, data: ExemptionIn):
    su = check_set_location_exemption(me(request), su_id, data)
    return {"id": su.id, "exempt": su.location_exempt, "reason": su.location_exempt_reason}
