"""Low-level building blocks: the SSE decoder, the run tracker, stream sessions, the default observer.

UNSTABLE: these names may change, move or go in any release, without deprecation. They are here
for tools built on runwatch's internals (replaying bytes without a client, benchmarks, tests);
applications should use :func:`runwatch.instrument`, :func:`runwatch.watch`,
:func:`runwatch.handler` and :class:`runwatch.Observer`, and sinks :mod:`runwatch.events`.

This module only hands names on from the private modules that define them; it adds no behaviour.
"""

from __future__ import annotations

from ._config import default_observer
from ._events import Event
from ._observer import StreamSession, set_default_observer
from ._sse import Frame, SSEDecoder
from ._tracker import RunBook, StreamTracker

__all__ = [
    "Event",
    "Frame",
    "RunBook",
    "SSEDecoder",
    "StreamSession",
    "StreamTracker",
    "default_observer",
    "set_default_observer",
]
