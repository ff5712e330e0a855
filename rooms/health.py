"""Is anything lagging, skipped, failing or stuck? (``manage.py health``, docs/reliability.md)

A pure-ish core: each check is a function ``(now, thresholds) -> iterable of Finding`` and
reads the database only. Checks are registered by dotted path in
``settings.COCARE_HEALTH_CHECKS`` (name -> path), like ``COCARE_WORKERS``, so ``rooms``
imports none of the apps that contribute them (DESIGN.md §2). The core's own checks cover
the log consumers (cursor lag, skipped and failing entries) and every worker's recorded
failures (``rooms.isolation``).

A finding with ``problem=True`` makes the command exit non-zero. Findings carry ids,
counts and times only — never message bodies or health details — and the service user
they concern (if any), so the exceptions page can show each provider's managers theirs.
A check that raises is itself a problem finding (its exception type), and the other
checks still run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

from django.conf import settings
from django.db.models import QuerySet
from django.utils.module_loading import import_string

from rooms.isolation import RUN
from rooms.logconsumer import LogConsumer
from rooms.logorder import START, LogPos, after
from rooms.models import (
    ConsumerCursor,
    ConsumerFailure,
    Message,
    RetentionPolicy,
    WorkerFailure,
)
from rooms.workers import load_workers


@dataclass(frozen=True)
class Thresholds:
    #: a timer (due_at / next_step_at column) this far past due is stuck
    grace: dt.timedelta = dt.timedelta(minutes=2)
    #: a consumer whose oldest unread log entry is older than this is lagging
    lag: dt.timedelta = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class Finding:
    check: str  # e.g. "consumer.lag", "consumer.skipped", "worker.failing", "timer.overdue"
    subject: str  # what it is about: a consumer, a worker and row, a timer column
    detail: str  # ids, counts and ages only
    problem: bool = True
    service_user: int | None = None
    since: dt.datetime | None = None

    def as_json(self) -> dict:
        d = asdict(self)
        d["since"] = self.since.isoformat() if self.since else None
        return d


@dataclass
class Report:
    at: dt.datetime
    findings: list[Finding] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.problem]

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict:
        return {
            "ok": self.ok,
            "at": self.at.isoformat(),
            "checks": self.checks,
            "problems": len(self.problems),
            "findings": [f.as_json() for f in self.findings],
        }


HealthCheck = Callable[[dt.datetime, Thresholds], Iterable[Finding]]


def registered_checks() -> dict[str, HealthCheck]:
    registry: dict[str, str] = getattr(settings, "COCARE_HEALTH_CHECKS", {})
    return {name: import_string(path) for name, path in registry.items()}


def run_checks(
    now: dt.datetime,
    thresholds: Thresholds | None = None,
    checks: dict[str, HealthCheck] | None = None,
) -> Report:
    """Run every registered check (each isolated: one that raises is a finding)."""
    thresholds = thresholds or Thresholds()
    report = Report(at=now)
    for name, check in (checks if checks is not None else registered_checks()).items():
        report.checks.append(name)
        try:
            report.findings.extend(check(now, thresholds))
        except Exception as exc:
            report.findings.append(Finding("health.check_failed", name, type(exc).__name__))
    return report


SHOW_IDS = 10
BEHIND_CAP = 10_000


def overdue(subject: str, what: str, qs: QuerySet, grace: dt.timedelta) -> list[Finding]:
    """One ``timer.overdue`` finding for the rows of ``qs`` (ids only, the first ten)."""
    ids = list(qs.order_by("pk").values_list("pk", flat=True)[: SHOW_IDS + 1])
    if not ids:
        return []
    n = qs.count() if len(ids) > SHOW_IDS else len(ids)
    shown = ", ".join(str(i) for i in ids[:SHOW_IDS]) + (" …" if n > SHOW_IDS else "")
    return [
        Finding(
            "timer.overdue",
            subject,
            f"{n} {what} more than {int(grace.total_seconds())} s past due: {shown}",
        )
    ]


def _age(now: dt.datetime, since: dt.datetime | None) -> str:
    if since is None:
        return "?"
    seconds = int((now - since).total_seconds())
    return f"{seconds // 60} min" if seconds >= 120 else f"{seconds} s"


# ---- the core's checks: log consumers and recorded worker failures ---------------------


def consumer_names() -> list[str]:
    """Cursor names of the registered log consumers (instantiated, never run). One that is
    registered but has no cursor yet has read nothing: it lags from the first entry. A
    cursor of a consumer no longer registered (the bridge turned off) is not checked."""
    return sorted({w.name for w in load_workers() if isinstance(w, LogConsumer)})


@dataclass(frozen=True)
class Lag:
    consumer: str
    position: int
    head: int
    behind: int
    oldest_unread_at: dt.datetime | None

    def lagging(self, now: dt.datetime, thresholds: Thresholds) -> bool:
        return self.oldest_unread_at is not None and self.oldest_unread_at < now - thresholds.lag


def consumer_lag(names: Iterable[str] | None = None) -> list[Lag]:
    """Each consumer's cursor against the log head, and its oldest unread entry's time."""
    positions = {
        name: LogPos(txid, pos)
        for name, txid, pos in ConsumerCursor.objects.values_list("name", "txid", "position")
    }
    head = Message.objects.order_by("-id").values_list("id", flat=True).first() or 0
    out = []
    for name in names if names is not None else consumer_names():
        pos = positions.get(name, START)
        unread = Message.objects.filter(after(pos))
        # The first unread entry in log order (txid, id): not always the smallest id.
        oldest = unread.order_by("txid", "id").values_list("created_at", flat=True).first()
        behind = 0
        if oldest is not None:
            # Counted up to a cap: a consumer far behind on a big log must not make
            # every check (and the exceptions page) scan it.
            behind = len(unread.values_list("id", flat=True)[:BEHIND_CAP])
        out.append(Lag(name, pos.id, head, behind, oldest))
    return out


def consumer_checks(now: dt.datetime, thresholds: Thresholds) -> Iterable[Finding]:
    lags = consumer_lag()
    for lag in lags:
        lagging = lag.lagging(now, thresholds)
        yield Finding(
            "consumer.lag",
            lag.consumer,
            f"position {lag.position} of {lag.head}, "
            f"{lag.behind}{'+' if lag.behind >= BEHIND_CAP else ''} unread"
            + (f", oldest unread {_age(now, lag.oldest_unread_at)} old" if lag.behind else ""),
            problem=lagging,
            since=lag.oldest_unread_at if lagging else None,
        )
    positions = {
        name: LogPos(txid, pos)
        for name, txid, pos in ConsumerCursor.objects.values_list("name", "txid", "position")
    }
    rows = (
        ConsumerFailure.objects.filter(reviewed_at__isnull=True)
        .values_list(
            "id",
            "consumer",
            "message__txid",
            "message_id",
            "message__room_id",
            "message__seq",
            "message__room__service_user_id",
            "attempts",
            "error",
            "skipped",
            "first_at",
        )
        .order_by("id")
    )
    for fid, consumer, mtx, mid, room, seq, su, attempts, error, skipped, first in rows:
        if skipped:
            yield Finding(
                "consumer.skipped",
                f"{consumer} message {mid}",
                f"failure {fid}: room {room} seq {seq} skipped after {attempts} "
                f"attempts ({error}); not yet reviewed",
                service_user=su,
                since=first,
            )
        elif LogPos(mtx, mid) > positions.get(consumer, START):  # the cursor waits at it
            yield Finding(
                "consumer.failing",
                f"{consumer} message {mid}",
                f"failure {fid}: room {room} seq {seq}, {attempts} attempt(s) "
                f"({error}); the consumer is retrying",
                service_user=su,
                since=first,
            )


def worker_failure_checks(now: dt.datetime, thresholds: Thresholds) -> Iterable[Finding]:
    # A skipped row counts until a manager reviewed it; a failing one until it recovers.
    rows = (
        WorkerFailure.objects.filter(resolved_at__isnull=True)
        .exclude(skipped=True, reviewed_at__isnull=False)
        .values_list(
            "id",
            "worker",
            "ref_model",
            "ref_id",
            "service_user_id",
            "attempts",
            "error",
            "skipped",
            "first_at",
        )
        .order_by("id")
    )
    for fid, worker, model, ref, su, attempts, error, skipped, first in rows:
        what = "whole run" if model == RUN else f"{model} {ref}"
        if skipped:
            yield Finding(
                "worker.skipped",
                f"{worker} {what}",
                f"failure {fid}: skipped after {attempts} attempts ({error}); not yet reviewed",
                service_user=su,
                since=first,
            )
        else:
            yield Finding(
                "worker.failing",
                f"{worker} {what}",
                f"failure {fid}: {attempts} attempt(s) ({error}), retrying",
                service_user=su,
                since=first,
            )


def core_checks(now: dt.datetime, thresholds: Thresholds) -> Iterable[Finding]:
    """Registered as ``rooms`` in ``COCARE_HEALTH_CHECKS``."""
    yield from consumer_checks(now, thresholds)
    yield from worker_failure_checks(now, thresholds)
    yield from overdue(
        "retention runs",
        "provider polic(ies)",
        RetentionPolicy.objects.filter(next_run_at__lt=now - thresholds.grace),
        thresholds.grace,
    )
