"""runwatch: observe OpenAI streaming runs without changing what your code receives.

>>> import openai, runwatch                                     # doctest: +SKIP
>>> client = runwatch.instrument(openai.OpenAI())               # doctest: +SKIP

Every run then gets an OpenTelemetry span (and child spans per phase), Prometheus metrics by
terminal status and incomplete reason, and structlog events. See README.md.

The public API: what this module exports, :mod:`runwatch.events` (what a sink receives),
:mod:`runwatch.sinks` (the built-in sinks and the ``Sink`` protocol) and :mod:`runwatch.testing`
(helpers for your own tests). :mod:`runwatch.lowlevel` holds the decoder, the tracker and the
sessions: low-level and unstable.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._observer import Observer

__version__ = "0.1.0"


def instrument(client: Any, observer: Observer | None = None) -> Any:
    """Tap an existing OpenAI client's transport; returns the same client. See adapters.install."""
    from .adapters.install import instrument as _instrument

    return _instrument(client, observer)


def uninstrument(client: Any) -> Any:
    """Undo :func:`instrument`; returns the same client."""
    from .adapters.install import uninstrument as _uninstrument

    return _uninstrument(client)


def watch(stream: Any, observer: Observer | None = None) -> Any:
    """Observe an SDK stream or stream manager; yields the identical objects, adds ``.final``."""
    from .adapters.watch import watch as _watch

    return _watch(stream, observer)


def handler(event_handler: Any, observer: Observer | None = None) -> Any:
    """Observe an AssistantEventHandler; returns the same handler object."""
    from .adapters.handler import handler as _handler

    return _handler(event_handler, observer)


def add_trace_ids(logger: Any, method_name: str, event_dict: Any) -> Any:
    """structlog processor adding the current span's ``trace_id`` / ``span_id`` to app logs."""
    from .sinks.logs import add_trace_ids as _add

    return _add(logger, method_name, event_dict)


__all__ = [
    "Observer",
    "__version__",
    "add_trace_ids",
    "events",
    "handler",
    "instrument",
    "testing",
    "uninstrument",
    "watch",
]

#: Submodules loaded on first attribute access, so that ``import runwatch`` stays fast.
_LAZY_SUBMODULES = frozenset({"events", "lowlevel", "testing"})


def __getattr__(name: str) -> Any:
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
