"""Key information: edited by the provider's care manager, with its history.

Who reads it is ``rooms.access.access_service_user`` (the team and the person themselves);
who edits it is the provider's care manager (``rooms.access.is_provider_manager``);
anyone else gets the one NotFound. The write is ``rooms.network.do_update_service_user``
(the one write path for a service user), which appends a ``KeyInfoVersion`` per change.

Guarantees: an edit names the version it was based on (``expected_version``); if someone
saved in between, it is refused with a Conflict and nothing is written, so no change is
silently overwritten. Saving unchanged values writes nothing.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext_noop
from pydantic import BaseModel, ConfigDict, Field

from cocare_chat import clock
from rooms.access import access_service_user, is_provider_manager
from rooms.errors import Conflict, NotFound
from rooms.models import KeyInfoVersion, Person, ServiceUser
from rooms.network import KEY_INFO_FIELDS, do_update_service_user

NOT_FOUND = "No such person."
LABELS = {
    "preferences": gettext_noop("Preferences"),
    "what_matters": gettext_noop("What matters"),
    "communication_needs": gettext_noop("Communication"),
    "access_notes": gettext_noop("Access"),
}


class KeyInfoIn(BaseModel):
    """The four key-information fields as a whole (a page form or an API body)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    preferences: str = Field(default="", max_length=4000)
    what_matters: str = Field(default="", max_length=4000)
    communication_needs: str = Field(default="", max_length=4000)
    access_notes: str = Field(default="", max_length=4000)
    # The version the editor saw (0: none recorded yet); refused if it moved on.
    expected_version: int = Field(ge=0, le=2**31)


def current_version(su: ServiceUser) -> int:
    last = KeyInfoVersion.objects.filter(service_user=su).order_by("-version").first()
    return last.version if last else 0


def versions(su: ServiceUser, limit: int = 100) -> QuerySet[KeyInfoVersion]:
    return (
        KeyInfoVersion.objects.filter(service_user=su)
        .select_related("changed_by")
        .order_by("-version")[:limit]
    )


def access_key_info_editor(actor: Person | None, su_id: int) -> ServiceUser:
    su = ServiceUser.objects.filter(pk=su_id).first()
    if su is None or actor is None or not is_provider_manager(actor, su):
        raise NotFound(NOT_FOUND)
    return su


def check_update_key_info(
    actor: Person, su_id: int, data: KeyInfoIn, now: dt.datetime | None = None
) -> ServiceUser:
    """The provider's care manager saves the key information (see module docstring)."""
    su = access_key_info_editor(actor, su_id)
    values = data.model_dump(exclude={"expected_version"})
    with transaction.atomic():
        locked = ServiceUser.objects.select_for_update().get(pk=su.pk)
        if current_version(locked) != data.expected_version:
            raise Conflict(
                "Someone else changed the key information meanwhile; reload and try again."
            )
        return do_update_service_user(locked, by=actor, now=now or clock.now(), **values)


def access_key_info(actor: Person | None, su_id: int) -> ServiceUser:
    """Read access: the team and the person themselves (``access_service_user``)."""
    return access_service_user(actor, su_id)


def changed_since(su: ServiceUser, since: dt.datetime) -> tuple[dt.datetime | None, list[str]]:
    """When key information last changed after ``since`` and which fields, in order."""
    rows = list(
        KeyInfoVersion.objects.filter(service_user=su, changed_at__gt=since, version__gt=1)
        .order_by("version")
        .values_list("changed_at", "changed_fields")
    )
    if not rows:
        return None, []
    fields = {f for _, names in rows for f in names.split(",") if f in KEY_INFO_FIELDS}
    return rows[-1][0], [f for f in LABELS if f in fields]
