"""Drive the real openai SDK against the demo server, observed by runwatch, and summarize.

The driver plays a small application: worker threads share one instrumented ``openai.OpenAI``
client and consume streams the way apps do (iterating, stream helpers, event handlers, tool-output
continuations, background resume, polling). Each run's scenario is picked from the seeded mix and
forced with the ``x-runwatch-scenario`` header, so the driver knows what every run should produce.

The summary is computed from the Prometheus registry the observer writes to, the same samples
``/metrics`` serves, so what the demo prints is what a scrape would show.
"""

from __future__ import annotations

import math
import random
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, TextIO

from runwatch.demo.scenarios import APIS, TOUR, Mix, expected_outcome
from runwatch.demo.server import SCENARIO_HEADER

__all__ = ["Driven", "Plan", "Progress", "Summary", "drive", "make_plan", "plans", "quantile", "summarize"]


@dataclass(frozen=True, slots=True)
class Plan:
    """One run to drive: which API, which scenario, which SDK code path."""

    api: str
    scenario: str
    style: str

    @property
    def expected(self) -> tuple[str, str]:
        return expected_outcome(self.api, self.scenario)


# Code paths per API. Polling only fits scenarios a poller can see end (a stream-only outcome
# such as an error event or a cut stream has no polled equivalent).
_POLLABLE = {"completed", "requires_action", "cancelled", "expired"}


def _styles(api: str, scenario: str) -> list[str]:
    if api == "assistants":
        pollable = scenario in _POLLABLE or scenario.startswith(("incomplete:", "failed:"))
        return ["handler", "handler", "poll"] if pollable else ["handler"]
    if api == "responses":
        styles = ["create", "helper"]
        if scenario == "completed" or scenario.startswith(("incomplete:", "failed:")):
            styles.append("resume")
        return styles
    if api == "chat":
        return ["create"]
    return ["session"]


def plans(mix: Mix, runs: int | None, rng: random.Random, *, tour: bool = False) -> Iterator[Plan]:
    """``runs`` runs (None: without end), made one at a time: whatever ``runs`` is, nothing is
    built up front. With ``tour``, the first runs are :data:`~runwatch.demo.scenarios.TOUR` (the
    seed case, then every headline outcome of every api), the rest seeded picks from ``mix``."""
    made = 0
    if tour:
        for api, scenario, style in TOUR:
            if runs is not None and made >= runs:
                return
            made += 1
            yield Plan(api, scenario, style)
    while runs is None or made < runs:
        made += 1
        api, scenario = mix.pick(rng)
        yield Plan(api, scenario, rng.choice(_styles(api, scenario)))


def make_plan(mix: Mix, runs: int, rng: random.Random) -> list[Plan]:
    """``runs`` seeded picks from ``mix`` as a list (for tests; the demo uses :func:`plans`)."""
    return list(plans(mix, runs, rng))


# ------------------------------------------------------------------------------------- running
_MODELS = {"assistants": "gpt-4o", "responses": "gpt-4o-2024-08-06", "chat": "gpt-4o-mini", "agents": "gpt-5"}


def run_one(client: Any, plan: Plan) -> tuple[str, str] | None:
    """Drive one run like an app would; returns the name and message of an SDK exception the app
    had to catch (the SDK's own helpers raise on some legitimate outcomes, and a run cut by Ctrl-C
    raises whatever the transport raises), or None."""
    headers = {SCENARIO_HEADER: f"{plan.api}/{plan.scenario}"}
    model = _MODELS[plan.api]
    try:
        if plan.api == "assistants":
            _assistants(client, plan, headers, model)
        elif plan.api == "responses":
            _responses(client, plan, headers, model)
        elif plan.api == "chat":
            stream = client.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": "Say hello"}],
                stream=True,
                stream_options={"include_usage": True},
                extra_headers=headers,
            )
            for _ in stream:
                pass
        else:
            session = client.beta.agents.sessions.create(
                environment={"type": "none"}, agent={"model": model}, extra_headers=headers
            )
            with client.beta.agents.sessions.stream(
                session.id, input="Say hello", extra_headers=headers
            ) as s:
                for _ in s:
                    pass
    except Exception as exc:
        return type(exc).__name__, " ".join(str(exc).split())[:160]
    return None


def _assistants(client: Any, plan: Plan, headers: dict[str, str], model: str) -> None:
    from openai import AssistantEventHandler

    runs = client.beta.threads.runs
    if plan.style == "poll":
        run = client.beta.threads.create_and_run_poll(
            assistant_id="asst_demo", model=model, extra_headers=headers, poll_interval_ms=5
        )
        if run.status == "requires_action":
            calls = run.required_action.submit_tool_outputs.tool_calls
            runs.submit_tool_outputs_and_poll(
                thread_id=run.thread_id,
                run_id=run.id,
                tool_outputs=[{"tool_call_id": c.id, "output": "18C"} for c in calls],
                poll_interval_ms=5,
            )
        return

    class Handler(AssistantEventHandler):
        pass

    with runs.stream(
        thread_id="thread_demo",
        assistant_id="asst_demo",
        model=model,
        event_handler=Handler(),
        extra_headers=headers,
    ) as stream:
        stream.until_done()
        run = stream.current_run
    if run is not None and run.status == "requires_action":
        calls = run.required_action.submit_tool_outputs.tool_calls
        with runs.submit_tool_outputs_stream(
            thread_id=run.thread_id,
            run_id=run.id,
            tool_outputs=[{"tool_call_id": c.id, "output": "18C"} for c in calls],
            event_handler=Handler(),
        ) as cont:
            cont.until_done()


def _responses(client: Any, plan: Plan, headers: dict[str, str], model: str) -> None:
    if plan.style == "helper":
        with client.responses.stream(model=model, input="Say hello", extra_headers=headers) as stream:
            for _ in stream:
                pass
            stream.get_final_response()  # raises on incomplete / failed: the SDK bug, caught above
        return
    if plan.style == "resume":
        # Background response; the connection "drops" after a few events and the app resumes.
        stream = client.responses.create(
            model=model, input="Say hello", stream=True, background=True, extra_headers=headers
        )
        response_id, last = None, -1
        for event in stream:
            last = event.sequence_number
            if event.type == "response.created":
                response_id = event.response.id
            if last >= 4:
                break
        stream.close()
        if response_id is not None:
            for _ in client.responses.retrieve(response_id, stream=True, starting_after=last):
                pass
        return
    for _ in client.responses.create(model=model, input="Say hello", stream=True, extra_headers=headers):
        pass


class Progress:
    """A progress bar on a TTY; a plain line every 10% otherwise (logs stay readable)."""

    def __init__(self, total: int | None, out: TextIO) -> None:
        self.total, self.out = total, out
        self.tty = bool(getattr(out, "isatty", lambda: False)())
        self.done = 0
        self._last_decile = -1
        self._lock = threading.Lock()

    def step(self, statuses: Counter[str]) -> None:
        with self._lock:
            self.done += 1
            detail = " ".join(f"{k}={v}" for k, v in sorted(statuses.items()))
            if self.tty:
                if self.total:
                    filled = int(30 * self.done / self.total)
                    bar = "#" * filled + "." * (30 - filled)
                    self.out.write(f"\r[{bar}] {self.done}/{self.total} {detail}\x1b[K")
                else:
                    self.out.write(f"\r{self.done} runs {detail}\x1b[K")
                self.out.flush()
                return
            decile = int(10 * self.done / self.total) if self.total else self.done // 100
            if decile != self._last_decile:
                self._last_decile = decile
                of = f"/{self.total}" if self.total else ""
                self.out.write(f"runwatch demo: {self.done}{of} runs {detail}\n")
                self.out.flush()

    def close(self) -> None:
        if self.tty:
            self.out.write("\n")
            self.out.flush()


@dataclass(slots=True)
class Driven:
    """What :func:`drive` did. Every count is keyed by closed sets (apis, scenarios, code paths,
    exception names), so it stays small however many runs are driven."""

    requested: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    caught: Counter[str] = field(default_factory=Counter)
    raised: Counter[tuple[str, str, str, str, str]] = field(default_factory=Counter)
    messages: dict[tuple[str, str, str, str, str], str] = field(default_factory=dict)  # the first
    cut: int = 0  # runs in flight when stopped (their streams were cut)
    done: int = 0
    stopped: bool = False


def drive(
    client: Any,
    plans: Iterable[Plan],
    *,
    concurrency: int,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    on_stop: Callable[[], None] | None = None,
) -> Driven:
    """Run ``plans`` on ``concurrency`` threads, taking the next plan only when a thread is free.
    Returns what was asked and which SDK exceptions the app had to catch (by exception name, and
    by exception, api, code path and outcome). When ``stop`` is set no new run starts and
    ``on_stop`` is called once (the demo cuts the runs in flight with it)."""
    result = Driven()
    lock = threading.Lock()
    pending: set[Future[tuple[str, str] | None]] = set()
    iterator = iter(plans)
    stopping = threading.Event()

    def record(future: Future[tuple[str, str] | None], plan: Plan) -> None:
        error = future.result()
        status, reason = plan.expected
        with lock:
            result.done += 1
            result.requested[(plan.api, status, reason)] += 1
            if error and stopping.is_set():
                result.cut += 1
            elif error:
                key = (error[0], plan.api, plan.style, status, reason)
                result.caught[error[0]] += 1
                result.raised[key] += 1
                result.messages.setdefault(key, error[1])
            snapshot: Counter[str] = Counter()
            for (_, status_, _), n in result.requested.items():
                snapshot[status_] += n
        if progress is not None:
            progress.step(snapshot)

    def halt() -> None:
        if not stopping.is_set():
            stopping.set()
            result.stopped = True
            if on_stop is not None:
                on_stop()

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="runwatch-demo") as pool:
        exhausted = False
        while True:
            while not exhausted and len(pending) < concurrency and not (stop and stop.is_set()):
                plan = next(iterator, None)
                if plan is None:
                    exhausted = True
                    break
                future = pool.submit(run_one, client, plan)
                future.add_done_callback(_bind(record, plan))
                pending.add(future)
            if stop is not None and stop.is_set():
                exhausted = True
                halt()
            if not pending:
                break
            done, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            pending -= done
    return result


_Done = Callable[[Future[tuple[str, str] | None]], None]


def _bind(fn: Callable[[Future[tuple[str, str] | None], Plan], None], plan: Plan) -> _Done:
    return lambda future: fn(future, plan)


# ------------------------------------------------------------------------------------- summary
def quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus' ``histogram_quantile`` over cumulative ``(le, count)`` buckets (``+Inf`` last)."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] <= 0:
        return None
    total = buckets[-1][1]
    rank = q * total
    prev_le, prev_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if math.isinf(le):
                return prev_le  # like Prometheus: the highest finite bound
            if count == prev_count:
                return le
            return prev_le + (le - prev_le) * (rank - prev_count) / (count - prev_count)
        prev_le, prev_count = le, count
    return prev_le


@dataclass(slots=True)
class Summary:
    """Run counts by (api, status, reason) and latency quantiles by api, from registry samples."""

    counts: dict[tuple[str, str, str], int] = field(default_factory=dict)
    latency: dict[str, dict[str, float | None]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def as_json(self) -> dict[str, Any]:
        return {
            "runs": self.total,
            "outcomes": [
                {"api": a, "status": s, "reason": r, "count": n}
                for (a, s, r), n in sorted(self.counts.items())
            ],
            "latency_seconds": self.latency,
        }

    def table(self) -> str:
        lines = [f"{'api':<11} {'status':<11} {'reason':<26} {'runs':>5} {'share':>6}"]
        by_api: dict[str, int] = defaultdict(int)
        for (api, _, _), n in self.counts.items():
            by_api[api] += n
        for (api, status, reason), n in sorted(self.counts.items()):
            lines.append(f"{api:<11} {status:<11} {reason:<26} {n:>5} {n / by_api[api]:>6.1%}")
        lines.append("")
        lines.append(f"{'api':<11} {'p50 dur':>9} {'p95 dur':>9} {'p50 ttft':>9} {'p95 ttft':>9}")

        def fmt(value: float | None) -> str:
            return f"{value:8.3f}s" if value is not None else f"{'-':>9}"

        for api in APIS:
            if api in self.latency:
                q = self.latency[api]
                lines.append(
                    f"{api:<11} {fmt(q['duration_p50'])} {fmt(q['duration_p95'])} "
                    f"{fmt(q['ttft_p50'])} {fmt(q['ttft_p95'])}"
                )
        lines.append(f"\n{self.total} runs")
        return "\n".join(lines)


def summarize(registry: Any, prefix: str = "runwatch") -> Summary:
    """Read ``runwatch_runs_total`` and the duration / TTFT histograms out of ``registry``."""
    summary = Summary()
    buckets: dict[tuple[str, str], dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for metric in registry.collect():
        for sample in metric.samples:
            labels = sample.labels
            if sample.name == f"{prefix}_runs_total":
                key = (labels.get("api", ""), labels.get("status", ""), labels.get("reason", ""))
                summary.counts[key] = summary.counts.get(key, 0) + int(sample.value)
            elif sample.name == f"{prefix}_run_duration_seconds_bucket":
                buckets[(labels.get("api", ""), "duration")][float(labels["le"])] += sample.value
            elif sample.name == f"{prefix}_time_to_first_token_seconds_bucket":
                buckets[(labels.get("api", ""), "ttft")][float(labels["le"])] += sample.value
    apis = sorted({api for api, _ in buckets} | {api for api, _, _ in summary.counts})
    for api in apis:
        q: dict[str, float | None] = {}
        for kind in ("duration", "ttft"):
            series = sorted(buckets.get((api, kind), {}).items())
            q[f"{kind}_p50"] = quantile(0.5, series)
            q[f"{kind}_p95"] = quantile(0.95, series)
        summary.latency[api] = q
    summary.counts = {k: v for k, v in summary.counts.items() if v > 0}
    return summary


def expected_counts(plans: Iterable[Plan]) -> Counter[tuple[str, str, str]]:
    """What the plans ask the server to produce, as (api, status, reason) counts."""
    return Counter((p.api, *p.expected) for p in plans)
