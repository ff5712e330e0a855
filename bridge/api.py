"""``GET /api/bridge/status``: the Matrix bridge's health for a care manager's rooms.

The same ``BridgeStatus`` as ``manage.py bridge_status`` and the /bridge/ page, scoped
to the manager's provider (``bridge.status_query.managed_rooms``); 404 for anyone else.
"""

from __future__ import annotations

from ninja import Router

from bridge.status_query import current_status, managed_rooms
from cocare_chat import clock
from rooms.api import ErrorOut, me
from rooms.models import Room

router = Router(tags=["bridge"])


@router.get("/status", response={200: dict, 404: ErrorOut})
def status(request):
    rooms = managed_rooms(me(request))
    result = current_status(clock.now(), rooms=rooms).model_dump(mode="json")
    su_of = dict(
        Room.objects.filter(pk__in=[r["room_id"] for r in result["rooms"]]).values_list(
            "pk", "service_user_id"
        )
    )
    for r in result["rooms"]:
        r["service_user_id"] = su_of[r["room_id"]]
    return result
