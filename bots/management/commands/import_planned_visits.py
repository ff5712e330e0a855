"""Import planned visits from a CSV file (all or nothing; see docs/bots.md)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from bots.schedule import CsvImportError, import_planned_visits
from rooms.models import Person


class Command(BaseCommand):
    help = (
        "Import planned visits from CSV: service_user_id,worker_id,date,start,end"
        "[,expected_minutes] (local dates and times). Nothing is written if a row is bad."
    )

    def add_arguments(self, parser):
        parser.add_argument("csv_file")
        parser.add_argument(
            "--as-user",
            help="username of the importing care manager; rows must be for that manager's provider",
        )

    def handle(self, *args, csv_file, as_user=None, **opts):
        by = None
        if as_user:
            by = Person.objects.filter(user__username=as_user).first()
            if by is None:
                raise CommandError(f"no person with username {as_user!r}")
        try:
            text = Path(csv_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {csv_file}: {exc}") from None
        try:
            res = import_planned_visits(text, by=by)
        except CsvImportError as exc:
            raise CommandError("nothing imported:\n  " + "\n  ".join(exc.errors)) from None
        self.stdout.write(
            f"imported {res.created} planned visits ({res.skipped_existing} already planned)"
        )
