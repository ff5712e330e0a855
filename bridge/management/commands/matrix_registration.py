"""Write the appservice registration YAML for the homeserver (docs/matrix.md)."""

from __future__ import annotations

import sys

import yaml
from django.core.management.base import BaseCommand, CommandError

from bridge import conf
from bridge.registration import registration
from cocare_chat.config import get_config


class Command(BaseCommand):
    help = "Print (or write with --output) the Matrix appservice registration file."

    def add_arguments(self, parser):
        parser.add_argument(
            "--url",
            default=None,
            help="Our appservice endpoint as the homeserver reaches it "
            "(default COCARE_MATRIX_APPSERVICE_URL).",
        )
        parser.add_argument("--output", "-o", default=None, help="File to write (default stdout).")

    def handle(self, *args, url, output, **opts):
        try:
            cfg = conf.load()
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if cfg is None:
            raise CommandError(
                "Set COCARE_MATRIX_HOMESERVER_URL (and the other COCARE_MATRIX_* settings) first."
            )
        url = url or get_config().matrix_appservice_url
        if not url:
            raise CommandError("Give --url or set COCARE_MATRIX_APPSERVICE_URL.")
        text = yaml.safe_dump(registration(cfg, url), sort_keys=False)
        if output:
            with open(output, "w") as fh:
                fh.write(text)
            self.stdout.write(f"wrote {output}")
        else:
            sys.stdout.write(text)
