"""Issue 15 on a 390×844 phone in Debian's Chromium, driven as people use it:

- ticks on my messages change as the other side reads, and a late joiner does not count
  for a message from before she joined;
- search finds an old message (beyond what the page loaded) and never one before the
  member's visible_from; scrolling up loads older history, never past visible_from;
- the home page shows unread counts and previews, correct after a read elsewhere;
- the layout: message list ≥ 60% of the viewport with the composer in view (family too),
  still usable at 200% text, tap targets ≥ 44 px, text contrast ≥ 4.5:1, no emoji glyphs;
- a nurse posts a clinical note with the toggle; the family raises a concern from the
  visible button and sees it acknowledged and resolved with the manager's family-safe words;
- check-in/out buttons follow the visit; a far check-out asks the reason before question 1.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from bots.models import Visit
from escalation.models import Alert
from rooms.messages import post_message
from rooms.models import Membership, Message, ReadPosition, Role
from rooms.network import do_add_member, do_record_family_basis
from tests.support.cast import build_cast, person
from tests.web.browser import phone, shot, start_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEW_H = 844
FAR = {"latitude": 53.4900, "longitude": -2.2426, "accuracy": 30}


@pytest.fixture
def live():
    cast = build_cast()
    server = start_server()
    contexts = []

    def open_phone(browser, username):
        ctx, page = phone(browser, server, username)
        contexts.append(ctx)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.errors = errors  # type: ignore[attr-defined]
        return page

    yield cast, open_phone
    for ctx in contexts:
        ctx.close()
    server.stop()


def send(page, text: str) -> None:
    page.get_by_role("textbox", name="Message").fill(text)
    page.get_by_role("button", name="Send").click()


def online(page) -> None:
    expect(page.locator("#conn")).to_have_text("")


def late_joiner(cast):
    dora = person("dora", "Dora Hughes", Role.FAMILY, None)
    do_record_family_basis(cast.peggy, dora, "consent", by=cast.carol)
    do_add_member(cast.family, dora, by=cast.carol, notify=False)
    return dora


# ---- ticks -------------------------------------------------------------------------------


def test_ticks_change_as_the_other_side_reads_and_late_joiners_do_not_count(browser, live):
    cast, open_phone = live
    old = post_message(room=cast.family, sender=cast.anna, body="Peggy slept well", client_id="o1")
    dora = late_joiner(cast)
    assert Membership.objects.get(room=cast.family, person=dora).visible_from_seq >= old.message.seq
    url = f"/people/{cast.peggy.id}/family/"
    anna = open_phone(browser, "anna")
    anna.goto(url)
    online(anna)
    old_ticks = anna.locator("li.msg.mine", has_text="slept well").locator(".ticks")
    expect(old_ticks).to_have_attribute("data-tick", "sent")
    send(anna, "Lunch was soup today")
    new_ticks = anna.locator("li.msg.mine", has_text="soup today").locator(".ticks")
    expect(new_ticks).to_have_attribute("data-tick", "sent")

    # Readers of the old message: Debbie, Margaret and Carol — not Dora, who joined later.
    readers = []
    for n, who in enumerate(("debbie", "margaret", "carol"), start=1):
        page = open_phone(browser, who)
        page.goto(url)
        expect(page.locator("li.msg", has_text="soup today")).to_have_count(1)
        readers.append(page)
        if n < 3:
            expect(old_ticks).to_have_attribute("title", f"Read by {n} of 3")
            expect(old_ticks).to_have_attribute("data-tick", "some")
            expect(new_ticks).to_have_attribute("title", f"Read by {n} of 4")
    expect(old_ticks).to_have_attribute("data-tick", "all")
    expect(old_ticks).to_have_attribute("title", "Read by all")
    expect(new_ticks).to_have_attribute("title", "Read by 3 of 4")  # Dora counts for this one
    shot(anna, "15-ticks")
    dora_page = open_phone(browser, "dora")
    dora_page.goto(url)
    expect(dora_page.locator("li.msg", has_text="soup today")).to_have_count(1)
    expect(dora_page.locator("li.msg", has_text="slept well")).to_have_count(0)
    expect(new_ticks).to_have_attribute("data-tick", "all")
    assert anna.errors == []


# ---- search and older history ----------------------------------------------------------


def test_search_finds_an_old_message_and_never_one_before_visible_from(browser, live):
    cast, open_phone = live
    post_message(room=cast.family, sender=cast.anna, body="Mum's blue cardigan is in the wash")
    post_message(room=cast.family, sender=cast.anna, body="The hospital letter about her hip")
    dora = late_joiner(cast)
    start = Membership.objects.get(room=cast.family, person=dora).visible_from_seq
    for i in range(180):  # more than the page loads at first (web.views.HISTORY_WINDOW)
        post_message(room=cast.family, sender=cast.anna, body=f"Routine update {i}")
    post_message(room=cast.family, sender=cast.anna, body="A second hospital letter came")
    url = f"/people/{cast.peggy.id}/family/"

    debbie = open_phone(browser, "debbie")
    debbie.goto(url)
    online(debbie)
    expect(debbie.locator("li.msg", has_text="Routine update 179")).to_have_count(1)
    expect(debbie.locator("li.msg", has_text="blue cardigan")).to_have_count(0)  # not loaded
    debbie.get_by_role("link", name="Search this room").click()
    debbie.get_by_label("Words to find").fill("cardigan")
    debbie.get_by_role("button", name="Search").click()
    results = debbie.locator("li.search-result")
    expect(results).to_have_count(1)
    expect(results).to_contain_text("Mum's blue cardigan is in the wash")
    shot(debbie, "16-search")

    dpage = open_phone(browser, "dora")
    dpage.goto(url)
    online(dpage)
    dpage.get_by_role("link", name="Search this room").click()
    dpage.get_by_label("Words to find").fill("hospital letter")
    dpage.get_by_role("button", name="Search").click()
    expect(dpage.locator("li.search-result")).to_have_count(1)
    expect(dpage.locator("li.search-result")).to_contain_text("A second hospital letter came")
    dpage.get_by_label("Words to find").fill("cardigan")
    dpage.get_by_role("button", name="Search").click()
    expect(dpage.get_by_role("status")).to_have_text("Nothing found.")
    expect(dpage.locator("li.search-result")).to_have_count(0)

    # Scrolling up loads older history: Debbie reaches the cardigan; Dora stops at her join.
    for page, stop_text in ((debbie, "blue cardigan"), (dpage, "Routine update 0")):
        page.goto(url)
        online(page)
        log = page.locator("#log")
        target = page.locator("li.msg", has_text=stop_text)
        for _ in range(20):
            if page.locator("#older", has_text="Start of the conversation").count():
                break
            log.evaluate("el => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); }")
            page.wait_for_function(
                "() => !document.getElementById('older').textContent.startsWith('Loading')"
            )
        expect(page.locator("#older")).to_have_text("Start of the conversation")
        expect(target).to_have_count(1)
    expect(debbie.locator("li.msg", has_text="blue cardigan")).to_have_count(1)
    expect(dpage.locator("li.msg", has_text="blue cardigan")).to_have_count(0)
    expect(dpage.locator("li.msg", has_text="hip")).to_have_count(0)
    seqs = dpage.locator("#messages li[data-seq]").evaluate_all(
        "els => els.map(e => Number(e.dataset.seq))"
    )
    assert min(seqs) > start
    assert sorted(seqs) == seqs and len(set(seqs)) == len(seqs)
    assert debbie.errors == [] and dpage.errors == []


# ---- home page ---------------------------------------------------------------------------


def test_home_shows_unread_counts_and_previews_and_follows_reads_elsewhere(browser, live):
    cast, open_phone = live
    for body in ("Peggy is up and dressed", "She asked for her radio"):
        post_message(room=cast.family, sender=cast.anna, body=body)
    home = open_phone(browser, "debbie")
    home.goto("/")
    link = home.locator("a.room-link", has_text="Family")
    expect(link.locator(".unread")).to_have_text("2 unread")
    expect(link.locator(".preview")).to_have_text("Anna Kowalski: She asked for her radio")
    shot(home, "17-home-unread")
    # Read on another device (a second phone), then the home page again.
    other = open_phone(browser, "debbie")
    other.goto(f"/people/{cast.peggy.id}/family/")
    expect(other.locator("li.msg", has_text="radio")).to_have_count(1)
    send(other, "Thanks Anna")
    expect(other.locator("li.msg.mine .ticks")).to_have_count(1)
    radio = Message.objects.get(body__contains="radio").seq
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the phone reports the read (debounced ~0.4 s)
        pos = ReadPosition.objects.filter(room=cast.family, person=cast.debbie).first()
        if pos is not None and pos.seq >= radio:
            break
        other.wait_for_timeout(100)
    home.reload()
    expect(link.locator(".unread")).to_have_count(0)
    expect(link.locator(".preview")).to_have_text("You: Thanks Anna")


# ---- layout ------------------------------------------------------------------------------

# The probe's leading comment lines are dropped: Playwright takes the text as a function.
MEASURE = "\n".join(
    line
    for line in (Path(__file__).parent / "layout_probe.js").read_text().splitlines()
    if not line.startswith("//")
)


def measure(page) -> dict:
    return page.evaluate(MEASURE)


def assert_layout(page, m: dict, *, min_share: float) -> None:
    assert m["composerBottom"] <= m["innerH"] and m["sendBottom"] <= m["innerH"], m
    assert m["logH"] >= min_share * m["innerH"], m
    assert m["small"] == [], m["small"]
    assert m["lowContrast"] == [], m["lowContrast"]
    assert m["emoji"] == 0
    assert m["scrollW"] <= m["innerW"], m


def test_room_layout_on_a_phone_and_at_200_percent_text(browser, live):
    cast, open_phone = live
    for i in range(30):
        post_message(room=cast.team, sender=cast.nadia, body=f"Obs round {i}: all stable")
        post_message(room=cast.family, sender=cast.anna, body=f"Update {i} for the family")
    post_message(
        room=cast.family,
        sender=cast.bot,
        kind="system",
        body="Anna arrived 09:02",
        payload={"event": "visit.arrived"},
    )
    cases = (
        ("anna", f"/people/{cast.peggy.id}/team/"),  # visit button, note and share toggles
        ("debbie", f"/people/{cast.peggy.id}/family/"),  # the family composer
        ("carol", f"/people/{cast.peggy.id}/team/"),  # a manager's longer header
    )
    for who, url in cases:
        page = open_phone(browser, who)
        page.goto(url)
        online(page)
        expect(page.locator("#messages li").first).to_be_visible()
        m = measure(page)
        assert_layout(page, m, min_share=0.6)
        shot(page, f"18-layout-{who}")
        # 200% text (the phone's font size setting): the composer is still in view and
        # the list keeps a usable share of the screen.
        page.evaluate("document.documentElement.style.fontSize = 'calc(112.5% * 2)'")
        m = measure(page)
        assert_layout(page, m, min_share=0.3)
        shot(page, f"19-layout-200-{who}")
        assert page.errors == []


# ---- notes and concerns ----------------------------------------------------------------


def test_nurse_posts_a_clinical_note_and_family_hears_the_outcome_of_a_concern(browser, live):
    cast, open_phone = live
    nadia = open_phone(browser, "nadia")
    nadia.goto(f"/people/{cast.peggy.id}/team/")
    online(nadia)
    nadia.get_by_role("textbox", name="Message").fill("Pressure area on left heel: redressed")
    nadia.get_by_label("Clinical note").check()
    nadia.get_by_role("button", name="Send").click()
    note = nadia.locator("li.msg.note", has_text="left heel")
    expect(note).to_have_count(1)
    expect(note.locator(".badge")).to_have_text("Clinical note")
    expect(nadia.get_by_label("Clinical note")).not_to_be_checked()
    assert Message.objects.get(body__contains="left heel").kind == "note"

    post_message(room=cast.family, sender=cast.anna, body="Peggy seemed low this morning")
    debbie = open_phone(browser, "debbie")
    debbie.goto(f"/people/{cast.peggy.id}/family/")
    online(debbie)
    expect(debbie.locator("li.msg", has_text="seemed low")).to_have_count(1)
    concern = debbie.get_by_role("button", name="Raise a concern")
    expect(concern).to_be_visible()  # in the header, not behind ⋯
    concern.click()
    expect(debbie.locator("#concern-about")).to_contain_text("seemed low")
    debbie.get_by_label("What kind of concern?").select_option("wellbeing_change")
    debbie.get_by_label("Why?").fill("She cried on the phone, not like her.")
    debbie.locator("#concern-send").click()
    expect(debbie.get_by_text("Concern raised")).to_be_visible()
    alert = Alert.objects.get()

    debbie.goto("/concerns/")
    item = debbie.locator("li.concern")
    expect(item).to_contain_text("She cried on the phone")
    expect(item.locator(".status")).to_contain_text("Raised")

    carol = open_phone(browser, "carol")
    carol.goto(f"/alerts/{alert.id}/")
    carol.get_by_role("button", name="Acknowledge").click()
    expect(carol.locator("#alert-state")).to_have_text("Acknowledged")
    debbie.reload()
    expect(item.locator(".status")).to_contain_text("Acknowledged")
    carol.get_by_label("Outcome").fill("GP visit booked; low mood screening; PHQ-9 score 14")
    carol.get_by_label("What the person who raised it is told").fill(
        "Thank you. We have spoken with Peggy and arranged a visit from her GP."
    )
    carol.get_by_role("button", name="Resolve").click()
    expect(carol.locator("#alert-state")).to_have_text("Resolved")
    debbie.reload()
    expect(item.locator(".status")).to_contain_text("Resolved")
    expect(item.locator(".outcome")).to_contain_text("arranged a visit from her GP")
    expect(item).not_to_contain_text("PHQ-9")
    shot(debbie, "20-your-concerns")


# ---- visit flow --------------------------------------------------------------------------


def test_visit_buttons_follow_the_visit_and_a_far_check_out_asks_the_reason_first(browser, live):
    cast, open_phone = live
    anna = open_phone(browser, "anna")
    anna.goto(f"/people/{cast.peggy.id}/team/")
    online(anna)
    check_in = anna.get_by_role("button", name="Check in")
    check_out = anna.get_by_role("button", name="Check out")
    expect(check_in).to_be_visible()
    expect(check_out).to_be_hidden()
    check_in.click()
    expect(anna.locator("#note")).to_contain_text("accurate to ±12 m")
    expect(check_out).to_be_visible()
    expect(check_in).to_be_hidden()
    expect(anna.locator("li.notice", has_text="checked in")).to_have_count(1)
    anna.reload()  # the server's state, not only the page's memory
    online(anna)
    expect(check_out).to_be_visible()
    expect(check_in).to_be_hidden()

    anna.context.set_geolocation(FAR)
    check_out.click()
    ask = anna.locator("li.notice", has_text="short reason")
    expect(ask).to_have_count(1)
    expect(check_in).to_be_visible()
    expect(anna.locator("li.card.question")).to_have_count(0)  # not at the same moment
    send(anna, "Parked by the shops, walked back to check the door")
    expect(anna.locator("li.notice", has_text="reason noted")).to_have_count(1)
    expect(anna.locator("li.card.question")).to_have_count(1)
    expect(anna.locator("li.card.question")).to_contain_text("Question 1 of")
    visit = Visit.objects.get()
    assert visit.checkout_location == "out_of_range"
    assert visit.checkout_reason == "Parked by the shops, walked back to check the door"
    carol = open_phone(browser, "carol")
    carol.goto("/exceptions/")
    expect(carol.get_by_text(re.compile("Check-out reason: Parked by the shops"))).to_be_visible()
