"""Hypothesis strategies for hostile input: JSON of any shape, frame-like dicts with wrong
types, and the edge strings every text field must survive."""

from __future__ import annotations

from hypothesis import strategies as st

EDGE_STRINGS = [
    "<img src=x onerror=alert(1)>",
    "<script>document.title='pwned'</script>",
    "javascript:alert(1)",
    "\"><svg onload=alert(1)>",
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

json_leaf = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
             | st.floats(allow_nan=True, allow_infinity=True) | edge_text)
json_values = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(edge_text, inner, max_size=4),
    max_leaves=20,
)

FRAME_TYPES = ["subscribe", "unsubscribe", "send", "edit", "redact", "typing", "read", "ping",
               "SEND", "", "message", "hello"]
FIELDS = ["type", "room", "client_id", "kind", "body", "payload", "reply_to", "target", "seq",
          "after_seq", "ref", "extra"]


def frame_like(room_ids: list[int]):
    """Dicts that look like client frames, with each field possibly of a wrong type."""
    value = (st.sampled_from(room_ids) | st.integers(min_value=-5, max_value=2**63)
             | st.sampled_from(FRAME_TYPES) | st.sampled_from(["text", "note", "answer",
                                                                "system", "card", "signal"])
             | json_values)
    return st.fixed_dictionaries(
        {"type": st.sampled_from(FRAME_TYPES)},
        optional={k: value for k in FIELDS[1:]},
    )


def nested(depth: int):
    """A JSON document nested ``depth`` deep (arrays)."""
    return "[" * depth + "]" * depth
