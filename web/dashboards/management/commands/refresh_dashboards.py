"""Recompute the dashboards' daily rollups (all days with --all, else the recent ones)."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand

from cocare_chat import clock
from web.dashboards.rollup import refresh_all, refresh_recent


class Command(BaseCommand):
    help = "Recompute dashboard rollups: --all after importing history, else recent days."

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true")

    def handle(self, *args, all: bool, **opts):  # noqa: A002 - the option's name
        t = time.monotonic()
        n = refresh_all(clock.now()) if all else refresh_recent(clock.now())
        self.stdout.write(f"dashboards: {n} rollup rows in {time.monotonic() - t:.1f} s")
