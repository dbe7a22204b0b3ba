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
from typing import Any, TypeVar, overload

from ._observer import Observer

__version__ = "0.1.0"


_C = TypeVar("_C")


@overload
def instrument(client: None = None, observer: Observer | None = None) -> None: ...
@overload
def instrument(client: _C, observer: Observer | None = None) -> _C: ...
def instrument(client: Any = None, observer: Observer | None = None) -> Any:
    """Tap an existing OpenAI client's transport; returns the same client. See adapters.install.

    Without a client, every OpenAI client of the process is observed (those already created
    too), until :func:`uninstrument` is called without one; returns None. A client instrumented
    both ways is observed once. The default observer is configured by the environment
    (``RUNWATCH_*``, docs/configuration.md).

    >>> runwatch.instrument()                                # doctest: +SKIP
    """
    from .adapters.install import instrument as _instrument

    return _instrument(client, observer)


@overload
def uninstrument(client: None = None) -> None: ...
@overload
def uninstrument(client: _C) -> _C: ...
def uninstrument(client: Any = None) -> Any:
    """Undo :func:`instrument`; returns the same client (without one: undo the global mode)."""
    from .adapters.install import uninstrument as _uninstrument

    return _uninstrument(client)


def watch(stream: Any, observer: Observer | None = None) -> Any:
    """Observe an SDK stream or stream manager; yields the identical objects, adds ``.final``."""
    from ._config import default_observer
    from .adapters.watch import watch as _watch

    return _watch(stream, observer or default_observer())


def handler(event_handler: Any, observer: Observer | None = None) -> Any:
    """Observe an AssistantEventHandler; returns the same handler object."""
    from ._config import default_observer
    from .adapters.handler import handler as _handler

    return _handler(event_handler, observer or default_observer())


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
