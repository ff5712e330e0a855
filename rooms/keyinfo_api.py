"""Key information in the API (``rooms.keyinfo``): read with its history (the team and
the person themselves), replace (the provider's care manager, naming the version it was
based on). Refusals are the one 404; a stale ``expected_version`` is 409."""

from __future__ import annotations

from ninja import Router

from rooms import audit
from rooms.api import ErrorOut, me
from rooms.bounds import Id
from rooms.keyinfo import (
    LABELS,
    KeyInfoIn,
    access_key_info,
    check_update_key_info,
    current_version,
    versions,
)
from rooms.models import KeyInfoVersion, ServiceUser

router = Router(tags=["key information"])


def _version_wire(v: KeyInfoVersion) -> dict:
    return {
        "version": v.version,
        "changed_at": v.changed_at.isoformat(),
        "changed_by": v.changed_by_id,
        "changed_fields": [f for f in v.changed_fields.split(",") if f],
        **{f: getattr(v, f) for f in LABELS},
    }


def _wire(su: ServiceUser) -> dict:
    return {
        "service_user": su.id,
        "version": current_version(su),
        "updated_at": su.key_info_updated_at.isoformat() if su.key_info_updated_at else None,
        **{f: getattr(su, f) for f in LABELS},
        "history": [_version_wire(v) for v in versions(su)],
    }


@router.get("/service-users/{su_id}/key-info", response={200: dict, 404: ErrorOut})
def get_key_info(request, su_id: Id):
    person = me(request)
    su = access_key_info(person, su_id)
    audit.record(person, "key_info.read", service_user=su)
    return _wire(su)


@router.put(
    "/service-users/{su_id}/key-info",
    response={200: dict, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
)
def put_key_info(request, su_id: Id, data: KeyInfoIn):
    su = check_update_key_info(me(request), su_id, data)
    return _wire(su)
