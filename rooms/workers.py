"""The worker loop: durable consumers and tickers, woken by a poke, driven by polling.

A worker is anything with ``name`` and ``run_once(now) -> int`` (work done). Workers
isolate their own rows (``rooms.logconsumer``, ``rooms.isolation``); a whole ``run_once``
that raises anyway is logged by exception type and recorded (``WorkerFailure``, resolved by
the next successful run), and the other workers still run. The loop runs
every worker until none has work, then waits for a poke on the channel layer (sent on
commit of every log entry) or the poll interval, whichever comes first. A lost poke costs
at most one poll interval; a crash loses nothing because all state is in the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Protocol

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections
from django.utils.module_loading import import_string

from cocare_chat import clock
from cocare_chat.config import get_config
from rooms import isolation
from rooms.publish import WORKER_POKE_GROUP

log = logging.getLogger(__name__)


class Worker(Protocol):
    name: str

    def run_once(self, now) -> int: ...


def load_workers(names: Iterable[str] | None = None) -> list[Worker]:
    """Instantiate workers registered in ``settings.COCARE_WORKERS`` (name -> dotted path)."""
    registry: dict[str, str] = getattr(settings, "COCARE_WORKERS", {})
    chosen = list(names) if names else list(registry)
    unknown = [n for n in chosen if n not in registry]
    if unknown:
        raise ValueError(f"unknown workers: {', '.join(unknown)}; known: {', '.join(registry)}")
    out: list[Worker] = []
    for n in chosen:
        factory = import_string(registry[n])
        made = factory()
        out.extend(made if isinstance(made, list | tuple) else [made])
    return out


def drain(workers: list[Worker], max_rounds: int = 1000) -> int:
    """Run every worker until none has work (bounded). Sync; for tests and the loop."""
    total = 0
    for _ in range(max_rounds):
        done = 0
        for w in workers:
            now = clock.now()
            try:
                done += w.run_once(now)
            except Exception as exc:
                # The type only, never a traceback: frames and exception text can quote
                # message bodies. The failure is recorded for `manage.py health`.
                log.error("worker %s failed: %s", w.name, type(exc).__name__)
                isolation.run_failed(w.name, exc, now)
            else:
                isolation.run_succeeded(w.name, now)
        total += done
        if done == 0:
            break
    return total


def _drain_in_thread(workers: list[Worker]) -> int:
    close_old_connections()
    try:
        return drain(workers)
    finally:
        close_old_connections()


async def run_forever(workers: list[Worker], stop: asyncio.Event | None = None) -> None:
    layer = get_channel_layer()
    channel = None
    if layer is not None:
        channel = await layer.new_channel("worker.")
        await layer.group_add(WORKER_POKE_GROUP, channel)
    poll = get_config().worker_poll_seconds
    stop = stop or asyncio.Event()
    # thread_sensitive=False: workers must not queue behind web requests on one thread.
    drain_async = sync_to_async(_drain_in_thread, thread_sensitive=False)
    log.info("workers running: %s", ", ".join(w.name for w in workers))
    while not stop.is_set():
        await drain_async(workers)
        if channel is None:
            await asyncio.sleep(poll)
            continue
        try:
            await asyncio.wait_for(layer.receive(channel), timeout=poll)
        except TimeoutError:
            # Re-join on every quiet poll: group membership expires on Redis (group_expiry).
            await layer.group_add(WORKER_POKE_GROUP, channel)
        except Exception as exc:  # Redis down: keep polling, the database drives progress
            log.warning("poke channel unavailable: %s", type(exc).__name__)
            await asyncio.sleep(poll)
