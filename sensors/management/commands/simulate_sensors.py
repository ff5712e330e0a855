"""``manage.py simulate_sensors``: a realistic day of home-sensor events, for the demo.

Creates a demo hub (pendant, front door, three motion sensors, bed) for the person if it
is missing, then sends the events of the last 24 hours through the real write path —
``sensors.ingest.ingest``, the function behind ``POST /api/sensors/events`` — or, with
``--url``, over HTTP to a running server with the hub's token. Bounded: one day of events
in batches, then it stops. Event ids are derived from the day, so running it twice sends
the same events again and they are answered ``duplicate``.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.error
import urllib.request

from django.core.management.base import BaseCommand, CommandError

from cocare_chat import clock
from rooms.errors import CoCareError
from rooms.models import ServiceUser
from sensors.actions import ProfileIn, do_create_hub, do_rotate_token, do_set_profile
from sensors.family import local_tz
from sensors.ingest import ingest
from sensors.models import SensorHub, SensorProfile
from sensors.schemas import BatchIn

HUB_NAME = "Demo hub"
DEVICES = [
    {"device_id": "pendant-1", "kind": "pendant", "location": "Pendant"},
    {"device_id": "door-front", "kind": "door", "location": "Front door"},
    {"device_id": "pir-hall", "kind": "motion", "location": "Hall"},
    {"device_id": "pir-kitchen", "kind": "motion", "location": "Kitchen"},
    {"device_id": "pir-bathroom", "kind": "motion", "location": "Bathroom"},
    {"device_id": "bed-1", "kind": "bed", "location": "Bedroom"},
]
# (local time, device, value, tag). Tagged events are left out with --calm.
DAY: list[tuple[str, str, float, str]] = [
    ("02:10", "bed-1", 0, ""),
    ("02:11", "pir-hall", 1, ""),
    ("02:12", "pir-bathroom", 1, ""),
    ("02:20", "pir-hall", 1, ""),
    ("02:22", "bed-1", 1, ""),
    ("02:40", "door-front", 1, "alert"),
    ("02:43", "door-front", 0, "alert"),
    ("07:05", "bed-1", 0, ""),
    ("07:06", "pir-bathroom", 1, ""),
    ("07:20", "pir-kitchen", 1, ""),
    ("07:45", "pir-kitchen", 2, ""),
    ("08:30", "door-front", 1, ""),
    ("08:31", "door-front", 0, ""),
    ("08:32", "pir-hall", 1, ""),
    ("09:10", "door-front", 1, ""),
    ("09:11", "door-front", 0, ""),
    ("10:30", "pir-kitchen", 1, ""),
    ("12:15", "pir-kitchen", 3, ""),
    ("12:50", "pir-hall", 1, ""),
    ("13:30", "door-front", 1, ""),
    ("13:31", "door-front", 0, ""),
    ("14:00", "door-front", 1, ""),
    ("14:01", "door-front", 0, ""),
    ("15:20", "pendant-1", 1, "alert"),
    ("15:21", "pir-hall", 1, ""),
    ("17:30", "door-front", 1, ""),
    ("17:31", "door-front", 0, ""),
    ("18:00", "pir-kitchen", 2, ""),
    ("19:30", "pir-hall", 1, ""),
    ("21:40", "pir-bathroom", 1, ""),
    ("22:05", "bed-1", 1, ""),
]


def day_events(now: dt.datetime, *, calm: bool = False) -> list[dict]:
    """The template's events in the 24 hours up to ``now``, oldest first (pure)."""
    tz = local_tz()
    local_now = now.astimezone(tz)
    out = []
    kinds = {d["device_id"]: d["kind"] for d in DEVICES}
    for i, (hhmm, device, value, tag) in enumerate(DAY):
        if calm and tag == "alert":
            continue
        t = dt.time.fromisoformat(hhmm)
        day = local_now.date()
        at = dt.datetime.combine(day, t, tzinfo=tz)
        if at > local_now:
            day -= dt.timedelta(days=1)
            at = dt.datetime.combine(day, t, tzinfo=tz)
        out.append(
            {
                "device_id": device,
                "event_id": f"sim-{day:%Y%m%d}-{i:03d}",
                "kind": kinds[device],
                "value": value,
                "occurred_at": at.astimezone(dt.UTC).isoformat(),
            }
        )
    return sorted(out, key=lambda e: e["occurred_at"])


class Command(BaseCommand):
    help = "Send a realistic day of home-sensor events for a demo person (bounded)."

    def add_arguments(self, parser):
        parser.add_argument("--service-user", type=int, help="id (default: Peggy, else the first)")
        parser.add_argument(
            "--calm",
            action="store_true",
            help="leave out the night-time door and the pendant press",
        )
        parser.add_argument(
            "--share-with-family",
            action="store_true",
            help="record that the person agreed to share pendant notices",
        )
        parser.add_argument("--batch", type=int, default=10, help="events per batch (1-200)")
        parser.add_argument(
            "--pace",
            type=float,
            default=0.0,
            help="seconds between batches, for a live demo (0-10)",
        )
        parser.add_argument("--url", help="send over HTTP to this server (rotates the token)")

    def handle(self, *args, service_user, calm, share_with_family, batch, pace, url, **opts):
        if not 1 <= batch <= 200 or not 0 <= pace <= 10:
            raise CommandError("--batch is 1 to 200 and --pace 0 to 10 seconds.")
        su = self._service_user(service_user)
        now = clock.now()
        hub = SensorHub.objects.filter(service_user=su, name=HUB_NAME, active=True).first()
        token = None
        if hub is None:
            hub, token = do_create_hub(su, HUB_NAME, devices=DEVICES, now=now)
            self.stdout.write(f"Created hub {hub.id} for {su.name}.")
        if share_with_family:
            profile = SensorProfile.objects.get(service_user=su)
            do_set_profile(
                su,
                ProfileIn(
                    family_notices=sorted({*profile.family_notices, "pendant"}),
                    movement_expected_by=profile.movement_expected_by,
                    movement_from=profile.movement_from,
                ),
                now=now,
            )
        if url and token is None:
            token = do_rotate_token(hub, now=now)
        events = day_events(now, calm=calm)
        stored = duplicates = 0
        for n, start in enumerate(range(0, len(events), batch)):
            if n and pace:
                time.sleep(pace)  # demo pacing only: nothing waits on it
            chunk = events[start : start + batch]
            if url:
                body = self._post(url, token, chunk)
                stored += body["stored"]
                duplicates += body["duplicates"]
            else:
                try:
                    results = ingest(hub, BatchIn.model_validate({"events": chunk}), clock.now())
                except CoCareError as exc:
                    raise CommandError(exc.message) from None
                stored += sum(r.status == "stored" for r in results)
                duplicates += sum(r.status == "duplicate" for r in results)
        self.stdout.write(
            f"{len(events)} events for {su.name}: {stored} stored, {duplicates} already there."
        )

    def _service_user(self, su_id: int | None) -> ServiceUser:
        qs = ServiceUser.objects.order_by("id")
        su = (
            qs.filter(pk=su_id).first()
            if su_id is not None
            else qs.filter(preferred_name="Peggy").first() or qs.first()
        )
        if su is None:
            raise CommandError("No such service user (run manage.py seed_demo first).")
        return su

    def _post(self, url: str, token: str, events: list[dict]) -> dict:
        if not url.startswith(("http://", "https://")):
            raise CommandError("--url must be an http:// or https:// address.")
        req = urllib.request.Request(  # noqa: S310 (scheme checked above)
            url.rstrip("/") + "/api/sensors/events",
            method="POST",
            data=json.dumps({"events": events}).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=20) as resp:  # noqa: S310 (operator's URL)
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise CommandError(f"{exc.code}: {exc.read()[:300].decode(errors='replace')}") from None
