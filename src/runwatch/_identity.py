"""Run identity: which HTTP exchanges are one run. One :class:`RunBook` per observer.

The rules (docs/reference.md, "What is counted"), decided here and nowhere else:

- A create starts a run whatever id it carries. An id seen again is a new run plus a
  ``duplicate_id`` anomaly (:meth:`RunBook.saw_id`): Ollama draws chat ids from 999 values, vLLM
  takes the client's request id, caches replay theirs.
- Only a request naming a run in its URL joins that run, and only while it waits here
  (:meth:`RunBook.resume`): ``submit_tool_outputs``, a Responses resume, a poll or cancel.
- A poll of a run not started here is a read, unless a poll saw it unfinished and a later one
  sees it finished (:meth:`RunBook.admit_body`).
- Waiting runs (paused for tool outputs, polled, cut background responses) end with their expiry
  outcome after the TTL (:meth:`RunBook.sweep`).

Double observation of one HTTP exchange (tap + ``watch()``) is the adapters' to detect, by the
exchange, never by the id. This module never reads events or bytes and keeps no clock.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Final

from . import protocols
from ._events import Api, JSONObject, Status
from ._run import Emit, RunTracker

DEFAULT_TTL: Final = 600.0  # the API's own requires_action expiry
RECENT_MAX: Final = 4096


class RunBook:
    """Runs that outlive one HTTP exchange, and the ids recently started. One per observer.

    What is one run is decided here and in :meth:`StreamTracker._ensure`: a create starts a run
    whatever id it carries (an id seen again is a new run plus a ``duplicate_id`` anomaly: Ollama
    draws chat ids from 999 values, vLLM takes the client's request id, caches replay theirs);
    only a request naming a run in its URL joins that run (:meth:`resume`); a poll follows a run
    this process created or saw unfinished (:meth:`admit_body`). Double observation of one HTTP
    exchange is the adapters' to detect (by the exchange, never by the id).

    Thread-safe: many streams on many threads share one book. The lock is re-entrant: a
    collection starting inside it may end a dropped stream's run on the same thread. Bounded:
    parked runs expire after the TTL; recent and sighted ids are fixed-size rings.
    """

    def __init__(self, emit: Emit, ttl: float = DEFAULT_TTL, recent_max: int = RECENT_MAX) -> None:
        self.emit = emit
        self.ttl = ttl
        self.recent_max = recent_max
        self._lock = threading.RLock()
        #: Waiting runs: (run, outcome status and reason at expiry, expiry time).
        self._parked: dict[tuple[str, str], tuple[RunTracker, Status, str, float]] = {}
        #: Ids of runs started here, most recent last (duplicate_id; polls of our own runs).
        self._recent: OrderedDict[tuple[str, str], None] = OrderedDict()
        #: Runs first seen unfinished by a poll of someone else's run: when (followed if finished).
        self._sighted: OrderedDict[tuple[str, str], float] = OrderedDict()

    def is_parked(self, api: str, run_id: str) -> bool:
        return (api, run_id) in self._parked

    @property
    def parked(self) -> int:
        return len(self._parked)

    def saw_id(self, rt: RunTracker, t: float) -> None:
        """``rt`` (a new run) carries its id: remember it; an id seen before is an anomaly."""
        run_id = rt.run.run_id
        if run_id is None:
            return
        key = (rt.run.api, run_id)
        with self._lock:
            seen = key in self._recent
            if seen:
                self._recent.move_to_end(key)
            else:
                self._recent[key] = None
                if len(self._recent) > self.recent_max:
                    self._recent.popitem(last=False)
            self._sighted.pop(key, None)
        if seen:
            rt.anomaly("duplicate_id", t, run_id)

    def admit_body(self, kind: str, api: Api, run_id: str | None, snap: JSONObject, t: float) -> bool:
        """Whether a whole run object (a non-streaming answer) is a run to follow here.

        ``kind`` is what the request did (:data:`runwatch._endpoints.Kind`). A create or a
        continuation always is. A poll or a cancel is when the run waits here (parked); a poll of
        a run not started here is followed only once seen unfinished and then finished (it then
        starts at its first sighting, see :meth:`sighted_at`); of a run started here and not
        parked (still streaming, or over) it is a read. Anything else is a read, not a run.
        """
        if kind in ("create", "continue"):
            return True
        if run_id is None or kind not in ("poll", "cancel"):
            return False
        key = (api, run_id)
        terminal = is_terminal(api, snap)
        with self._lock:
            if key in self._parked:
                return True
            if kind == "cancel" or key in self._recent:
                return False
            first = self._sighted.get(key)
            if not terminal:
                if first is None:
                    self._sighted[key] = t
                    if len(self._sighted) > self.recent_max:
                        self._sighted.popitem(last=False)
                return False
            return first is not None

    def sighted_at(self, api: str, run_id: str) -> float | None:
        """When a poll first saw ``run_id`` unfinished (a run not started here), and forget it."""
        with self._lock:
            return self._sighted.pop((api, run_id), None)

    def finished(self, rt: RunTracker) -> None:
        run_id = rt.run.run_id
        if run_id is None or not self._parked:
            return
        key = (rt.run.api, run_id)
        with self._lock:
            entry = self._parked.get(key)
            if entry is not None and entry[0] is rt:
                del self._parked[key]

    def park(self, rt: RunTracker, t: float, status: Status, reason: str) -> None:
        """Keep ``rt`` for a continuation stream; it ends ``(status, reason)`` after the TTL."""
        if rt.run.run_id is None:
            rt.finish(status if status != "abandoned" else "aborted", "stream_ended", t)
            return
        key = (rt.run.api, rt.run.run_id)
        with self._lock:
            previous = self._parked.pop(key, None)
            self._parked[key] = (rt, status, reason, t + self.ttl)
        if previous is not None and previous[0] is not rt:
            # Two runs wait under one id (a server reusing ids): only one can be continued by
            # it. The older one ends now with its expiry outcome (it would never end otherwise).
            previous[0].finish(previous[1], previous[2], t)

    def resume(self, api: Api, run_id: str, t: float) -> RunTracker | None:
        """The parked run ``run_id``, now continued by a stream; None if nothing is parked."""
        with self._lock:
            entry = self._parked.pop((api, run_id), None)
        if entry is None:
            return None
        rt = entry[0]
        rt.unpark(t)
        return rt

    def sweep(self, now: float) -> int:
        """End parked runs whose TTL has passed (``abandoned`` for requires_action). Returns count."""
        with self._lock:
            # A copy first (one C-level step): a collection starting while we iterate could run a
            # finalizer that parks or resumes a run on this thread (the lock is re-entrant).
            expired = [
                (key, entry)
                for key, entry in self._parked.copy().items()
                if entry[3] <= now
            ]
            for key, _ in expired:
                del self._parked[key]
        for _, (rt, status, reason, _until) in expired:
            rt.finish(status, reason, now)
        return len(expired)

    def flush(self, now: float) -> int:
        """End every parked run now, as if its TTL had passed (replays, shutdown)."""
        with self._lock:
            for key, (rt, status, reason, _until) in self._parked.copy().items():
                self._parked[key] = (rt, status, reason, now)
        return self.sweep(now)


def is_terminal(api: Api, snap: JSONObject) -> bool:
    """True if the run object ``snap`` of ``api`` says its run is over."""
    status = snap.get("status")
    entry = protocols.get(api).statuses.get(status) if isinstance(status, str) else None
    if entry is not None:
        return entry[0] == "terminal"
    return api == "chat"  # a chat completion object is only ever returned whole
