"""Zero-code mode: runwatch as an OpenTelemetry instrumentor.

``pip install 'runwatch[instrument]'`` (or ``[otlp]``) and run the application under the OTel
launcher; every OpenAI client it creates is observed, with no change to its code:

    OTEL_SERVICE_NAME=myapp OTEL_TRACES_EXPORTER=console opentelemetry-instrument python app.py

The launcher finds :class:`RunwatchInstrumentor` through the ``opentelemetry_instrumentor`` entry
point named ``runwatch`` (so ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=runwatch`` turns it off). It
is the global mode of :func:`runwatch.instrument` behind OTel's ``BaseInstrumentor`` interface:

>>> from runwatch.instrumentation import RunwatchInstrumentor       # doctest: +SKIP
>>> RunwatchInstrumentor().instrument(tracer_provider=provider)     # doctest: +SKIP
>>> RunwatchInstrumentor().uninstrument()                           # doctest: +SKIP

This module needs ``opentelemetry-instrumentation`` (the launcher's own package); ``import runwatch``
never loads it.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined,unused-ignore]
    BaseInstrumentor,
)

from ._config import default_observer, observer_from_env
from .adapters.install import instrument_all, uninstrument_all

__all__ = ["RunwatchInstrumentor"]

#: ``instrument()`` keyword arguments passed on to the Observer (OTel's names where it has them).
_OBSERVER_KWARGS = ("tracer_provider", "meter_provider", "registry", "logger")


class RunwatchInstrumentor(BaseInstrumentor):  # type: ignore[misc,unused-ignore]
    """Observe every OpenAI client of the process (``instrument()``) until ``uninstrument()``.

    ``instrument(tracer_provider=..., meter_provider=..., registry=..., logger=...)`` builds an
    observer from the environment (``RUNWATCH_*``) with those overrides; ``observer=`` passes a
    ready one. Without arguments (the launcher's call) it uses the process's default observer:
    the global tracer provider, the default Prometheus registry, structlog's ``runwatch`` logger.
    A meter provider passed here turns the OTel GenAI metrics on.
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("openai >= 1.40",)

    def _instrument(self, **kwargs: Any) -> None:
        observer = kwargs.get("observer")
        if observer is None:
            overrides = {k: kwargs[k] for k in _OBSERVER_KWARGS if kwargs.get(k) is not None}
            observer = observer_from_env(**overrides) if overrides else default_observer()
        instrument_all(observer)

    def _uninstrument(self, **kwargs: Any) -> None:
        uninstrument_all()
