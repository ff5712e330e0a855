"""Planning API (mounted at ``/api/planning``): planned visits by CSV, weekly patterns,
people's references, location-exception reviews and exemptions.

Thin adapters over ``bots.import_csv``, ``bots.patterns`` and ``bots.exceptions``, which
authorise (care managers of the person's provider); every refusal is the same 404 body.
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
from bots.models import VisitPattern
from bots.patterns import (
    PatternIn,
    check_create_pattern,
    check_end_pattern,
    check_replace_pattern,
    patterns_for,
)
from rooms.api import ErrorOut, me
from rooms.bounds import Id

router = Router(tags=["planning"])


class CsvIn(Schema):
    model_config = ConfigDict(extra="forbid")

    # At most 200k characters (about 3,000 rows): even if every one is an escaped surrogate
    # pair (12 bytes) the body stays under Django's 2.5 MB request limit, so an oversize
    # file is a JSON 422, never an HTML 400. Larger files: split, or use the upload page.
    csv: str = Field(max_length=200_000)


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


def pattern_wire(p: VisitPattern) -> dict:
    return {
        "id": p.id,
        "service_user": p.service_user_id,
        "worker": p.worker_id,
        "weekdays": [int(c) for c in p.weekdays],
        "start_time": p.start_time.strftime("%H:%M"),
        "minutes": p.minutes,
        "visit_type": p.visit_type,
        "starts_on": p.starts_on.isoformat(),
        "ends_on": p.ends_on.isoformat() if p.ends_on else None,
        "generated_until": p.generated_until.isoformat(),
        "ended": p.ended_at is not None,
    }


@router.get("/service-users/{su_id}/patterns", response={200: list[dict], 404: ErrorOut})
def list_patterns(request, su_id: Id):
    _, patterns = patterns_for(me(request), su_id)
    return [pattern_wire(p) for p in patterns]


@router.post("/service-users/{su_id}/patterns", response={201: dict, 404: ErrorOut, 422: ErrorOut})
def create_pattern(request, su_id: Id, data: PatternIn):
    """A weekly pattern; visits are planned from it up to two weeks ahead by the worker."""
    return Status(201, pattern_wire(check_create_pattern(me(request), su_id, data)))


@router.put("/patterns/{pattern_id}", response={201: dict, 404: ErrorOut, 422: ErrorOut})
def replace_pattern(request, pattern_id: Id, data: PatternIn):
    """Change a pattern: it ends now (its future visits are cancelled) and a successor
    with these details starts; the successor is returned."""
    return Status(201, pattern_wire(check_replace_pattern(me(request), pattern_id, data)))


@router.post("/patterns/{pattern_id}/end", response={200: dict, 404: ErrorOut})
def end_pattern(request, pattern_id: Id):
    """End a pattern now (idempotent); its visits that have not started are cancelled."""
    return {"id": pattern_id, "cancelled": check_end_pattern(me(request), pattern_id)}
