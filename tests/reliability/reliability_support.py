"""Shared harness for tests/reliability: a fully wired Observer with in-memory telemetry, the real
openai SDK over ``httpx2.MockTransport`` with generator bodies (sync and async), and the four APIs
called the way users call them.

Every scenario is run twice, once on a plain client and once on an instrumented one, so tests can
assert that the caller saw exactly the same thing (events, exception type and message).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
import openai
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

import runwatch
from runwatch.events import Anomaly, RunFinished, RunStarted, Transition
from runwatch.testing import (
    agent_session_events,
    assistants_run,
    chat_stream,
    responses_stream,
    split_frames,
)

APIS = ("assistants", "responses", "chat", "agents")
SSE = {"content-type": "text/event-stream"}


class SpanCounter(SpanProcessor):
    """Counts spans started and ended: an exporter only ever sees the ended ones."""

    def __init__(self) -> None:
        self.started = 0
        self.ended = 0
        self._lock = threading.Lock()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        with self._lock:
            self.started += 1

    def on_end(self, span: ReadableSpan) -> None:
        with self._lock:
            self.ended += 1


class Recorder:
    """A sink keeping every transition (thread-safe)."""

    def __init__(self) -> None:
        self.transitions: list[Transition] = []
        self._lock = threading.Lock()

    def __call__(self, transition: Transition) -> None:
        with self._lock:
            self.transitions.append(transition)

    @property
    def started(self) -> list[RunStarted]:
        return [t for t in self.transitions if isinstance(t, RunStarted)]

    @property
    def finished(self) -> list[RunFinished]:
        return [t for t in self.transitions if isinstance(t, RunFinished)]

    @property
    def anomalies(self) -> list[str]:
        return [t.kind for t in self.transitions if isinstance(t, Anomaly)]

    def outcomes(self) -> list[tuple[str, str]]:
        return [(t.outcome.status, t.outcome.reason) for t in self.finished]


@dataclass
class Rig:
    """An Observer wired to a fresh registry, an in-memory exporter, a span counter, a recorder."""

    observer: runwatch.Observer
    registry: CollectorRegistry
    exporter: InMemorySpanExporter
    counter: SpanCounter
    recorder: Recorder
    provider: TracerProvider
    extra: dict[str, Any] = field(default_factory=dict)

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        return self.registry.get_sample_value(name, labels or {}) or 0.0

    def total(self, name: str) -> float:
        """Sum of every sample of ``name`` over all label values."""
        return sum(s.value for m in self.registry.collect() for s in m.samples if s.name == name)

    def in_progress(self) -> float:
        return self.total("runwatch_runs_in_progress")

    def settled(self) -> None:
        """The invariants every scenario must end with."""
        assert self.in_progress() == 0
        assert self.counter.started == self.counter.ended, "a span was left open"
        assert len(self.recorder.started) == len(self.recorder.finished)
        assert self.total("runwatch_runs_started_total") == self.total("runwatch_runs_total")


def quiet_logger() -> Any:
    """A real structlog logger whose rendered output goes nowhere (the log sink still runs in full)."""
    import structlog

    return structlog.wrap_logger(structlog.ReturnLogger(), processors=[structlog.processors.JSONRenderer()])


def make_rig(
    *,
    raise_errors: bool | None = None,
    processors: tuple[SpanProcessor, ...] = (),
    sinks: tuple[Callable[[Transition], None], ...] = (),
    logger: Any = None,
    **kw: Any,
) -> Rig:
    registry = CollectorRegistry()
    exporter = InMemorySpanExporter()
    counter = SpanCounter()
    provider = TracerProvider()
    provider.add_span_processor(counter)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    for p in processors:
        provider.add_span_processor(p)
    recorder = Recorder()
    if logger is None:
        import structlog

        logger = structlog.get_logger("runwatch.test")
    observer = runwatch.Observer(
        registry=registry,
        tracer_provider=provider,
        logger=logger,
        sinks=(recorder, *sinks),
        raise_errors=raise_errors,
        **kw,
    )
    return Rig(observer, registry, exporter, counter, recorder, provider)


# ----------------------------------------------------------------------------------- bodies
def body_for(api: str, outcome: str = "completed", **kw: Any) -> bytes:
    if api == "assistants":
        return assistants_run(outcome, **kw)
    if api == "responses":
        return responses_stream(outcome, **kw)
    if api == "chat":
        return chat_stream("stop" if outcome == "completed" else outcome, **kw)
    if api == "agents":
        return agent_session_events([outcome], **kw)
    raise ValueError(api)


def mid_frame_cut(body: bytes) -> int:
    """A byte offset inside (not at the edge of) the middle frame of ``body``."""
    frames = split_frames(body)
    i = len(frames) // 2
    start = sum(len(f) for f in frames[:i])
    return start + len(frames[i]) // 2


def frame_boundary_cut(body: bytes) -> int:
    frames = split_frames(body)
    return sum(len(f) for f in frames[: len(frames) // 2])


# ----------------------------------------------------------------------------------- clients
Handler = Callable[[httpx2.Request], httpx2.Response]


def sync_client(handler: Handler, **kw: Any) -> openai.OpenAI:
    return openai.OpenAI(
        api_key=kw.pop("api_key", "sk-test"),
        base_url="http://openai.test/v1",
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
        max_retries=0,
        **kw,
    )


def async_client(handler: Any, **kw: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        api_key=kw.pop("api_key", "sk-test"),
        base_url="http://openai.test/v1",
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler)),
        max_retries=0,
        **kw,
    )


def open_stream(client: Any, api: str, **extra: Any) -> Any:
    """Start a raw streaming call for ``api`` (sync: the Stream; async: a coroutine of it)."""
    if api == "assistants":
        return client.beta.threads.runs.create(
            "thread_demo0001", assistant_id="asst_demo0001", stream=True, **extra
        )
    if api == "responses":
        return client.responses.create(model="gpt-4o", input="hi", stream=True, **extra)
    if api == "chat":
        return client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True, **extra
        )
    if api == "agents":
        return client.beta.agents.sessions.events.stream("sess_demo0001", **extra)
    raise ValueError(api)


def dump(event: Any) -> Any:
    return event.model_dump(mode="json") if hasattr(event, "model_dump") else event


@dataclass
class Seen:
    """What the caller saw: every event (dumped) and the exception it ended with, if any."""

    events: list[Any]
    exc_type: type[BaseException] | None
    exc_text: str | None


def consume_sync(client: openai.OpenAI, api: str, **extra: Any) -> Seen:
    events: list[Any] = []
    try:
        stream = open_stream(client, api, **extra)
        with stream:
            for e in stream:
                events.append(dump(e))
    except Exception as exc:
        return Seen(events, type(exc), str(exc))
    return Seen(events, None, None)


async def consume_async(client: openai.AsyncOpenAI, api: str, **extra: Any) -> Seen:
    events: list[Any] = []
    try:
        stream = await open_stream(client, api, **extra)
        async with stream:
            async for e in stream:
                events.append(dump(e))
    except Exception as exc:
        return Seen(events, type(exc), str(exc))
    return Seen(events, None, None)


BodyFactory = Callable[[], Iterator[bytes]]


def sync_handler(status: int, make_body: BodyFactory | None, json_body: Any = None) -> Handler:
    def handler(request: httpx2.Request) -> httpx2.Response:
        if make_body is None:
            return httpx2.Response(status, json=json_body)
        return httpx2.Response(status, headers=SSE, content=make_body())

    return handler


def async_handler(status: int, make_body: BodyFactory | None, json_body: Any = None) -> Any:
    async def agen(it: Iterator[bytes]) -> AsyncIterator[bytes]:
        for chunk in it:  # an exception raised by the sync generator surfaces here, mid-body
            await asyncio.sleep(0)
            yield chunk

    async def handler(request: httpx2.Request) -> httpx2.Response:
        if make_body is None:
            return httpx2.Response(status, json=json_body)
        return httpx2.Response(status, headers=SSE, content=agen(make_body()))

    return handler


def run_both(
    mode: str, api: str, status: int, make_body: BodyFactory | None, json_body: Any, rig: Rig, **extra: Any
) -> tuple[Seen, Seen]:
    """(plain, instrumented): the same scenario on a plain client and on an instrumented one."""
    if mode == "sync":
        plain = consume_sync(sync_client(sync_handler(status, make_body, json_body)), api, **extra)
        client = runwatch.instrument(sync_client(sync_handler(status, make_body, json_body)), rig.observer)
        watched = consume_sync(client, api, **extra)
        return plain, watched

    async def both() -> tuple[Seen, Seen]:
        plain = await consume_async(async_client(async_handler(status, make_body, json_body)), api, **extra)
        client = runwatch.instrument(async_client(async_handler(status, make_body, json_body)), rig.observer)
        watched = await consume_async(client, api, **extra)
        return plain, watched

    return asyncio.run(both())
