"""The handler tap: ``handler(event_handler)`` observes an ``AssistantEventHandler`` in place.

A small tap object stands between the SDK and four of the handler's hooks (``_init``,
``on_event``, ``on_exception``, ``on_end``): its bound methods, set as the handler's own instance
attributes, observe and then call the handler's originals. The handler stays THE SAME object, of
the same type, with its own attributes; ``current_run``, ``get_final_run()`` and every other
callback are the SDK's and the user's own. The tap never changes an event, never swallows the
user's exceptions and never replaces the handler.
"""

from __future__ import annotations

from typing import Any, Final

from .._config import default_observer
from .._observer import Observer
from .observation import Observation, reason_for

#: The handler's own attribute that marks it observed (and holds its tap).
_HANDLER_ATTR: Final = "_runwatch_observation"


def is_assistant_handler(obj: Any) -> bool:
    """True for an ``AssistantEventHandler`` / ``AsyncAssistantEventHandler`` (by class name:
    the SDK is never imported here)."""
    return any(
        c.__name__ in ("AssistantEventHandler", "AsyncAssistantEventHandler") for c in type(obj).__mro__
    )


class _Tap:
    """One handler's observation, and the handler's original hooks it calls through to."""

    __slots__ = ("_orig_end", "_orig_event", "_orig_exc", "_orig_init", "obs", "observer", "reason")

    def __init__(self, observer: Observer, event_handler: Any) -> None:
        self.observer = observer
        self.obs: Observation | None = None
        self.reason = "stream_ended"
        h = event_handler
        self._orig_init, self._orig_event, self._orig_exc, self._orig_end = (
            h._init,
            h.on_event,
            h.on_exception,
            h.on_end,
        )

    def observe(self, stream: Any) -> None:
        """Start observing the SDK stream the handler reads."""
        try:
            self.obs = Observation(self.observer, stream)
        except Exception as exc:
            self.observer.safety.report("adapter", exc)

    def _init(self, stream: Any) -> None:  # the SDK's own hook name: it binds the handler to a stream
        self._orig_init(stream)  # the SDK's own check (one handler per stream) runs first
        self.observe(stream)

    def _seen(self, event: Any) -> None:
        obs = self.obs
        if obs is not None:
            obs.item(event)

    def _failed(self, exc: BaseException) -> None:
        obs = self.obs
        if obs is not None:
            obs.error(exc)
            self.reason = (
                reason_for(exc) if type(exc).__module__.startswith(("openai", "httpx")) else "handler_error"
            )

    def _ended(self) -> None:
        obs = self.obs
        if obs is not None:
            obs.close(self.reason)


class HandlerTap(_Tap):
    """The tap of a sync ``AssistantEventHandler``."""

    __slots__ = ()

    def on_event(self, event: Any) -> None:
        self._seen(event)
        self._orig_event(event)

    def on_exception(self, exc: Exception) -> None:
        self._failed(exc)
        self._orig_exc(exc)

    def on_end(self) -> None:
        try:
            self._orig_end()
        finally:
            self._ended()


class AsyncHandlerTap(_Tap):
    """The tap of an ``AsyncAssistantEventHandler``."""

    __slots__ = ()

    async def on_event(self, event: Any) -> None:
        self._seen(event)
        await self._orig_event(event)

    async def on_exception(self, exc: Exception) -> None:
        self._failed(exc)
        await self._orig_exc(exc)

    async def on_end(self) -> None:
        try:
            await self._orig_end()
        finally:
            self._ended()


def handler(event_handler: Any, observer: Observer | None = None) -> Any:
    """Observe an ``AssistantEventHandler`` / ``AsyncAssistantEventHandler``; returns THE SAME object.

    Every callback still reaches your code unchanged; ``current_run`` and ``get_final_run()`` are
    the SDK's own. Use a new handler per stream, as the SDK requires (``submit_tool_outputs_stream``
    continues the same run, and runwatch joins the two streams into one run).

    >>> h = runwatch.handler(MyHandler())  # doctest: +SKIP
    >>> with client.beta.threads.runs.stream(..., event_handler=h) as h:  # doctest: +SKIP
    ...     h.until_done()
    """
    if not is_assistant_handler(event_handler):
        raise TypeError(
            f"runwatch.handler expects an AssistantEventHandler, got {type(event_handler).__name__}"
        )
    if _HANDLER_ATTR in vars(event_handler):
        return event_handler
    observer = observer or default_observer()
    h = event_handler
    is_async = any(c.__name__ == "AsyncAssistantEventHandler" for c in type(h).__mro__)
    tap = AsyncHandlerTap(observer, h) if is_async else HandlerTap(observer, h)
    # Instance attributes shadow the class's methods: same object, same type, same state.
    vars(h).update(
        {
            "_init": tap._init,
            "on_event": tap.on_event,
            "on_exception": tap.on_exception,
            "on_end": tap.on_end,
            _HANDLER_ATTR: tap,
        }
    )
    # Already bound to its stream (``watch(manager)`` sees the handler only after the SDK's
    # ``__enter__`` called ``_init``): observe that stream now, or nothing would be observed.
    bound = getattr(h, "_AssistantEventHandler__stream", None) or getattr(
        h, "_AsyncAssistantEventHandler__stream", None
    )
    if bound is not None:
        tap.observe(bound)
    return h
