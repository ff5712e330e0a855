"""Purge expired message content per provider policy (rooms/retention.py). Run daily."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from cocare_chat import clock
from rooms.retention import apply_retention


class Command(BaseCommand):
    help = "Apply each provider's retention policy (legal holds respected)."

    def handle(self, *args, **opts):
        result = apply_retention(clock.now())
        self.stdout.write(
            f"purged {result.purged} entries, {result.redactions} redactions, "
            f"{result.held} service users on legal hold"
        )
