"""SDK objects -> events: what one openai SDK stream item (or exception) says, as an event.

Turns an SDK model (or a dict) into ``(event name, lazy payload, final-run candidate)``, and an
``APIError`` raised mid-stream into the error payload it carries. Pure translation: it never
feeds a session, never walks SDK internals, never touches the item it is given (payloads are
dumped only when the tracker asks for them), and never imports the SDK.
"""

from __future__ import annotations

import functools
from typing import Any, Final

from .._events import JSONObject, PayloadLoader
from ..protocols import chat

_RESPONSE_LIFECYCLE: Final = frozenset(
    {
        "response.created",
        "response.queued",
        "response.in_progress",
        "response.completed",
        "response.incomplete",
        "response.failed",
        "response.cancelled",
    }
)


#: A chunk's ``object``: Azure's first chunk (the prompt's content-filter results) leaves it empty.
_CHUNK_OBJECTS: Final = frozenset({"chat.completion.chunk", ""})


def _dump(model: Any) -> PayloadLoader:
    def load() -> JSONObject | None:
        if isinstance(model, dict):
            return model
        dump = getattr(model, "model_dump", None)
        if dump is None:
            return None
        data = dump(warnings=False)
        return data if isinstance(data, dict) else None

    return load


@functools.lru_cache(maxsize=1024)
def shape(cls: type) -> str:
    """What kind of SDK model ``cls`` is, from its declared fields (bounded cache per class).

    Probing a pydantic model for a missing attribute raises and catches an AttributeError inside
    pydantic, which costs more than the rest of the per-event path together; the class's field
    table answers the same question once per class.
    """
    fields = getattr(cls, "model_fields", None)
    if not isinstance(fields, dict):
        return "other"
    if "event" in fields and "data" in fields:
        return "assistants"
    if "type" in fields:
        return "typed"
    if "object" in fields and "choices" in fields:
        return "chat"
    return "other"


def _chat_chunk(obj: Any) -> tuple[str, PayloadLoader, Any]:
    plain = chat.plain_chunk(obj)
    name = "chat.completion.chunk.delta" if plain else "chat.completion.chunk"
    return name, _dump(obj), None if plain else obj


def _typed(obj: Any, kind: str) -> tuple[str, PayloadLoader, Any] | None:
    if kind == "chunk":  # chat .stream() helper events wrap the chunk
        chunk = getattr(obj, "chunk", None)
        return describe(chunk) if chunk is not None else None
    if kind in _RESPONSE_LIFECYCLE:
        return kind, _dump(obj), getattr(obj, "response", None)
    if kind.startswith("agent.session.turn."):
        return kind, _dump(obj), getattr(obj, "turn", None)
    if kind.startswith(("content.", "refusal.", "tool_calls.")):
        return None  # chat helper's derived events: the chunk event already said it all
    return kind, _dump(obj), None


def describe(obj: Any) -> tuple[str, PayloadLoader, Any] | None:
    """(event name, lazy payload, final-run candidate or None) for one SDK stream item."""
    kind_of = shape(type(obj))  # type: ignore[arg-type]
    if kind_of == "typed":
        kind = obj.type
        if isinstance(kind, str):
            return _typed(obj, kind)
    elif kind_of == "chat" and obj.object in _CHUNK_OBJECTS:
        return _chat_chunk(obj)
    return _describe_other(obj)


def _describe_other(obj: Any) -> tuple[str, PayloadLoader, Any] | None:
    if isinstance(obj, dict):
        if isinstance(obj.get("event"), str) and "data" in obj:
            return obj["event"], _dump(obj["data"]), None
        name = obj.get("type") or obj.get("object")
        return (name, _dump(obj), None) if isinstance(name, str) else None
    event = getattr(obj, "event", None)
    if event is None and hasattr(obj, "event") and hasattr(obj, "data"):
        # The handler helpers parse a flat `error` frame (not `thread.*`) into the event union's
        # first member with event=None; the error's fields land in the model's extras.
        extra = getattr(obj, "model_extra", None)
        if isinstance(extra, dict) and isinstance(extra.get("message"), str):
            flat = dict(extra)
            return "error", lambda: flat, None
    if isinstance(event, str):  # Assistants: ThreadRunCompleted(event=..., data=Run)
        data = getattr(obj, "data", None)
        final = data if event.startswith("thread.run.") and not event.startswith("thread.run.step.") else None
        return event, _dump(data), final
    kind = getattr(obj, "type", None)
    if isinstance(kind, str):
        return _typed(obj, kind)
    if getattr(obj, "object", None) in _CHUNK_OBJECTS:
        return _chat_chunk(obj)
    return None


def error_payload(exc: BaseException) -> JSONObject | None:
    """The error an ``APIError`` raised mid-stream carries (the SDK raises on nested errors)."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and getattr(exc, "request", None) is not None and not hasattr(exc, "response"):
        return {"error": body}
    if isinstance(body, dict) and type(exc).__name__ == "APIError":
        return {"error": body}
    return None
