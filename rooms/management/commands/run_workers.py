"""Run durable workers (bots, escalation, bridge...) until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import signal

from django.core.management.base import BaseCommand, CommandError

from rooms.workers import drain, load_workers, run_forever


class Command(BaseCommand):
    help = "Run the named workers (all registered ones when none are named)."

    def add_arguments(self, parser):
        parser.add_argument("names", nargs="*")
        parser.add_argument("--once", action="store_true", help="Drain once and exit.")

    def handle(self, *args, names, once, **opts):
        try:
            workers = load_workers(names)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if once:
            self.stdout.write(f"processed {drain(workers)}")
            return
        asyncio.run(self._main(workers))

    async def _main(self, workers):
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        self.stdout.write("workers: " + ", ".join(w.name for w in workers))
        self.stdout.flush()
        await run_forever(workers, stop)
