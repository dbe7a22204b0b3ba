"""The transport tap: a transport that wraps a transport (httpx and httpx2, sync and async).

The tap hands the caller the very response the wrapped transport returned; only the response's
byte stream is wrapped, and that wrapper yields the identical chunk objects after teeing them into
an incremental SSE decoder. JSON run objects of polling calls (``create_and_poll``,
``runs.retrieve``) are observed the same way, once the caller has read them.

Which library (httpx or its maintained fork httpx2) is decided per client: the tap subclasses
that library's own ``BaseTransport`` / ``SyncByteStream`` so type checks inside it still pass.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import AsyncIterator, Iterator
from functools import cache
from types import ModuleType
from typing import Any, Final

from .._endpoints import Endpoint, classify
from .._observer import Observer, StreamSession

#: Key under ``response.extensions`` marking a response whose stream is already observed.
MARK: Final = "runwatch.session"
_POLL_BODY_MAX: Final = 1024 * 1024  # a run object is a few KiB; never buffer more than this


def close_reason(exc: BaseException) -> str:
    """Why a stream stopped, from what interrupted its reading (never the user's exception text)."""
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    if isinstance(exc, GeneratorExit):
        return "client_closed"
    return "transport_error"


def _is_event_stream(response: Any) -> bool:
    return "text/event-stream" in response.headers.get("content-type", "")


def _is_json(response: Any) -> bool:
    return "json" in response.headers.get("content-type", "")


class _Poll:
    """Collects a (small) JSON body and feeds it as a run snapshot when the body is complete."""

    __slots__ = ("buf", "endpoint", "observer", "over")

    def __init__(self, observer: Observer, endpoint: Endpoint) -> None:
        self.observer = observer
        self.endpoint = endpoint
        self.buf = bytearray()
        self.over = False

    def add(self, chunk: bytes) -> None:
        if not self.over:
            self.buf += chunk
            if len(self.buf) > _POLL_BODY_MAX:
                self.over = True
                self.buf = bytearray()

    def done(self) -> None:
        if self.over or not self.buf:
            return
        try:
            snap = json.loads(bytes(self.buf))
        except ValueError:
            return
        finally:
            self.buf = bytearray()
        if (
            not isinstance(snap, dict)
            or snap.get("object") != "thread.run"
            or not isinstance(snap.get("id"), str)
        ):
            return
        book = self.observer.book
        status = snap.get("status")
        # A run first seen already finished (a retrieve of an old run) is not a run we watched.
        if status in ("completed", "incomplete", "failed", "cancelled", "expired") and not book.is_parked(
            "assistants", snap["id"]
        ):
            return
        session = self.observer.stream("assistants", run_id_hint=snap["id"])
        session.feed_snapshot("thread.run.created", snap)
        session.close("poll")


@cache
def _classes(module: ModuleType) -> tuple[type, type, type, type]:
    """Tap transport and byte-stream classes for ``module`` (httpx or httpx2). At most two."""

    class SyncTapStream(module.SyncByteStream):  # type: ignore[name-defined,misc]
        """Yields the wrapped stream's chunks unchanged, teeing them into the session."""

        def __init__(self, inner: Any, session: StreamSession | None, poll: _Poll | None) -> None:
            self._inner = inner
            self._session = session
            self._poll = poll
            if session is not None:
                # A stream dropped without close() still ends its runs (client_closed).
                weakref.finalize(self, session.close, "client_closed")

        def __iter__(self) -> Iterator[bytes]:
            session, poll = self._session, self._poll
            try:
                for chunk in self._inner:
                    if session is not None:
                        session.feed_bytes(chunk)
                    elif poll is not None:
                        poll.add(chunk)
                    yield chunk
            except BaseException as exc:
                if session is not None:
                    session.close(close_reason(exc))
                raise
            if session is not None:
                session.close("stream_ended")
            elif poll is not None:
                poll.done()

        def close(self) -> None:
            try:
                self._inner.close()
            finally:
                if self._session is not None:
                    self._session.close("client_closed")

    class AsyncTapStream(module.AsyncByteStream):  # type: ignore[name-defined,misc]
        def __init__(self, inner: Any, session: StreamSession | None, poll: _Poll | None) -> None:
            self._inner = inner
            self._session = session
            self._poll = poll
            if session is not None:
                weakref.finalize(self, session.close, "client_closed")

        async def __aiter__(self) -> AsyncIterator[bytes]:
            session, poll = self._session, self._poll
            try:
                async for chunk in self._inner:
                    if session is not None:
                        session.feed_bytes(chunk)
                    elif poll is not None:
                        poll.add(chunk)
                    yield chunk
            except BaseException as exc:
                if session is not None:
                    session.close(close_reason(exc))
                raise
            if session is not None:
                session.close("stream_ended")
            elif poll is not None:
                poll.done()

        async def aclose(self) -> None:
            try:
                await self._inner.aclose()
            finally:
                if self._session is not None:
                    self._session.close("client_closed")

    def _tap(observer: Observer, request: Any, response: Any, stream_cls: type) -> None:
        try:
            endpoint = classify(request.method, request.url.path)
            if endpoint is None or response.status_code >= 400:
                return
            if _is_event_stream(response):
                session = observer.stream(endpoint.api, run_id_hint=endpoint.run_id)
                response.extensions = {**response.extensions, MARK: session}
                body = getattr(response, "_content", None)
                if isinstance(body, bytes):
                    # Already read (mock transports, cached bodies): the stream will not be read.
                    session.feed_bytes(body)
                    session.close("stream_ended")
                else:
                    response.stream = stream_cls(response.stream, session, None)
            elif endpoint.api == "assistants" and _is_json(response):
                poll = _Poll(observer, endpoint)
                body = getattr(response, "_content", None)
                if isinstance(body, bytes):
                    poll.add(body)
                    poll.done()
                else:
                    response.stream = stream_cls(response.stream, None, poll)
        except Exception as exc:
            observer.safety.report("adapter", exc)

    class Tap(module.BaseTransport):  # type: ignore[name-defined,misc]
        """Wraps a sync transport; see the module docstring."""

        def __init__(self, inner: Any, observer: Observer) -> None:
            self.inner = inner
            self.observer = observer

        def handle_request(self, request: Any) -> Any:
            response = self.inner.handle_request(request)
            _tap(self.observer, request, response, SyncTapStream)
            return response

        def close(self) -> None:
            self.inner.close()

        def __enter__(self) -> Any:
            self.inner.__enter__()
            return self

        def __exit__(self, *args: Any) -> None:
            self.inner.__exit__(*args)

    class AsyncTap(module.AsyncBaseTransport):  # type: ignore[name-defined,misc]
        """Wraps an async transport; see the module docstring."""

        def __init__(self, inner: Any, observer: Observer) -> None:
            self.inner = inner
            self.observer = observer

        async def handle_async_request(self, request: Any) -> Any:
            response = await self.inner.handle_async_request(request)
            _tap(self.observer, request, response, AsyncTapStream)
            return response

        async def aclose(self) -> None:
            await self.inner.aclose()

        async def __aenter__(self) -> Any:
            await self.inner.__aenter__()
            return self

        async def __aexit__(self, *args: Any) -> None:
            await self.inner.__aexit__(*args)

    return Tap, AsyncTap, SyncTapStream, AsyncTapStream


def http_module(http_client: Any) -> ModuleType:
    """httpx or httpx2, whichever ``http_client`` is built on."""
    import importlib

    for cls in type(http_client).__mro__:
        root = cls.__module__.split(".", 1)[0]
        if root in ("httpx", "httpx2"):
            return importlib.import_module(root)
    raise TypeError(f"not an httpx or httpx2 client: {type(http_client).__name__}")


def wrap_transport(transport: Any, observer: Observer, module: ModuleType, is_async: bool) -> Any:
    """``transport`` wrapped in a tap (or returned as is if it already is one)."""
    tap, async_tap, _, _ = _classes(module)
    cls = async_tap if is_async else tap
    if isinstance(transport, cls):
        return transport
    return cls(transport, observer)
