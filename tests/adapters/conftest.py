"""Fixtures for the adapter tests: a real openai client over a fake wire.

The wire is a ``MockTransport`` (httpx2 under openai 3.x, httpx under 1.x/2.x) whose SSE bodies
are byte *generators* split into odd-sized chunks, so every body is really streamed through the
tap rather than handed over pre-read. ``Wire`` serves recorded transcripts (tests/data) in order,
one per request, and records the request lines it saw.
"""

from __future__ import annotations

import gc
import importlib.util
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
import pytest
import structlog
import structlog.testing
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

import runwatch

if importlib.util.find_spec("httpx2") is not None:
    import httpx2 as http  # openai 3.x
else:  # pragma: no cover - openai 1.x / 2.x
    import httpx as http  # type: ignore[no-redef]

import httpx

DATA = Path(__file__).resolve().parent.parent / "data"
EXPECTED: dict[str, Any] = json.loads((DATA / "expected.json").read_text())
OPENAI_MAJOR = int(openai.__version__.split(".", 1)[0])
HAS_HTTPX2 = http.__name__ == "httpx2"
#: Odd chunk sizes, cycled: splits frames, lines, CRLF pairs and UTF-8 sequences anywhere.
CHUNKS = (1, 7, 13, 64, 3, 257, 2, 31)


def chunked(body: bytes, sizes: tuple[int, ...] = CHUNKS) -> list[bytes]:
    out, i, k = [], 0, 0
    while i < len(body):
        n = sizes[k % len(sizes)]
        out.append(body[i : i + n])
        i, k = i + n, k + 1
    return out


class SyncBody(http.SyncByteStream):  # type: ignore[misc,name-defined]
    """A byte stream yielding ``parts``; raises ``fail`` (if any) after them; records close()."""

    def __init__(self, parts: list[bytes], fail: BaseException | None = None) -> None:
        self.parts, self.fail, self.closed, self.sent = list(parts), fail, False, 0

    def __iter__(self) -> Iterator[bytes]:
        # One pass, like a network stream: openai 3.x drains what is left after [DONE] by
        # iterating the stream again, which must not start over.
        while self.sent < len(self.parts):
            self.sent += 1
            yield self.parts[self.sent - 1]
        if self.fail is not None:
            raise self.fail

    def close(self) -> None:
        self.closed = True


class AsyncBody(http.AsyncByteStream):  # type: ignore[misc,name-defined]
    def __init__(self, parts: list[bytes], fail: BaseException | None = None) -> None:
        self.parts, self.fail, self.closed, self.sent = list(parts), fail, False, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.sent < len(self.parts):  # one pass (see SyncBody)
            self.sent += 1
            yield self.parts[self.sent - 1]
        if self.fail is not None:
            raise self.fail

    async def aclose(self) -> None:
        self.closed = True


@dataclass
class Reply:
    """One canned HTTP response: an SSE body (streamed) or a JSON object."""

    body: bytes = b""
    json: Any = None
    status: int = 200
    fail: BaseException | None = None  # raised by the body stream after all of ``body``
    preread: bool = False  # hand the body over as plain bytes (already read)
    sizes: tuple[int, ...] = CHUNKS  # the body's chunk sizes, cycled


@dataclass
class Wire:
    """Serves ``replies`` in order (or through ``route``) and records request lines."""

    replies: list[Reply] = field(default_factory=list)
    route: Callable[[Any], Reply] | None = None
    module: Any = http
    seen: list[str] = field(default_factory=list)
    bodies: list[Any] = field(default_factory=list)

    def _reply(self, request: Any) -> Reply:
        query = request.url.query
        query = query.decode() if isinstance(query, bytes) else query
        self.seen.append(f"{request.method} {request.url.path}" + (f"?{query}" if query else ""))
        if self.route is not None:
            return self.route(request)
        if not self.replies:
            raise AssertionError(f"unexpected request {self.seen[-1]}")
        return self.replies.pop(0)

    def _response(self, reply: Reply, body_cls: type) -> Any:
        m = self.module
        if reply.json is not None:
            return m.Response(reply.status, json=reply.json)
        headers = {"content-type": "text/event-stream; charset=utf-8"}
        if reply.preread:
            return m.Response(reply.status, headers=headers, content=reply.body)
        body = body_cls(chunked(reply.body, reply.sizes), reply.fail)
        self.bodies.append(body)
        return m.Response(reply.status, headers=headers, stream=body)

    def handler(self, request: Any) -> Any:
        return self._response(self._reply(request), self._sync_body())

    async def async_handler(self, request: Any) -> Any:
        return self._response(self._reply(request), self._async_body())

    def _sync_body(self) -> type:
        return SyncBody if self.module is http else _bodies(self.module)[0]

    def _async_body(self) -> type:
        return AsyncBody if self.module is http else _bodies(self.module)[1]


def _bodies(module: Any) -> tuple[type, type]:
    """SyncBody/AsyncBody twins for the other http library (a plain httpx client under 3.x)."""

    class S(module.SyncByteStream):  # type: ignore[misc,name-defined]
        __init__ = SyncBody.__init__
        __iter__ = SyncBody.__iter__
        close = SyncBody.close

    class A(module.AsyncByteStream):  # type: ignore[misc,name-defined]
        __init__ = AsyncBody.__init__
        __aiter__ = AsyncBody.__aiter__
        aclose = AsyncBody.aclose

    return S, A


def case_replies(name: str) -> list[Reply]:
    return [Reply((DATA / f).read_bytes()) for f in EXPECTED[name]["files"]]


def make_client(wire: Wire, *, is_async: bool = False, plain_httpx: bool = False) -> Any:
    """A real ``OpenAI`` / ``AsyncOpenAI`` over ``wire`` (``plain_httpx``: an ``httpx`` client)."""
    module = httpx if plain_httpx else http
    wire.module = module
    kw: dict[str, Any] = {"api_key": "sk-test", "base_url": "http://api.test/v1", "max_retries": 0}
    if is_async:
        hc = module.AsyncClient(transport=module.MockTransport(wire.async_handler))
        return openai.AsyncOpenAI(http_client=hc, **kw)
    hc = module.Client(transport=module.MockTransport(wire.handler))
    return openai.OpenAI(http_client=hc, **kw)


class OpenSpans(SpanProcessor):
    """Counts spans started and not yet ended (guarantee 3: every span that starts ends)."""

    def __init__(self) -> None:
        self.open: dict[int, str] = {}

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.open[span.context.span_id] = span.name

    def on_end(self, span: Any) -> None:
        self.open.pop(span.context.span_id, None)


@dataclass
class Obs:
    observer: runwatch.Observer
    registry: CollectorRegistry
    exporter: InMemorySpanExporter
    provider: TracerProvider
    tracking: OpenSpans
    logger: Any = None

    def settled(self) -> None:
        """Nothing left running: no open span, nothing in progress."""
        assert self.tracking.open == {}
        assert self.in_progress() == 0

    def outcomes(self) -> list[tuple[str, str, str, float]]:
        """(api, status, reason, count) of every runwatch_runs_total sample, sorted."""
        out = []
        for metric in self.registry.collect():
            if metric.name != "runwatch_runs":
                continue
            for s in metric.samples:
                if s.name == "runwatch_runs_total" and s.value:
                    out.append((s.labels["api"], s.labels["status"], s.labels["reason"], s.value))
        return sorted(out)

    def value(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0

    def in_progress(self) -> float:
        total = 0.0
        for metric in self.registry.collect():
            for s in metric.samples:
                if s.name == "runwatch_runs_in_progress":
                    total += s.value
        return total

    def spans(self) -> list[Any]:
        return list(self.exporter.get_finished_spans())


def expected_outcomes(name: str) -> list[tuple[str, str, str, float]]:
    counts: dict[tuple[str, str, str], float] = {}
    for r in EXPECTED[name]["runs"]:
        key = (r["api"], r["status"], r["reason"])
        counts[key] = counts.get(key, 0.0) + 1
    return sorted((*k, v) for k, v in counts.items())


def new_obs(logger: Any = None, **kw: Any) -> Obs:
    """A fresh observer: its own registry, in-memory spans (with open-span tracking), and
    ``logger`` (default: a real structlog logger rendering every event into a list)."""
    registry = CollectorRegistry()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracking = OpenSpans()
    provider.add_span_processor(tracking)
    if logger is None:
        logger = structlog.wrap_logger(
            structlog.testing.CapturingLogger(),
            processors=[structlog.processors.add_log_level, structlog.processors.KeyValueRenderer()],
        )
    observer = runwatch.Observer(registry=registry, tracer_provider=provider, logger=logger, **kw)
    return Obs(observer, registry, exporter, provider, tracking, logger)


@pytest.fixture
def obs() -> Iterator[Obs]:
    o = new_obs()
    yield o
    gc.collect()
    runwatch._observer.wait_finalized()  # finalizers queue; the reaper closes


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
