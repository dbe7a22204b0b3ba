"""What a sink receives: the transitions of every run, and the run and outcome they describe.

Public and stable: a sink of your own (any callable taking a :data:`Transition`; the protocol is
:class:`runwatch.sinks.Sink`) matches on these types::

    from runwatch.events import RunFinished

    def print_outcomes(transition):
        if isinstance(transition, RunFinished):
            print(transition.run.run_id, transition.outcome.status)

    observer = runwatch.Observer(sinks=[print_outcomes])

This module only hands names on: the types are defined once, in ``runwatch._events``, which the
adapters, the tracker and the built-in sinks share. It never imports adapters, sinks or optional
dependencies. What adapters feed the tracker (``Event``) is in :mod:`runwatch.lowlevel`.
"""

from __future__ import annotations

from ._events import (
    Anomaly,
    Api,
    FirstToken,
    Outcome,
    Phase,
    PhaseEnded,
    PhaseStarted,
    RequestFailed,
    Run,
    RunFinished,
    RunPaused,
    RunResumed,
    RunStarted,
    Status,
    ToolCall,
    Transition,
    Usage,
)

__all__ = [
    "Anomaly",
    "Api",
    "FirstToken",
    "Outcome",
    "Phase",
    "PhaseEnded",
    "PhaseStarted",
    "RequestFailed",
    "Run",
    "RunFinished",
    "RunPaused",
    "RunResumed",
    "RunStarted",
    "Status",
    "ToolCall",
    "Transition",
    "Usage",
]
