"""Per-run cost harness shared by ``run.py`` (runwatch) and ``peers.py`` (other instrumentations,
each in its own venv). Standard library, httpx2 and openai only: nothing of runwatch's.

A *variant* is a way of calling the same streams: the bare SDK, the SDK instrumented one way or
another. :func:`rounds` times batches of whole runs (``create`` to the end of the stream) of every
variant in turn, in a rotated order each round, and :func:`compare` pairs each variant's batches
with the bare batches of the same rounds:

- CPU time of the process (``time.process_time``: every thread, a span exporter's included), not
  wall time: the machine is shared;
- a batch ends with the variant's ``flush`` (a BatchSpanProcessor's export) inside the timed region,
  so background work is paid for by the batch that caused it;
- "added" is the median of the per-round differences, "ratio" the median of the per-round ratios;
- a second bare variant ("bare again") measured the same way says how far two identical variants
  land apart in this run: the noise of every other row.

:class:`Callgrind` counts instructions instead (``valgrind --tool=callgrind``): deterministic for
the same inputs whatever else the machine does, but blind to cache misses, which is where code
that runs a little between long stretches of someone else's pays most. Both are printed.
"""

from __future__ import annotations

import ctypes
import gc
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx2
import openai

CHUNK = 2048


def chunks(body: bytes, size: int = CHUNK) -> Iterator[bytes]:
    """``body`` in ``size``-byte chunks (frames cut across chunks, as on a socket); ``size`` 0:
    one frame per chunk."""
    if size <= 0:
        for part in body.split(b"\n\n")[:-1]:
            yield part + b"\n\n"
        return
    for i in range(0, len(body), size):
        yield body[i : i + size]


def client(bodies: list[bytes], size: int = CHUNK) -> openai.OpenAI:
    """A sync client whose every request is answered with the next of ``bodies`` (cycling) as an
    event stream, over ``httpx2.MockTransport``."""
    served = iter(())  # type: Iterator[bytes]

    def handler(request: httpx2.Request) -> httpx2.Response:
        nonlocal served
        body = next(served, None)
        if body is None:
            served = iter(bodies)
            body = next(served)
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=chunks(body, size))

    return openai.OpenAI(
        api_key="sk-bench",
        base_url="http://bench.invalid/v1",
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
        max_retries=0,
    )


OPENERS: dict[str, Callable[[Any], Any]] = {
    "responses": lambda c: c.responses.create(model="gpt-4o", input="hi", stream=True),
    "chat": lambda c: c.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
    ),
    "assistants": lambda c: c.beta.threads.runs.create(
        "thread_demo0001", assistant_id="asst_demo0001", stream=True
    ),
}


def consume(stream: Any) -> int:
    n = 0
    for _ in stream:
        n += 1
    return n


@dataclass
class Variant:
    """One way of making the runs. ``client`` is built once (outside any timing); ``after`` runs
    after each run and ``flush`` at the end of each batch, both inside its timing; ``reset``
    before each batch, outside it."""

    name: str
    client: Any
    flush: Callable[[], Any] | None = None
    reset: Callable[[], Any] | None = None
    after: Callable[[], Any] | None = None
    events: list[int] = field(default_factory=list)


def runs_of(v: Variant, api: str, runs: int) -> None:
    """``runs`` whole runs of ``v``, then its flush (what a batch times)."""
    open_stream = OPENERS[api]
    after = v.after
    n = 0
    for _ in range(runs):
        n = consume(open_stream(v.client))
        if after is not None:
            after()
    if v.flush is not None:
        v.flush()
    v.events.append(n)


def batch(v: Variant, api: str, runs: int) -> float:
    """CPU milliseconds per run for ``runs`` runs of ``v``."""
    if v.reset is not None:
        v.reset()
    gc.collect()
    c0 = time.process_time()
    runs_of(v, api, runs)
    return (time.process_time() - c0) / runs * 1e3


def rounds(variants: list[Variant], api: str, runs: int, count: int) -> dict[str, list[float]]:
    """``count`` rounds of one batch per variant, the order rotated by one each round (no variant
    always runs right after the same one); one warm-up round first, not kept."""
    out: dict[str, list[float]] = {v.name: [] for v in variants}
    for v in variants:
        batch(v, api, 1)
    k = len(variants)
    for r in range(count):
        order = variants[r % k :] + variants[: r % k]
        if r % 2:
            order.reverse()
        for v in order:
            out[v.name].append(batch(v, api, runs))
    return out


def compare(base: list[float], other: list[float]) -> dict[str, float]:
    """``other`` against ``base`` round by round (both ms/run): medians of the differences and of
    the ratios, the ratios' spread."""
    diffs = [o - b for b, o in zip(base, other, strict=True)]
    ratios = sorted(o / b for b, o in zip(base, other, strict=True))
    q = statistics.quantiles(ratios, n=4) if len(ratios) >= 4 else [ratios[0], ratios[-1], ratios[-1]]
    return {
        "bare_ms": statistics.median(base),
        "ms": statistics.median(other),
        "added_ms": statistics.median(diffs),
        "ratio": statistics.median(ratios),
        "ratio_min": ratios[0],
        "ratio_max": ratios[-1],
        "ratio_q1": q[0],
        "ratio_q3": q[2],
        "pairs": len(ratios),
    }


# -- instruction counts ------------------------------------------------------------------------------
_CALLGRIND_C = r"""
#include <valgrind/callgrind.h>
void rw_toggle(void) { CALLGRIND_TOGGLE_COLLECT; }
void rw_zero(void) { CALLGRIND_ZERO_STATS; }
void rw_dump(const char *label) { CALLGRIND_DUMP_STATS_AT(label); }
"""


class Callgrind:
    """Counts the instructions of chosen stretches of a process run under
    ``valgrind --tool=callgrind --collect-atstart=no`` (:func:`run_counted` starts it): a small C
    library issues callgrind's client requests (zero, toggle collection, dump with a label)."""

    ENV = "RUNWATCH_BENCH_CALLGRIND_LIB"

    def __init__(self, lib: str) -> None:
        self._lib = ctypes.CDLL(lib)

    @classmethod
    def from_env(cls) -> Callgrind | None:
        lib = os.environ.get(cls.ENV)
        return cls(lib) if lib else None

    @staticmethod
    def build(directory: Path) -> str | None:
        """Compile the client-request library into ``directory``; None (and why, on stderr) when
        valgrind, its headers or a C compiler are missing."""
        if shutil.which("valgrind") is None or shutil.which("gcc") is None:
            print("   instruction counts: valgrind or gcc not found", file=sys.stderr)
            return None
        src, lib = directory / "rwcg.c", directory / "rwcg.so"
        src.write_text(_CALLGRIND_C)
        proc = subprocess.run(
            ["gcc", "-O2", "-shared", "-fPIC", "-o", str(lib), str(src)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            print(
                f"   instruction counts: cannot build the helper: {proc.stderr.strip()[-200:]}",
                file=sys.stderr,
            )
            return None
        return str(lib)

    def measure(self, label: str, fn: Callable[[], Any]) -> None:
        """Count ``fn()``'s instructions (every thread) under ``label``. The cyclic garbage
        collector is off meanwhile: a full collection walks the whole heap (millions of
        instructions) wherever its thresholds happen to fall, not where the garbage was made,
        which made identical variants differ by up to 1 % of a run. So is the GIL's switch
        interval: a thread waiting for the GIL (runwatch's reaper, woken when a stream is
        collected) makes the running one hand it over every 5 ms of wall time, which under
        valgrind is a handful of events, a different handful each time."""
        gc.collect()
        gc.disable()
        interval = sys.getswitchinterval()
        sys.setswitchinterval(60.0)  # see below
        self._lib.rw_zero()
        self._lib.rw_toggle()
        try:
            fn()
        finally:
            self._lib.rw_toggle()
            self._lib.rw_dump(label.encode())
            sys.setswitchinterval(interval)
            gc.enable()


def count_variants(variants: list[Variant], api: str, runs: int) -> None:
    """Under :func:`run_counted`: each variant's instructions for ``runs`` runs (its ``reset``
    first), after a warm-up run of each."""
    cg = Callgrind.from_env()
    if cg is None:
        raise SystemExit("not under harness.run_counted")
    for v in variants:
        batch(v, api, 1)
    for v in variants:
        if v.reset is not None:
            v.reset()
        cg.measure(v.name, lambda v=v: runs_of(v, api, runs))


_TRIGGER = "desc: Trigger: Client Request: "


#: The caches callgrind simulates with ``cache=True``: this machine's L1 (48 KiB data, 32 KiB
#: instructions) and its 1 MiB L2 as the last level (the level whose misses cost most in place).
CACHES: Final = ("--D1=49152,12,64", "--I1=32768,8,64", "--LL=1048576,16,64")


def run_counted(
    argv: list[str], timeout: float = 3600, *, cache: bool = False
) -> dict[str, dict[str, int]] | str:
    """Run ``argv`` (a Python command using :class:`Callgrind`) under callgrind; what was counted
    under each label (``Ir``: instructions; with ``cache``, also ``LL``: reads and writes of data
    and instruction fetches that missed the simulated last level, see :data:`CACHES`), or why
    there are none. ``PYTHONHASHSEED=0``: the same hashes, so the same work, every time; no span
    export on a timer (below)."""
    with tempfile.TemporaryDirectory(prefix="rw-callgrind-") as tmp:
        lib = Callgrind.build(Path(tmp))
        if lib is None:
            return "valgrind, gcc or valgrind/callgrind.h missing"
        # A BatchSpanProcessor's worker wakes every 5 s of wall time, which under valgrind falls
        # anywhere (each wake-up is a GIL hand-off or two): it exports when flushed, inside the
        # counted stretch, or when its queue fills, never on a timer.
        env = {**os.environ, "PYTHONHASHSEED": "0", Callgrind.ENV: lib, "OTEL_BSP_SCHEDULE_DELAY": "86400000"}
        cmd = [
            "valgrind",
            "--tool=callgrind",
            "--collect-atstart=no",
            *(("--cache-sim=yes", *CACHES) if cache else ()),
            f"--callgrind-out-file={tmp}/cg.%p",
            *argv,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, timeout=timeout)
        if proc.returncode != 0:
            return (proc.stderr.strip().splitlines() or ["no output"])[-1]
        counts: dict[str, dict[str, int]] = {}
        for dump in Path(tmp).glob("cg.*.*"):
            label = totals = None
            events: list[str] = []
            for line in dump.read_text(errors="replace").splitlines():
                if line.startswith(_TRIGGER):
                    label = line[len(_TRIGGER) :].strip()
                elif line.startswith("events: "):
                    events = line.split()[1:]
                elif line.startswith("totals: "):
                    totals = dict(zip(events, map(int, line.split()[1:]), strict=False))
            if label is not None and totals is not None:
                row = {"Ir": totals.get("Ir", 0)}
                if cache:
                    row["LL"] = sum(totals.get(e, 0) for e in ("ILmr", "DLmr", "DLmw"))
                counts[label] = row
        return counts or "no counts written"
