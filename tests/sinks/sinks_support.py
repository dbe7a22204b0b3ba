"""Transition builders shared by the sink tests: each mutates the Run the way the tracker would."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from runwatch._events import (
    FirstToken,
    Outcome,
    Phase,
    PhaseEnded,
    PhaseStarted,
    Run,
    RunFinished,
    RunPaused,
    RunResumed,
    RunStarted,
    ToolCall,
    Transition,
    Usage,
)

T0 = 1_700_000_000.0


def life(
    *,
    api: str = "assistants",
    status: str = "completed",
    reason: str = "none",
    model: str | None = "gpt-4o",
    run_id: str = "run_1",
    pause: bool = False,
    usage: Usage | None = None,
) -> Iterator[Transition]:
    """A full run: ids and model arrive after RunStarted; queued, then in_progress with a tool step
    and a message step nested in it; an optional requires_action pause."""
    run = Run(api=api, started_at=T0, request_model=model)  # type: ignore[arg-type]
    yield RunStarted(run, T0)
    run.run_id, run.model = run_id, model
    run.thread_id, run.assistant_id = "thread_1", "asst_1"
    queued = Phase("queued", "queued", T0)
    yield PhaseStarted(run, queued, T0)
    queued.ended_at, queued.status = T0 + 0.5, "completed"
    yield PhaseEnded(run, queued, T0 + 0.5)
    work = Phase("in_progress", "in_progress", T0 + 0.5)
    yield PhaseStarted(run, work, T0 + 0.5)
    tool = Phase(
        "step", "execute_tool function", T0 + 0.6, key="step_1", tool_type="function",
        attributes={"gen_ai.tool.name": "get_weather"},
    )  # fmt: skip
    yield PhaseStarted(run, tool, T0 + 0.6)
    run.tool_calls += 1
    yield ToolCall(run, "function", T0 + 0.7)
    tool.ended_at, tool.status = T0 + 1.0, "completed"
    yield PhaseEnded(run, tool, T0 + 1.0)
    if pause:
        yield RunPaused(run, T0 + 1.0)
        yield RunResumed(run, T0 + 3.0)
    msg = Phase("step", "message_creation", T0 + 1.1, key="step_2")
    yield PhaseStarted(run, msg, T0 + 1.1)
    run.first_token_at = T0 + 1.25
    yield FirstToken(run, T0 + 1.25)
    msg.ended_at, msg.status = T0 + 1.5, "completed"
    yield PhaseEnded(run, msg, T0 + 1.5)
    work.ended_at, work.status = T0 + 4.0, status
    yield PhaseEnded(run, work, T0 + 4.0)
    run.usage = usage if usage is not None else Usage(input=100, output=20, cached_input=10, reasoning=5)
    run.finish_reasons = ["stop"]
    run.outcome = Outcome(status, reason)  # type: ignore[arg-type]
    run.ended_at = T0 + 4.0
    yield RunFinished(run, run.outcome, T0 + 4.0)


def feed(sink: Callable[[Transition], None], transitions: Iterable[Transition]) -> list[Transition]:
    """Hand every transition to ``sink``; return them (tests look at the Run afterwards)."""
    done = []
    for t in transitions:
        sink(t)
        done.append(t)
    return done
