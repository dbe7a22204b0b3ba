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
    """runwatch's spans go to an SDK provider of the demo's own (so it can show one run's span
    tree), and from it to the console when OTEL_TRACES_EXPORTER=console, over OTLP when
    OTEL_EXPORTER_OTLP_ENDPOINT is set, and nowhere else otherwise."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    exporter: Any = None
    if os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        # stderr: stdout carries the summary (and --json).
        exporter = ConsoleSpanExporter(out=sys.stderr)
    elif os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    ):
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found,unused-ignore]
                OTLPSpanExporter,
            )
        except ImportError:
            raise _UsageError(
                "OTEL_EXPORTER_OTLP_ENDPOINT is set but the OTLP exporter is not installed: "
                "pip install 'runwatch[otlp]'"
            ) from None
        exporter = OTLPSpanExporter()
    provider = TracerProvider()
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def run(
    args: argparse.Namespace,
    *,
    registry: Any = None,
    tracer_provider: Any = None,
    stop: threading.Event | None = None,
) -> int:
    """Run the demo; returns the exit code (0 ok, 2 bad options, 130 interrupted by Ctrl-C).
    ``registry`` and ``tracer_provider`` let tests observe it (default: a fresh registry, the
    environment's exporter); ``stop`` ends the run early (default: SIGINT / SIGTERM)."""
    try:
        return _run(args, registry, tracer_provider, stop)
    except _UsageError as exc:
        print(f"runwatch demo: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # a second Ctrl-C, or one before the handlers were installed
        print("\nrunwatch demo: interrupted", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace, registry: Any, tracer_provider: Any, stop: threading.Event | None) -> int:
    mix = _validate(args)
    import openai
    from prometheus_client import CollectorRegistry, start_http_server

    import runwatch
    from runwatch.demo import driver, explain
    from runwatch.demo.server import DemoServer

    own_provider = tracer_provider is None
    provider = _tracer_provider() if own_provider else tracer_provider
    example = explain.ExampleSpans()
    provider.add_span_processor(example)
    registry = registry if registry is not None else CollectorRegistry()
    # Per-run log lines would bury the progress bar and the summary: the log sink renders only
    # the example run's run.finished line, shown after the summary.
    logger, example_log = explain.example_logger(example)
    observer = runwatch.Observer(registry=registry, tracer_provider=provider, logger=logger)

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
    signals: list[int] = []
    if stop is None:
        stop = threading.Event()
        restore = _install_signal_handlers(stop, signals)
    try:
        try:
            metrics_server, _ = start_http_server(args.metrics_port, addr="127.0.0.1", registry=registry)
        except OSError as exc:
            raise _UsageError(
                f"cannot serve /metrics on 127.0.0.1:{args.metrics_port}: {exc.strerror or exc}"
            ) from None
        api_url = server.url + "/v1"
        metrics_url = f"http://127.0.0.1:{metrics_server.server_address[1]}/metrics"
        print(f"runwatch demo: API {api_url}  metrics {metrics_url}", file=sys.stderr)

        client = runwatch.instrument(
            openai.OpenAI(base_url=api_url, api_key="demo", max_retries=0, timeout=60),
            observer=observer,
        )
        rng = random.Random(args.seed)
        # The default mix starts with the tour: the seed case and every headline outcome.
        tour = args.mix == DEFAULT_MIX
        if args.serve:
            print(
                "runwatch demo: serving traffic until Ctrl-C (SIGINT) or SIGTERM; "
                "point your own client at it:",
                file=sys.stderr,
            )
            print(
                f'    runwatch.instrument(openai.OpenAI(base_url="{api_url}", api_key="demo"))',
                file=sys.stderr,
            )
            plans = driver.plans(mix, None, rng, tour=tour)
            progress = driver.Progress(None, sys.stderr)
        else:
            plans = driver.plans(mix, args.runs, rng, tour=tour)
            progress = driver.Progress(args.runs, sys.stderr)
        driven = driver.drive(
            client, plans, concurrency=args.concurrency, progress=progress, stop=stop, on_stop=server.stop
        )
        progress.close()
        provider.force_flush()
        summary = driver.summarize(registry)
        interrupted = driven.stopped and not args.serve
        if args.json:
            out = summary.as_json()
            out["metrics_url"] = metrics_url
            out["api_url"] = api_url
            out["seed"] = args.seed
            out["sdk_exceptions_caught"] = dict(sorted(driven.caught.items()))
            out["sdk_exceptions"] = [
                {
                    "exception": exc,
                    "api": api,
                    "call": explain.CODE_PATHS.get((api, style), style),
                    "status": status,
                    "reason": reason,
                    "count": n,
                    "message": driven.messages.get((exc, api, style, status, reason), ""),
                }
                for (exc, api, style, status, reason), n in sorted(driven.raised.items())
            ]
            out["example_run"] = {
                "spans": explain.render_tree(example.spans),
                "log": example_log.line(),
            }
            out["interrupted"] = interrupted
            out["cut_by_stop"] = driven.cut
            if not args.serve:
                out["requested"] = [
                    {"api": a, "status": s, "reason": r, "count": n}
                    for (a, s, r), n in sorted(driven.requested.items())
                ]
            print(json.dumps(out, indent=2, sort_keys=True))
        else:
            print(_report(summary, driven, example, example_log, api_url, metrics_url, args.serve))
        if interrupted:
            print(
                f"runwatch demo: interrupted after {driven.done} of {args.runs} runs "
                f"({driven.cut} cut mid-run)",
                file=sys.stderr,
            )
            return 130
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
        if own_provider:
            provider.shutdown()


def _report(  # noqa: PLR0917 - one call site
    summary: Any, driven: Any, example: Any, example_log: Any, api_url: str, metrics_url: str, serving: bool
) -> str:
    from runwatch.demo import explain

    lines = [summary.table()]
    if example.spans:
        status = (example.spans[-1].attributes or {}).get("runwatch.run.status", "")
        lines += [
            "",
            f"One {status} run as your tracing backend shows it (span tree):",
            *explain.render_tree(example.spans),
        ]
        line = example_log.line()
        if line:
            lines += ["", "and as your logs show it (structlog, run.finished):", "  " + line.rstrip()]
    if driven.raised:
        lines += [
            "",
            "SDK exceptions the app had to catch (runwatch recorded each of these runs, "
            "with its outcome, in the table above):",
            *explain.render_exceptions(driven.raised, driven.messages),
        ]
    lines += ["", *explain.next_steps(api_url, metrics_url, serving)]
    return "\n".join(lines)


def _install_signal_handlers(stop: threading.Event, received: list[int]) -> Any:
    """Route SIGINT/SIGTERM to ``stop`` (main thread only); a second one raises
    KeyboardInterrupt (quit now). Returns a function restoring the previous handlers."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous: dict[int, Any] = {}

    def handle(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("\nrunwatch demo: stopping (Ctrl-C again to quit at once)", file=sys.stderr)

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handle)

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore
