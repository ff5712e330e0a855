"""Hypothesis strategies for hostile input: JSON of any shape, frame-like dicts with wrong
types, the edge strings every text field must survive, and the boundary rule's hostile
values — non-finite numbers as raw JSON tokens, huge integers, out-of-range dates, wrong
types and Unicode look-alikes — to put into every field."""

from __future__ import annotations

import json

from hypothesis import strategies as st

EDGE_STRINGS = [
    "<img src=x onerror=alert(1)>",
    "<script>document.title='pwned'</script>",
    "javascript:alert(1)",
    '"><svg onload=alert(1)>',
    "{{7*7}} ${7*7} %s %n",
    "\u202eevil\u202c right-to-left override",
    "مرحبا بالعالم",  # RTL script
    "zero\u200bwidth\u200djoiner\ufeff",
    "👩\u200d👩\u200d👧\u200d👦 family emoji ZWJ sequence",
    "\ud800 lone high surrogate",
    "lone low \udfff surrogate",
    "\x00 nul",
    "\x1b[31m ansi escape",
    "a" * 8001,
    " \t\n ",
    "' OR 1=1; DROP TABLE rooms_message; --",
    "\U0010ffff max code point",
    "e\u0301\u0301\u0301 combining marks",
]

edge_text = st.sampled_from(EDGE_STRINGS) | st.text(max_size=300)

json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | edge_text
)
json_values = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(edge_text, inner, max_size=4),
    max_leaves=20,
)

FRAME_TYPES = [
    "subscribe",
    "unsubscribe",
    "send",
    "edit",
    "redact",
    "typing",
    "read",
    "ping",
    "SEND",
    "",
    "message",
    "hello",
]
FIELDS = [
    "type",
    "room",
    "client_id",
    "kind",
    "body",
    "payload",
    "reply_to",
    "target",
    "seq",
    "after_seq",
    "ref",
    "extra",
]


def frame_like(room_ids: list[int]):
    """Dicts that look like client frames, with each field possibly of a wrong type."""
    value = (
        st.sampled_from(room_ids)
        | st.integers(min_value=-5, max_value=2**63)
        | st.sampled_from(FRAME_TYPES)
        | st.sampled_from(["text", "note", "answer", "system", "card", "signal"])
        | json_values
    )
    return st.fixed_dictionaries(
        {"type": st.sampled_from(FRAME_TYPES)},
        optional={k: value for k in FIELDS[1:]},
    )


def nested(depth: int):
    """A JSON document nested ``depth`` deep (arrays)."""
    return "[" * depth + "]" * depth


# ---- the boundary rule's hostile values (rooms/bounds.py, docs/security.md) -----------------


class Raw(str):
    """A JSON token written verbatim by :func:`to_json_text` (``NaN`` is not a JSON string)."""


# Non-finite numbers as a client would have to write them: raw tokens, not strings.
NON_FINITE = [Raw("NaN"), Raw("Infinity"), Raw("-Infinity"), Raw("1e999"), Raw("-1e999")]
HUGE_INTS = [2**64, 10**30, -(2**70), 2**63, -(2**63) - 1]
BAD_DATES = [
    "0001-01-01T00:00:00+14:00",  # year 0 in UTC
    "0001-01-01T00:00:00-23:59",
    "9999-12-31T23:59:59-23:59",  # past year 9999 in UTC
    "9999-12-31",
    "1999-12-31T23:59:59Z",
    "2100-01-01T00:00:00Z",
    "0001-01-01",
    "2026-02-30T10:00:00",
]
LOOKALIKES = [
    "１２３",  # fullwidth digits
    "٣",  # Arabic-Indic three
    "𝟏𝟐",  # mathematical bold digits
    "ＮａＮ",
    "Ⅻ",  # Roman numeral twelve
    "2026\u20110302T09:00:00",  # non-breaking hyphens
    "ａｎｎａ",
    "1\u200b2",  # zero-width space inside a number
    "\u0441\u0430r\u043el",  # Cyrillic look-alike of "carol"
]
WRONG_TYPES = [None, True, False, [], {}, [1, "a"], {"a": {"b": []}}, "", 1.5, 0, -1]
HOSTILE = [*NON_FINITE, *HUGE_INTS, *BAD_DATES, *LOOKALIKES, *WRONG_TYPES]
hostile_value = st.sampled_from(HOSTILE)
# As a query string or path segment carries them: text.
HOSTILE_TEXT = [str(v) for v in (*NON_FINITE, *HUGE_INTS, *BAD_DATES, *LOOKALIKES)] + [
    "-1",
    "0",
    "1.5",
    "true",
    "null",
    "[]",
    "%00",
    "1e3",
]
hostile_text = st.sampled_from(HOSTILE_TEXT)


def to_json_text(value) -> str:
    """JSON text of ``value``, with :class:`Raw` tokens written as they are."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(f"{json.dumps(str(k))}:{to_json_text(v)}" for k, v in value.items())
            + "}"
        )
    if isinstance(value, list | tuple):
        return "[" + ",".join(to_json_text(v) for v in value) + "]"
    return json.dumps(value)


def with_hostile_leaves(doc, draw) -> object:
    """``doc`` with each leaf (and each object, once) replaced by a hostile value with
    probability 1/3, drawn with hypothesis' ``draw``; at least one replacement is made."""
    replaced = [False]

    def walk(v):
        if isinstance(v, dict):
            out = {k: walk(x) for k, x in v.items()}
            if draw(st.integers(0, 5)) == 0:  # a hostile undeclared field too, sometimes
                out[draw(st.sampled_from(["extra", "ＩＤ", "room\u200b"]))] = draw(hostile_value)
                replaced[0] = True
            return out
        if isinstance(v, list):
            return [walk(x) for x in v]
        if draw(st.integers(0, 2)) == 0:
            replaced[0] = True
            return draw(hostile_value)
        return v

    out = walk(doc)
    if not replaced[0]:
        if isinstance(out, dict) and out:
            out[draw(st.sampled_from(sorted(out)))] = draw(hostile_value)
        else:
            out = draw(hostile_value)
    return out


def submitted_strings(value, minimum: int = 6) -> set[str]:
    """The distinctive text a request or frame carried (string values of ``minimum``
    characters or more; not the field names): what must never appear in a log line."""
    out: set[str] = set()
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list | tuple):
            stack.extend(v)
        elif isinstance(v, str) and not isinstance(v, Raw) and len(v.strip()) >= minimum:
            out.add(v)
    return out
