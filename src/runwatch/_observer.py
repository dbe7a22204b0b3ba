"""The Observer wires trackers to sinks; a StreamSession is what an adapter feeds.

``Observer`` holds configuration, the sinks and the :class:`~runwatch._tracker.RunBook`.
``runwatch.instrument``, ``runwatch.watch`` and ``runwatch.handler`` use a default observer built
from the global OTel providers, the default Prometheus registry and structlog's logger, and accept
an explicit one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

from ._events import Anomaly, Api, JSONObject, PayloadLoader, Transition
from ._safety import Safety
from ._sse import SSEDecoder
from ._tracker import DEFAULT_TTL, RunBook, StreamTracker

if TYPE_CHECKING:
    from .sinks import Sink

_SWEEP_INTERVAL: Final = 15.0


class Observer:
    """Configuration and sinks shared by every stream it observes.

    >>> from prometheus_client import CollectorRegistry
    >>> observer = Observer(registry=CollectorRegistry(), traces=False, logs=False)

    Arguments:
        registry: Prometheus registry (default: the global one).
        tracer_provider / meter_provider: OTel providers (default: the global tracer provider; OTel
            metrics only when a meter provider is given).
        logger: a structlog logger (default: ``structlog.get_logger("runwatch")``).
        sinks: extra callables receiving every transition, after the built-in ones.
        max_models: distinct ``model`` label values before ``_other``.
        incomplete_is_error: mark incomplete runs' spans ERROR (default UNSET with the reason).
        capture_content: opt in to content capture (nothing content-like is recorded otherwise).
        requires_action_ttl: seconds a run may wait for tool outputs before it ends ``abandoned``.
        raise_errors: re-raise runwatch's own errors (default: only under pytest).
        metrics / traces / logs: turn the built-in sinks on or off.
    """

    def __init__(
        self,
        *,
        registry: Any = None,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        logger: Any = None,
        sinks: Iterable[Sink] = (),
        max_models: int = 50,
        incomplete_is_error: bool = False,
        capture_content: bool = False,
        requires_action_ttl: float = DEFAULT_TTL,
        raise_errors: bool | None = None,
        metrics: bool = True,
        traces: bool = True,
        logs: bool = True,
    ) -> None:
        if max_models < 0:
            raise ValueError("max_models must be >= 0")
        if requires_action_ttl <= 0:
            raise ValueError("requires_action_ttl must be > 0 seconds")
        self.safety = Safety(raise_errors)
        self.capture_content = capture_content
        built: list[Sink] = []
        if traces:
            from .sinks.otel import OtelSink

            built.append(
                OtelSink(
                    tracer_provider,
                    meter_provider,
                    incomplete_is_error=incomplete_is_error,
                    capture_content=capture_content,
                )
            )
        if metrics:
            from .sinks.prometheus import PrometheusSink

            prom = PrometheusSink(registry, max_models=max_models)
            self.safety.add_counter(prom.count_internal_error)
            built.append(prom)
        if logs:
            from .sinks.logs import LogSink

            built.append(LogSink(logger))
        built.extend(sinks)
        self.sinks: tuple[Sink, ...] = tuple(built)
        self.book = RunBook(self.emit, ttl=requires_action_ttl)
        self._sweeper: threading.Thread | None = None
        self._sweeper_lock = threading.Lock()

    def emit(self, transition: Transition) -> None:
        """Hand a transition to every sink; a failing sink never stops the others."""
        for sink in self.sinks:
            try:
                sink(transition)
            except Exception as exc:
                self.safety.report("sink", exc)

    def stream(self, api: Api | None = None, *, run_id_hint: str | None = None) -> StreamSession:
        """A session for one new stream (adapters call this)."""
        return StreamSession(self, api, run_id_hint)

    def sweep(self, now: float | None = None) -> int:
        """End runs that waited for tool outputs longer than the TTL. Returns how many ended."""
        return self.book.sweep(time.time() if now is None else now)

    def _ensure_sweeper(self) -> None:
        # Parked runs must end even if no new stream ever arrives: a daemon thread sweeps while
        # anything is parked, then exits.
        with self._sweeper_lock:
            if self._sweeper is not None and self._sweeper.is_alive():
                return
            self._sweeper = threading.Thread(target=self._sweep_loop, name="runwatch-sweeper", daemon=True)
            self._sweeper.start()

    def _sweep_loop(self) -> None:
        interval = min(_SWEEP_INTERVAL, self.book.ttl / 2)
        while self.book.parked:
            time.sleep(interval)
            try:
                self.book.sweep(time.time())
            except Exception as exc:
                try:
                    self.safety.report("finalize", exc)
                except Exception:
                    return


class StreamSession:
    """Feeds one stream into a tracker; never raises into the caller.

    Bytes go through :meth:`feed_bytes`, SDK objects through :meth:`feed_event`; :meth:`close` is
    idempotent and settles every run of the stream.
    """

    __slots__ = ("__weakref__", "_broken", "closed", "decoder", "observer", "tracker")

    def __init__(self, observer: Observer, api: Api | None, run_id_hint: str | None) -> None:
        self.observer = observer
        self.closed = False
        self._broken = False
        self.decoder: SSEDecoder | None = None
        self.tracker: StreamTracker = observer.book.stream(api, time.time(), run_id_hint)

    def feed_bytes(self, chunk: bytes) -> None:
        if self._broken or self.closed:
            return
        try:
            decoder = self.decoder
            if decoder is None:
                decoder = self.decoder = SSEDecoder()
            self.tracker.feed_chunk(decoder, chunk, time.time)
        except Exception as exc:
            self._fail("track", exc)

    def feed_event(self, name: str, payload: PayloadLoader, raw: str | None = None) -> None:
        if self._broken or self.closed:
            return
        try:
            self.tracker.feed(name, time.time(), payload, raw)
        except Exception as exc:
            self._fail("track", exc)

    def skips(self, name: str) -> bool:
        """True if an event called ``name`` would change nothing now (a content delta after the
        run's first token). Adapters use it to avoid building payload loaders on the hot path."""
        return not self.closed and self.tracker.skippable(name, "")

    def feed_snapshot(self, name: str, snapshot: JSONObject) -> None:
        """Feed a JSON object fetched without streaming (polling calls)."""
        self.feed_event(name, lambda: snapshot)

    def close(self, reason: str = "stream_ended") -> None:
        if self.closed:
            return
        self.closed = True
        try:
            now = time.time()
            decoder = self.decoder
            if decoder is not None and not self._broken:
                for f in decoder.end():
                    self.tracker.frame(f, now)
                if decoder.oversized:
                    self.observer.emit(
                        Anomaly(
                            self.tracker.api, "oversized_frame", None, now, f"{decoder.oversized} dropped"
                        )
                    )
            self.tracker.close(reason, now)
            if self.observer.book.parked:
                self.observer._ensure_sweeper()
        except Exception as exc:
            self.observer.safety.report("finalize", exc)

    @property
    def passive(self) -> bool:
        return self.tracker.passive

    def _fail(self, stage: str, exc: Exception) -> None:
        # Stop observing this stream (its state may be inconsistent) but still settle its runs.
        self._broken = True
        self.observer.safety.report(stage, exc)


_default: Observer | None = None
_default_lock = threading.Lock()


def default_observer() -> Observer:
    """The process-wide observer used when none is passed (built on first use)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Observer()
    return _default


def set_default_observer(observer: Observer | None) -> None:
    """Replace the process-wide default observer (None: build a new one on next use)."""
    global _default
    _default = observer
