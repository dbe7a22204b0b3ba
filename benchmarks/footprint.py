"""How much of runwatch's code one run touches: the Python functions an instrumented run executes
that the bare SDK's run does not, and the size of their bytecode, by module.

    .venv/bin/python benchmarks/footprint.py [--api responses|chat|assistants] [--events 100]
                                             [--sinks none|metrics|default|all] [--functions]

Diagnostic, deterministic (the same code and streams give the same census), no clock. Why it
matters: between two stretches of the SDK's own work, each function runwatch runs has to be
brought back into the processor's caches (its code object, its bytecode, the objects it reads),
so in place a run costs about what its footprint is, not what its instructions are
(docs/performance.md, "Round 3" and "Round 4"). One run of each client is traced with
``sys.setprofile`` after five warm-up runs; what the bare run also calls (the SDK, httpx2,
pydantic) is left out, so the census is runwatch's own code and the library code only it calls.
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness
import run as bench

import runwatch


def observer(case: bench.PerRunCase, sinks: str) -> runwatch.Observer:
    """The per-run rows' observers (``benchmarks/run.py``), and one with no sinks at all."""
    if sinks == "none":
        return runwatch.Observer(raise_errors=False, metrics=False, traces=False, logs=False)
    names = {"metrics": "metrics only", "all": "all sinks", "default": "default, no OTel SDK"}
    return case._observer(names[sinks])


def census(client: Any, api: str) -> collections.Counter[CodeType]:
    """Calls per code object during one whole run of ``client``."""
    opener = harness.OPENERS[api]
    calls: collections.Counter[CodeType] = collections.Counter()

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            calls[frame.f_code] += 1

    sys.setprofile(profile)
    try:
        harness.consume(opener(client))
    finally:
        sys.setprofile(None)
    return calls


def where(code: CodeType) -> str:
    """The module's path from its package root (``stdlib/`` for the standard library)."""
    name = re.sub(r".*/(site-packages|src)/", "", code.co_filename)
    return re.sub(r".*/lib/python3\.[0-9]+/", "stdlib/", name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--api", choices=sorted(harness.OPENERS), default="responses")
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--sinks", choices=("none", "metrics", "default", "all"), default="none")
    parser.add_argument("--functions", action="store_true", help="list every function, most called first")
    args = parser.parse_args()

    case = bench.PerRunCase(args.api, args.events, 12)
    bare = harness.client(case.bodies)
    inst = harness.client(case.bodies)
    runwatch.instrument(inst, observer(case, args.sinks))
    opener = harness.OPENERS[args.api]
    for _ in range(5):
        harness.consume(opener(bare))
        harness.consume(opener(inst))
    if args.sinks == "all":
        bench.SPANS.flush()
    base = census(bare, args.api)
    extra = {code: n for code, n in census(inst, args.api).items() if code not in base}

    size = {code: len(code.co_code) for code in extra}  # bytecode with its inline caches
    by_module: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0, 0])
    for code, n in extra.items():
        row = by_module[where(code)]
        row[0] += 1
        row[1] += size[code]
        row[2] += n
    print(
        f"{args.api} {args.events} events, sinks {args.sinks}: the bare run calls {len(base)} functions; "
        f"runwatch adds {len(extra)} functions, {sum(size.values()):,} bytes of bytecode, "
        f"{sum(extra.values())} calls"
    )
    print(f"  {'module':52s} {'functions':>9s} {'bytecode':>9s} {'calls':>6s}")
    for module, (count, nbytes, n) in sorted(by_module.items(), key=lambda kv: -kv[1][1]):
        print(f"  {module:52s} {count:9d} {nbytes:9,d} {n:6d}")
    if args.functions:
        for code, n in sorted(extra.items(), key=lambda kv: (-kv[1], where(kv[0]))):
            print(f"    {n:5d} calls {size[code]:6d} B  {where(code)}:{code.co_name}")


if __name__ == "__main__":
    main()
