"""Where runwatch's in-place cost comes from: the tap's steps added one at a time, between the
real SDK's work, against the same steps in a tight loop.

    .venv/bin/python benchmarks/in_place.py [--api responses|chat] [--events 100] [--runs 500]

Diagnostic, not a target: it prints what it measured in this run and compares nothing with a
threshold. Every variant is a client over the same bodies (``harness.client``); one run of each
variant in turn, the order rotated and reversed every other time, CPU time per run
(``time.process_time``), the cyclic collector off meanwhile (collected every 20 rounds, outside
the timing). "added" is the median of the per-round differences with the bare run of the same
round; "bare again" says how far two identical clients land apart in this run.

The steps are rebuilt here from runwatch's own pieces (the exchange, the session, its finalizer,
its ``feed_bytes``) in a transport of this script, so each can be switched on alone; the last
row is ``runwatch.instrument`` itself. Three experiments:

1. steps: the transport wrapper; + reading the request (``_Exchange``); + a session opened at the
   response and closed at its end; + the finalizer a dropped stream needs; + every chunk fed.
2. cold starts: one session opened and closed per run, and five in a row, at request time.
3. batching: every chunk fed as it arrives, against every chunk kept and fed at the stream's end
   (not a design runwatch can ship: a run would not show as in progress until its end), and
   against a stand-in of pure computation per chunk instead of feeding it.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness
import httpx2
import run as bench

import runwatch
from runwatch._endpoints import classify
from runwatch.adapters import transport

NO_SINKS = {"raise_errors": False, "metrics": False, "traces": False, "logs": False}
OBSERVER = runwatch.Observer(**NO_SINKS)  # type: ignore[arg-type]


def exchange(request: Any) -> Any:
    url = request.url
    return transport._Exchange(OBSERVER, classify(request.method, url.path, str(url.query)), request)


class Steps(httpx2.BaseTransport):
    """The tap's steps up to ``level``: 1 wrapper, 2 exchange, 3 session, 4 finalizer, 5 feed.
    ``defer``: chunks are kept and fed at the end of the stream instead."""

    def __init__(self, inner: Any, level: int, defer: bool = False, stand_in: bool = False) -> None:
        self.inner, self.level, self.defer, self.stand_in = inner, level, defer, stand_in

    def handle_request(self, request: Any) -> Any:
        ex = exchange(request) if self.level >= 2 else None
        response = self.inner.handle_request(request)
        if ex is None or self.level < 3:
            return response
        session = ex.stream()
        if self.level >= 4:
            session.close_on_collect(response)
        feed = (busy if self.stand_in else session.feed_bytes) if self.level >= 5 else None
        response.stream = Tee(response.stream, session, feed, self.defer)
        return response


_SMALL = {"a": 1, "b": 2}


def busy(chunk: bytes) -> int:
    """A stand-in for feeding a chunk: pure computation over one small dict (compact code)."""
    s = 0
    for i in range(100):
        s += _SMALL["a"] + _SMALL["b"] + i
    return s


class Tee(httpx2.SyncByteStream):
    """The wrapped stream's chunks, each fed to ``feed`` (as it comes, or all at the end)."""

    def __init__(self, inner: Any, session: Any, feed: Callable[[bytes], Any] | None, defer: bool) -> None:
        self.inner, self.session, self.feed, self.defer = inner, session, feed, defer

    def __iter__(self) -> Iterator[bytes]:
        feed, kept = self.feed, []
        for chunk in self.inner:
            if feed is not None:
                if self.defer:
                    kept.append(chunk)
                else:
                    feed(chunk)
            yield chunk
        for chunk in kept:
            feed(chunk)  # type: ignore[misc]
        self.session.close("stream_ended")

    def close(self) -> None:
        self.inner.close()
        self.session.close("client_closed")


class Before(httpx2.BaseTransport):
    """Runs ``action(request)`` before each request (cold-start probes)."""

    def __init__(self, inner: Any, action: Callable[[Any], Any]) -> None:
        self.inner, self.action = inner, action

    def handle_request(self, request: Any) -> Any:
        self.action(request)
        return self.inner.handle_request(request)


def sessions(n: int) -> Callable[[Any], None]:
    def action(request: Any) -> None:
        ex = exchange(request)
        for _ in range(n):
            ex.stream().close("stream_ended")

    return action


def client(bodies: list[bytes], wrap: Callable[[Any], Any] | None) -> Any:
    c = harness.client(bodies)
    if wrap == "instrument":
        runwatch.instrument(c, OBSERVER)
    elif wrap is not None:
        c._client._transport = wrap(c._client._transport)
    return c


def compare(api: str, bodies: list[bytes], variants: dict[str, Any], runs: int) -> dict[str, float]:
    """Median CPU µs each variant adds per run (paired with the bare run of the same round)."""
    every = {"bare": None, "bare again": None, **variants}
    clients = {name: client(bodies, wrap) for name, wrap in every.items()}
    opener = harness.OPENERS[api]

    def one(c: Any) -> float:
        t = time.process_time()
        for _ in opener(c):
            pass
        return time.process_time() - t

    for c in clients.values():
        for _ in range(5):
            one(c)
    names = list(clients)
    times: dict[str, list[float]] = {n: [] for n in names}
    gc.disable()
    try:
        for i in range(runs):
            order = names[i % len(names) :] + names[: i % len(names)]
            if i % 2:
                order.reverse()
            for n in order:
                times[n].append(one(clients[n]))
            if i % 20 == 0:
                gc.collect()
    finally:
        gc.enable()
    bare = times["bare"]
    print(f"  bare SDK {statistics.median(bare) * 1e3:.3f} ms/run, {runs} rounds")
    out = {}
    for n in names[1:]:
        out[n] = statistics.median(x - b for x, b in zip(times[n], bare, strict=True)) * 1e6
        print(f"  {n:34s} {out[n]:+7.0f} µs/run")
    return out


def in_loop(bodies: list[bytes], request: Any) -> None:
    """The same steps in a tight loop (no SDK in between), µs per run."""
    chunks = [list(harness.chunks(b)) for b in bodies]

    def timed(label: str, fn: Callable[[int], Any]) -> None:
        best = float("inf")
        for _ in range(5):
            t = time.process_time()
            for i in range(len(chunks)):
                fn(i)
            best = min(best, (time.process_time() - t) / len(chunks) * 1e6)
        print(f"  {label:34s} {best:7.1f} µs/run")

    ex = exchange(request)

    def full(i: int) -> None:
        session = ex.stream()
        for chunk in chunks[i]:
            session.feed_bytes(chunk)
        session.close("stream_ended")

    timed("exchange", lambda i: exchange(request))
    timed("session opened and closed", lambda i: ex.stream().close("stream_ended"))
    timed("session fed every chunk", full)
    timed("stand-in computation per chunk", lambda i: [busy(c) for c in chunks[i]])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--api", choices=("responses", "chat"), default="responses")
    ap.add_argument("--events", type=int, default=100)
    ap.add_argument("--runs", type=int, default=500)
    args = ap.parse_args()
    bodies = bench.unique_bodies(args.api, args.events, args.runs + 10)
    path = {"responses": "/v1/responses", "chat": "/v1/chat/completions"}[args.api]
    request = httpx2.Request(
        "POST", "http://bench.invalid" + path, json={"model": "gpt-4o", "input": "hi", "stream": True}
    )
    print(f"{args.api}, {args.events} deltas per stream, 2 KiB chunks, no sinks")
    print("in a tight loop:")
    in_loop(bodies[:400], request)
    print("1. steps, in place:")
    compare(
        args.api,
        bodies,
        {
            "transport wrapper": lambda t: Steps(t, 1),
            "+ exchange": lambda t: Steps(t, 2),
            "+ session": lambda t: Steps(t, 3),
            "+ finalizer": lambda t: Steps(t, 4),
            "+ every chunk fed": lambda t: Steps(t, 5),
            "runwatch.instrument": "instrument",
        },
        args.runs,
    )
    print("2. cold starts, in place:")
    compare(
        args.api,
        bodies,
        {
            "one session per run": lambda t: Before(t, sessions(1)),
            "five sessions per run": lambda t: Before(t, sessions(5)),
        },
        args.runs,
    )
    print("3. batching, in place:")
    compare(
        args.api,
        bodies,
        {
            "chunks fed as they come": lambda t: Steps(t, 5),
            "chunks fed at the end": lambda t: Steps(t, 5, defer=True),
            "stand-in computation per chunk": lambda t: Steps(t, 5, stand_in=True),
        },
        args.runs,
    )


if __name__ == "__main__":
    main()
