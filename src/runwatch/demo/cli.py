"""``runwatch demo``: the embedded server, the real openai SDK, runwatch, ``/metrics``.

    runwatch demo --runs 200 --concurrency 8 --mix "completed=70,incomplete:max_output_tokens=20,..."
    runwatch demo --serve            # keep traffic flowing; scrape the printed /metrics URL

``runwatch.cli`` calls :func:`add_arguments` and :func:`run`. Bad options print one line on stderr
and return 2; nothing here lets a traceback reach the user for a usage mistake.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

from runwatch.demo.scenarios import DEFAULT_MIX, Mix

__all__ = ["add_arguments", "run"]


class _UsageError(Exception):
    pass


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the demo's options to ``parser`` (the ``demo`` subcommand of ``runwatch``)."""
    parser.add_argument(
        "--runs", type=int, default=100, help="runs to drive (default 100; with --serve: per batch)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=4, help="concurrent runs (threads), >= 1 (default 4)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed for the scenario picks and timings (default 0)"
    )
    parser.add_argument(
        "--mix",
        default=DEFAULT_MIX,
        help="scenario weights, e.g. 'completed=70,incomplete:max_output_tokens=20,failed:server_error=10'; "
        "prefix a name with 'api/' to restrict it (default: a production-like mix)",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=0,
        help="port for /metrics on 127.0.0.1 (default 0: any free port)",
    )
    parser.add_argument("--port", type=int, default=0, help="port for the demo API server (default 0: any)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    parser.add_argument("--serve", action="store_true", help="keep traffic flowing until SIGINT/SIGTERM")
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="time scale: 2 runs twice as fast as real-world pacing (default 1)",
    )


def _validate(args: argparse.Namespace) -> Mix:
    if args.runs < 0:
        raise _UsageError(f"--runs must be >= 0, got {args.runs}")
    if args.concurrency < 1:
        raise _UsageError(f"--concurrency must be >= 1, got {args.concurrency}")
    if not args.speed > 0 or args.speed == float("inf"):
        raise _UsageError(f"--speed must be a positive number, got {args.speed}")
    for name in ("metrics_port", "port"):
        port = getattr(args, name)
        if not 0 <= port <= 65535:
            raise _UsageError(f"--{name.replace('_', '-')} must be between 0 and 65535, got {port}")
    try:
        return Mix.parse(args.mix)
    except ValueError as exc:
        raise _UsageError(f"--mix: {exc}") from None


def _tracer_provider() -> Any:
    """Spans go to the console only when OTEL_TRACES_EXPORTER=console, over OTLP when
    OTEL_EXPORTER_OTLP_ENDPOINT is set, and nowhere otherwise (None: the global no-op provider)."""
    exporter: Any
    if os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        # stderr: stdout carries --json.
        exporter = ConsoleSpanExporter(out=sys.stderr)
    elif os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    ):
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found]
                OTLPSpanExporter,
            )
        except ImportError:
            raise _UsageError(
                "OTEL_EXPORTER_OTLP_ENDPOINT is set but the OTLP exporter is not installed: "
                "pip install 'runwatch[otlp]'"
            ) from None
        exporter = OTLPSpanExporter()
    else:
        return None
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def run(
    args: argparse.Namespace,
    *,
    registry: Any = None,
    tracer_provider: Any = None,
    stop: threading.Event | None = None,
) -> int:
    """Run the demo; returns the exit code (0 ok, 2 bad options). ``registry`` and
    ``tracer_provider`` let tests observe it (default: a fresh registry, the environment's
    exporter); ``stop`` ends ``--serve`` (default: SIGINT / SIGTERM)."""
    try:
        return _run(args, registry, tracer_provider, stop)
    except _UsageError as exc:
        print(f"runwatch demo: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, registry: Any, tracer_provider: Any, stop: threading.Event | None) -> int:
    mix = _validate(args)
    import openai
    from prometheus_client import CollectorRegistry, start_http_server

    import runwatch
    from runwatch.demo import driver
    from runwatch.demo.server import DemoServer

    own_provider = tracer_provider is None
    provider = _tracer_provider() if own_provider else tracer_provider
    registry = registry if registry is not None else CollectorRegistry()
    # Per-run log lines would bury the progress bar and the summary; spans and metrics carry it all.
    observer = runwatch.Observer(registry=registry, tracer_provider=provider, logs=False)

    server = DemoServer(mix=mix, seed=args.seed, speed=args.speed, port=args.port)
    try:
        server.start()
    except OSError as exc:
        raise _UsageError(
            f"cannot start the demo server on 127.0.0.1:{args.port}: {exc.strerror or exc}"
        ) from None
    metrics_server: Any = None
    client: Any = None
    restore = None
    if stop is None:
        stop = threading.Event()
        restore = _install_signal_handlers(stop) if args.serve else None
    try:
        try:
            metrics_server, _ = start_http_server(args.metrics_port, addr="127.0.0.1", registry=registry)
        except OSError as exc:
            raise _UsageError(
                f"cannot serve /metrics on 127.0.0.1:{args.metrics_port}: {exc.strerror or exc}"
            ) from None
        metrics_url = f"http://127.0.0.1:{metrics_server.server_address[1]}/metrics"
        print(f"runwatch demo: API {server.url}/v1  metrics {metrics_url}", file=sys.stderr)

        client = runwatch.instrument(
            openai.OpenAI(base_url=server.url + "/v1", api_key="demo", max_retries=0, timeout=60),
            observer=observer,
        )
        rng = random.Random(args.seed)
        if args.serve:
            print("runwatch demo: serving traffic until Ctrl-C (SIGINT) or SIGTERM", file=sys.stderr)
            plans: Iterator[driver.Plan] = _endless(mix, max(1, args.runs), rng)
            progress = driver.Progress(None, sys.stderr)
            caught = driver.drive(client, plans, concurrency=args.concurrency, progress=progress, stop=stop)
            requested = None
        else:
            plan_list = driver.make_plan(mix, args.runs, rng)
            progress = driver.Progress(args.runs, sys.stderr)
            caught = driver.drive(client, plan_list, concurrency=args.concurrency, progress=progress)
            requested = driver.expected_counts(plan_list)
        progress.close()
        if own_provider and provider is not None:
            provider.force_flush()
        summary = driver.summarize(registry)
        if args.json:
            out = summary.as_json()
            out["metrics_url"] = metrics_url
            out["seed"] = args.seed
            out["sdk_exceptions_caught"] = dict(sorted(caught.items()))
            if requested is not None:
                out["requested"] = [
                    {"api": a, "status": s, "reason": r, "count": n}
                    for (a, s, r), n in sorted(requested.items())
                ]
            print(json.dumps(out, indent=2, sort_keys=True))
        else:
            print(summary.table())
            if caught:
                what = ", ".join(f"{name} x{n}" for name, n in sorted(caught.items()))
                print(
                    f"\nThe app had to catch SDK exceptions on legitimate outcomes: {what} "
                    "(runwatch still recorded those runs above)."
                )
        return 0
    finally:
        if restore is not None:
            restore()
        if client is not None:
            client.close()
        if metrics_server is not None:
            metrics_server.shutdown()
            metrics_server.server_close()
        server.stop()
        if own_provider and provider is not None:
            provider.shutdown()


def _endless(mix: Mix, batch: int, rng: random.Random) -> Iterator[Any]:
    from runwatch.demo import driver

    while True:
        yield from driver.make_plan(mix, batch, rng)


def _install_signal_handlers(stop: threading.Event) -> Any:
    """Route SIGINT/SIGTERM to ``stop`` (main thread only); returns a function restoring the old ones."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous: dict[int, Any] = {}

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handle)

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore
