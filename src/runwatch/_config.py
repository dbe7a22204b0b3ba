"""Configuration from the environment: ``OTEL_*`` where OpenTelemetry has a convention, ``RUNWATCH_*``
for runwatch's own options.

The process-wide default observer (what ``runwatch.instrument()``, ``runwatch.watch()``,
``runwatch.handler()`` and the zero-code instrumentor use when no observer is passed) is built from
:data:`SETTINGS`; an explicit ``Observer(...)`` reads none of them (except
``RUNWATCH_RAISE_INTERNAL_ERRORS``, which ``Observer(raise_errors=None)`` has always read).

Like the OTel SDK, a value that cannot be parsed is a warning and the default, never an exception:
a typo in a deployment's environment must not stop the application from starting.

The list below is the documented list (docs/configuration.md); ``tests/test_config.py`` checks that
the two agree.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from ._observer import Observer

_TRUE: Final = frozenset({"true", "1", "yes", "on"})
_FALSE: Final = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True, slots=True)
class Setting:
    """One environment variable: its name, default (as text) and what it sets."""

    name: str
    default: str
    meaning: str


#: Every variable runwatch reads, in the order docs/configuration.md lists them.
SETTINGS: Final[tuple[Setting, ...]] = (
    Setting("RUNWATCH_METRICS", "true", "Prometheus metrics (the default registry) on or off"),
    Setting("RUNWATCH_TRACES", "true", "OpenTelemetry spans (the global tracer provider) on or off"),
    Setting("RUNWATCH_LOGS", "true", "structlog events (logger `runwatch`) on or off"),
    Setting(
        "RUNWATCH_OTEL_METRICS",
        "false",
        "also record the OTel GenAI metrics on the global meter provider (for OTLP metrics pipelines)",
    ),
    Setting("RUNWATCH_MAX_MODELS", "50", "distinct `model` label values before `_other` (integer >= 0)"),
    Setting(
        "RUNWATCH_REQUIRES_ACTION_TTL",
        "600",
        "seconds a run may wait for tool outputs before it ends `abandoned` (number > 0)",
    ),
    Setting(
        "RUNWATCH_INCOMPLETE_IS_ERROR",
        "false",
        "mark incomplete runs' spans ERROR (default: UNSET with the reason)",
    ),
    Setting(
        "RUNWATCH_RAISE_INTERNAL_ERRORS",
        "false",
        "re-raise runwatch's own errors instead of counting them (for runwatch's own tests)",
    ),
    Setting("OTEL_SDK_DISABLED", "false", "OTel's switch for all signals: `true` turns runwatch's spans off"),
)


def _warn(name: str, text: str, expected: str, default: str) -> None:
    warnings.warn(
        f"runwatch: ignoring {name}={text!r} (expected {expected}); using the default {default}",
        RuntimeWarning,
        stacklevel=4,
    )


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    text = env.get(name)
    if text is None or not text.strip():
        return default
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    _warn(name, text, "true or false", str(default).lower())
    return default


def _number(
    env: Mapping[str, str],
    name: str,
    default: float,
    convert: Callable[[str], float],
    ok: Callable[[float], bool],
) -> float:
    text = env.get(name)
    if text is None or not text.strip():
        return default
    try:
        value = convert(text.strip())
    except ValueError:
        value = None
    if value is None or not ok(value):
        what = "an integer >= 0" if convert is int else "a number > 0"
        _warn(name, text, what, f"{default:g}")
        return default
    return value


def observer_kwargs(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The ``Observer`` keyword arguments the environment asks for (all of them, defaults included).

    >>> observer_kwargs({"RUNWATCH_MAX_MODELS": "10"})["max_models"]
    10
    """
    env = os.environ if environ is None else environ
    traces = _bool(env, "RUNWATCH_TRACES", True) and not _bool(env, "OTEL_SDK_DISABLED", False)
    meter_provider = None
    if traces and _bool(env, "RUNWATCH_OTEL_METRICS", False):
        from opentelemetry import metrics

        meter_provider = metrics.get_meter_provider()
    kwargs: dict[str, Any] = {
        "metrics": _bool(env, "RUNWATCH_METRICS", True),
        "traces": traces,
        "logs": _bool(env, "RUNWATCH_LOGS", True),
        "meter_provider": meter_provider,
        "max_models": int(_number(env, "RUNWATCH_MAX_MODELS", 50, int, lambda v: v >= 0)),
        "requires_action_ttl": _number(
            env, "RUNWATCH_REQUIRES_ACTION_TTL", 600.0, float, lambda v: 0 < v < float("inf")
        ),
        "incomplete_is_error": _bool(env, "RUNWATCH_INCOMPLETE_IS_ERROR", False),
    }
    # RUNWATCH_RAISE_INTERNAL_ERRORS is read by Observer(raise_errors=None) itself (runwatch._safety).
    return kwargs


def observer_from_env(environ: Mapping[str, str] | None = None, **overrides: Any) -> Observer:
    """An ``Observer`` configured by the environment; ``overrides`` win over it.

    >>> observer = observer_from_env(registry=CollectorRegistry())  # doctest: +SKIP
    """
    kwargs = observer_kwargs(environ)
    kwargs.update(overrides)
    return Observer(**kwargs)


_lock = threading.Lock()


def default_observer() -> Observer:
    """The process-wide default observer, built from the environment on first use."""
    from . import _observer

    current = _observer._default
    if current is not None:
        return current
    with _lock:
        if _observer._default is None:
            _observer.set_default_observer(observer_from_env())
        built = _observer._default
    assert built is not None
    return built
