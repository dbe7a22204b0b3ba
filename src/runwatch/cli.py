"""The ``runwatch`` command line: ``demo``, ``replay``, ``dashboards``.

Bad input gets a one-line message on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ._dashgen import DEFAULT_MIN_RUNS, DEFAULT_RUNBOOK_URL
from ._events import APIS


def _replay(args: argparse.Namespace) -> int:
    from ._replay import ReplayError, render_json, render_table, replay_files

    try:
        result = replay_files([Path(p) for p in args.files], api=args.api)
    except ReplayError as exc:
        print(f"runwatch replay: {exc}", file=sys.stderr)
        return 2
    print(render_json(result) if args.json else render_table(result))
    return 0


def _number(option: str, text: str, kind: type[float] | type[int]) -> float:
    """``text`` as ``kind``; a ValueError naming ``option`` otherwise (argparse would print usage)."""
    try:
        return kind(text.strip())
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise ValueError(f"{option} must be {what}, got {text!r}") from None


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
        )
    except (ValueError, OSError) as exc:
        print(f"runwatch dashboards: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import cli as demo_cli

    return int(demo_cli.run(args))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="runwatch", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    replay = sub.add_parser("replay", help="replay recorded SSE bodies through the tracker")
    replay.add_argument("files", nargs="+", metavar="FILE", help="raw text/event-stream bodies")
    replay.add_argument("--api", choices=APIS, help="protocol of the files (default: detected)")
    replay.add_argument("--json", action="store_true", help="machine-readable outcomes and totals")
    replay.set_defaults(func=_replay)

    dash = sub.add_parser("dashboards", help="write the Grafana dashboard and Prometheus rules")
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
        help="tolerated share of failed runs (same range; default: --objective)",
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
    dash.set_defaults(func=_dashboards)

    demo = sub.add_parser("demo", help="the embedded demo: a local OpenAI-compatible server + real SDK")
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
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
