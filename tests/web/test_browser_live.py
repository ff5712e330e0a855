"""Done means (issue 6), on phones:
- a care manager's open inbox shows a new alert live (the daughter raises a concern on a
  message from her family page) and acknowledges it there;
- offline: a care worker goes offline, types two messages, comes back — both are
  delivered exactly once (in the database and on the daughter's open page), and what was
  said meanwhile arrives too (resume by after_seq)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from cocare_chat import clock
from escalation.models import Alert, Flag
from rooms.messages import post_message
from rooms.models import Message
from rooms.retention import apply_retention, set_policy
from tests.support.cast import build_cast
from tests.web.browser import outbox_entries, phone, shot, start_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def live():
    cast = build_cast()
    server = start_server()
    contexts = []

    def open_phone(browser, username):
        ctx, page = phone(browser, server, username)
        contexts.append(ctx)
        return page

    yield cast, open_phone
    for ctx in contexts:
        ctx.close()
    server.stop()


def send(page, text: str) -> None:
    page.get_by_role("textbox", name="Message").fill(text)
    page.get_by_role("button", name="Send").click()


def test_managers_open_inbox_shows_a_raised_concern_live_and_acknowledges_it(browser, live):
    cast, open_phone = live
    carol = open_phone(browser, "carol")
    carol.goto("/alerts/")
    expect(carol.get_by_text("No open alerts")).to_be_visible()
    expect(carol.locator("#conn")).to_have_text("")  # socket up before anything happens

    debbie = open_phone(browser, "debbie")
    debbie.goto(f"/people/{cast.peggy.id}/family/")
    send(debbie, "Mum sounded tired on the phone this morning")
    mine = debbie.locator("li.msg.mine", has_text="sounded tired")
    expect(mine).to_have_count(1)
    mine.get_by_role("button", name="Actions for your message").click()
    mine.get_by_role("button", name="Raise concern").click()
    debbie.get_by_label("What kind of concern?").select_option("wellbeing_change")
    debbie.get_by_label("Why?").fill("Not like her; she usually chats for ages.")
    shot(debbie, "cast-07-family-raise-concern", scratch=True)
    debbie.get_by_role("button", name="Raise concern").click()
    expect(debbie.get_by_text("Concern raised")).to_be_visible()

    item = carol.locator("li.alert-item", has_text="Peggy")
    expect(item).to_contain_text("wellbeing change")
    expect(carol.locator("#live")).to_contain_text("New alert: Peggy")
    shot(carol, "cast-08-manager-inbox-live-alert", scratch=True)
    alert = Alert.objects.get()
    assert alert.state == "open"
    assert Flag.objects.get().raised_by == cast.debbie

    item.get_by_role("button", name=re.compile("^Acknowledge")).click()
    expect(carol).to_have_url(re.compile(r"/alerts/$"))
    expect(carol.locator("li.alert-item", has_text="Peggy")).to_contain_text("acknowledged")
    expect(carol.get_by_role("button", name=re.compile("^Acknowledge"))).to_have_count(0)
    assert Alert.objects.get().state == "acknowledged"
    carol.locator("li.alert-item a.alert-link").click()
    expect(carol.get_by_role("heading", name=re.compile("Peggy"))).to_be_visible()
    expect(carol.locator("ol.context li.flagged")).to_contain_text("sounded tired")
    shot(carol, "cast-09-manager-alert-page", full_page=True, scratch=True)


def test_messages_typed_offline_are_delivered_once_when_back(browser, live):
    cast, open_phone = live
    url = f"/people/{cast.peggy.id}/family/"
    debbie = open_phone(browser, "debbie")
    debbie.goto(url)
    anna = open_phone(browser, "anna")
    anna.goto(url)
    expect(anna.locator("#conn")).to_have_text("")
    send(anna, "On my way to Peggy now")
    expect(debbie.locator("li.msg", has_text="On my way")).to_have_count(1)
    # Read state (ticks: Debbie of Debbie, Margaret and Carol) and typing, live both ways.
    ticks = anna.locator("li.msg.mine", has_text="On my way").locator(".ticks")
    expect(ticks).to_have_attribute("title", "Read by 1 of 3")
    debbie.get_by_role("textbox", name="Message").press_sequentially("Tha")
    expect(anna.locator("#typing")).to_have_text("Debbie Hughes is typing…")
    debbie.get_by_role("textbox", name="Message").fill("")

    anna.context.set_offline(True)
    expect(anna.locator("#conn")).to_contain_text("offline")
    texts = ["Peggy had porridge and tea", "She wants her blue cardigan washed"]
    for t in texts:
        send(anna, t)
    expect(anna.locator("#outbox li")).to_have_count(2)
    expect(anna.locator("#conn")).to_contain_text("2 waiting to send")
    outbox = outbox_entries(anna, cast.anna.id)
    assert [e["frame"]["body"] for e in outbox] == texts
    # Meanwhile Debbie writes; Anna must get it on resume (after_seq), once.
    send(debbie, "Thank you Anna!")
    shot(anna, "cast-10-offline-outbox", scratch=True)
    assert not Message.objects.filter(body__in=texts).exists()

    anna.context.set_offline(False)
    expect(anna.locator("#outbox li")).to_have_count(0)
    for t in texts:
        expect(anna.locator("#messages li.msg", has_text=t)).to_have_count(1)
        expect(debbie.locator("#messages li.msg", has_text=t)).to_have_count(1)
    expect(anna.locator("#messages li.msg", has_text="Thank you Anna!")).to_have_count(1)
    expect(anna.locator("#conn")).to_have_text("")
    shot(debbie, "cast-11-family-after-reconnect", scratch=True)

    rows = list(Message.objects.filter(body__in=texts).order_by("seq"))
    assert [m.body for m in rows] == texts  # once each, in the order typed
    assert len({m.client_id for m in rows}) == 2 and all(m.sender_id == cast.anna.id for m in rows)
    assert [c["frame"]["client_id"] for c in outbox] == [m.client_id for m in rows]
    assert outbox_entries(anna, cast.anna.id) == []


def test_notices_and_cards_removed_by_retention_vanish_from_an_open_page(browser, live):
    """Written by the bot and by the daily retention job (here: this process), the entries
    reach Debbie's open page by the fan-out hint or, failing that, the process watch."""
    cast, open_phone = live
    debbie = open_phone(browser, "debbie")
    errors: list[str] = []
    debbie.on("pageerror", lambda e: errors.append(str(e)))
    debbie.goto(f"/people/{cast.peggy.id}/family/")
    messages = debbie.locator("#messages")
    expect(debbie.locator("#conn")).to_have_text("")
    now = clock.now()
    post_message(
        room=cast.family,
        sender=cast.bot,
        kind="system",
        body="Anna arrived 09:02",
        payload={"event": "visit.arrived"},
        now=now,
    )
    post_message(
        room=cast.family,
        sender=cast.bot,
        kind="card",
        payload={
            "card_id": "retention-card",
            "card_type": "question",
            "title": "How did Mum seem?",
            "options": [
                {"value": 1, "label": "Good", "emoji": "🙂"},
                {"value": 2, "label": "Not herself", "emoji": "🙁"},
            ],
        },
        now=now,
    )
    expect(messages.get_by_text("Anna arrived 09:02")).to_have_count(1)
    expect(messages.get_by_role("button", name="Not herself")).to_have_count(1)

    set_policy(cast.provider, 30, now=now)
    assert apply_retention(now + dt.timedelta(days=365)).redactions >= 2
    for reload in (False, True):  # live on the open page, then from history
        if reload:
            debbie.reload()
            expect(debbie.locator("#conn")).to_have_text("")
        expect(messages.get_by_text("Anna arrived 09:02")).to_have_count(0)
        expect(messages.get_by_text("How did Mum seem?")).to_have_count(0)
        expect(messages.get_by_role("button", name="Not herself")).to_have_count(0)
        expect(messages.locator("li.deleted", has_text="This entry was removed.")).to_have_count(2)
        expect(messages).not_to_contain_text("undefined")
    assert errors == []
