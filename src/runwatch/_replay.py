"""Replay recorded ``text/event-stream`` bodies through the decoder and tracker.

Used by ``runwatch replay`` and by tests: files given together are consecutive streams seen by one
observer, so a ``requires_action`` run split over two recordings is one run.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from . import protocols
from ._events import Anomaly, Api, JSONObject, Phase, PhaseStarted, Run, RunFinished, Transition
from ._sse import Frame, SSEDecoder
from ._tracker import RunBook

_TIME_KEYS = ("created_at", "started_at", "completed_at", "failed_at", "cancelled_at", "expired_at")


class ReplayError(Exception):
    """A recording that cannot be replayed (missing, empty, not an event stream, another api's);
    ``index``: which of the bodies given to :func:`replay`, when one is to blame."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


@dataclass
class Replay:
    """Collects what the tracker concluded; ``runs`` in order of their ending."""

    runs: list[Run] = field(default_factory=list)
    phases: dict[int, list[Phase]] = field(default_factory=dict)
    anomalies: list[Anomaly] = field(default_factory=list)

    def __call__(self, transition: Transition) -> None:
        if isinstance(transition, RunFinished):
            self.runs.append(transition.run)
        elif isinstance(transition, PhaseStarted):
            self.phases.setdefault(id(transition.run), []).append(transition.phase)
        elif isinstance(transition, Anomaly):
            self.anomalies.append(transition)

    def phase_kinds(self, run: Run) -> list[str]:
        return [p.kind for p in self.phases.get(id(run), [])]

    def outcomes(self) -> list[dict[str, object]]:
        """One dict per run with everything the table shows (and the full token counts)."""
        return [
            {
                "api": r.api,
                "run_id": r.run_id,
                "model": r.model,
                "status": r.outcome.status if r.outcome else None,
                "reason": r.outcome.reason if r.outcome else None,
                "phases": self.phase_kinds(r),
                "duration_s": r.duration,
                "tokens_in": r.usage.input,
                "tokens_out": r.usage.output,
                "tokens": dict(r.usage.items()),
            }
            for r in self.runs
        ]

    def totals(self) -> dict[str, int]:
        counts = Counter(f"{r.outcome.status}/{r.outcome.reason}" for r in self.runs if r.outcome is not None)
        return dict(sorted(counts.items()))


def _event_time(frame: Frame, previous: float) -> float:
    """The latest timestamp an event's payload carries, so durations come from the recording."""
    payload = frame.json() if frame.data[:1] == "{" else None
    if payload is None:
        return previous
    best = previous
    candidates: list[JSONObject] = [payload]
    for key in ("response", "turn", "data"):
        inner = payload.get(key)
        if isinstance(inner, dict):
            candidates.append(inner)
    for obj in candidates:
        for key in _TIME_KEYS:
            value = obj.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool) and value > best:
                best = float(value)
    return best


#: What ``runwatch replay -`` calls standard input in messages.
STDIN = "-"


def detect_api(frames: list[Frame]) -> Api | None:
    """The protocol the frames' events belong to (the first event that names one), or None."""
    for frame in frames:
        if frame.event and frame.event not in ("message", "error", "done"):
            api = protocols.for_event(frame.event)
            if api is not None:
                return api
        elif frame.data[:1] == "{":
            payload = frame.json()
            if payload is None:
                continue
            kind = payload.get("type") or payload.get("object")
            if isinstance(kind, str):
                api = protocols.for_event(kind)
                if api is not None:
                    return api
    return None


def read_recording(path: Path | str, stdin: BinaryIO | None = None) -> bytes:
    """The bytes of a recording (``-``: standard input); a ReplayError saying what is wrong."""
    if str(path) == STDIN:
        try:
            body = (stdin if stdin is not None else sys.stdin.buffer).read()
        except OSError as exc:
            raise ReplayError(f"standard input: cannot read ({exc.strerror})") from None
        return _check(body, "standard input")
    path = Path(path)
    try:
        body = path.read_bytes()
    except FileNotFoundError:
        raise ReplayError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ReplayError(f"{path}: is a directory, expected a recorded text/event-stream body") from None
    except OSError as exc:
        raise ReplayError(f"{path}: cannot read ({exc.strerror})") from None
    return _check(body, str(path))


def _check(body: bytes, name: str) -> bytes:
    if not body.strip():
        what = "nothing" if name == "standard input" else "empty file"
        raise ReplayError(f"{name}: {what}, expected a recorded text/event-stream body")
    if b"\x00" in body[:4096]:
        raise ReplayError(f"{name}: binary data, expected a recorded text/event-stream body")
    return body


def replay(
    bodies: Iterable[bytes],
    api: Api | None = None,
    sink: Callable[[Transition], None] | None = None,
    run_id_hints: Iterable[str | None] | None = None,
) -> Replay:
    """Replay bodies as consecutive streams; returns what was concluded.

    >>> from runwatch.builders import chat_stream  # doctest: +SKIP
    >>> replay([chat_stream("length")]).runs[0].outcome  # doctest: +SKIP
    Outcome(status='incomplete', reason='length')
    """
    result = Replay()

    def emit(transition: Transition) -> None:
        result(transition)
        if sink is not None:
            sink(transition)

    book = RunBook(emit)
    t = 0.0
    hints = list(run_id_hints) if run_id_hints is not None else []
    for index, body in enumerate(bodies):
        decoder = SSEDecoder()
        frames = decoder.feed(body) + decoder.end()
        if not frames:
            raise ReplayError("no server-sent events found", index)
        if api is None and not any(
            f.is_done or (f.event and protocols.for_event(f.event)) or f.data[:1] == "{" for f in frames
        ):
            raise ReplayError("no OpenAI stream events found", index)
        if api is not None:
            found = detect_api(frames)
            if found is not None and found != api:
                raise ReplayError(
                    f"holds {found} events, not {api} (--api {api}); omit --api to detect the protocol",
                    index,
                )
        times = []
        for frame in frames:
            t = _event_time(frame, t)
            times.append(t)
        # The stream starts when its first timestamped event says so.
        start = next((x for x in times if x > 0), t)
        # A recording has no request to say what it continues: a run waiting under the same id
        # (requires_action, a cut background response) is the run it continues.
        stream = book.stream(api, start, hints[index] if index < len(hints) else None, join_parked=True)
        for frame, at in zip(frames, times, strict=True):
            stream.frame(frame, max(at, start))
        if decoder.oversized:
            emit(Anomaly(stream.api, "oversized_frame", None, t, f"{decoder.oversized} dropped"))
        stream.close("stream_ended", t)
    # Runs still waiting for tool outputs when the recording ends were never resumed.
    book.flush(t)
    return result


def replay_files(paths: list[Path | str], api: Api | None = None, stdin: BinaryIO | None = None) -> Replay:
    """Replay recordings given as paths (``-``: standard input, once) as consecutive streams."""
    if sum(str(p) == STDIN for p in paths) > 1:
        raise ReplayError("'-' (standard input) can be given only once")
    bodies = [read_recording(path, stdin) for path in paths]
    names = ["standard input" if str(p) == STDIN else str(p) for p in paths]
    try:
        return replay(bodies, api)
    except ReplayError as exc:
        blamed = names[exc.index] if exc.index is not None else ", ".join(names)
        raise ReplayError(f"{blamed}: {exc}") from None


def render_table(result: Replay) -> str:
    headers = ("api", "id", "model", "status", "reason", "phases", "duration_s", "tokens_in", "tokens_out")
    rows = []
    for r in result.runs:
        rows.append(
            (
                r.api,
                r.run_id or "-",
                r.model or "-",
                r.outcome.status if r.outcome else "-",
                r.outcome.reason if r.outcome else "-",
                ",".join(result.phase_kinds(r)) or "-",
                f"{r.duration:.0f}" if r.duration else "-",
                str(r.usage.input) if r.usage.input is not None else "-",
                str(r.usage.output) if r.usage.output is not None else "-",
            )
        )
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.append("")
    lines.append("totals by status/reason:")
    for key, count in result.totals().items():
        lines.append(f"  {key:<40} {count}")
    lines.append(f"  {'runs':<40} {len(result.runs)}")
    if result.anomalies:
        kinds = Counter(a.kind for a in result.anomalies)
        lines.append("anomalies: " + ", ".join(f"{k}={v}" for k, v in sorted(kinds.items())))
    return "\n".join(lines)


def render_json(result: Replay) -> str:
    return json.dumps(
        {
            "outcomes": result.outcomes(),
            "totals": result.totals(),
            "anomalies": dict(Counter(a.kind for a in result.anomalies)),
        },
        indent=2,
    )
