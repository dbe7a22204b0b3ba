"""Guarantee 2 (DESIGN.md): runwatch's own failures are contained, counted and logged, also in a
user's test suite; re-raised only when asked explicitly (``raise_errors=True`` or
``RUNWATCH_RAISE_INTERNAL_ERRORS=1``, which our own suite sets in tests/conftest.py)."""

from __future__ import annotations

import logging
import os
import sys

import pytest
from prometheus_client import CollectorRegistry

import runwatch
from runwatch._events import Transition
from runwatch._safety import Safety, default_raise_errors


def _boom(transition: Transition) -> None:
    raise RuntimeError("sink bug")


def test_re_raising_is_asked_for_explicitly(monkeypatch: pytest.MonkeyPatch) -> None:
    """pytest being imported (true in every user's test suite) asks for nothing: only the
    environment variable turns re-raising on, and it can turn it off again."""
    assert "pytest" in sys.modules
    monkeypatch.delenv("RUNWATCH_RAISE_INTERNAL_ERRORS", raising=False)
    assert default_raise_errors() is False
    monkeypatch.setenv("RUNWATCH_RAISE_INTERNAL_ERRORS", "0")
    assert default_raise_errors() is False
    monkeypatch.setenv("RUNWATCH_RAISE_INTERNAL_ERRORS", "1")
    assert default_raise_errors() is True


def test_our_own_suite_asks_to_re_raise() -> None:
    """runwatch's own tests run with re-raising on (tests/conftest.py), so a bug that production
    would contain fails the test that hit it."""
    assert os.environ.get("RUNWATCH_RAISE_INTERNAL_ERRORS") == "1"
    assert Safety().raise_errors is True


def test_default_observer_surfaces_a_sink_bug_when_asked() -> None:
    """With the default setting in our suite (the variable set) a failing sink's exception
    reaches the test."""
    observer = runwatch.Observer(registry=CollectorRegistry(), traces=False, logs=False, sinks=[_boom])
    session = observer.stream("chat")
    with pytest.raises(RuntimeError, match="sink bug"):
        session.feed_bytes(b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[]}\n\n')


def test_internal_error_is_contained_in_a_users_test_suite(monkeypatch: pytest.MonkeyPatch) -> None:
    """Guarantee 2 holds in a user's test suite: with pytest imported, the variable unset and
    ``raise_errors`` left at None, a failing sink's error is counted and never raised."""
    assert "pytest" in sys.modules
    monkeypatch.delenv("RUNWATCH_RAISE_INTERNAL_ERRORS", raising=False)
    registry = CollectorRegistry()
    observer = runwatch.Observer(registry=registry, traces=False, logs=False, sinks=[_boom])
    session = observer.stream("chat")
    session.feed_bytes(b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[]}\n\n')
    session.close()
    count = registry.get_sample_value("runwatch_internal_errors_total", {"stage": "sink"})
    assert count is not None
    assert count >= 1


def test_contained_error_is_counted_and_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    """With raise_errors=False the error is swallowed, counted by stage and logged at debug."""
    registry = CollectorRegistry()
    observer = runwatch.Observer(
        registry=registry, traces=False, logs=False, sinks=[_boom], raise_errors=False
    )
    with caplog.at_level(logging.DEBUG, logger="runwatch"):
        session = observer.stream("chat")
        session.feed_bytes(b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[]}\n\n')
        session.close()
    count = registry.get_sample_value("runwatch_internal_errors_total", {"stage": "sink"})
    assert count is not None
    assert count >= 1
    assert any(
        r.levelno == logging.DEBUG and "internal error at sink" in r.getMessage() for r in caplog.records
    )


def test_a_failing_counter_never_escapes() -> None:
    """Even the error counter failing does not turn containment into an exception."""
    safety = Safety(raise_errors=False)

    def broken_counter(stage: str) -> None:
        raise ValueError("counter down")

    safety.add_counter(broken_counter)
    safety.report("sink", RuntimeError("x"))  # must not raise
