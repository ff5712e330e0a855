"""Run Daphne on the project's ASGI app, optionally with the workers in-process.

In-process workers are for the embedded demo (one process, in-memory channel layer).
Production runs ``daphne --proxy-headers`` and ``manage.py run_workers`` as separate
processes. The demo serves with DEBUG off (the default of ``COCARE_DEBUG``): the app's own
error pages, no URL lists or tracebacks; static files are still served, by
``ASGIStaticFilesHandler`` in cocare_chat/asgi.py, which does not depend on DEBUG.
"""

from __future__ import annotations

import asyncio
import logging
import os

from django.core.management.base import BaseCommand

from cocare_chat.config import get_config
from rooms.workers import load_workers, run_forever

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Serve HTTP and websockets with Daphne (and the workers with --with-workers)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--with-workers", action="store_true", default=get_config().inprocess_workers
        )
        parser.add_argument("--banner", default="", help="Text printed once listening.")
        parser.add_argument(
            "--proxy-headers",
            action="store_true",
            help="Take the client address from X-Forwarded-For (as daphne "
            "--proxy-headers): only behind a proxy that sets it.",
        )

    def handle(self, *args, host, port, with_workers, banner, proxy_headers, **opts):
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server  # installs the asyncio reactor

        from cocare_chat.asgi import application

        workers = load_workers() if with_workers else []

        def ready():
            if workers:
                asyncio.ensure_future(run_forever(workers))
            self.stdout.write(f"Listening on http://{host}:{port}/ (pid {os.getpid()})")
            if banner:
                self.stdout.write(banner)
            self.stdout.flush()

        Server(
            application=application,
            endpoints=build_endpoint_description_strings(host=host, port=port),
            ready_callable=ready,
            verbosity=0,
            proxy_forwarded_address_header="X-Forwarded-For" if proxy_headers else None,
            proxy_forwarded_port_header="X-Forwarded-Port" if proxy_headers else None,
            proxy_forwarded_proto_header="X-Forwarded-Proto" if proxy_headers else None,
        ).run()
