"""The clock seam (DESIGN.md §3.10).

Pure logic takes ``now`` as an argument; loops and shells call :func:`now`. Tests freeze
and advance the clock instead of sleeping. The frozen value is process-wide on purpose:
worker loops run in other threads of the same process in tests.
"""

from __future__ import annotations

import datetime as dt
import threading

from django.utils import timezone

_lock = threading.Lock()
_frozen: dt.datetime | None = None


def now() -> dt.datetime:
    with _lock:
        if _frozen is not None:
            return _frozen
    return timezone.now()


def freeze(at: dt.datetime) -> None:
    global _frozen
    if timezone.is_naive(at):
        raise ValueError("freeze() needs an aware datetime")
    with _lock:
        _frozen = at


def advance(delta: dt.timedelta) -> dt.datetime:
    global _frozen
    with _lock:
        if _frozen is None:
            raise RuntimeError("advance() needs a frozen clock")
        _frozen = _frozen + delta
        return _frozen


def unfreeze() -> None:
    global _frozen
    with _lock:
        _frozen = None
