"""The Observer wires trackers to sinks; a StreamSession is what an adapter feeds.

``Observer`` holds configuration, the sinks and the :class:`~runwatch._tracker.RunBook`.
``runwatch.instrument``, ``runwatch.watch`` and ``runwatch.handler`` use a default observer built
from the global OTel providers, the default Prometheus registry and structlog's logger, and accept
an explicit one.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final, Protocol

from ._events import Anomaly, Api, JSONObject, PayloadLoader, RequestFailed, Transition
from ._safety import Safety
from ._sse import SSEDecoder
from ._tracker import DEFAULT_TTL, RequestFacts, RunBook, Skipper, StreamTracker

if TYPE_CHECKING:
    from .sinks import Sink

_SWEEP_INTERVAL: Final = 15.0
#: Bytes a stream's session holds unread at most, once its deltas change nothing (see
#: :meth:`StreamSession.feed_bytes`).
HOLD_BYTES: Final = 32 * 1024
_EDGE: Final = 32  # bytes of a chunk's end kept to find a mark cut across two chunks


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
        raise_errors: re-raise runwatch's own errors (default: only if ``RUNWATCH_RAISE_INTERNAL_ERRORS=1``).
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

    def stream(
        self,
        api: Api | None = None,
        *,
        run_id_hint: str | None = None,
        started_at: float | None = None,
        request_model: str | None = None,
        expect_run: bool = False,
        request: RequestFacts | None = None,
    ) -> StreamSession:
        """A session for one new stream (adapters call this).

        ``started_at``: when the request was sent (default: now). ``run_id_hint``: the run the
        request names in its URL (a continuation). ``expect_run``: the request created or
        continued a run, so a body that ends before its first event is that run, aborted.
        ``request``: what the request asked that its run is checked against (max tokens, usage).
        """
        _drain_finalized()
        return StreamSession(self, api, run_id_hint, started_at, request_model, expect_run, request)

    def body(
        self,
        kind: str,
        api: Api,
        run_id: str | None,
        obj: JSONObject,
        *,
        started_at: float | None = None,
        request_model: str | None = None,
        request: RequestFacts | None = None,
    ) -> None:
        """A whole run object answering a non-streaming request of ``kind`` (a create, a poll,
        a continuation or a cancel; see :class:`runwatch._endpoints.Endpoint`). Never raises."""
        try:
            now = time.time()
            book = self.book
            if not book.admit_body(kind, api, run_id, obj, now):
                return
            if kind == "poll" and run_id is not None and not book.is_parked(api, run_id):
                started_at = book.sighted_at(api, run_id)  # seen unfinished, now finished
            tracker = book.stream(
                api,
                now if started_at is None else started_at,
                run_id,
                request_model=request_model,
                request=request,
            )
            tracker.body(obj, now, cancel=kind == "cancel")
            tracker.close("poll", now)
            if book.parked:
                self._ensure_sweeper()
        except Exception as exc:
            self.safety.report("track", exc)

    def request_failed(self, failure: RequestFailed) -> None:
        """An HTTP attempt failed before its first event (adapters call this). Never raises."""
        try:
            self.emit(failure)
        except Exception as exc:
            self.safety.report("sink", exc)

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

    __slots__ = (
        "__weakref__",
        "_broken",
        "_edge",
        "_held",
        "_held_bytes",
        "_marks",
        "closed",
        "observer",
        "skipper",
        "tracker",
    )

    def __init__(  # noqa: PLR0917 - built only by Observer.stream
        self,
        observer: Observer,
        api: Api | None,
        run_id_hint: str | None,
        started_at: float | None = None,
        request_model: str | None = None,
        expect_run: bool = False,
        request: RequestFacts | None = None,
    ) -> None:
        self.observer = observer
        self.closed = False
        self._broken = False
        self.skipper: Skipper | None = None  # made by the first bytes (SDK objects need none)
        # Chunks held unread, each with the time it arrived (None: not holding; see feed_bytes),
        # the marks that end holding (empty once one was seen) and the last chunk's end.
        self._held: list[tuple[bytes, float]] | None = None
        self._held_bytes = 0
        self._marks: tuple[bytes, ...] | None = None
        self._edge = b""
        self.tracker: StreamTracker = observer.book.stream(
            api,
            time.time() if started_at is None else started_at,
            run_id_hint,
            request_model=request_model,
            expect_run=expect_run,
            request=request,
        )

    def close_on_collect(self, owner: object, reason: str = "client_closed") -> None:
        """Close this session (``reason``) once ``owner`` is garbage-collected, outside the
        collector: a finalizer may run inside any lock of the thread that triggered it."""
        start_reaper()
        weakref.finalize(owner, close_later, self, reason)

    def feed_bytes(self, chunk: bytes) -> None:
        """Feed a chunk of the stream's bytes.

        Once the run has its first token and no outcome, its content deltas change nothing, and
        the chunks of a protocol with ``hold_marks`` (chat: a finish reason, an error) are held
        unread, each with the time it arrived, until one shows a mark (also one cut across two
        chunks), until :data:`HOLD_BYTES` are held, or until the stream
        closes; then they are read in order, each at its own time. From a mark on, the stream is
        read as it comes. So everything recorded is what reading each chunk at once records, the
        end of a run is seen when its chunk arrives (a caller who stops reading there and keeps
        the stream open still sees the run end), and a mark missed (spaced JSON, a server of its
        own) only delays reading to the batch's end, never loses anything. Reading a batch of
        deltas in one go costs less than reading the same chunks one at a time between the
        caller's own work, whose code and data push runwatch's out of the processor's caches
        between chunks (measured: docs/performance.md, "Round 2").
        """
        if self._broken or self.closed:
            return
        try:
            held = self._held
            if held is not None:
                held.append((chunk, time.time()))
                self._held_bytes += len(chunk)
                edge = self._edge + chunk[:_EDGE]
                self._edge = chunk[-_EDGE:]
                for mark in self._marks or ():
                    if mark in chunk or mark in edge:
                        self._marks = ()  # read as it comes from now on
                        break
                else:
                    if self._held_bytes < HOLD_BYTES:
                        return
            skipper = self.skipper
            if skipper is None:
                skipper = self.skipper = Skipper(self.tracker)
            if held is None:
                skipper.feed(chunk, time.time)
            else:
                self._release(skipper, held)
            if self._marks != ():
                deltas = self.tracker.skipping
                if deltas is not None and deltas.hold_marks:
                    self._held, self._held_bytes, self._marks = [], 0, deltas.hold_marks
                    self._edge = chunk[-_EDGE:]
        except Exception as exc:
            self._fail("track", exc)

    def _release(self, skipper: Skipper, held: list[tuple[bytes, float]]) -> None:
        """Read the held chunks, each at the time it arrived."""
        self._held = None
        feed = skipper.feed
        for chunk, t in held:
            feed(chunk, t.__float__)

    def feed_event(self, name: str, payload: PayloadLoader, raw: str | None = None) -> None:
        if self._broken or self.closed:
            return
        try:
            self.tracker.feed(name, time.time(), payload, raw)
        except Exception as exc:
            self._fail("track", exc)

    def skips(self, name: str) -> bool:
        """True if an event called ``name`` would change nothing now (a content delta after the
        run's first token): the adapter then leaves it out (it is counted as skipped, as the
        byte path counts the deltas it skips). Adapters use it to avoid building payload loaders
        on the hot path."""
        return not self.closed and self.tracker.skip(name, "")

    def unnamed(self, kind: str) -> None:
        """An item that names no event (``kind``: its type's name, never its content): counted
        as an ``unknown_event``, not fed."""
        if self._broken or self.closed:
            return
        try:
            self.tracker.unknown(kind, time.time())
        except Exception as exc:
            self._fail("track", exc)

    def feed_snapshot(self, name: str, snapshot: JSONObject) -> None:
        """Feed a JSON object fetched without streaming (polling calls)."""
        self.feed_event(name, lambda: snapshot)

    def close(self, reason: str = "stream_ended") -> None:
        if self.closed:
            return
        self.closed = True
        try:
            now = time.time()
            skipper = self.skipper
            held = self._held
            if held and skipper is not None and not self._broken:
                try:
                    self._release(skipper, held)
                except Exception as exc:
                    self._fail("track", exc)  # the runs are still settled below
            if skipper is not None and not self._broken:
                oversized = skipper.end(now)
                if oversized:
                    self.observer.emit(
                        Anomaly(self.tracker.api, "oversized_frame", None, now, f"{oversized} dropped")
                    )
            self.tracker.close(reason, now)
            if self.observer.book.parked:
                self.observer._ensure_sweeper()
        except Exception as exc:
            self.observer.safety.report("finalize", exc)

    @property
    def decoder(self) -> SSEDecoder | None:
        """The SSE decoder of this stream's bytes (None until the first bytes)."""
        return self.skipper.decoder if self.skipper is not None else None

    @property
    def passive(self) -> bool:
        return self.tracker.passive

    def _fail(self, stage: str, exc: Exception) -> None:
        # Stop observing this stream (its state may be inconsistent) but still settle its runs.
        self._broken = True
        self.observer.safety.report(stage, exc)


# -- sessions closed by the garbage collector ----------------------------------------------------
# A finalizer runs wherever the collector happens to run: possibly on a thread inside runwatch's
# own locks or a sink's (prometheus-client's value locks are not re-entrant). So a finalizer only
# queues the session (SimpleQueue.put is safe there); it is closed by the next new stream, or by a
# reaper thread within moments.
class _Closable(Protocol):
    closed: bool

    def close(self, reason: str) -> None: ...


_finalized: queue.SimpleQueue[tuple[_Closable, str]] = queue.SimpleQueue()
# Queued and closed so far. The lock guards two int additions only: nothing inside it allocates a
# tracked object, so the collector cannot run a finalizer in the middle of it.
_counts = [0, 0]
_counts_lock = threading.Lock()
_reaper_lock = threading.Lock()
_reaper: threading.Thread | None = None


def close_later(session: _Closable, reason: str) -> None:
    """Queue ``session`` (anything with ``close(reason)`` that never raises and a ``closed`` flag)
    to be closed with ``reason``: a finalizer's callback. One already closed (every stream read to
    its end or closed by the caller) is left alone: waking the reaper thread for it would cost
    two thread switches per stream, for nothing."""
    if session.closed:
        return
    with _counts_lock:
        _counts[0] += 1
    _finalized.put((session, reason))


def _close_one(item: tuple[_Closable, str]) -> None:
    try:
        item[0].close(item[1])  # close() reports its own errors and never raises
    finally:
        with _counts_lock:
            _counts[1] += 1


def _drain_finalized() -> None:
    if _finalized.empty():
        return  # the common case, without raising queue.Empty
    while True:
        try:
            item = _finalized.get_nowait()
        except queue.Empty:
            return
        _close_one(item)


def _reap() -> None:
    while True:
        with contextlib.suppress(Exception):  # close() never raises; the reaper must not die
            _close_one(_finalized.get())


def start_reaper() -> None:
    """Start the thread that closes sessions queued by finalizers (once per process)."""
    global _reaper
    if _reaper is not None and _reaper.is_alive():
        return
    with _reaper_lock:
        if _reaper is None or not _reaper.is_alive():
            _reaper = threading.Thread(target=_reap, name="runwatch-reaper", daemon=True)
            _reaper.start()


def wait_finalized(timeout: float = 5.0) -> bool:
    """Close every session queued by a finalizer before returning (tests, shutdown). True if
    none is left within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    _drain_finalized()
    while _counts[1] < _counts[0]:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


_default: Observer | None = None


def set_default_observer(observer: Observer | None) -> None:
    """Replace the process-wide default observer (None: build a new one on next use)."""
    global _default
    _default = observer
