"""One bad row never stops a worker for everyone (DESIGN.md §3.4–3.5).

Timer workers (tickers, senders) hand each due row to :meth:`RowGuard.run`, the way
``rooms.logconsumer`` handles each log entry:

- the row's work runs in a savepoint (``atomic=True``; workers that make network calls
  pass ``atomic=False`` and keep their own transactions short);
- an exception rolls the row's writes back and is recorded in ``WorkerFailure``
  (worker, row reference, service user, attempts, exception **type** only — its text can
  quote the row's content), then the worker carries on with the next row;
- after ``max_attempts`` the row is marked skipped and :meth:`RowGuard.due` leaves it out
  of later claims, so it cannot take the head of the queue on every tick;
- a row that succeeds after failing, or is no longer due, has its failure resolved.

Idempotent on ``(worker, ref_model, ref_id)``: one failure row per worker and row.
Skipped and failing rows are surfaced by ``rooms.health`` (``manage.py health``) and, for
their provider's care managers, on the exceptions page.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.db.models import Model, QuerySet

from rooms.models import WorkerFailure

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
RUN = "run"  # ref_model of a failure of a whole run_once (rooms.workers.drain)


def label_of(model: type[Model]) -> str:
    return model._meta.label_lower


def skipped_ids(worker: str, ref_model: str) -> QuerySet:
    """Ids of rows ``worker`` has skipped (a subquery; exclude them from due queries)."""
    return WorkerFailure.objects.filter(
        worker=worker, ref_model=ref_model, skipped=True, resolved_at__isnull=True
    ).values("ref_id")


def record_failure(
    worker: str,
    ref_model: str,
    ref_id: int,
    exc: BaseException,
    now: dt.datetime,
    *,
    service_user_id: int | None = None,
    max_attempts: int | None = MAX_ATTEMPTS,
) -> WorkerFailure:
    """Count one failed attempt; mark skipped at ``max_attempts`` (None: never skipped)."""
    with transaction.atomic():
        f, created = WorkerFailure.objects.select_for_update().get_or_create(
            worker=worker,
            ref_model=ref_model,
            ref_id=ref_id,
            defaults={"first_at": now, "last_at": now, "service_user_id": service_user_id},
        )
        if not created and f.resolved_at is not None:  # failing again after recovering
            f.attempts, f.first_at, f.skipped = 0, now, False
            f.resolved_at = f.reviewed_at = f.reviewed_by = None
        f.attempts += 1
        f.last_at = now
        f.error = type(exc).__name__[:100]
        f.service_user_id = f.service_user_id or service_user_id
        f.skipped = max_attempts is not None and f.attempts >= max_attempts
        f.save()
    log.warning(
        "worker %s failed on %s %s (attempt %s%s): %s",
        worker,
        ref_model,
        ref_id,
        f.attempts,
        ", skipped" if f.skipped else "",
        f.error,
    )
    return f


class RowGuard:
    """Runs one worker's rows of one model in isolation; make one per ``run_once``."""

    def __init__(
        self,
        worker: str,
        model: type[Model] | str,
        *,
        max_attempts: int | None = MAX_ATTEMPTS,
        atomic: bool = True,
        passthrough: tuple[type[BaseException], ...] = (),
    ):
        self.worker = worker
        self.ref_model = model if isinstance(model, str) else label_of(model)
        self.max_attempts = max_attempts
        self.atomic = atomic
        # Exceptions that are the worker's own control flow (homeserver down...): re-raised.
        self.passthrough = passthrough
        self._failing: set[int] | None = None

    def due(self, qs: QuerySet) -> QuerySet:
        """``qs`` without the rows this worker has skipped."""
        return qs.exclude(pk__in=skipped_ids(self.worker, self.ref_model))

    def failing(self) -> set[int]:
        """Rows with an unresolved, not yet skipped failure (loaded once per guard)."""
        if self._failing is None:
            self._failing = set(
                WorkerFailure.objects.filter(
                    worker=self.worker,
                    ref_model=self.ref_model,
                    skipped=False,
                    resolved_at__isnull=True,
                ).values_list("ref_id", flat=True)
            )
        return self._failing

    def run(
        self,
        ref_id: int,
        fn: Callable[[], Any],
        now: dt.datetime,
        *,
        service_user_id: int | None = None,
        on_skip: Callable[[], None] | None = None,
    ) -> Any:
        """Run ``fn`` for row ``ref_id``: its result, or None when it raised (recorded)."""
        try:
            if self.atomic:
                with transaction.atomic():
                    result = fn()
            else:
                result = fn()
        except self.passthrough:
            raise
        except Exception as exc:
            f = record_failure(
                self.worker,
                self.ref_model,
                ref_id,
                exc,
                now,
                service_user_id=service_user_id,
                max_attempts=self.max_attempts,
            )
            if f.skipped:
                self.failing().discard(ref_id)
            else:
                self.failing().add(ref_id)
            if f.skipped and on_skip is not None:
                self._skip(ref_id, on_skip)
            return None
        if ref_id in self.failing():
            self.resolve([ref_id], now)
        return result

    def resolve(self, ref_ids, now: dt.datetime) -> None:
        """Mark failures of these rows resolved (they succeeded, or are no longer due)."""
        ids = list(ref_ids)
        WorkerFailure.objects.filter(
            worker=self.worker,
            ref_model=self.ref_model,
            ref_id__in=ids,
            resolved_at__isnull=True,
            skipped=False,
        ).update(resolved_at=now)
        self.failing().difference_update(ids)

    def settle(self, still_due: QuerySet, now: dt.datetime) -> None:
        """Resolve failing rows that left ``still_due`` (cancelled, handled by a person)."""
        failing = self.failing()
        if not failing:
            return
        due = set(still_due.filter(pk__in=failing).values_list("pk", flat=True))
        if gone := failing - due:
            self.resolve(gone, now)

    def _skip(self, ref_id: int, on_skip: Callable[[], None]) -> None:
        try:
            with transaction.atomic():
                on_skip()
        except Exception as exc:  # the row stays excluded by its skipped failure anyway
            log.warning(
                "worker %s could not mark %s %s skipped: %s",
                self.worker,
                self.ref_model,
                ref_id,
                type(exc).__name__,
            )


# ---- whole runs (rooms.workers.drain) -------------------------------------------------

_run_lock = threading.Lock()
_failing_runs: set[str] | None = None


def _runs_failing() -> set[str]:
    global _failing_runs
    if _failing_runs is None:
        _failing_runs = set(
            WorkerFailure.objects.filter(ref_model=RUN, resolved_at__isnull=True).values_list(
                "worker", flat=True
            )
        )
    return _failing_runs


def run_failed(worker: str, exc: BaseException, now: dt.datetime) -> None:
    """A worker's whole ``run_once`` raised: record it (never skipped; resolved on success)."""
    try:
        record_failure(worker, RUN, 0, exc, now, max_attempts=None)
    except Exception as rec_exc:  # the database is down too: the log line must do
        log.warning("worker %s failure not recorded: %s", worker, type(rec_exc).__name__)
        return
    with _run_lock:
        _runs_failing().add(worker)


def run_succeeded(worker: str, now: dt.datetime) -> None:
    """Resolve a recorded run failure of ``worker``; one set look-up when there is none."""
    with _run_lock:
        if worker not in _runs_failing():
            return
        _runs_failing().discard(worker)
    WorkerFailure.objects.filter(worker=worker, ref_model=RUN, resolved_at__isnull=True).update(
        resolved_at=now
    )


def forget_cached_runs() -> None:
    """For tests that flush the database under a long-lived process."""
    global _failing_runs
    with _run_lock:
        _failing_runs = None
