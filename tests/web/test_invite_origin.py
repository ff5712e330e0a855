"""Issue 15: the invitation page lets the browser send its real Origin (so the CSRF check
passes), keeps the token from other sites, and expired links are cleaned up (audited)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client

from cocare_chat import clock
from rooms.models import AuditEvent, Person
from tests.support.cast import T0
from web.invitations import EXPIRED_KEPT, purge_expired_invitations
from web.models import Invitation

pytestmark = pytest.mark.django_db
GOOD_PASSWORD = "lilac-harbour-71"


def create(cast, name="Sam Hughes", days=7) -> str:
    c = Client()
    c.force_login(cast.carol.user)
    r = c.post(
        f"/people/{cast.peggy.id}/manage/members/",
        {
            "display_name": name,
            "relationship": "grandson",
            "days": days,
            # The invitee's own lawful basis, recorded with the invitation.
            "basis": "consent",
            "basis_notes": "Peggy agreed",
            "review_on": "2027-03-02",
        },
    )
    m = re.search(rb'value="http://testserver(/invite/[^"]+/)"', r.content)
    assert m, r.content.decode()[:1000]
    return m.group(1).decode()


def test_invitation_pages_keep_the_token_on_our_origin_only(cast, frozen_clock):
    url = create(cast)
    page = Client().get(url)
    assert page.status_code == 200
    # same-origin: our own form POST carries Origin and Referer; no other site sees the URL.
    assert page["Referrer-Policy"] == "same-origin"
    assert Client().get("/invite/not-a-token/")["Referrer-Policy"] == "same-origin"


def test_completing_with_the_browsers_origin_passes_csrf_and_origin_null_does_not(
    cast, frozen_clock
):
    url = create(cast)
    form = {"username": "sam", "password": GOOD_PASSWORD, "password2": GOOD_PASSWORD}
    # What Chromium sent under no-referrer: Origin: null. Refused, nothing written.
    c = Client(enforce_csrf_checks=True)
    token = c.get(url).cookies["csrftoken"].value
    refused = c.post(url, {**form, "csrfmiddlewaretoken": token}, HTTP_ORIGIN="null")
    assert refused.status_code == 403
    assert not Person.objects.filter(user__username="sam").exists()
    # Under same-origin it sends the page's own origin: accepted, account created.
    ok = c.post(url, {**form, "csrfmiddlewaretoken": token}, HTTP_ORIGIN="http://testserver")
    assert ok.status_code == 302 and ok["Location"] == "/"
    assert Person.objects.filter(user__username="sam", role="family").exists()


def test_expired_pending_invitations_are_purged_after_a_week_with_an_audit_event(
    cast, frozen_clock
):
    create(cast, "Old Link", days=1)
    used_url = create(cast, "Used Link", days=1)
    Client().post(
        used_url, {"username": "used", "password": GOOD_PASSWORD, "password2": GOOD_PASSWORD}
    )
    old = Invitation.objects.get(display_name="Old Link")
    # Expired but inside the grace week: still listed as expired, not deleted.
    clock.freeze(T0 + dt.timedelta(days=2))
    c = Client()
    c.force_login(cast.carol.user)
    page = c.get(f"/people/{cast.peggy.id}/manage/members/").content.decode()
    assert "Old Link" in page and "expired" in page
    assert Invitation.objects.filter(pk=old.pk).exists()
    # A week after it expired: listing the invitations purges it, once, audited.
    clock.freeze(old.expires_at + EXPIRED_KEPT)
    page = c.get(f"/people/{cast.peggy.id}/manage/members/").content.decode()
    assert "Old Link" not in page and "Used Link" in page
    assert not Invitation.objects.filter(pk=old.pk).exists()
    events = AuditEvent.objects.filter(action="invitation.purge")
    assert [(e.actor_id, e.target) for e in events] == [(cast.carol.id, f"invitation:{old.pk}")]
    assert purge_expired_invitations(cast.carol, cast.peggy.id) == 0
    assert AuditEvent.objects.filter(action="invitation.purge").count() == 1


def test_purge_touches_only_that_service_users_invitations(cast, frozen_clock):
    create(cast, "Peggy Link", days=1)
    clock.freeze(T0 + dt.timedelta(days=30))
    assert purge_expired_invitations(cast.carol, cast.reg.id) == 0
    assert Invitation.objects.filter(display_name="Peggy Link").exists()
    assert purge_expired_invitations(cast.carol, cast.peggy.id) == 1
