"""openai SDK adapters: ``instrument(client)``, ``watch(stream)``, ``handler(event_handler)``.

The only module (with :mod:`.transport`) that knows the SDK. Nothing here changes what the
caller receives: the same client object, the same event objects in the same order, the same
exceptions, the same handler object with its own attributes.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Iterator
from typing import Any, Final

from .._endpoints import Endpoint, classify
from .._events import JSONObject, PayloadLoader
from .._observer import Observer, StreamSession, default_observer
from ..protocols import chat
from .transport import MARK, close_reason, http_module, read_request, wrap_transport

_ATTR: Final = "_runwatch_original_transports"
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


# -- instrument ---------------------------------------------------------------------------------
def instrument(client: Any, observer: Observer | None = None) -> Any:
    """Tap an ``OpenAI`` / ``AsyncOpenAI`` / ``AzureOpenAI`` client; returns the same object.

    >>> client = runwatch.instrument(openai.OpenAI())  # doctest: +SKIP

    Idempotent: instrumenting twice keeps one tap (the first observer). Works with openai 3.x
    (httpx2, or a plain ``httpx`` client passed as ``http_client``) and openai 1.x/2.x (httpx).
    """
    http: Any = getattr(client, "_client", None)
    if http is None or not hasattr(http, "_transport"):
        raise TypeError(f"runwatch.instrument expects an OpenAI client, got {type(client).__name__}")
    if getattr(http, _ATTR, None) is not None:
        return client
    observer = observer or default_observer()
    module = http_module(http)
    # By class, not by methods: an AsyncClient subclass may well define a close() of its own.
    is_async = isinstance(http, module.AsyncClient)
    original = (http._transport, dict(http._mounts))
    http._transport = wrap_transport(http._transport, observer, module, is_async)
    http._mounts = {
        pattern: (wrap_transport(t, observer, module, is_async) if t is not None else None)
        for pattern, t in http._mounts.items()
    }
    setattr(http, _ATTR, original)
    return client


def uninstrument(client: Any) -> Any:
    """Remove the tap ``instrument`` put on ``client``; returns the same object."""
    http: Any = getattr(client, "_client", None)
    original = getattr(http, _ATTR, None) if http is not None else None
    if original is None:
        return client
    http._transport, http._mounts = original[0], original[1]
    delattr(http, _ATTR)
    return client


# -- SDK objects -> events ------------------------------------------------------------------------
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
def _shape(cls: type) -> str:
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
    shape = _shape(type(obj))  # type: ignore[arg-type]
    if shape == "typed":
        kind = obj.type
        if isinstance(kind, str):
            return _typed(obj, kind)
    elif shape == "chat" and obj.object == "chat.completion.chunk":
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
    if getattr(obj, "object", None) == "chat.completion.chunk":
        return _chat_chunk(obj)
    return None


def _error_payload(exc: BaseException) -> JSONObject | None:
    """The error an ``APIError`` raised mid-stream carries (the SDK raises on nested errors)."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and getattr(exc, "request", None) is not None and not hasattr(exc, "response"):
        return {"error": body}
    if isinstance(body, dict) and type(exc).__name__ == "APIError":
        return {"error": body}
    return None


def _tapped_session(obj: Any) -> StreamSession | None:
    """The tap's session if ``obj`` (an SDK stream or helper) reads an instrumented response."""
    for attr in ("response", "_raw_stream", "_stream", "_AssistantEventHandler__stream"):
        inner = getattr(obj, attr, None)
        if inner is None:
            continue
        extensions = getattr(inner, "extensions", None)
        if isinstance(extensions, dict):
            session = extensions.get(MARK)
            if session is not None:
                return session  # type: ignore[no-any-return]
        if attr != "response":
            found = _tapped_session(inner)
            if found is not None:
                return found
    return None


def _request(obj: Any, depth: int = 0) -> Any:
    """The HTTP request behind ``obj`` (an SDK stream or helper), or None.

    A continuation (``submit_tool_outputs``, a Responses resume with ``starting_after``) names its
    run only in the URL: without it a watched continuation would start a second run.
    """
    if depth > 3:
        return None
    for attr in ("response", "_raw_stream", "_stream", "_AssistantEventHandler__stream"):
        inner = getattr(obj, attr, None)
        if inner is None:
            continue
        request = getattr(inner, "request", None) if attr == "response" else None
        if request is not None:
            return request
        if attr != "response":
            found = _request(inner, depth + 1)
            if found is not None:
                return found
    return None


def _stream_for(observer: Observer, source: Any) -> StreamSession:
    """A session for ``source``, told what its request said (endpoint, continued run, model).
    Time starts now: the request left before the SDK handed over its stream (the transport tap,
    which sees it leave, is the accurate one)."""
    request = _request(source)
    endpoint: Endpoint | None = None
    model = None
    if request is not None:
        try:
            url = request.url
            endpoint = classify(str(request.method), str(url.path), str(url.query))
            model = read_request(request)[0]
        except Exception:
            endpoint = None
    if endpoint is None:
        return observer.stream()
    return observer.stream(
        endpoint.api,
        run_id_hint=endpoint.run_id,
        request_model=model,
        expect_run=endpoint.kind in ("create", "continue"),
    )


class _Observation:
    """What a watched stream or handler feeds: a session (None when the tap already observes)."""

    __slots__ = ("__weakref__", "final", "observer", "session")

    def __init__(self, observer: Observer, source: Any) -> None:
        self.observer = observer
        self.final: Any = None
        self.session: StreamSession | None = None
        if _tapped_session(source) is None:
            self.session = _stream_for(observer, source)
            self.session.close_on_collect(self)

    def item(self, obj: Any) -> None:
        try:
            session = self.session
            if session is not None and _shape(type(obj)) == "typed" and session.skips(obj.type):  # type: ignore[arg-type]
                return  # a content delta after the first token: nothing to learn, nothing final
            described = describe(obj)
            if described is None:
                return
            name, load, final = described
            if final is not None:
                self.final = final
            if session is not None and not session.skips(name):
                session.feed_event(name, load)
        except Exception as exc:
            self.observer.safety.report("adapter", exc)

    def error(self, exc: BaseException) -> None:
        payload = _error_payload(exc)
        if payload is not None and self.session is not None:
            self.session.feed_event("error", lambda: payload)

    def close(self, reason: str) -> None:
        if self.session is not None:
            self.session.close(reason)


def _reason(exc: BaseException) -> str:
    name = type(exc).__name__
    if name == "APIError" or name.endswith("StatusError"):
        return "stream_ended"  # the server's own error ended the stream
    return close_reason(exc)


# -- watch --------------------------------------------------------------------------------------
class _Proxy:
    """A transparent proxy: attribute access, ``isinstance`` and ``repr`` reach the wrapped object."""

    __slots__ = ("__weakref__", "_rw_obs", "_rw_wrapped")

    def __init__(self, wrapped: Any, observation: _Observation) -> None:
        object.__setattr__(self, "_rw_wrapped", wrapped)
        object.__setattr__(self, "_rw_obs", observation)

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return type(self._rw_wrapped)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rw_wrapped, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._rw_wrapped, name, value)

    def __repr__(self) -> str:
        return repr(self._rw_wrapped)

    @property
    def final(self) -> Any:
        """The final run / response / turn as the SDK built it, for every terminal status."""
        return self._rw_obs.final

    def close(self) -> None:
        try:
            self._rw_wrapped.close()
        finally:
            self._rw_obs.close("client_closed")


class WatchedStream(_Proxy):
    """Sync stream proxy returned by :func:`watch`."""

    __slots__ = ("_rw_iter",)

    def __init__(self, wrapped: Any, observation: _Observation) -> None:
        super().__init__(wrapped, observation)
        object.__setattr__(self, "_rw_iter", None)

    def _generate(self) -> Iterator[Any]:
        obs = self._rw_obs
        try:
            for item in self._rw_wrapped:
                obs.item(item)
                yield item
        except BaseException as exc:
            obs.error(exc)
            obs.close(_reason(exc))
            raise
        obs.close("stream_ended")

    def __iter__(self) -> Iterator[Any]:
        if self._rw_iter is None:
            object.__setattr__(self, "_rw_iter", self._generate())
        return self._rw_iter  # type: ignore[no-any-return]

    def __next__(self) -> Any:
        return next(iter(self))

    def __enter__(self) -> WatchedStream:
        enter = getattr(self._rw_wrapped, "__enter__", None)
        if enter is not None:
            inner = enter()
            if inner is not self._rw_wrapped:
                return WatchedStream(inner, self._rw_obs)
        return self

    def __exit__(self, *exc: Any) -> Any:
        try:
            exit_ = getattr(self._rw_wrapped, "__exit__", None)
            return exit_(*exc) if exit_ is not None else None
        finally:
            self._rw_obs.close("client_closed" if exc[0] is None else _reason(exc[1]))


class AsyncWatchedStream(_Proxy):
    """Async stream proxy returned by :func:`watch`."""

    __slots__ = ("_rw_iter",)

    def __init__(self, wrapped: Any, observation: _Observation) -> None:
        super().__init__(wrapped, observation)
        object.__setattr__(self, "_rw_iter", None)

    async def _generate(self) -> AsyncIterator[Any]:
        obs = self._rw_obs
        try:
            async for item in self._rw_wrapped:
                obs.item(item)
                yield item
        except BaseException as exc:
            obs.error(exc)
            obs.close(_reason(exc))
            raise
        obs.close("stream_ended")

    def __aiter__(self) -> AsyncIterator[Any]:
        if self._rw_iter is None:
            object.__setattr__(self, "_rw_iter", self._generate())
        return self._rw_iter  # type: ignore[no-any-return]

    async def __anext__(self) -> Any:
        return await self.__aiter__().__anext__()

    async def __aenter__(self) -> AsyncWatchedStream:
        enter = getattr(self._rw_wrapped, "__aenter__", None)
        if enter is not None:
            inner = await enter()
            if inner is not self._rw_wrapped:
                return AsyncWatchedStream(inner, self._rw_obs)
        return self

    async def __aexit__(self, *exc: Any) -> Any:
        try:
            exit_ = getattr(self._rw_wrapped, "__aexit__", None)
            return await exit_(*exc) if exit_ is not None else None
        finally:
            self._rw_obs.close("client_closed" if exc[0] is None else _reason(exc[1]))

    async def close(self) -> None:  # type: ignore[override]
        try:
            closer = getattr(self._rw_wrapped, "close", None) or self._rw_wrapped.aclose
            result = closer()
            if asyncio.iscoroutine(result):
                await result
        finally:
            self._rw_obs.close("client_closed")

    async def aclose(self) -> None:
        await self.close()


class _ManagerObservation(_Observation):
    """A stream manager's observation starts when it is entered (the request happens then)."""

    def __init__(self, observer: Observer) -> None:
        self.observer = observer
        self.final = None
        self.session = None


def watch(stream: Any, observer: Observer | None = None) -> Any:
    """Observe an SDK ``Stream`` / ``AsyncStream`` / stream manager (or any iterable of events).

    Yields the identical objects; ``with``, ``close()``, ``aclose()`` and attributes behave as
    the SDK's own. ``.final`` is the final run/response as the SDK built it, for every terminal
    status (also ``response.incomplete``, where ``get_final_response()`` raises).

    >>> with runwatch.watch(client.responses.stream(model="gpt-4o", input="hi")) as s:  # doctest: +SKIP
    ...     for event in s: ...
    >>> s.final.status  # doctest: +SKIP
    'incomplete'
    """
    observer = observer or default_observer()
    name = type(stream).__name__
    if name.endswith("StreamManager"):
        return _watch_manager(stream, observer)
    if hasattr(stream, "__aiter__") and not hasattr(stream, "__iter__"):
        return AsyncWatchedStream(stream, _Observation(observer, stream))
    if hasattr(stream, "__iter__") or hasattr(stream, "__next__"):
        return WatchedStream(stream, _Observation(observer, stream))
    raise TypeError(f"runwatch.watch expects an SDK stream, stream manager or iterable, got {name}")


class _WatchedManager(_Proxy):
    __slots__ = ()

    def __enter__(self) -> Any:
        inner = self._rw_wrapped.__enter__()
        if _is_assistant_handler(inner):
            return handler(inner, self._rw_obs.observer)
        watched = WatchedStream(inner, _Observation(self._rw_obs.observer, inner))
        object.__setattr__(self, "_rw_obs", watched._rw_obs)
        return watched

    def __exit__(self, *exc: Any) -> Any:
        try:
            return self._rw_wrapped.__exit__(*exc)
        finally:
            self._rw_obs.close("client_closed" if exc[0] is None else _reason(exc[1]))

    async def __aenter__(self) -> Any:
        inner = await self._rw_wrapped.__aenter__()
        if _is_assistant_handler(inner):
            return handler(inner, self._rw_obs.observer)
        watched = AsyncWatchedStream(inner, _Observation(self._rw_obs.observer, inner))
        object.__setattr__(self, "_rw_obs", watched._rw_obs)
        return watched

    async def __aexit__(self, *exc: Any) -> Any:
        try:
            return await self._rw_wrapped.__aexit__(*exc)
        finally:
            self._rw_obs.close("client_closed" if exc[0] is None else _reason(exc[1]))


def _watch_manager(manager: Any, observer: Observer) -> Any:
    return _WatchedManager(manager, _ManagerObservation(observer))


# -- handler ------------------------------------------------------------------------------------
def _is_assistant_handler(obj: Any) -> bool:
    return any(
        c.__name__ in ("AssistantEventHandler", "AsyncAssistantEventHandler") for c in type(obj).__mro__
    )


_HANDLER_ATTR: Final = "_runwatch_observation"


def handler(event_handler: Any, observer: Observer | None = None) -> Any:
    """Observe an ``AssistantEventHandler`` / ``AsyncAssistantEventHandler``; returns THE SAME object.

    Every callback still reaches your code unchanged; ``current_run`` and ``get_final_run()`` are
    the SDK's own. Use a new handler per stream, as the SDK requires (``submit_tool_outputs_stream``
    continues the same run, and runwatch joins the two streams into one run).

    >>> h = runwatch.handler(MyHandler())  # doctest: +SKIP
    >>> with client.beta.threads.runs.stream(..., event_handler=h) as h:  # doctest: +SKIP
    ...     h.until_done()
    """
    if not _is_assistant_handler(event_handler):
        raise TypeError(
            f"runwatch.handler expects an AssistantEventHandler, got {type(event_handler).__name__}"
        )
    if _HANDLER_ATTR in vars(event_handler):
        return event_handler
    observer = observer or default_observer()
    is_async = any(c.__name__ == "AsyncAssistantEventHandler" for c in type(event_handler).__mro__)
    state: dict[str, Any] = {"obs": None, "reason": "stream_ended"}
    h = event_handler
    orig_init, orig_event, orig_exc, orig_end = h._init, h.on_event, h.on_exception, h.on_end

    def _init(stream: Any) -> None:
        orig_init(stream)  # the SDK's own check (one handler per stream) runs first
        try:
            state["obs"] = _Observation(observer, stream)
        except Exception as exc:
            observer.safety.report("adapter", exc)

    def _observe(event: Any) -> None:
        obs = state["obs"]
        if obs is not None:
            obs.item(event)

    def _exception(exc: BaseException) -> None:
        obs = state["obs"]
        if obs is not None:
            obs.error(exc)
            state["reason"] = (
                _reason(exc) if type(exc).__module__.startswith(("openai", "httpx")) else "handler_error"
            )

    def _end() -> None:
        obs = state["obs"]
        if obs is not None:
            obs.close(state["reason"])

    if is_async:

        async def on_event(event: Any) -> None:
            _observe(event)
            await orig_event(event)

        async def on_exception(exc: Exception) -> None:
            _exception(exc)
            await orig_exc(exc)

        async def on_end() -> None:
            try:
                await orig_end()
            finally:
                _end()

    else:

        def on_event(event: Any) -> None:  # type: ignore[misc]
            _observe(event)
            orig_event(event)

        def on_exception(exc: Exception) -> None:  # type: ignore[misc]
            _exception(exc)
            orig_exc(exc)

        def on_end() -> None:  # type: ignore[misc]
            try:
                orig_end()
            finally:
                _end()

    # Instance attributes shadow the class's methods: same object, same type, same state.
    vars(h).update(
        {
            "_init": _init,
            "on_event": on_event,
            "on_exception": on_exception,
            "on_end": on_end,
            _HANDLER_ATTR: state,
        }
    )
    # Already bound to its stream (``watch(manager)`` sees the handler only after the SDK's
    # ``__enter__`` called ``_init``): observe that stream now, or nothing would be observed.
    bound = getattr(h, "_AssistantEventHandler__stream", None) or getattr(
        h, "_AsyncAssistantEventHandler__stream", None
    )
    if bound is not None:
        try:
            state["obs"] = _Observation(observer, bound)
        except Exception as exc:
            observer.safety.report("adapter", exc)
    return h
