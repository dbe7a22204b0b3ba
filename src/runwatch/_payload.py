"""Reading run payloads: the typed look-ups every protocol's JSON needs, and nothing else.

A payload is whatever an event carried, already decoded (a dict from ``json.loads`` or an SDK
model's ``model_dump``). Nothing here trusts its shape: a missing key, a wrong type, a nested
object where a string was promised all read as ``None``. No state, no I/O, no protocol rules.
"""

from __future__ import annotations

from ._events import JSONObject, Usage


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
