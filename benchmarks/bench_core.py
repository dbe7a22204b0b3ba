"""Throughput of runwatch's core (SSE decoder + StreamTracker) on content deltas, against the SDK.

Run (one core, ~1 minute):

    .venv/bin/python benchmarks/bench_core.py            # full: 200,000 deltas per protocol
    .venv/bin/python benchmarks/bench_core.py --quick    # 20,000 deltas, for a smoke check
    .venv/bin/python benchmarks/bench_core.py --profile  # also cProfile each protocol (4 KiB chunks)

For each protocol (Responses ``response.output_text.delta``, Assistants ``thread.message.delta``,
Chat Completions chunks) it builds one realistic stream (compact JSON as the API sends it, wrapped
in the protocol's lifecycle events), splits it into chunks (4 KiB, 64 KiB, and one chunk per
frame), and times ``SSEDecoder.feed`` + ``StreamTracker.frame`` over all of it, best of 5. It
prints events/s and PASS/FAIL against the target of >= 500,000 delta events/s on one core.

For comparison it times what the openai SDK itself does for every event of the same stream:
``openai._streaming.SSEDecoder`` + ``json.loads`` + ``construct_type`` of the event model (what
``Stream.__stream__`` does with the default ``_strict_response_validation=False``), on a slice of
the stream, and prints both per-event costs side by side.

Times are CPU time of this process (``time.process_time``), so a busy machine (other jobs on the
same cores) does not distort them; building the streams and splitting chunks is not timed.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from runwatch._events import Transition
from runwatch._tracker import RunBook, Skipper

TARGET = 500_000  # delta events per second, one core
WORDS = (" The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", ".", "\n", " ok")


def _dump(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _frame(data: object, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event is not None else ""
    return f"{head}data: {data if isinstance(data, str) else _dump(data)}\n\n".encode()


# ------------------------------------------------------------------------------ stream builders
def responses_frames(n: int) -> list[bytes]:
    rid, mid = "resp_68af4030592c81938ec0a5fbab4a3e9f05438e46b5f69a3b", "msg_68af4033f9c881939a6f54beb3c84bfb"
    response: dict[str, Any] = {
        "id": rid, "object": "response", "created_at": 1756315696, "status": "in_progress",
        "background": False, "error": None, "incomplete_details": None, "instructions": None,
        "max_output_tokens": None, "model": "gpt-4o-2024-08-06", "output": [], "parallel_tool_calls": True,
        "previous_response_id": None, "reasoning": {"effort": None, "summary": None}, "service_tier": "auto",
        "store": True, "temperature": 1.0, "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto", "tools": [], "top_p": 1.0, "truncation": "disabled", "usage": None,
        "user": None, "metadata": {},
    }  # fmt: skip
    seq = 0
    out: list[bytes] = []

    def ev(name: str, **fields: Any) -> None:
        nonlocal seq
        out.append(_frame({"type": name, **fields, "sequence_number": seq}, name))
        seq += 1

    ev("response.created", response=response)
    ev("response.in_progress", response=response)
    item = {"id": mid, "type": "message", "status": "in_progress", "content": [], "role": "assistant"}
    ev("response.output_item.added", output_index=0, item=item)
    part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
    ev("response.content_part.added", item_id=mid, output_index=0, content_index=0, part=part)
    for i in range(n):
        ev(
            "response.output_text.delta",
            item_id=mid, output_index=0, content_index=0, delta=WORDS[i % len(WORDS)], logprobs=[],
        )  # fmt: skip
    ev("response.output_text.done", item_id=mid, output_index=0, content_index=0, text="...", logprobs=[])
    ev("response.content_part.done", item_id=mid, output_index=0, content_index=0, part=part)
    ev("response.output_item.done", output_index=0, item={**item, "status": "completed"})
    usage = {
        "input_tokens": 36, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": n,
        "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 36 + n,
    }  # fmt: skip
    ev("response.completed", response={**response, "status": "completed", "usage": usage})
    return out


def assistants_frames(n: int) -> list[bytes]:
    run = {
        "id": "run_Qx3bD2nNEcPUY6dkQ2rS0Vx1", "object": "thread.run", "created_at": 1756315696,
        "assistant_id": "asst_abc123", "thread_id": "thread_Zk4ygNzGg1FZ9hV0YyZ3bY4l", "status": "queued",
        "started_at": None, "expires_at": 1756316296, "cancelled_at": None, "failed_at": None,
        "completed_at": None, "required_action": None, "last_error": None, "model": "gpt-4o",
        "instructions": "", "tools": [], "tool_resources": {}, "metadata": {}, "temperature": 1.0,
        "top_p": 1.0, "max_completion_tokens": None, "max_prompt_tokens": None,
        "truncation_strategy": {"type": "auto", "last_messages": None}, "incomplete_details": None,
        "usage": None, "response_format": "auto", "tool_choice": "auto", "parallel_tool_calls": True,
    }  # fmt: skip
    step = {
        "id": "step_8kGQ2s1qcnG4F2M5nYb3rD1a", "object": "thread.run.step", "created_at": 1756315697,
        "run_id": run["id"], "assistant_id": run["assistant_id"], "thread_id": run["thread_id"],
        "type": "message_creation", "status": "in_progress", "cancelled_at": None, "completed_at": None,
        "expires_at": 1756316296, "failed_at": None, "last_error": None, "usage": None,
        "step_details": {"type": "message_creation", "message_creation": {"message_id": "msg_x1"}},
    }  # fmt: skip
    mid = "msg_p0s5ZxoRkTVLQqKYwX3uN8bE"
    out = [
        _frame(run, "thread.run.created"),
        _frame(run, "thread.run.queued"),
        _frame({**run, "status": "in_progress"}, "thread.run.in_progress"),
        _frame(step, "thread.run.step.created"),
        _frame(step, "thread.run.step.in_progress"),
        _frame({"id": mid, "object": "thread.message", "status": "in_progress"}, "thread.message.created"),
    ]
    for i in range(n):
        delta = {
            "content": [
                {"index": 0, "type": "text", "text": {"value": WORDS[i % len(WORDS)], "annotations": []}}
            ]
        }
        out.append(
            _frame({"id": mid, "object": "thread.message.delta", "delta": delta}, "thread.message.delta")
        )
    usage = {"prompt_tokens": 42, "completion_tokens": n, "total_tokens": 42 + n}
    out += [
        _frame({"id": mid, "object": "thread.message", "status": "completed"}, "thread.message.completed"),
        _frame({**step, "status": "completed", "usage": usage}, "thread.run.step.completed"),
        _frame({**run, "status": "completed", "usage": usage}, "thread.run.completed"),
        _frame("[DONE]", "done"),
    ]
    return out


def chat_frames(n: int) -> list[bytes]:
    head = {
        "id": "chatcmpl-C9TZ8mYwq0xKh3dH5cT0y7bJ2nVvR", "object": "chat.completion.chunk",
        "created": 1756315696, "model": "gpt-4o-mini-2024-07-18", "service_tier": "default",
        "system_fingerprint": "fp_560af6e559",
    }  # fmt: skip

    def chunk(delta: dict[str, Any], finish: str | None = None, usage: object = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return _frame({**head, "choices": [choice], "usage": usage})

    out = [chunk({"role": "assistant", "content": "", "refusal": None})]
    out += [chunk({"content": WORDS[i % len(WORDS)]}) for i in range(n)]
    out.append(chunk({}, "stop"))
    usage = {"prompt_tokens": 19, "completion_tokens": n, "total_tokens": 19 + n}
    out.append(_frame({**head, "choices": [], "usage": usage}))
    out.append(_frame("[DONE]"))
    return out


PROTOCOLS: dict[str, Callable[[int], list[bytes]]] = {
    "responses": responses_frames,
    "assistants": assistants_frames,
    "chat": chat_frames,
}


# ------------------------------------------------------------------------------------ runwatch
def chunked(frames: list[bytes], mode: str) -> list[bytes]:
    if mode == "frame":
        return frames
    size = {"4k": 4096, "64k": 65536}[mode]
    body = b"".join(frames)
    return [body[i : i + size] for i in range(0, len(body), size)]


def run_runwatch(chunks: list[bytes]) -> tuple[float, int, int]:
    """One pass: decode + track. Returns (seconds, frames, transitions)."""
    transitions: list[Transition] = []
    book = RunBook(transitions.append)
    stream = book.stream(None, 0.0)
    skipper = Skipper(stream)
    # The production path (StreamSession.feed_bytes -> Skipper.feed): a chunk that is one whole
    # delta frame is skipped on its bytes; other chunks are decoded into tuples, and deltas after
    # the first token are skipped on their name without building a Frame.
    feed = skipper.feed
    clock = time.time
    t0 = time.process_time()
    for chunk in chunks:
        feed(chunk, clock)
    skipper.end(1.0)
    stream.close("stream_ended", 2.0)
    elapsed = time.process_time() - t0
    n = b"".join(chunks).count(b"\n\n")  # every frame ends with a blank line (maybe split over chunks)
    finished = [t for t in transitions if type(t).__name__ == "RunFinished"]
    assert len(finished) == 1 and finished[0].outcome.status == "completed", finished  # noqa: PT018
    return elapsed, n, len(transitions)


def best_of(k: int, fn: Callable[[], tuple[float, int, int]]) -> tuple[float, int]:
    best, frames = float("inf"), 0
    for _ in range(k):
        elapsed, frames, _ = fn()
        best = min(best, elapsed)
    return best, frames


# ---------------------------------------------------------------------------------------- SDK
def sdk_cost(protocol: str, frames: list[bytes], repeat: int) -> float | None:
    """Seconds per event for the SDK's own decode + parse of the same frames (None: no openai)."""
    try:
        from openai._models import construct_type
        from openai._streaming import SSEDecoder as SDKDecoder
    except ImportError:
        return None
    if protocol == "responses":
        from openai.types.responses import ResponseStreamEvent as cast_to
    elif protocol == "assistants":
        from openai.types.beta import AssistantStreamEvent as cast_to  # type: ignore[no-redef]
    else:
        from openai.types.chat import ChatCompletionChunk as cast_to  # type: ignore[no-redef,assignment]

    def once() -> tuple[float, int]:
        decoder = SDKDecoder()
        n = 0
        t0 = time.process_time()
        for sse in decoder.iter_bytes(iter(frames)):
            if sse.data.startswith("[DONE]"):
                break
            data = sse.json()
            if protocol == "assistants":
                data = {"data": data, "event": sse.event}
            construct_type(type_=cast_to, value=data)
            n += 1
        return time.process_time() - t0, n

    best = min((once() for _ in range(repeat)), key=lambda x: x[0])
    return best[0] / best[1]


# ------------------------------------------------------------------------------------- main
def profile(chunks: list[bytes], top: int = 14) -> str:
    prof = cProfile.Profile()
    prof.runcall(run_runwatch, chunks)
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
    return buf.getvalue()


def machine_reference() -> float:
    """CPU seconds for a plain 1M-iteration Python loop: a yardstick for this machine's speed."""
    best = float("inf")
    for _ in range(3):
        t0 = time.process_time()
        x = 0
        for i in range(1_000_000):
            x += i
        best = min(best, time.process_time() - t0)
    return best


def iter_modes() -> Iterator[str]:
    yield from ("4k", "64k", "frame")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deltas", type=int, default=200_000)
    parser.add_argument("--quick", action="store_true", help="20,000 deltas, 3 repeats")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sdk-deltas", type=int, default=20_000, help="slice the SDK parses (it is slow)")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.deltas, args.repeat, args.sdk_deltas = 20_000, 3, 5_000

    print(f"python {sys.version.split()[0]}, {args.deltas:,} deltas per stream, best of {args.repeat}")
    print(
        f"machine yardstick: a 1M-iteration Python loop takes {machine_reference() * 1e3:.0f} ms of CPU here "
        "(roughly 25-40 ms on a current desktop core)"
    )
    print(f"{'protocol':<11} {'chunking':<8} {'MB':>6} {'events/s':>12} {'us/event':>9}  target {TARGET:,}/s")
    ok = True
    per_event: dict[str, float] = {}
    for protocol, build in PROTOCOLS.items():
        frames = build(args.deltas)
        size = sum(map(len, frames)) / 1e6
        for mode in iter_modes():
            chunks = chunked(frames, mode)
            elapsed, n = best_of(args.repeat, lambda c=chunks: run_runwatch(c))  # type: ignore[misc]
            rate = n / elapsed
            per_event[protocol] = min(per_event.get(protocol, 1.0), elapsed / n)
            verdict = "PASS" if rate >= TARGET else "FAIL"
            ok = ok and rate >= TARGET
            print(f"{protocol:<11} {mode:<8} {size:6.1f} {rate:12,.0f} {elapsed / n * 1e6:9.2f}  {verdict}")

    print()
    print("per-event cost, runwatch (decode + track, best chunking) vs the SDK (decode + json + model):")
    print(f"{'protocol':<11} {'runwatch us':>12} {'sdk us':>9} {'runwatch/sdk':>13}")
    for protocol, build in PROTOCOLS.items():
        sdk = sdk_cost(protocol, build(args.sdk_deltas), max(1, args.repeat // 2))
        ours = per_event[protocol]
        if sdk is None:
            print(f"{protocol:<11} {ours * 1e6:12.2f} {'n/a':>9} {'(openai not installed)':>13}")
        else:
            print(f"{protocol:<11} {ours * 1e6:12.2f} {sdk * 1e6:9.2f} {ours / sdk:12.1%}")

    if args.profile:
        for protocol, build in PROTOCOLS.items():
            print(f"\n--- cProfile: {protocol}, 4 KiB chunks ---")
            print(profile(chunked(build(args.deltas), "4k")))
    print("\nRESULT:", "PASS" if ok else "FAIL", f"(target >= {TARGET:,} delta events/s on one core)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
