"""Configuration from the environment (runwatch._config): what each variable sets, what a bad
value does (a warning and the default, never an exception), that the default observer is built
from it, and that docs/configuration.md lists exactly the variables the code reads."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import metrics

from runwatch import _config, _observer, lowlevel
from runwatch.sinks.logs import LogSink
from runwatch.sinks.otel import OtelSink
from runwatch.sinks.prometheus import PrometheusSink

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
DEFAULTS = _config.observer_kwargs({})


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        pytest.param({}, {}, id="nothing-set-is-Observer()"),
        pytest.param({"RUNWATCH_METRICS": "false"}, {"metrics": False}, id="metrics-off"),
        pytest.param({"RUNWATCH_TRACES": "0"}, {"traces": False}, id="traces-off"),
        pytest.param({"RUNWATCH_LOGS": "No"}, {"logs": False}, id="logs-off-any-case"),
        pytest.param({"RUNWATCH_MAX_MODELS": " 7 "}, {"max_models": 7}, id="max-models"),
        pytest.param({"RUNWATCH_MAX_MODELS": "0"}, {"max_models": 0}, id="max-models-zero"),
        pytest.param({"RUNWATCH_REQUIRES_ACTION_TTL": "2.5"}, {"requires_action_ttl": 2.5}, id="ttl"),
        pytest.param(
            {"RUNWATCH_INCOMPLETE_IS_ERROR": "true"}, {"incomplete_is_error": True}, id="incomplete"
        ),
        pytest.param({"OTEL_SDK_DISABLED": "true"}, {"traces": False}, id="otel-sdk-disabled"),
        pytest.param(
            {"OTEL_SDK_DISABLED": "true", "RUNWATCH_OTEL_METRICS": "true"},
            {"traces": False},
            id="otel-disabled-wins-over-otel-metrics",
        ),
        pytest.param({"RUNWATCH_METRICS": ""}, {}, id="empty-is-default"),
    ],
)
def test_environment_sets_observer_arguments(env: dict[str, str], expected: dict[str, Any]) -> None:
    """Each variable sets exactly its Observer argument; everything else keeps Observer()'s
    defaults (so an empty environment changes nothing for existing users)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kwargs = _config.observer_kwargs(env)
    assert kwargs == {**DEFAULTS, **expected}
    assert DEFAULTS == {
        "metrics": True,
        "traces": True,
        "logs": True,
        "meter_provider": None,
        "max_models": 50,
        "requires_action_ttl": 600.0,
        "incomplete_is_error": False,
    }


def test_otel_metrics_use_the_global_meter_provider() -> None:
    """RUNWATCH_OTEL_METRICS=true hands the global meter provider (whatever the app or the
    launcher set, a proxy until then) to the observer: GenAI metrics for OTLP pipelines."""
    kwargs = _config.observer_kwargs({"RUNWATCH_OTEL_METRICS": "true"})
    assert kwargs["meter_provider"] is metrics.get_meter_provider()


@pytest.mark.parametrize(
    ("env", "name", "field"),
    [
        pytest.param({"RUNWATCH_METRICS": "maybe"}, "RUNWATCH_METRICS", "metrics", id="bad-bool"),
        pytest.param({"RUNWATCH_MAX_MODELS": "ten"}, "RUNWATCH_MAX_MODELS", "max_models", id="not-int"),
        pytest.param({"RUNWATCH_MAX_MODELS": "-1"}, "RUNWATCH_MAX_MODELS", "max_models", id="negative"),
        pytest.param({"RUNWATCH_MAX_MODELS": "2.5"}, "RUNWATCH_MAX_MODELS", "max_models", id="fraction"),
        pytest.param(
            {"RUNWATCH_REQUIRES_ACTION_TTL": "0"},
            "RUNWATCH_REQUIRES_ACTION_TTL",
            "requires_action_ttl",
            id="ttl0",
        ),
        pytest.param(
            {"RUNWATCH_REQUIRES_ACTION_TTL": "inf"},
            "RUNWATCH_REQUIRES_ACTION_TTL",
            "requires_action_ttl",
            id="ttl-inf",
        ),
        pytest.param(
            {"RUNWATCH_REQUIRES_ACTION_TTL": "nan"},
            "RUNWATCH_REQUIRES_ACTION_TTL",
            "requires_action_ttl",
            id="ttl-nan",
        ),
    ],
)
def test_bad_value_warns_and_keeps_the_default(env: dict[str, str], name: str, field: str) -> None:
    """A value that cannot be parsed is one RuntimeWarning naming the variable and the value,
    and the default is used (like the OTel SDK): the application still starts."""
    with pytest.warns(RuntimeWarning) as record:
        kwargs = _config.observer_kwargs(env)
    assert len(record) == 1
    message = str(record[0].message)
    assert name in message
    assert repr(env[name]) in message
    assert kwargs[field] == DEFAULTS[field]


@pytest.fixture
def fresh_default() -> Iterator[None]:
    saved = _observer._default
    _observer.set_default_observer(None)
    yield
    _observer.set_default_observer(saved)


@pytest.mark.usefixtures("fresh_default")
def test_default_observer_is_built_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process default observer (what instrument() / watch() / handler() use without an
    observer) follows the environment, is built once, and is the one runwatch.lowlevel sees."""
    monkeypatch.setenv("RUNWATCH_METRICS", "false")  # keep the global registry untouched
    monkeypatch.setenv("RUNWATCH_LOGS", "false")
    monkeypatch.setenv("RUNWATCH_INCOMPLETE_IS_ERROR", "true")
    monkeypatch.setenv("RUNWATCH_REQUIRES_ACTION_TTL", "42")
    observer = _config.default_observer()
    assert _config.default_observer() is observer
    assert lowlevel.default_observer() is observer  # one default, whichever door asks
    kinds = [type(s) for s in observer.sinks]
    assert kinds == [OtelSink]
    assert PrometheusSink not in kinds
    assert LogSink not in kinds
    (otel,) = observer.sinks
    assert isinstance(otel, OtelSink)
    assert otel.incomplete_is_error
    assert observer.book.ttl == 42.0


def test_documented_list_matches_the_code() -> None:
    """docs/configuration.md's table of runwatch's variables is exactly SETTINGS: same names,
    same order, same defaults, same descriptions."""
    text = DOC.read_text()
    section = text.split("## Environment variables read by runwatch", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([A-Z_]+)` \| `([^`]*)` \| (.+?) \|$", section, flags=re.M)
    assert rows == [(s.name, s.default, s.meaning) for s in _config.SETTINGS]
