"""Home sensors over HTTP (mounted at ``/api/sensors``). Thin adapters.

- ``POST /api/sensors/events`` — a hub's batch, authenticated by its bearer token **only**:
  no session, no CSRF, and a session cookie is never accepted in place of the token. Any
  missing, malformed, unknown or deactivated token answers the same 401 body. Rate
  limited per hub (``COCARE_RATE_LIMIT_SENSOR_BATCHES`` per minute). Written by
  ``sensors.ingest.ingest``: the whole batch is validated first (422 naming
  ``events.<i>.<field>``, nothing written), then each event is stored once.
- Set-up for the provider's care managers (session auth, ``sensors.actions``): create a
  hub (its token is in that one response), add devices, rotate the token, deactivate, and
  the person's choices (family notices, movement time).
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Field, Router, Status
from ninja.security import HttpBearer

from cocare_chat import clock
from rooms import ratelimit
from rooms.api import Body, ErrorOut, me
from rooms.bounds import Id
from rooms.errors import CoCareError
from sensors import actions
from sensors.ingest import authenticate, ingest
from sensors.models import SensorHub, SensorProfile
from sensors.schemas import BatchIn

router = Router(tags=["sensors"])


class HubUnauthenticated(CoCareError):
    code = "unauthenticated"
    status = 401


UNAUTHENTICATED = "A valid sensor hub token is required."


class HubToken(HttpBearer):
    """``Authorization: Bearer <hub token>`` — nothing else authenticates a hub.

    ``__call__`` is ours so that a missing header answers the same 401 body as a wrong
    token (ninja's default would answer its generic "Sign in first.").
    """

    def __call__(self, request: HttpRequest) -> SensorHub:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        hub = self.authenticate(request, token.strip()) if scheme.lower() == "bearer" else None
        if hub is None:
            raise HubUnauthenticated(UNAUTHENTICATED)
        return hub

    def authenticate(self, request: HttpRequest, token: str) -> SensorHub | None:
        return authenticate(token)


class BatchBody(Body, BatchIn):
    pass


@router.post(
    "/events",
    auth=HubToken(),
    response={201: dict, 200: dict, 401: ErrorOut, 422: ErrorOut, 429: ErrorOut},
)
def post_events(request, data: BatchBody):
    """A hub's batch of events. 201 when something new was stored, 200 for a pure replay."""
    hub: SensorHub = request.auth
    now = clock.now()
    ratelimit.hit("sensor_hub", hub.pk, now)
    results = ingest(hub, BatchIn.model_validate(data.model_dump()), now)
    stored = sum(r.status == "stored" for r in results)
    return Status(
        201 if stored else 200,
        {
            "stored": stored,
            "duplicates": len(results) - stored,
            "results": [r.wire() for r in results],
        },
    )


# ---- set-up (care managers) -----------------------------------------------------------


def hub_wire(hub: SensorHub) -> dict:
    return {
        "id": hub.id,
        "service_user": hub.service_user_id,
        "name": hub.name,
        "active": hub.active,
        "last_seen_at": hub.last_seen_at.isoformat() if hub.last_seen_at else None,
        "devices": [
            {"device_id": d.device_id, "kind": d.kind, "location": d.location, "active": d.active}
            for d in hub.devices.order_by("id")
        ],
    }


def profile_wire(p: SensorProfile | None) -> dict:
    if p is None:
        return {"family_notices": [], "movement_expected_by": None, "movement_from": None}
    return {
        "family_notices": list(p.family_notices),
        "movement_expected_by": (
            p.movement_expected_by.strftime("%H:%M") if p.movement_expected_by else None
        ),
        "movement_from": p.movement_from.strftime("%H:%M"),
    }


class DeviceBody(Body, actions.DeviceIn):
    pass


class HubIn(Body):
    service_user: Id
    name: str = Field(min_length=1, max_length=120)
    devices: list[DeviceBody] = Field(default_factory=list, max_length=100)


@router.post("/hubs", response={201: dict, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut})
def create_hub(request, data: HubIn):
    """The token is in this response only; store it in the hub now."""
    hub, token = actions.check_create_hub(
        me(request), data.service_user, data.name, [d.model_dump() for d in data.devices]
    )
    return Status(201, {"hub": hub_wire(hub), "token": token})


@router.post(
    "/hubs/{int:hub_id}/devices", response={201: dict, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}
)
def add_device(request, hub_id: Id, data: DeviceBody):
    d = actions.check_add_device(me(request), hub_id, data.model_dump())
    return Status(201, {"device_id": d.device_id, "kind": d.kind, "location": d.location})


@router.post("/hubs/{int:hub_id}/rotate-token", response={200: dict, 404: ErrorOut})
def rotate_token(request, hub_id: Id):
    return {"hub": hub_id, "token": actions.check_rotate_token(me(request), hub_id)}


@router.post("/hubs/{int:hub_id}/deactivate", response={200: dict, 404: ErrorOut})
def deactivate(request, hub_id: Id):
    actions.check_deactivate_hub(me(request), hub_id)
    return {"hub": hub_id, "active": False}


@router.get("/service-users/{int:su_id}", response={200: dict, 404: ErrorOut})
def sensors_of(request, su_id: Id):
    su = actions.managed_service_user(me(request), su_id)
    hubs = SensorHub.objects.filter(service_user=su).order_by("id")
    profile = SensorProfile.objects.filter(service_user=su).first()
    return {
        "service_user": su.id,
        "profile": profile_wire(profile),
        "hubs": [hub_wire(h) for h in hubs],
    }


class ProfileBody(Body, actions.ProfileIn):
    pass


@router.put(
    "/service-users/{int:su_id}/profile", response={200: dict, 404: ErrorOut, 422: ErrorOut}
)
def set_profile(request, su_id: Id, data: ProfileBody):
    """The person's choices: which family notices they agreed to, the movement time."""
    profile_in = actions.ProfileIn.model_validate(data.model_dump())
    return profile_wire(actions.check_set_profile(me(request), su_id, profile_in))
