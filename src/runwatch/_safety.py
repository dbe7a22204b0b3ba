"""The one place that swallows runwatch's own failures.

Inside a user's stream runwatch never raises: an exception from a decoder, tracker or sink is
counted (``runwatch_internal_errors_total{stage}``), logged at debug and dropped -- in a user's
test suite too: merely running under pytest changes nothing. Only when asked explicitly
(``raise_errors=True``, or ``RUNWATCH_RAISE_INTERNAL_ERRORS=1`` in the environment) is it re-raised
instead; runwatch's own test suite asks (tests/conftest.py), so it sees bugs that production would
hide. Tests that prove containment pass ``raise_errors=False``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from typing import Final

log: Final = logging.getLogger("runwatch")

#: Closed set of ``stage`` label values.
STAGES: Final[tuple[str, ...]] = ("decode", "track", "sink", "adapter", "finalize")


def default_raise_errors() -> bool:
    """True only when ``RUNWATCH_RAISE_INTERNAL_ERRORS`` is set (to anything but ``0``, ``false``,
    ``no`` or empty). Being imported by a test runner is not a request to raise."""
    env = os.environ.get("RUNWATCH_RAISE_INTERNAL_ERRORS")
    return env is not None and env.strip().lower() not in ("", "0", "false", "no")


class Safety:
    """Counts and logs internal errors; re-raises them only when asked to."""

    __slots__ = ("_counters", "raise_errors")

    def __init__(self, raise_errors: bool | None = None) -> None:
        self.raise_errors = default_raise_errors() if raise_errors is None else raise_errors
        self._counters: list[Callable[[str], None]] = []

    def add_counter(self, count: Callable[[str], None]) -> None:
        """Register a callback run with the stage of every internal error (metrics sinks use it)."""
        self._counters.append(count)

    def report(self, stage: str, exc: BaseException) -> None:
        """Record an internal error at ``stage``; re-raise it if configured to."""
        if stage not in STAGES:
            stage = "adapter"
        for count in self._counters:
            with contextlib.suppress(Exception):
                count(stage)
        log.debug("runwatch internal error at %s", stage, exc_info=exc)
        if self.raise_errors:
            raise exc
