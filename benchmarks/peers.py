"""One peer instrumentation, timed per run the way benchmarks/run.py times runwatch. Run by run.py.

    /tmp/peer-openinference/bin/python benchmarks/peers.py <peer> <responses|chat> <body.sse> <rounds> <runs>
    (under harness.run_counted:) ... benchmarks/peers.py --counted <peer> <responses|chat> <body.sse> <runs>

It runs inside the peer's own venv (openai + opentelemetry-sdk + the peer, nothing of runwatch's)
and uses only :mod:`harness` (same folder): the same streams, the same batches of whole runs, CPU
time, variants rotated round by round, paired with the bare SDK. Three variants: the bare SDK,
the bare SDK again (this row's noise), and the peer switched on. Spans go through one
``BatchSpanProcessor`` into an in-memory exporter, flushed at the end of each batch inside its
timing, as runwatch's are in run.py. The peer runs with its default settings (some record prompt
and completion content by default; runwatch records none).

How each peer is switched on and off between batches (outside the timed region):
- OpenTelemetry instrumentors (openinference, OpenLLMetry, opentelemetry-instrumentation-openai-v2):
  ``instrument(tracer_provider=...)`` once; the SDK class attributes it replaced are recorded and
  swapped in and out (``uninstrument()`` then ``instrument()`` again leaves OpenLLMetry 0.62.4
  wrapping twice: one more span per run each time, which the previous version of this benchmark
  measured).
- logfire: ``logfire.configure(send_to_logfire=False, console=False)`` with the shared span
  processor, and ``logfire.instrument_openai(client)`` on the instrumented variant's client only.
- langfuse: ``langfuse.openai`` patches the SDK's classes when imported: swapped the same way.
  Its client is given the tracer provider and the in-memory exporter (it puts its own batch
  processor between them).

Prints one JSON line: {"peer_version", "events", "bare_ms", "instrumented": {...}, "noise": {...}}.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

import harness
import openai
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

warnings.filterwarnings("ignore")


class Switch:
    """Turns a peer on (``on``) and off (``off``); ``flush`` exports its spans; ``client`` wraps the
    instrumented variant's client when the peer instruments clients one by one."""

    def __init__(self, *, processor: bool = True) -> None:
        self.exporter = InMemorySpanExporter()
        self.processor = BatchSpanProcessor(self.exporter)
        self.provider = TracerProvider()
        if processor:
            self.provider.add_span_processor(self.processor)
        self.state = False

    def on(self) -> None:
        if not self.state:
            self._on()
            self.state = True

    def off(self) -> None:
        if self.state:
            self._off()
            self.state = False

    def _on(self) -> None:
        pass

    def _off(self) -> None:
        pass

    def client(self, c: Any) -> Any:
        return c

    def flush(self) -> None:
        self.provider.force_flush()

    def clear(self) -> None:
        self.exporter.clear()

    def spans(self) -> int:
        return len(self.exporter.get_finished_spans())


class Logfire(Switch):
    """logfire instruments one client at a time: only the instrumented variant's."""

    def __init__(self) -> None:
        super().__init__()
        import logfire

        self.logfire = logfire
        logfire.configure(
            send_to_logfire=False,
            console=False,
            additional_span_processors=[self.processor],
            inspect_arguments=False,
        )

    def client(self, c: Any) -> Any:
        self.logfire.instrument_openai(c)
        return c

    def flush(self) -> None:
        self.logfire.force_flush()

    def on(self) -> None:
        pass

    def off(self) -> None:
        pass


class Patches(Switch):
    """A peer that patches the SDK's classes on import (langfuse.openai): the replaced class
    attributes are recorded once and swapped in (on) and out (off)."""

    def __init__(self, install: Callable[[], Any], *, processor: bool = True) -> None:
        super().__init__(processor=processor)
        _import_all()  # a class first imported by install() would have no original to restore
        before = _class_attributes()
        classes = {cls for cls, _ in before}
        install()
        after = _class_attributes()
        # (An attribute the peer added, on a subclass that inherited it, has no original: off
        # deletes it.)
        self.changed = [
            (cls, name, before.get((cls, name), _ABSENT), value)
            for (cls, name), value in after.items()
            if before.get((cls, name), _ABSENT) is not value and cls in classes
        ]
        if not self.changed:
            raise SystemExit("the peer patched nothing the benchmark can switch")
        self.state = True
        self.off()

    def _on(self) -> None:
        for cls, name, _, patched in self.changed:
            setattr(cls, name, patched)

    def _off(self) -> None:
        for cls, name, original, _ in self.changed:
            if original is _ABSENT:
                delattr(cls, name)
            else:
                setattr(cls, name, original)


_ABSENT = object()


def _import_all() -> None:
    """Import the SDK's resource and type modules (what instrumentors patch)."""
    import importlib
    import pkgutil

    todo = [("openai.resources", openai.resources.__path__), ("openai.types", openai.types.__path__)]
    while todo:
        prefix, path = todo.pop()
        for info in pkgutil.iter_modules(path, prefix + "."):
            try:
                module = importlib.import_module(info.name)
            except (Exception, SystemExit):  # an optional extra (numpy, sounddevice) not installed
                continue
            if info.ispkg:
                todo.append((info.name, module.__path__))


def _class_attributes() -> dict[tuple[type, str], object]:
    out: dict[tuple[type, str], object] = {}
    for mod_name, module in list(sys.modules.items()):
        if not (mod_name == "openai" or mod_name.startswith("openai.")) or module is None:
            continue
        for obj in list(vars(module).values()):
            if isinstance(obj, type) and obj.__module__ == mod_name:
                for name, value in list(vars(obj).items()):
                    out[obj, name] = value
    return out


def _instrumentor(instrumentor: Any) -> Switch:
    provider = TracerProvider()
    sw = Patches(lambda: instrumentor.instrument(tracer_provider=provider), processor=False)
    sw.provider = provider
    provider.add_span_processor(sw.processor)
    return sw


def switch(peer: str) -> Switch:
    if peer == "opentelemetry-instrumentation-openai-v2":
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

        return _instrumentor(OpenAIInstrumentor())
    if peer == "openinference-instrumentation-openai":
        from openinference.instrumentation.openai import OpenAIInstrumentor as OI

        return _instrumentor(OI())
    if peer == "opentelemetry-instrumentation-openai":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor as LL

        return _instrumentor(LL())
    if peer == "logfire":
        return Logfire()
    if peer == "langfuse":
        return _langfuse()
    raise SystemExit(f"unknown peer {peer}")


def _langfuse() -> Switch:
    # Credentials are required to build a client (never used: no network). The client is given
    # the tracer provider and the in-memory exporter, and puts its own batch processor (the one it
    # always uses) between them, in place of the shared one.
    os.environ.setdefault("LANGFUSE_PUBLIC_KEY", "pk-lf-bench")
    os.environ.setdefault("LANGFUSE_SECRET_KEY", "sk-lf-bench")
    os.environ.setdefault("LANGFUSE_HOST", "http://127.0.0.1:9")

    def install() -> None:
        import langfuse.openai  # noqa: F401 - patches the SDK on import

    sw = Patches(install, processor=False)
    from langfuse import Langfuse

    Langfuse(tracer_provider=sw.provider, span_exporter=sw.exporter)
    return sw


def variants(sw: Switch, body: bytes) -> list[harness.Variant]:
    """The bare SDK, the bare SDK again (the noise) and the peer switched on, each its own client."""

    def variant(name: str, instrumented: bool) -> harness.Variant:
        c = harness.client([body])
        if instrumented:
            c = sw.client(c)
            return harness.Variant(name, c, flush=sw.flush, reset=lambda: (sw.clear(), sw.on()))
        return harness.Variant(name, c, reset=sw.off)

    return [variant("bare", False), variant("bare again", False), variant("instrumented", True)]


def counted(peer: str, api: str, body: bytes, runs: int) -> None:
    """Under callgrind (``harness.run_counted``): each variant's instructions for ``runs`` runs,
    as run.py counts runwatch's per-run rows."""
    harness.count_variants(variants(switch(peer), body), api, runs)


def main() -> None:
    if sys.argv[1] == "--counted":
        peer, api, path, runs = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
        with open(path, "rb") as f:
            counted(peer, api, f.read(), runs)
        return
    peer, api, path, count, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    with open(path, "rb") as f:
        body = f.read()
    sw = switch(peer)
    variants_ = variants(sw, body)
    times = harness.rounds(variants_, api, runs, count)
    sw.off()
    sw.on()
    sw.flush()
    sw.clear()
    harness.runs_of(variants_[2], api, 1)  # flushes at its end
    spans = sw.spans()
    sw.off()
    print(
        json.dumps(
            {
                "peer_version": version(peer),
                "openai": openai.__version__,
                "events": variants_[0].events[-1],
                "runs_per_batch": runs,
                "instrumented": harness.compare(times["bare"], times["instrumented"]),
                "noise": harness.compare(times["bare"], times["bare again"]),
                "spans_per_run": spans,
            }
        )
    )


if __name__ == "__main__":
    main()
