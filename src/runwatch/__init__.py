"""runwatch: observe OpenAI streaming runs without changing what your code receives.

>>> import openai, runwatch                                     # doctest: +SKIP
>>> client = runwatch.instrument(openai.OpenAI())               # doctest: +SKIP

Every run then gets an OpenTelemetry span (and child spans per phase), Prometheus metrics by
terminal status and incomplete reason, and structlog events. See README.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._events import (
    Anomaly,
    Event,
    FirstToken,
    Outcome,
    Phase,
    PhaseEnded,
    PhaseStarted,
    RequestFailed,
    Run,
    RunFinished,
    RunPaused,
    RunResumed,
    RunStarted,
    ToolCall,
    Transition,
    Usage,
)
from ._observer import Observer, StreamSession, default_observer, set_default_observer
from ._sse import Frame, SSEDecoder
from ._tracker import RunBook, StreamTracker

if TYPE_CHECKING:
    from .sinks import Sink

__version__ = "0.1.0"


def instrument(client: Any, observer: Observer | None = None) -> Any:
    """Tap an existing OpenAI client's transport; returns the same client. See adapters.openai."""
    from .adapters.openai import instrument as _instrument

    return _instrument(client, observer)


def uninstrument(client: Any) -> Any:
    """Undo :func:`instrument`; returns the same client."""
    from .adapters.openai import uninstrument as _uninstrument

    return _uninstrument(client)


def watch(stream: Any, observer: Observer | None = None) -> Any:
    """Observe an SDK stream or stream manager; yields the identical objects, adds ``.final``."""
    from .adapters.openai import watch as _watch

    return _watch(stream, observer)


def handler(event_handler: Any, observer: Observer | None = None) -> Any:
    """Observe an AssistantEventHandler; returns the same handler object."""
    from .adapters.openai import handler as _handler

    return _handler(event_handler, observer)


def add_trace_ids(logger: Any, method_name: str, event_dict: Any) -> Any:
    """structlog processor adding the current span's ``trace_id`` / ``span_id`` to app logs."""
    from .sinks.logs import add_trace_ids as _add

    return _add(logger, method_name, event_dict)


__all__ = [
    "Anomaly",
    "Event",
    "FirstToken",
    "Frame",
    "Observer",
    "Outcome",
    "Phase",
    "PhaseEnded",
    "PhaseStarted",
    "RequestFailed",
    "Run",
    "RunBook",
    "RunFinished",
    "RunPaused",
    "RunResumed",
    "RunStarted",
    "SSEDecoder",
    "Sink",
    "StreamSession",
    "StreamTracker",
    "ToolCall",
    "Transition",
    "Usage",
    "__version__",
    "add_trace_ids",
    "default_observer",
    "handler",
    "instrument",
    "set_default_observer",
    "uninstrument",
    "watch",
]


def __getattr__(name: str) -> Any:
    if name == "Sink":
        from .sinks import Sink

        return Sink
    raise AttributeError(name)
