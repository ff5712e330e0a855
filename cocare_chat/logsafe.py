"""The log rule: a log line never carries submitted text (docs/security.md, "Hostile input").

Our own code logs event names, ids and exception *types* only. What it cannot control is
what an exception says about itself: a PostgreSQL error quotes the statement with its
parameters ("LINE 1: ... 'chest pain, BP 150/95' ..."), a pydantic error quotes the input,
Daphne logs "Exception inside application: <the exception>". So every handler in
``settings.LOGGING`` carries :class:`SafeRecords`, which, before anything is written:

- replaces a record's traceback with the exception's type and the frame locations (file,
  line, function) of it and of every exception chained to it — never the message;
- replaces an exception passed as the message or as an argument with its type name.

The record is changed in place, so handlers that format it later (pytest's ``caplog``, a
second handler) see the safe form too. ``django.request`` and ``django.server`` lines
name the method, path and status only — no query string, no body — and go through the
same handler (``settings.LOGGING`` gives them no handlers of their own).
"""

from __future__ import annotations

import logging
import traceback

MAX_CHAIN = 5


def exception_summary(exc: BaseException) -> str:
    """``Traceback`` lines with file:line in function for each frame, then the exception
    type, for ``exc`` and up to ``MAX_CHAIN`` causes/contexts (oldest first, as Python)."""
    chain: list[BaseException] = []
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen and len(chain) < MAX_CHAIN:
        chain.append(e)
        seen.add(id(e))
        e = e.__cause__ or (None if e.__suppress_context__ else e.__context__)
    blocks = []
    for e in reversed(chain):
        lines = ["Traceback (most recent call last; messages withheld):"]
        lines += [
            f'  File "{f.filename}", line {f.lineno}, in {f.name}'
            for f in traceback.extract_tb(e.__traceback__)
        ]
        lines.append(_type_name(e))
        blocks.append("\n".join(lines))
    return "\n\nThe above led to:\n\n".join(blocks)


def _type_name(exc: BaseException) -> str:
    t = type(exc)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _safe_arg(value: object) -> object:
    return _type_name(value) if isinstance(value, BaseException) else value


class SafeRecords(logging.Filter):
    """Withholds exception messages from a record (see the module docstring)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            # Formatters print exc_text when it is set (and only compute it when not).
            record.exc_text = exception_summary(record.exc_info[1])
        if isinstance(record.msg, BaseException):
            record.msg = _type_name(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_safe_arg(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _safe_arg(v) for k, v in record.args.items()}
        return True


class SafeFormatter(logging.Formatter):
    """A formatter that never prints an exception message even if given a raw record."""

    def formatException(self, ei) -> str:  # noqa: N802 (logging's name)
        return exception_summary(ei[1]) if ei and ei[1] is not None else ""
