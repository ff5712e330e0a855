"""Shared helpers for the security tests."""

from __future__ import annotations

import datetime as dt
import uuid

from django.test import Client

from cocare_chat import clock
from cocare_chat.config import get_config
from tests.support.cast import T0


def client_for(person) -> Client:
    c = Client()
    c.force_login(person.user)
    return c


def fresh_window() -> dt.datetime:
    """Freeze the clock at an instant no other test run used, so rate-limit windows (kept in
    a cache that may be a shared Redis) start empty without clearing anyone's keys."""
    at = T0 + dt.timedelta(minutes=uuid.uuid4().int % 10_000_000)
    clock.freeze(at)
    return at


def set_limit(monkeypatch, name: str, value: int) -> None:
    monkeypatch.setattr(get_config(), name, value)
