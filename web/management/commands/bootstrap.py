"""``manage.py bootstrap --council NAME --provider NAME --admin-email EMAIL``.

The one shell step of a new deployment: on an empty database, creates the council and the
provider it commissions, and prints a one-time sign-in link for the provider's first
administrator (``web.staff.invites.do_bootstrap``). On a database that already has
organisations it refuses, writes nothing and exits non-zero.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from rooms.errors import CoCareError
from web.staff.invites import BOOTSTRAP_DAYS, do_bootstrap


class Command(BaseCommand):
    help = "Set up an empty deployment: a council, its provider, the first administrator's link."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--council", required=True, help="The council's name.")
        parser.add_argument("--provider", required=True, help="The care provider's name.")
        parser.add_argument(
            "--admin-email", required=True, help="The provider administrator's email."
        )
        parser.add_argument(
            "--base-url",
            default="http://127.0.0.1:8000",
            help="Where people reach this deployment (the printed link starts with it).",
        )

    def handle(self, *args, council: str, provider: str, admin_email: str, base_url: str, **kw):
        try:
            c, p, issued = do_bootstrap(council=council, provider=provider, admin_email=admin_email)
        except CoCareError as exc:
            raise CommandError(exc.message) from None
        link = f"{base_url.rstrip('/')}/invite/{issued.token}/"
        self.stdout.write(f"Created council {c.name!r} and provider {p.name!r}.")
        self.stdout.write(
            f"The first provider administrator ({issued.invitation.email}) signs in once, "
            f"within {BOOTSTRAP_DAYS} days, at:"
        )
        self.stdout.write(link)
