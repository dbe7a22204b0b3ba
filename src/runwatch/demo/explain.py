"""What the demo shows after its summary: one run's span tree and its ``run.finished`` log line,
which SDK call raised which exception on which outcome, and where to go next.

The example run is picked while the demo runs, in constant memory whatever ``--runs`` is:
:class:`ExampleSpans` holds the spans of runs still in flight (bounded by the concurrency) and of
the one best example so far (the seed case first: an Assistants run ending ``incomplete``, the
status that made openai-node throw "Final run has not been received"); :func:`example_logger`
keeps only that run's ``run.finished`` line, rendered as structlog's default console renderer
would print it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

__all__ = ["ExampleLog", "ExampleSpans", "example_logger", "next_steps", "render_exceptions", "render_tree"]

#: Traces buffered at most (runs in flight): a guard only, the driver keeps far fewer in flight.
_MAX_OPEN_TRACES = 4096
#: Run span attributes shown on the tree's root line, in this order.
_RUN_KEYS = (
    "runwatch.run.status",
    "runwatch.run.reason",
    "gen_ai.response.id",
    "gen_ai.conversation.id",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.response.time_to_first_chunk",
)


def _rank(api: str, status: str) -> int | None:
    """How good an example a finished run is (lower is better); None: not worth showing."""
    if status == "incomplete":
        return 0 if api == "assistants" else 1
    if status in ("completed", "cancelled"):
        return None
    return 2


class ExampleSpans(SpanProcessor):
    """A span processor keeping the spans of one example run (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: OrderedDict[int, list[ReadableSpan]] = OrderedDict()
        self._rank: int | None = None
        self.spans: list[ReadableSpan] = []
        self.trace_id: int | None = None

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        ctx = span.context
        if ctx is None:
            return
        with self._lock:
            buffered = self._open.pop(ctx.trace_id, None) or []
            buffered.append(span)
            if span.parent is not None:  # a phase span: its run span ends later
                self._open[ctx.trace_id] = buffered
                while len(self._open) > _MAX_OPEN_TRACES:
                    self._open.popitem(last=False)
                return
            attrs = span.attributes or {}
            status = attrs.get("runwatch.run.status")
            if status is None:  # a failed request's span: not a run
                return
            rank = _rank(str(attrs.get("openai.api.type", "")), str(status))
            if rank is not None and (self._rank is None or rank < self._rank):
                self._rank, self.spans, self.trace_id = rank, buffered, ctx.trace_id

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


@dataclass
class ExampleLog:
    """The ``run.finished`` line of the example run (matched by trace id)."""

    spans: ExampleSpans
    lines: dict[int, str] = field(default_factory=dict)

    def line(self) -> str | None:
        return self.lines.get(self.spans.trace_id) if self.spans.trace_id is not None else None


class _Keep:
    """A structlog "logger" that stores the rendered line for the example trace."""

    def __init__(self, log: ExampleLog) -> None:
        self._log = log

    def _store(self, message: str) -> None:
        trace_id = self._log.spans.trace_id
        if trace_id is not None:
            # One line kept: the example's; a better example found later replaces it.
            self._log.lines.clear()
            self._log.lines[trace_id] = message

    debug = info = warning = error = msg = _store


def example_logger(spans: ExampleSpans) -> tuple[Any, ExampleLog]:
    """A structlog logger for ``LogSink`` that renders only the example run's ``run.finished``
    line (the OTel sink ends the run span, and so picks the example, before the log sink runs)."""
    log = ExampleLog(spans)

    def only_the_example(logger: Any, method: str, event_dict: Any) -> Any:
        trace_id = spans.trace_id
        if (
            event_dict.get("event") != "run.finished"
            or trace_id is None
            or event_dict.get("trace_id") != format(trace_id, "032x")
        ):
            raise structlog.DropEvent
        return event_dict

    logger = structlog.wrap_logger(
        _Keep(log),
        processors=[
            only_the_example,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.dev.ConsoleRenderer(colors=False),
        ],
    )
    return logger, log


# ------------------------------------------------------------------------------------ rendering
def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, tuple | list):
        return ",".join(map(str, value))
    return str(value)


def _duration(span: ReadableSpan) -> str:
    if span.start_time is None or span.end_time is None:
        return "-"
    return f"{(span.end_time - span.start_time) / 1e9:.3f}s"


def render_tree(spans: Iterable[ReadableSpan]) -> list[str]:
    """Spans as an indented tree (children by start time), one line each: name, duration, and
    for run spans the status, reason, ids and tokens."""
    spans = list(spans)
    by_parent: dict[int | None, list[ReadableSpan]] = {}
    ids = {s.context.span_id for s in spans if s.context is not None}
    for span in spans:
        parent = span.parent.span_id if span.parent is not None and span.parent.span_id in ids else None
        by_parent.setdefault(parent, []).append(span)
    lines: list[str] = []

    def describe(span: ReadableSpan) -> tuple[str, list[str]]:
        attrs: Mapping[str, Any] = span.attributes or {}
        head = [span.name, _duration(span)]
        status = span.status.status_code.name if span.status is not None else "UNSET"
        if status != "UNSET":
            head.append(f"[{status}]")
        if "runwatch.phase.status" in attrs:
            head.append(f"phase status {attrs['runwatch.phase.status']}")
        pairs = [f"{k}={_fmt(attrs[k])}" for k in _RUN_KEYS if k in attrs]
        rows: list[str] = []
        for pair in pairs:  # the run span's attributes, wrapped under it
            if rows and len(rows[-1]) + len(pair) < 96:
                rows[-1] += "  " + pair
            else:
                rows.append(pair)
        return "  ".join(head), rows

    def walk(parent: int | None, prefix: str) -> None:
        children = sorted(by_parent.get(parent, []), key=lambda s: s.start_time or 0)
        for i, span in enumerate(children):
            last = i == len(children) - 1
            branch = "" if parent is None else ("└─ " if last else "├─ ")
            child_prefix = prefix if parent is None else prefix + ("   " if last else "│  ")
            head, rows = describe(span)
            lines.append(prefix + branch + head)
            has_children = span.context is not None and span.context.span_id in by_parent
            lines.extend(child_prefix + ("│    " if has_children else "     ") + row for row in rows)
            if span.context is not None:
                walk(span.context.span_id, child_prefix)

    walk(None, "  ")
    return lines


#: What each driver code path calls, for the exception report.
CODE_PATHS: Mapping[tuple[str, str], str] = {
    ("assistants", "handler"): "beta.threads.runs.stream(event_handler=...).until_done()",
    ("assistants", "poll"): "beta.threads.create_and_run_poll()",
    ("responses", "create"): "responses.create(stream=True)",
    ("responses", "helper"): "responses.stream() ... get_final_response()",
    ("responses", "resume"): "responses.retrieve(id, stream=True) (a resumed background response)",
    ("chat", "create"): "chat.completions.create(stream=True)",
    ("agents", "session"): "beta.agents.sessions.stream()",
}


def render_exceptions(
    raised: Mapping[tuple[str, str, str, str, str], int],
    messages: Mapping[tuple[str, str, str, str, str], str] | None = None,
) -> list[str]:
    """``(exception, api, style, status, reason) -> count`` as lines: which SDK call raised what
    (with the first message), on which outcome."""
    lines = []
    for key, n in sorted(raised.items(), key=lambda kv: (-kv[1], kv[0])):
        exc, api, style, status, reason = key
        call = CODE_PATHS.get((api, style), f"{api} ({style})")
        outcome = status if reason == "none" else f"{status}/{reason}"
        lines.append(f"  {api} run ending {outcome}: {call} raised {exc} (x{n})")
        message = (messages or {}).get(key)
        if message:
            lines.append(f"      {exc}: {message}")
    return lines


def next_steps(api_url: str, metrics_url: str, serving: bool, prog: str = "runwatch demo") -> list[str]:
    """Where to go from the demo: your own client, console spans, /metrics, the alert rules."""
    keep = "" if serving else f" (keep it up with `{prog} --serve --port PORT`)"
    return [
        "Next steps",
        f"  Your own client against this server{keep}:",
        f'      client = runwatch.instrument(openai.OpenAI(base_url="{api_url}", api_key="demo"))',
        "  Every span on the console (stderr):",
        f"      OTEL_TRACES_EXPORTER=console {prog} --runs 3",
        "  Scrape the metrics Prometheus would see:",
        (
            f"      curl {metrics_url}"
            if serving
            else f"      {prog} --serve --metrics-port 9464   then   curl http://127.0.0.1:9464/metrics"
        ),
        "  Load the alert rules and the dashboard (docs/dashboards.md):",
        "      prometheus.yml: rule_files: [dashboards/rules.yml]   (check: promtool check rules ...)",
        "      runwatch dashboards --out DIR --objective 0.05   (your objective and selector)",
    ]
