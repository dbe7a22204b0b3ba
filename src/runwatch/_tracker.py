"""The tracker: stream events in, run transitions out. Sans-IO, no clock, no adapters, no sinks.

Theory of operation
-------------------
Four jobs, one module each, data flowing one way::

    bytes --_skip.Skipper--> frames --_stream.StreamTracker--> _run.RunTracker --> transitions
                                            |  which run is which?
                                            +--> _identity.RunBook

- :mod:`runwatch._run` -- one run's lifecycle: an explicit state changed only along a transition
  table, its phases, exactly one outcome (``finish`` is idempotent).
- :mod:`runwatch._stream` -- one stream: detects the protocol, routes each event to its run (agent
  session streams carry many turns), settles every run when the stream ends.
- :mod:`runwatch._identity` -- which HTTP exchanges are one run: a create is always a new run, ids
  join exchanges only where the request names the run; waiting runs expire after a TTL.
- :mod:`runwatch._skip` -- the delta fast path, the one place with byte tricks, proven to leave the
  tracker knowing exactly what the plain path would.

What each protocol's events and statuses mean is data in :mod:`runwatch.protocols`; payloads are
read by :mod:`runwatch._payload`. Unlike h11, nothing here raises on unexpected input: an unknown
event or status, an event after the terminal, a stream that ends without one, malformed JSON --
each becomes an :class:`~runwatch._events.Anomaly` and, where a run must end, an honest outcome
(``aborted``, ``unknown``).

This module is the front door: :class:`RunBook` (the identity rules plus the factory of stream
trackers) and the names the rest of the package uses.
"""

from __future__ import annotations

from ._events import Api
from ._identity import DEFAULT_TTL, RECENT_MAX, is_terminal
from ._identity import RunBook as _Book
from ._payload import error_code
from ._run import RequestFacts, RunTracker
from ._skip import Skipper
from ._stream import CLOSE_REASONS, StreamTracker


class RunBook(_Book):
    """The run book (:class:`runwatch._identity.RunBook`) that also opens stream trackers."""

    def stream(
        self,
        api: Api | None,
        t: float,
        run_id_hint: str | None = None,
        *,
        request_model: str | None = None,
        expect_run: bool = False,
        join_parked: bool = False,
        request: RequestFacts | None = None,
    ) -> StreamTracker:
        """A tracker for a new stream starting at ``t``. Expired parked runs are settled first.

        ``run_id_hint``: the run the request names in its URL (a continuation); ``expect_run``:
        the request created or continued a run (a body without events is that run, aborted);
        ``join_parked``: no request to ask (replays): a waiting run with the same id is joined;
        ``request``: what the request asked that its run is checked against (max tokens, usage).
        """
        if self.parked:
            self.sweep(t)
        return StreamTracker(
            self,
            api,
            t,
            run_id_hint,
            request_model=request_model,
            expect_run=expect_run,
            join_parked=join_parked,
            request=request,
        )


__all__ = [
    "CLOSE_REASONS",
    "DEFAULT_TTL",
    "RECENT_MAX",
    "RequestFacts",
    "RunBook",
    "RunTracker",
    "Skipper",
    "StreamTracker",
    "error_code",
    "is_terminal",
]
