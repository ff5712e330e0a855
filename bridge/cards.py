"""Which card a Matrix answer answers, read from the log (for the "Recorded: ..." reply).

The visit bot decides what an answer means (docs/bots.md); the bridge only needs to know
whether an answer it wrote from Matrix landed on a card that was still open to that
person, so that it can confirm it in Matrix. The rules here are the bots' rules as seen
in the log, and they are read-only:

- a question card is answered by a number only by the visit's care worker
  (``data.worker``); a family-voice card by family members and the service user;
- a poll response (an ``answer`` entry, like a tap) on a visit card by any staff member
  of the team room, on a family-voice card by family members and the service user;
- a card is open until it expires (``expires_at``), is redacted, has an earlier answer
  (a tap/poll entry, or a valid number from its answerer), or — a visit card — the bot
  has posted the session's next card.
"""

from __future__ import annotations

import datetime as dt
import re

from rooms.models import Message, Person, Role

FAMILY_VOICE = "family_voice"
FAMILY_ROLES = frozenset({Role.FAMILY, Role.SERVICE_USER})
STAFF_ROLES = frozenset({Role.CARE_WORKER, Role.NURSE, Role.THERAPIST, Role.CARE_MANAGER})
# The same grammar as bots.parse: "2", "#2", "2.", "2)".
_NUMBER = re.compile(r"^\s*#?(\d{1,2})\s*[.)!]?\s*$")
_SESSION = re.compile(r"^(s\d+q)\d+$")


def number_of(body: str) -> int | None:
    m = _NUMBER.match(body or "")
    return int(m.group(1)) if m else None


def label_of(card: Message, value: int) -> str | None:
    for option in card.payload.get("options", []):
        if option.get("value") == value:
            return option.get("label")
    return None


def _values(card: Message) -> set[int]:
    return {o.get("value") for o in card.payload.get("options", [])}


def _family(card: Message) -> bool:
    return card.payload.get("card_type") == FAMILY_VOICE


def may_answer_by_number(card: Message, person: Person) -> bool:
    if _family(card):
        return person.role in FAMILY_ROLES
    return (card.payload.get("data") or {}).get("worker") == person.id


def may_answer_by_poll(card: Message, person: Person) -> bool:
    return person.role in (FAMILY_ROLES if _family(card) else STAFF_ROLES)


def _is_open(card: Message, before_id: int, now: dt.datetime) -> bool:
    if card.redacted_at is not None or not card.payload.get("options"):
        return False
    expires = card.payload.get("expires_at")
    if expires:
        try:
            if dt.datetime.fromisoformat(expires) <= now:
                return False
        except ValueError:
            return False
    later = Message.objects.filter(room_id=card.room_id, id__gt=card.id, id__lt=before_id)
    if later.filter(
        kind=Message.Kind.ANSWER, payload__card_id=card.payload.get("card_id")
    ).exists():
        return False
    session = _SESSION.match(card.payload.get("card_id") or "")
    if (
        session
        and later.filter(
            kind=Message.Kind.CARD, payload__card_id__startswith=session.group(1)
        ).exists()
    ):
        return False
    values = _values(card)
    for text in later.filter(kind=Message.Kind.TEXT).select_related("sender"):
        if may_answer_by_number(card, text.sender) and number_of(text.body) in values:
            return False
    return True


def card_answered_by_number(text: Message, now: dt.datetime) -> tuple[Message, str] | None:
    """(card, label) when ``text`` is a number its sender may answer an open card with."""
    value = number_of(text.body)
    if value is None:
        return None
    cards = Message.objects.filter(
        room_id=text.room_id, kind=Message.Kind.CARD, id__lt=text.id
    ).order_by("-id")[:20]
    for card in cards:
        if not may_answer_by_number(card, text.sender) or not card.payload.get("options"):
            continue
        label = label_of(card, value)
        if label is None or not _is_open(card, text.id, now):
            return None
        return card, label
    return None


def poll_answer_recorded(card: Message, answer: Message, now: dt.datetime) -> str | None:
    """The label when a poll answer by its sender lands on an open card, else None.

    Care-plan task ticks (``visit_tasks``) are not confirmed here: the visit record decides
    them (careplan.botcard), and the card stays open for every task."""
    if card.payload.get("card_type") == "visit_tasks":
        return None
    if not may_answer_by_poll(card, answer.sender):
        return None
    if not _is_open(card, answer.id, now):
        return None
    return label_of(card, answer.payload.get("value"))
