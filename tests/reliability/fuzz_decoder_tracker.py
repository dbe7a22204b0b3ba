"""Fuzz target for the SSE decoder + tracker + sinks, usable two ways.

In the suite (moderate examples): ``tests/reliability/test_fuzz.py`` runs :func:`check` under
hypothesis. Standalone, for a long run::

    .venv/bin/python tests/reliability/fuzz_decoder_tracker.py --minutes 5

Properties, on a body made of real frames of all four APIs, spliced, truncated, duplicated and
mixed with random bytes, cut into random chunks:
1. nothing raises (the observer re-raises internal errors here, so an internal error fails);
2. after close + flush, every run that started ended exactly once, the in-progress gauge is 0 and
   every span ended;
3. decoder output does not depend on chunking.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))

from reliability_support import make_rig, quiet_logger  # noqa: E402

from runwatch._sse import SSEDecoder  # noqa: E402
from runwatch.events import RunFinished, RunStarted  # noqa: E402
from runwatch.testing import (  # noqa: E402
    agent_session_events,
    assistants_run,
    chat_stream,
    responses_stream,
    split_frames,
)

_OUTCOMES = {
    "assistants": ["completed", "incomplete:max_prompt_tokens", "failed:server_error", "requires_action",
                   "error:rate_limit_exceeded", "cancelled", "aborted", "unknown:paused"],
    "responses": ["completed", "incomplete:max_output_tokens", "failed:server_error",
                  "nested_error:server_error", "aborted", "unknown:hibernating"],
    "chat": ["stop", "length", "content_filter", "tool_calls", None],
    "agents": ["completed", "failed:context_length_exceeded", "cancelled", "aborted"],
}  # fmt: skip


def _frames(api: str, outcome: Any, n: int) -> list[bytes]:
    if api == "assistants":
        body = assistants_run(outcome, run_id=f"run_f{n}", deltas=2)
    elif api == "responses":
        body = responses_stream(outcome, response_id=f"resp_f{n}", deltas=2)
    elif api == "chat":
        body = chat_stream(outcome, id=f"chatcmpl-f{n}", deltas=2)
    else:
        body = agent_session_events([outcome], session_id=f"sess_f{n}", deltas=2)
    return split_frames(body)


@st.composite
def bodies(draw: st.DrawFn) -> tuple[str | None, bytes, list[int]]:
    api = draw(st.sampled_from(list(_OUTCOMES)))
    pieces: list[bytes] = []
    for n in range(draw(st.integers(1, 3))):
        stream_api = api if draw(st.integers(0, 4)) else draw(st.sampled_from(list(_OUTCOMES)))
        frames = _frames(stream_api, draw(st.sampled_from(_OUTCOMES[stream_api])), n)
        ops = draw(st.lists(st.sampled_from(["drop", "dup", "swap", "noise", "crlf", "keep"]), max_size=6))
        for op in ops:
            i = draw(st.integers(0, len(frames) - 1))
            if op == "drop" and len(frames) > 1:
                del frames[i]
            elif op == "dup":
                frames.insert(i, frames[i])
            elif op == "swap":
                j = draw(st.integers(0, len(frames) - 1))
                frames[i], frames[j] = frames[j], frames[i]
            elif op == "noise":
                frames.insert(i, draw(st.binary(max_size=64)))
            elif op == "crlf":
                frames[i] = frames[i].replace(b"\n", b"\r\n")
        pieces.extend(frames)
    body = b"".join(pieces)
    if draw(st.booleans()):
        body = body[: draw(st.integers(0, len(body)))]
    cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=12)))
    declared = draw(st.sampled_from([api, None]))
    return declared, body, cuts


def _chunked(body: bytes, cuts: list[int]) -> list[bytes]:
    edges = [0, *cuts, len(body)]
    return [body[a:b] for a, b in zip(edges, edges[1:], strict=False)]


EXAMPLES = {"n": 0}


def check(case: tuple[str | None, bytes, list[int]]) -> None:
    api, body, cuts = case
    EXAMPLES["n"] += 1
    chunks = _chunked(body, cuts)

    # 3. chunking independence (also with a small cap, so the oversize path is exercised).
    for cap in (16 * 1024 * 1024, 256):
        whole = SSEDecoder(cap)
        expected = whole.feed(body) + whole.end()
        split = SSEDecoder(cap)
        got = [f for c in chunks for f in split.feed(c)] + split.end()
        assert got == expected
        assert split.oversized == whole.oversized

    # 1 + 2. the whole pipeline never raises and settles everything.
    rig = make_rig(raise_errors=True, logger=quiet_logger())  # property 1, standalone too
    session = rig.observer.stream(api)  # type: ignore[arg-type]
    for c in chunks:
        session.feed_bytes(c)
    session.close()
    rig.observer.book.flush(time.time())
    started = [t.run for t in rig.recorder.transitions if isinstance(t, RunStarted)]
    finished = [t.run for t in rig.recorder.transitions if isinstance(t, RunFinished)]
    assert len(finished) == len({id(r) for r in finished}), "a run ended twice"
    assert {id(r) for r in started} == {id(r) for r in finished}, "a run never ended"
    rig.settled()


def property_test(max_examples: int) -> Any:
    return settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )(given(bodies())(check))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    args = parser.parse_args()
    deadline = time.monotonic() + args.minutes * 60
    rounds = 0
    while time.monotonic() < deadline:
        property_test(2000)()
        rounds += 1
    print(f"fuzz_decoder_tracker: {EXAMPLES['n']} examples in {rounds} rounds, no failure")
    return 0


if __name__ == "__main__":
    sys.exit(main())
