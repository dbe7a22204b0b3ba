"""Reading run payloads: the typed look-ups every protocol's JSON needs, and nothing else.

A payload is whatever an event carried, already decoded (a dict from ``json.loads`` or an SDK
model's ``model_dump``). Nothing here trusts its shape: a missing key, a wrong type, a nested
object where a string was promised all read as ``None``. No state, no I/O, no protocol rules.

:func:`outline` decodes a payload's text without its long strings: a run object's
content (the answer, tool arguments, an image) is most of its bytes and none of what runwatch
reads, so the cost of reading it must not grow with it.
"""

from __future__ import annotations

import json
from typing import Final

from ._events import JSONObject, Usage

#: Texts shorter than this are decoded whole (a few microseconds): cutting pays off only where
#: strings of content make up most of the text.
OUTLINE_MIN: Final = 4096
#: A stretch of at least this many characters without a quote is content (no id, status, code or
#: model name is anywhere near as long): :func:`outline` leaves it out.
ELIDE_AT: Final = 1024
#: What an elided string holds instead (not empty: a reader that only asks "is there any?" still
#: gets the same answer).
ELIDED: Final = "\u2026"

_decode = json.loads  # the one JSON decoder of payload texts (tests count what it is given)


def as_obj(value: object) -> JSONObject | None:
    """``value`` if it is a JSON object, else None."""
    return value if isinstance(value, dict) else None


def get_str(d: JSONObject | None, key: str) -> str | None:
    """A non-empty string at ``key``, else None."""
    value = d.get(key) if d is not None else None
    return value if isinstance(value, str) and value else None


def get_int(d: JSONObject, key: str) -> int | None:
    """An integer (not a bool) at ``key``, else None."""
    value = d.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def get_path(d: JSONObject | None, path: tuple[str, ...]) -> object:
    """The value at ``path`` through nested objects, else None.

    >>> get_path({"a": {"b": 1}}, ("a", "b")), get_path({"a": 1}, ("a", "b"))
    (1, None)
    """
    cur: object = d
    for key in path:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(key)
    return cur


def error_code(payload: JSONObject) -> str:
    """The code of an error, flat (``{code, message}``) or nested (``{error: {...}}``), else its
    type, else ``none``. An integer code (a proxy's HTTP status: OpenRouter) reads as its text.

    >>> error_code({"error": {"code": 400}}), error_code({"type": "error", "code": None})
    ('400', 'none')
    """
    nested = as_obj(payload.get("error"))
    err = nested if nested is not None else payload
    code = get_str(err, "code")
    if code is not None:
        return code
    number = get_int(err, "code")
    if number is not None:
        return str(number)
    kind = get_str(err, "type")
    return kind if kind is not None and kind != "error" else "none"


def read_usage(into: Usage, usage: JSONObject) -> None:
    """Token counts of a ``usage`` object into ``into``: Assistants and Chat say prompt /
    completion, Responses and agents say input / output."""
    into.input = (
        get_int(usage, "input_tokens") if "input_tokens" in usage else get_int(usage, "prompt_tokens")
    )
    into.output = (
        get_int(usage, "output_tokens") if "output_tokens" in usage else get_int(usage, "completion_tokens")
    )
    cached = get_path(usage, ("input_tokens_details", "cached_tokens"))
    if cached is None:
        cached = get_path(usage, ("prompt_tokens_details", "cached_tokens"))
    into.cached_input = cached if isinstance(cached, int) else None
    reasoning = get_path(usage, ("output_tokens_details", "reasoning_tokens"))
    if reasoning is None:
        reasoning = get_path(usage, ("completion_tokens_details", "reasoning_tokens"))
    into.reasoning = reasoning if isinstance(reasoning, int) else None


def _object(text: str) -> JSONObject | None:
    try:
        value = _decode(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _long_strings(text: str) -> list[tuple[int, int]]:
    """Where ``text`` has quote-free stretches of at least :data:`ELIDE_AT` characters between two
    quotes: ``(start, end)`` of each, in order, ``end`` before any backslashes that escape the
    closing quote (so a cut never changes an escape). Found by bisection: each probe looks for the
    quotes on either side of a range's middle (``rfind`` / ``find``, C scans, no decoding) and
    goes on in the parts left and right of that stretch; parts shorter than :data:`OUTLINE_MIN`
    are not looked into. So the probes number about ``2 * len(text) / OUTLINE_MIN`` at most, and
    one or two for a text that is mostly one long string."""
    cuts: list[tuple[int, int]] = []
    size = len(text)
    ranges = [(0, size)]
    while ranges:
        lo, hi = ranges.pop()
        if hi - lo < OUTLINE_MIN:
            continue
        mid = (lo + hi) >> 1
        # Every range is bounded by quotes (or the text's ends): none on a side means the
        # stretch reaches the bound.
        a = text.rfind('"', lo, mid)
        if a < 0:
            a = lo - 1
        b = text.find('"', mid, hi)
        if b < 0:
            b = hi
        if a >= 0 and b < size and b - a > ELIDE_AT:
            end = b
            while text[end - 1] == "\\":
                end -= 1
            if end - a > ELIDE_AT:
                cuts.append((a + 1, end))
        ranges.append((b + 1, hi))
        ranges.append((lo, a))
    cuts.sort()
    return cuts


def outline(text: str) -> JSONObject | None:
    """``text`` decoded as a JSON object (None if it is not one), every string of at least
    :data:`ELIDE_AT` characters replaced by :data:`ELIDED` -- what runwatch reads of a payload
    (ids, statuses, codes, usage) never is one. The long strings are found by a few C-level scans
    (:func:`_long_strings`) and never decoded, so reading a run object whose answer is 10,000
    tokens long decodes what reading a 10-token one does.

    A quote-free stretch is cut only between two quotes. Inside a string that shortens the string;
    between two strings (a long run of numbers, say) it leaves two strings side by side with the
    stand-in between them, which is not JSON: then the whole text is decoded instead. So the
    result is never wrong, at worst not cheaper.

    >>> doc = '{"id":"resp_1","output":[{"text":"' + "x" * 5000 + '"}],"status":"completed"}'
    >>> outline(doc)
    {'id': 'resp_1', 'output': [{'text': '…'}], 'status': 'completed'}
    """
    if len(text) < OUTLINE_MIN:
        return _object(text)
    cuts = _long_strings(text)
    if not cuts:
        return _object(text)
    parts: list[str] = []
    pos = 0
    for start, end in cuts:
        parts.append(text[pos:start])
        parts.append(ELIDED)
        pos = end
    parts.append(text[pos:])
    obj = _object("".join(parts))
    return obj if obj is not None else _object(text)
