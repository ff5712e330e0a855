"""Build the demo care network; ``--scale N`` adds N synthetic people with history."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from tqdm import tqdm

from web.demo import CAST, DEMO_PASSWORD, build_demo, build_recent_history, build_scale
from web.demo_today import plan_today


class Command(BaseCommand):
    help = "Create the demo care network (idempotent) and optional synthetic scale."

    def add_arguments(self, parser):
        parser.add_argument("--scale", type=int, default=0, help="synthetic service users")
        parser.add_argument("--years", type=float, default=1.0, help="history per person")
        parser.add_argument("--messages-per-week", type=int, default=6)
        parser.add_argument(
            "--history-weeks",
            type=int,
            default=13,
            help="weeks of visit/alert history for the demo's own people (0: none)",
        )
        parser.add_argument("--quiet", action="store_true")
        parser.add_argument("--print-logins", action="store_true")
        parser.add_argument("--url", default="http://127.0.0.1:8000/")

    def handle(
        self, *args, scale, years, messages_per_week, history_weeks, quiet, print_logins, url, **o
    ):
        build_demo()
        if history_weeks > 0:
            build_recent_history(history_weeks)  # once; dashboards have data
        plan_today()  # once a day; the home page has today's visits
        if scale:
            with tqdm(total=scale, unit="people", disable=quiet) as bar:
                n = build_scale(
                    scale, years, messages_per_week=messages_per_week, progress=bar.update
                )
            self.stdout.write(f"synthetic: {scale} service users, {n} messages")
        if print_logins:
            self.stdout.write(f"CoCare demo is up: open {url}")
        if not quiet or print_logins:
            self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
            for p in CAST:
                self.stdout.write(f"  {p.username:<9} {p.name} — {p.role}")
