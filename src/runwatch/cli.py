"""The ``runwatch`` command line: ``demo``, ``replay``, ``dashboards``.

Bad input gets a one-line message on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final, NoReturn

from . import __version__
from ._dashgen import (
    DEFAULT_BAD_STATUSES,
    DEFAULT_BENIGN_REASONS,
    DEFAULT_MIN_RUNS,
    DEFAULT_NAMESPACE,
    DEFAULT_RUNBOOK_URL,
)
from ._events import APIS

# -------------------------------------------------------------------- optional dependencies
#: Optional dependencies of the installed package: module -> (what it is, the extra installing it).
#: A command that needs one and does not find it says what to install in one line (exit 2), never
#: a traceback: ``pip install runwatch`` alone must not crash on any command. tests/test_package.py
#: checks every extra named here exists and that no other module is needed.
OPTIONAL: Final[dict[str, tuple[str, str]]] = {
    "openai": ("the openai SDK", "openai"),
    "opentelemetry.exporter.otlp": ("the OTLP exporter (opentelemetry-exporter-otlp-proto-http)", "otlp"),
    "opentelemetry.instrumentation": ("opentelemetry-instrumentation (zero-code mode)", "instrument"),
    "grafana_foundation_sdk": ("grafana-foundation-sdk (build time only)", "dashboards"),
}

#: What each command cannot start without; checked before it starts anything.
NEEDS: Final[dict[str, tuple[str, ...]]] = {"demo": ("openai",)}


def install_hint(module: str | None) -> str | None:
    """``"<what> is not installed: pip install 'runwatch[<extra>]'"`` for an optional module (or
    a submodule of one), None for any other module.

    Example::

        >>> install_hint("openai.types")
        "the openai SDK is not installed: pip install 'runwatch[openai]'"
    """
    for name, (what, extra) in OPTIONAL.items():
        if module is not None and (module == name or module.startswith(name + ".")):
            return f"{what} is not installed: pip install 'runwatch[{extra}]'"
    return None


def _missing(command: str) -> str | None:
    for module in NEEDS.get(command, ()):
        try:
            found = importlib.util.find_spec(module) is not None
        except ImportError:  # a parent package missing or broken
            found = False
        if not found:
            return install_hint(module)
    return None


def _replay(args: argparse.Namespace) -> int:
    from ._replay import STDIN, ReplayError, render_json, render_table, replay_files

    try:
        result = replay_files([p if p == STDIN else Path(p) for p in args.files], api=args.api)
    except ReplayError as exc:
        print(f"runwatch replay: {exc}", file=sys.stderr)
        return 2
    with _quiet_when_the_reader_leaves():
        print(render_json(result) if args.json else render_table(result))
        sys.stdout.flush()
    return 0


@contextlib.contextmanager
def _quiet_when_the_reader_leaves() -> Iterator[None]:
    """``runwatch ... | head``: when the reader closes the pipe, output stops quietly (no
    BrokenPipeError, exit status unchanged), as it does for the usual command-line tools."""
    try:
        yield
    except BrokenPipeError:
        # Python would hit the closed pipe again when it flushes stdout at exit: point it at
        # /dev/null (stdout may be a test's capture with no descriptor, then there is no pipe).
        with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)


def _number(option: str, text: str, kind: type[float] | type[int]) -> float:
    """``text`` as ``kind``; a ValueError naming ``option`` otherwise (argparse would print usage)."""
    try:
        return kind(text.strip())
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise ValueError(f"{option} must be {what}, got {text!r}") from None


def _names(text: str) -> tuple[str, ...]:
    """A comma-separated list of names (``--bad-statuses failed,aborted``); "" is none."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _dashboards(args: argparse.Namespace) -> int:
    from . import _dashgen

    try:
        # Numbers arrive as text and are converted here, so a bad value is one line on stderr
        # (argparse's own type errors print the usage block too). Ranges are checked by _dashgen.
        objective = _number("--objective", args.objective, float)
        failure = (
            None
            if args.failure_objective is None
            else _number("--failure-objective", args.failure_objective, float)
        )
        min_runs = int(_number("--min-runs", args.min_runs, int))
        written = _dashgen.write(
            Path(args.out),
            objective=objective,
            selector=args.selector,
            failure_objective=failure,
            min_runs=min_runs,
            runbook_url=args.runbook_url,
            namespace=args.namespace,
            scope=args.scope,
            bad_statuses=_names(args.bad_statuses),
            benign_reasons=_names(args.benign_reasons),
            request_errors=args.request_errors,
        )
    except (ValueError, OSError) as exc:
        print(f"runwatch dashboards: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import cli as demo_cli

    with _quiet_when_the_reader_leaves():
        return int(demo_cli.run(args))
    return 0  # the reader left: the demo itself had finished


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (``runwatch demo: argument --runs: invalid int value:
    'x' (see runwatch demo --help)``, exit 2) instead of the usage block and a second line."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


#: ``runwatch --help``: plain text (the module docstring is for Python readers).
_DESCRIPTION = (
    "Observe OpenAI streaming runs. Commands: demo (an embedded OpenAI-compatible server driven by "
    "the real openai SDK, observed by runwatch; no API key), replay (recorded SSE bodies through "
    "the tracker), dashboards (write the Grafana dashboard and Prometheus rules). Bad input gets "
    "a one-line message on stderr and exit status 2."
)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="runwatch", description=_DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"runwatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    replay = sub.add_parser(
        "replay",
        help="replay recorded SSE bodies through the tracker",
        description="Replay recorded text/event-stream bodies through the same tracker as live "
        "streams; files given together are consecutive streams of one process. Prints each run "
        "(api, id, model, status, reason, phases, duration, tokens) and totals by status/reason.",
    )
    replay.add_argument(
        "files", nargs="+", metavar="FILE", help="raw text/event-stream bodies; - reads standard input"
    )
    replay.add_argument("--api", choices=APIS, help="protocol of the files (default: detected)")
    replay.add_argument(
        "--json", action="store_true", help="the same runs (phases, duration, tokens) and totals as JSON"
    )
    replay.set_defaults(func=_replay)

    dash = sub.add_parser(
        "dashboards", help="write the Grafana dashboard, the Prometheus rules and an Alertmanager fragment"
    )
    dash.add_argument("--out", required=True, metavar="DIR")
    dash.add_argument(
        "--objective",
        default="0.05",
        metavar="RATIO",
        help="tolerated share of incomplete runs, the error budget (0 < RATIO < 1/6; default 0.05)",
    )
    dash.add_argument(
        "--failure-objective",
        default=None,
        metavar="RATIO",
        help="tolerated share of bad runs and failed requests (same range; default: --objective)",
    )
    dash.add_argument(
        "--min-runs",
        default=str(DEFAULT_MIN_RUNS),
        metavar="N",
        help=f"low-traffic guard: alerts need N finished runs in their window (default {DEFAULT_MIN_RUNS})",
    )
    dash.add_argument(
        "--runbook-url",
        default=DEFAULT_RUNBOOK_URL,
        metavar="URL",
        help=f"base of each alert's runbook_url, '#<alert>' is appended (default {DEFAULT_RUNBOOK_URL})",
    )
    dash.add_argument("--selector", default="", help='PromQL matchers added to every query, e.g. job="api"')
    dash.add_argument(
        "--namespace",
        default=DEFAULT_NAMESPACE,
        help=f"metric name prefix, as in PrometheusSink(namespace=...) (default {DEFAULT_NAMESPACE})",
    )
    dash.add_argument(
        "--scope",
        default="",
        metavar="NAME",
        help="label scope=NAME on every recorded series and alert, so rule sets whose selectors have no "
        "equality matcher can share one Prometheus (default: none)",
    )
    dash.add_argument(
        "--bad-statuses",
        default=",".join(DEFAULT_BAD_STATUSES),
        metavar="LIST",
        help=f"statuses the failure SLO counts as bad (default {','.join(DEFAULT_BAD_STATUSES)})",
    )
    dash.add_argument(
        "--benign-reasons",
        default=",".join(DEFAULT_BENIGN_REASONS),
        metavar="LIST",
        help="reasons that never make a run bad: the caller ended the stream "
        f"(default {','.join(DEFAULT_BENIGN_REASONS)}; '' for none)",
    )
    dash.add_argument(
        "--request-errors",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="count requests that failed before their first event in the failure SLO (default: yes)",
    )
    dash.set_defaults(func=_dashboards)

    demo = sub.add_parser(
        "demo",
        help="the embedded demo: a local OpenAI-compatible server + real SDK",
        description="Start an OpenAI-compatible streaming server on 127.0.0.1, drive it with the real "
        "openai SDK instrumented by runwatch, serve /metrics, and print what runwatch recorded: "
        "outcomes by api, status and reason, one incomplete run's span tree and log line, the SDK "
        "exceptions the app had to catch, and next steps. No API key, no network. Ctrl-C stops it.",
    )
    try:
        from .demo import cli as demo_cli

        demo_cli.add_arguments(demo)
    except ImportError:  # pragma: no cover - the demo ships with the package
        pass
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    hint = _missing(args.command)
    if hint is None:
        try:
            return int(args.func(args))
        except ModuleNotFoundError as exc:
            # An optional module imported deeper than NEEDS says; anything else is a bug: re-raise.
            hint = install_hint(exc.name)
            if hint is None:
                raise
    print(f"runwatch {args.command}: {hint}", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
