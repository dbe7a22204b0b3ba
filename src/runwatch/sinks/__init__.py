"""Sinks turn transitions into telemetry. A sink is any callable taking a transition.

Sinks never see bytes or SDK internals, only :mod:`runwatch.events` transitions. A sink that
raises is contained by the observer (see :mod:`runwatch._safety`); the other sinks still run.

Example -- a sink of your own::

    from runwatch.events import RunFinished

    def print_outcomes(transition):
        if isinstance(transition, RunFinished):
            print(transition.run.run_id, transition.outcome.status)

    observer = runwatch.Observer(sinks=[print_outcomes])
"""

from __future__ import annotations

from typing import Protocol

from .._events import Transition


class Sink(Protocol):
    """Receives every transition of every run, in order, on the thread that fed the tracker."""

    def __call__(self, transition: Transition, /) -> None: ...


__all__ = ["Sink"]
