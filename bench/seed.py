"""Seed a benchmark database: ROOMS professional rooms, each with MEMBERS care workers,
and a signed-in Django session per person. Prints one JSON line:
``{"rooms": [{"id": .., "members": [{"person": .., "session": ..}, ..]}, ..]}``.

Usage (env points at the bench database): python bench/seed.py ROOMS MEMBERS TAG

Service users and rooms go through the real action (``do_create_service_user``);
people, memberships and sessions are bulk-inserted, which is equivalent to signing each
person in through /login/ but takes seconds instead of minutes for thousands of people.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import sys
from pathlib import Path

sys.path.insert(0, os.environ.get("BENCH_CODE_ROOT") or str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cocare_chat.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import (  # noqa: E402
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    SESSION_KEY,
    get_user_model,  # noqa: E402
)
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.contrib.sessions.models import Session  # noqa: E402
from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from rooms.models import Membership, Organisation, Person, Role, Room  # noqa: E402
from rooms.network import do_create_service_user  # noqa: E402


def main(n_rooms: int, n_members: int, tag: str) -> dict:
    now = timezone.now()
    User = get_user_model()
    with transaction.atomic():
        council = Organisation.objects.create(name=f"Bench council {tag}", kind="council")
        provider = Organisation.objects.create(
            name=f"Bench provider {tag}", kind="provider", commissioned_by=council
        )
        rooms = []
        for i in range(n_rooms):
            su = do_create_service_user(
                full_name=f"Bench person {tag}-{i}", provider=provider, council=council, now=now
            )
            rooms.append(Room.objects.get(service_user=su, kind=Room.Kind.PROFESSIONAL))
        users = User.objects.bulk_create(
            [
                User(username=f"b{tag}-{i}-{j}", password="!unusable-bench")  # noqa: S106
                for i in range(n_rooms)
                for j in range(n_members)
            ]
        )
        users = list(User.objects.filter(username__startswith=f"b{tag}-").order_by("id"))
        by_name = {u.username: u for u in users}
        people = Person.objects.bulk_create(
            [
                Person(
                    user=by_name[f"b{tag}-{i}-{j}"],
                    display_name=f"Worker {i}.{j}",
                    role=Role.CARE_WORKER,
                    organisation=provider,
                )
                for i in range(n_rooms)
                for j in range(n_members)
            ]
        )
        people = {p.user_id: p for p in Person.objects.filter(user__in=users)}
        Membership.objects.bulk_create(
            [
                Membership(
                    room=rooms[i], person=people[by_name[f"b{tag}-{i}-{j}"].id], joined_at=now
                )
                for i in range(n_rooms)
                for j in range(n_members)
            ]
        )
        store = SessionStore()
        expire = now + dt.timedelta(days=1)
        sessions = {}
        rows = []
        for u in users:
            key = secrets.token_hex(16)
            sessions[u.id] = key
            data = {
                SESSION_KEY: str(u.pk),
                BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                HASH_SESSION_KEY: u.get_session_auth_hash(),
            }
            rows.append(
                Session(session_key=key, session_data=store.encode(data), expire_date=expire)
            )
        Session.objects.bulk_create(rows, batch_size=1000)
    out = []
    for i, room in enumerate(rooms):
        members = []
        for j in range(n_members):
            u = by_name[f"b{tag}-{i}-{j}"]
            members.append({"person": people[u.id].id, "session": sessions[u.id]})
        out.append({"id": room.id, "members": members})
    return {"rooms": out}


if __name__ == "__main__":
    result = main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
    print(json.dumps(result))
