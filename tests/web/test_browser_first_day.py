"""A provider's first day, from an empty database, through pages only (issue 14, part A):

``manage.py bootstrap`` prints the first administrator's link; she opens it, sets a
password and is signed in; invites a care manager and a care worker (each opens their link
in a fresh browser and sets a password); creates a service user with the manager in both
rooms and puts the care worker on the care team; the worker opens the team room, and when
the administrator deactivates her, her open socket closes at once. No Django admin, no
shell after bootstrap, no injected headers or cookies. Then the API docs page loads with
every request to our own server.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from playwright.sync_api import expect

from rooms.models import Membership, Organisation, Person, ServiceUser
from tests.support.services import ROOT, subprocess_env
from tests.web.browser import shot, start_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "lilac-harbour-71"
DESKTOP = {"viewport": {"width": 1100, "height": 900}, "locale": "en-GB"}


@pytest.fixture
def live(browser):
    assert not Organisation.objects.exists()  # the empty database the day starts from
    server = start_server()
    contexts = []

    def fresh(**kw):
        ctx = browser.new_context(base_url=server.url, **(kw or DESKTOP))
        contexts.append(ctx)
        return ctx.new_page()

    yield server, fresh
    for ctx in contexts:
        ctx.close()
    server.stop()


def bootstrap(server) -> str:
    out = subprocess.run(  # the one shell step of a deployment
        [
            sys.executable,
            "manage.py",
            "bootstrap",
            "--council",
            "Northshire Council",
            "--provider",
            "Brightwater Care",
            "--admin-email",
            "pam@brightwater.example",
            "--base-url",
            server.url,
        ],
        cwd=ROOT,
        env=subprocess_env(redis=False),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    m = re.search(re.escape(server.url) + r"/invite/[^\s/]+/", out)
    assert m, out
    return m.group(0)


def set_password(page, link: str) -> None:
    """An invitee opens their link and chooses a password (the email is their username)."""
    page.goto(link)
    page.get_by_label("Choose a password").fill(PASSWORD)
    page.get_by_label("Type the password again").fill(PASSWORD)
    page.get_by_role("button", name="Create account and sign in").click()


def invite(admin, name: str, email: str, role: str) -> str:
    admin.get_by_label("Their name").fill(name)
    admin.get_by_label("Email (offered as their username)").fill(email)
    admin.get_by_label("Role").select_option(role)
    admin.get_by_role("button", name="Create invitation link").click()
    expect(admin.get_by_role("heading", name=f"Invitation ready for {name}")).to_be_visible()
    return admin.locator("#invite-link").input_value()


def test_a_providers_first_day_from_an_empty_database(live):
    server, fresh = live
    link = bootstrap(server)

    admin = fresh()
    set_password(admin, link)
    expect(admin).to_have_url(re.compile(r"/org/staff/$"))
    expect(admin.get_by_role("heading", name="Staff of Brightwater Care")).to_be_visible()
    shot(admin, "14a-01-admin-staff-page")

    manager_link = invite(admin, "Mo Manager", "mo@brightwater.example", "care_manager")
    shot(admin, "14a-02-invitation-link-shown-once")
    worker_link = invite(admin, "Wendy Worker", "wendy@brightwater.example", "care_worker")

    mo = fresh()
    set_password(mo, manager_link)
    expect(mo).to_have_url(re.compile(r"/$"))
    wendy = fresh(**{**DESKTOP, "viewport": {"width": 390, "height": 844}})
    set_password(wendy, worker_link)
    expect(wendy).to_have_url(re.compile(r"/$"))
    provider = Organisation.objects.get(kind="provider")
    assert {
        (p.display_name, p.role, p.organisation_id)
        for p in Person.objects.filter(user__isnull=False)
    } == {
        ("pam", "provider_admin", provider.id),
        ("Mo Manager", "care_manager", provider.id),
        ("Wendy Worker", "care_worker", provider.id),
    }

    admin.get_by_role("link", name="Service users").click()
    admin.get_by_label("Full name").fill("Arthur Penn")
    admin.get_by_label("Preferred name").fill("Art")
    admin.get_by_label("Mo Manager").check()
    admin.get_by_role("button", name="Add service user").click()
    expect(admin.get_by_role("heading", name="Arthur Penn")).to_be_visible()
    admin.get_by_label("Member of staff").select_option(label="Wendy Worker (Care worker)")
    admin.get_by_role("button", name="Add to care team").click()
    team = admin.locator("section", has=admin.get_by_role("heading", name="Care team"))
    expect(team).to_contain_text("Wendy Worker")
    expect(team).to_contain_text("Mo Manager")
    shot(admin, "14a-03-service-user-set-up", full_page=True)
    su = ServiceUser.objects.get(full_name="Arthur Penn")
    assert Membership.objects.filter(room__service_user=su, removed_at__isnull=True).count() == 6

    # The manager runs the new person's rooms (she was put in both at creation).
    mo.goto(f"/people/{su.id}/manage/members/")
    expect(mo.get_by_role("heading", name="Members and invitations")).to_be_visible()

    # The worker is in the team room with a live socket ...
    wendy.goto(f"/people/{su.id}/team/")
    expect(wendy.locator("#conn")).to_have_text("")
    expect(wendy.locator("#conn")).to_have_attribute("data-state", "online")
    # ... and the administrator deactivates her: the open socket closes at once.
    admin.get_by_role("link", name="Staff").click()
    admin.get_by_role("button", name="Deactivate Wendy Worker").click()
    expect(admin.locator("li.staff-item", has_text="Wendy Worker")).to_contain_text("deactivated")
    expect(wendy.locator("#conn")).to_have_text(
        "You have been signed out. Sign in again to carry on.", timeout=5_000
    )
    shot(wendy, "14a-04-deactivated-worker-signed-out")
    wendy.reload()
    expect(wendy).to_have_url(re.compile(r"/login/"))


def test_the_api_docs_page_loads_everything_from_our_own_server(live):
    server, fresh = live
    link = bootstrap(server)
    page = fresh()
    set_password(page, link)
    # Let the page she lands on finish loading: a module it is still fetching when she
    # leaves is aborted by the browser, which is not a failure of the docs page.
    page.wait_for_load_state("networkidle")
    requests: list[str] = []
    failed: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.on("response", lambda r: r.status >= 400 and failed.append(f"{r.status} {r.url}"))
    page.goto("/api/docs")
    expect(page.get_by_text("organisation set-up").first).to_be_visible()
    expect(page.get_by_text("/api/org/service-users").first).to_be_visible()
    # No rule exempted: deep links off (api-docs.js) keeps links out of the summary buttons,
    # web/static/web/api-docs.css fixes the bundle's contrast. Opened, an operation too.
    shot(page, "14a-05-api-docs-local")
    page.locator(".opblock-summary-control").first.click()
    expect(page.get_by_role("button", name="Try it out").first).to_be_visible()
    shot(page, "14a-05b-api-docs-operation-open")
    assert requests and all(u.startswith(server.url) for u in requests), requests
    assert not failed, failed
