"""The transport tap: a transport that wraps a transport (httpx and httpx2, sync and async).

The tap hands the caller the very response the wrapped transport returned; only the response's
byte stream is wrapped, and that wrapper yields the identical chunk objects after teeing them
(decompressed exactly as the client will decompress them) into one of three readers:

- an event stream (``text/event-stream`` in any case, or any body of a request that asked for a
  stream) goes to an incremental SSE decoder and a run tracker;
- a JSON body answering a create, poll, continuation or cancel is parsed once complete and seen as
  a whole run object (non-streaming calls are runs too);
- an error body (HTTP >= 400) yields its error code: a request error, per attempt, not a run.

A request that gets no response at all (connection refused, a timeout before the headers, a
cancelled task) is a request error too. Time starts when the request is handed to the transport.

Which library (httpx or its maintained fork httpx2) is decided per client: the tap subclasses
that library's own ``BaseTransport`` / ``SyncByteStream`` so type checks inside it still pass.
"""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from functools import cache
from types import ModuleType
from typing import Any, Final

from .._endpoints import Endpoint, classify
from .._events import JSONObject, RequestFailed
from .._observer import Observer, StreamSession, close_later, start_reaper
from .._payload import outline
from .._tracker import RequestFacts

#: Key under ``response.extensions`` marking a response whose stream is already observed.
MARK: Final = "runwatch.session"
_BODY_MAX: Final = 4 * 1024 * 1024  # run objects and error bodies: never buffer more than this
_REQUEST_MAX: Final = 4 * 1024 * 1024  # request bodies read for the model and the stream flag


def close_reason(exc: BaseException) -> str:
    """Why a stream stopped, from what interrupted its reading (never the user's exception text)."""
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    if isinstance(exc, GeneratorExit):
        return _closing_reason()
    return "transport_error"


def _closing_reason() -> str:
    """``cancelled`` when the task closing a stream is being cancelled, else ``client_closed``."""
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no running loop: a sync caller
        return "client_closed"
    if task is not None and task.cancelling():
        return "cancelled"
    return "client_closed"


def transport_code(exc: BaseException) -> str:
    """The ``code`` of a request that got no response, from the exception's class (closed set)."""
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    names = [c.__name__ for c in type(exc).__mro__]
    for name, code in (
        ("TimeoutException", "timeout"),
        ("TimeoutError", "timeout"),
        ("ConnectError", "connect_error"),
        ("ReadError", "read_error"),
        ("WriteError", "write_error"),
        ("RemoteProtocolError", "remote_protocol_error"),
    ):
        if name in names:
            return code
    return "transport_error"


def error_body_code(body: bytes | None) -> str:
    """The code of an error body (``{"error": {"code": ...}}`` or flat), else its type, else none."""
    obj = json_object(body) if body else None  # never raises (nesting too deep reads as None)
    if obj is None:
        return "none"
    err = obj.get("error")
    if isinstance(err, str):  # {"error": "message"} (some proxies)
        return "none"
    err = err if isinstance(err, dict) else obj
    for key in ("code", "type"):
        value = err.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    return "none"


def json_object(body: bytes) -> JSONObject | None:
    """``body`` decoded as a JSON object without its long strings (None if it is not one): what
    runwatch reads of a request or a run object (model, flags, limits, status, usage, codes)
    never is one, and a prompt or an answer of any length then costs what a short one does
    (:func:`runwatch._payload.outline`)."""
    try:
        text = body.decode("utf-8-sig")  # a byte order mark is skipped, as json.loads skips it
    except UnicodeDecodeError:
        try:  # UTF-16 or -32, or lone surrogates: json.loads reads them all
            obj = json.loads(body)
        except (ValueError, RecursionError):
            return None
        return obj if isinstance(obj, dict) else None
    return outline(text)


def read_request(request: Any) -> tuple[str | None, bool, int, RequestFacts | None]:
    """What a request says that runwatch needs: the model it names, whether it asked for a stream
    (``"stream": true`` in its JSON body, ``stream=true`` in a GET's query), the SDK's retry
    count (``x-stainless-retry-count``; 0 on a first attempt) and the facts its run is checked
    against (output limit, usage asked for, ``n``). Never the content."""
    try:
        attempt = int(request.headers.get("x-stainless-retry-count", "0"))
    except ValueError:
        attempt = 0
    if request.method == "GET":
        return None, "stream=true" in str(request.url.query).lower(), attempt, None
    try:
        body = request.content
    except Exception:  # a streaming request body (never the SDK's): nothing to read
        return None, False, attempt, None
    if not isinstance(body, bytes) or body[:1] != b"{" or len(body) > _REQUEST_MAX:
        return None, False, attempt, None
    params = json_object(body)  # the prompt is never decoded
    if params is None:
        return None, False, attempt, None
    model = params.get("model")
    model = model if isinstance(model, str) and model else None
    return model, params.get("stream") is True, attempt, RequestFacts.read(params)


class _Exchange:
    """One HTTP attempt to an endpoint runwatch observes: what the request said, when it left."""

    __slots__ = ("attempt", "endpoint", "facts", "model", "observer", "started_at", "wants_stream")

    def __init__(self, observer: Observer, endpoint: Endpoint, request: Any) -> None:
        self.observer = observer
        self.endpoint = endpoint
        self.started_at = time.time()
        self.model, self.wants_stream, self.attempt, self.facts = read_request(request)

    def failed(self, status_code: int | None, code: str, error_type: str) -> None:
        self.observer.request_failed(
            RequestFailed(
                api=self.endpoint.api,
                status_code=status_code,
                code=code,
                attempt=self.attempt,
                started_at=self.started_at,
                time=time.time(),
                model=self.model,
                error_type=error_type,
            )
        )

    def stream(self) -> StreamSession:
        endpoint = self.endpoint
        return self.observer.stream(
            endpoint.api,
            run_id_hint=endpoint.run_id,
            started_at=self.started_at,
            request_model=self.model,
            expect_run=endpoint.kind in ("create", "continue"),
            request=self.facts,
        )

    def body(self, body: bytes | None, reason: str) -> None:
        """A non-streaming answer, complete (``stream_ended``) or not."""
        obj = json_object(body) if body and reason == "stream_ended" else None  # the answer is never decoded
        endpoint = self.endpoint
        if isinstance(obj, dict):
            self.observer.body(
                endpoint.kind,
                endpoint.api,
                endpoint.run_id,
                obj,
                started_at=self.started_at,
                request_model=self.model,
                request=self.facts,
            )
        elif endpoint.kind in ("create", "continue"):
            # Accepted, then lost (cut, empty or not JSON): the run it started ended aborted.
            self.stream().close(reason)


class _Reader:
    """What the tap does with a body's bytes; ``end`` runs once, whatever ends the body."""

    __slots__ = ("closed", "decoder")

    def __init__(self, decoder: Any) -> None:
        self.decoder = decoder
        self.closed = False

    def decode(self, chunk: bytes) -> bytes:
        out = self.decoder.decode(chunk)
        return out if isinstance(out, bytes) else b"".join(out)  # httpx2 decoders yield

    def flush(self) -> bytes:
        if self.decoder is None:
            return b""
        out = self.decoder.flush()
        return out if isinstance(out, bytes) else b"".join(out)

    def feed(self, chunk: bytes) -> None:
        raise NotImplementedError

    def close(self, reason: str) -> None:
        raise NotImplementedError


class _EventReader(_Reader):
    """An event stream into its session (the hot path: one call per chunk when uncompressed)."""

    __slots__ = ("session",)

    def __init__(self, session: StreamSession, decoder: Any) -> None:
        super().__init__(decoder)
        self.session = session

    def feed(self, chunk: bytes) -> None:
        if self.decoder is None:
            self.session.feed_bytes(chunk)
            return
        try:
            data = self.decode(chunk)
        except Exception:
            # The client will fail to decode it too: the stream is lost.
            self.close("transport_error")
            return
        if data:
            self.session.feed_bytes(data)

    def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        if self.decoder is not None and reason == "stream_ended":
            try:
                tail = self.flush()
            except Exception:
                tail, reason = b"", "transport_error"
            if tail:
                self.session.feed_bytes(tail)
        self.session.close(reason)


class _BodyReader(_Reader):
    """A whole (bounded) body handed to ``finish(body or None, reason)`` at its end."""

    __slots__ = ("buf", "finish", "over")

    def __init__(self, finish: Callable[[bytes | None, str], None], decoder: Any) -> None:
        super().__init__(decoder)
        self.finish = finish
        self.buf = bytearray()
        self.over = False

    def feed(self, chunk: bytes) -> None:
        if self.over:
            return
        try:
            self.buf += self.decode(chunk) if self.decoder is not None else chunk
        except Exception:
            self.over = True
        if len(self.buf) > _BODY_MAX:
            self.over = True
        if self.over:
            self.buf = bytearray()

    def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        body: bytes | None = None
        if not self.over:
            try:
                body = bytes(self.buf + self.flush())
            except Exception:
                body = None
        self.buf = bytearray()
        self.finish(body, reason)


def _decoder(module: ModuleType, response: Any) -> Any:
    """A fresh content decoder, built by the client library itself from the same headers (so the
    tap decompresses exactly as the client will); None for an identity body."""
    if not response.headers.get("content-encoding"):
        return None
    decoder = module.Response(200, headers=response.headers)._get_content_decoder()
    return None if type(decoder).__name__ == "IdentityDecoder" else decoder


def _reader(exchange: _Exchange, response: Any, module: ModuleType) -> _Reader | None:
    """What to read from ``response`` (None: nothing runwatch observes)."""
    endpoint = exchange.endpoint
    status = response.status_code
    if status >= 400:

        def finish(body: bytes | None, reason: str) -> None:
            exchange.failed(status, error_body_code(body), str(status))

        return _BodyReader(finish, _decoder(module, response))
    if 300 <= status < 400:
        return None  # a redirect: the request it leads to is observed on its own
    content_type = response.headers.get("content-type", "").lower()
    if "text/event-stream" in content_type or exchange.wants_stream:
        session = exchange.stream()
        response.extensions = {**response.extensions, MARK: session}
        return _EventReader(session, _decoder(module, response))
    if endpoint.kind in ("create", "continue") or "json" in content_type or not content_type:
        # A create answered with something that is not a run object (a proxy's HTML page with a
        # 200) is still the run it started: Exchange.body ends it aborted, saying so.
        return _BodyReader(exchange.body, _decoder(module, response))
    return None


@cache
def _classes(module: ModuleType) -> tuple[type, type, type, type]:
    """Tap transport and byte-stream classes for ``module`` (httpx or httpx2). At most two."""

    class SyncTapStream(module.SyncByteStream):  # type: ignore[name-defined,misc]
        """Yields the wrapped stream's chunks unchanged, teeing them into a reader."""

        def __init__(self, inner: Any, reader: _Reader) -> None:
            self._inner = inner
            self._reader = reader
            # A stream dropped without close() still ends what it carried (client_closed).
            if isinstance(reader, _EventReader):
                reader.session.close_on_collect(self)
            else:
                _close_on_collect(self, reader)

        def __iter__(self) -> Iterator[bytes]:
            reader = self._reader
            try:
                for chunk in self._inner:
                    reader.feed(chunk)
                    yield chunk
            except BaseException as exc:
                reader.close(close_reason(exc))
                raise
            reader.close("stream_ended")

        def close(self) -> None:
            try:
                self._inner.close()
            finally:
                self._reader.close("client_closed")

    class AsyncTapStream(module.AsyncByteStream):  # type: ignore[name-defined,misc]
        def __init__(self, inner: Any, reader: _Reader) -> None:
            self._inner = inner
            self._reader = reader
            if isinstance(reader, _EventReader):
                reader.session.close_on_collect(self)
            else:
                _close_on_collect(self, reader)

        async def __aiter__(self) -> AsyncIterator[bytes]:
            reader = self._reader
            try:
                async for chunk in self._inner:
                    reader.feed(chunk)
                    yield chunk
            except BaseException as exc:
                reader.close(close_reason(exc))
                raise
            reader.close("stream_ended")

        async def aclose(self) -> None:
            try:
                await self._inner.aclose()
            finally:
                self._reader.close(_closing_reason())

    def _tap(exchange: _Exchange | None, response: Any, stream_cls: type) -> None:
        if exchange is None:
            return
        try:
            reader = _reader(exchange, response, module)
            if reader is None:
                return
            body = getattr(response, "_content", None)
            if isinstance(body, bytes):
                # Already read (mock transports, cached bodies; httpx keeps it decoded): the
                # stream will not be read again.
                reader.decoder = None
                reader.feed(body)
                reader.close("stream_ended")
            else:
                response.stream = stream_cls(response.stream, reader)
        except Exception as exc:
            exchange.observer.safety.report("adapter", exc)

    def _exchange(observer: Observer, request: Any) -> _Exchange | None:
        try:
            url = request.url
            endpoint = classify(request.method, url.path, str(url.query))
            return _Exchange(observer, endpoint, request) if endpoint is not None else None
        except Exception as exc:
            observer.safety.report("adapter", exc)
            return None

    def _no_response(exchange: _Exchange | None, exc: BaseException) -> None:
        if exchange is None:
            return
        try:
            exchange.failed(None, transport_code(exc), type(exc).__name__)
        except Exception as err:
            exchange.observer.safety.report("adapter", err)

    class Tap(module.BaseTransport):  # type: ignore[name-defined,misc]
        """Wraps a sync transport; see the module docstring."""

        def __init__(self, inner: Any, observer: Observer) -> None:
            self.inner = inner
            self.observer = observer

        def handle_request(self, request: Any) -> Any:
            exchange = _exchange(self.observer, request)
            try:
                response = self.inner.handle_request(request)
            except BaseException as exc:
                _no_response(exchange, exc)
                raise
            _tap(exchange, response, SyncTapStream)
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
            exchange = _exchange(self.observer, request)
            try:
                response = await self.inner.handle_async_request(request)
            except BaseException as exc:
                _no_response(exchange, exc)
                raise
            _tap(exchange, response, AsyncTapStream)
            return response

        async def aclose(self) -> None:
            await self.inner.aclose()

        async def __aenter__(self) -> Any:
            await self.inner.__aenter__()
            return self

        async def __aexit__(self, *args: Any) -> None:
            await self.inner.__aexit__(*args)

    return Tap, AsyncTap, SyncTapStream, AsyncTapStream


def _close_on_collect(owner: object, reader: _Reader) -> None:
    start_reaper()
    weakref.finalize(owner, close_later, reader, "client_closed")


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
