"""Regenerate the SSE transcripts in this folder and ``expected.json``.

    .venv/bin/python tests/data/generate.py

Transcripts are built with :mod:`runwatch.builders`, so they are byte-for-byte reproducible; the
expected outcomes are declared here by hand, independently of the builders, from the semantics in
``README.md``. Hand-written transcripts (``HANDWRITTEN``) are never overwritten; their expectations
live here too so that ``expected.json`` covers every file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runwatch import builders as t

HERE = Path(__file__).resolve().parent

A_MODEL = "gpt-4o"
R_MODEL = "gpt-4o-2024-08-06"
C_MODEL = "gpt-4o-mini-2024-07-18"
G_MODEL = "gpt-5"

Case = dict[str, Any]
CASES: list[Case] = []


def run(
    api: str, run_id: str, model: str | None, status: str, reason: str, phases: list[str]
) -> dict[str, Any]:
    return {
        "api": api,
        "run_id": run_id,
        "model": model,
        "status": status,
        "reason": reason,
        "phases": phases,
    }


def case(
    name: str,
    files: dict[str, bytes | Callable[[], bytes] | None],
    requests: list[str],
    runs: list[dict[str, Any]],
    note: str = "",
) -> None:
    """``files`` maps file name -> body (None for a hand-written file that already exists)."""
    CASES.append({"name": name, "files": files, "requests": requests, "runs": runs, "note": note})


# ---------------------------------------------------------------------------------- assistants
def assistants() -> None:
    base = ["queued", "in_progress"]
    post = "POST /v1/threads/{tid}/runs"

    def a(outcome: str, n: int, **kw: Any) -> tuple[str, bytes, str]:
        rid, tid = f"run_a{n:03d}", f"thread_a{n:03d}"
        body = t.assistants_run(outcome, run_id=rid, thread_id=tid, model=A_MODEL, t0=t.DEFAULT_T0 + n, **kw)
        return rid, body, post.format(tid=tid)

    simple = [
        ("assistants_completed", "completed", {}, "completed", "none", [*base, "step"]),
        (
            "assistants_completed_tool",
            "completed",
            {"tool_call": "code_interpreter"},
            "completed",
            "none",
            [*base, "step", "step"],
        ),
        (
            "assistants_incomplete_max_completion_tokens",
            "incomplete:max_completion_tokens",
            {},
            "incomplete",
            "max_completion_tokens",
            [*base, "step"],
        ),
        (
            "assistants_incomplete_max_prompt_tokens",
            "incomplete:max_prompt_tokens",
            {"tool_call": "file_search"},
            "incomplete",
            "max_prompt_tokens",
            [*base, "step", "step"],
        ),
        (
            "assistants_failed_server_error",
            "failed:server_error",
            {},
            "failed",
            "server_error",
            [*base, "step"],
        ),
        (
            "assistants_failed_rate_limit_exceeded",
            "failed:rate_limit_exceeded",
            {},
            "failed",
            "rate_limit_exceeded",
            [*base, "step"],
        ),
        (
            "assistants_failed_invalid_prompt",
            "failed:invalid_prompt",
            {},
            "failed",
            "invalid_prompt",
            [*base, "step"],
        ),
        ("assistants_cancelled", "cancelled", {}, "cancelled", "none", [*base, "step", "cancelling"]),
        ("assistants_expired", "expired", {}, "expired", "none", base),
        ("assistants_error_event", "error:server_error", {}, "failed", "server_error", [*base, "step"]),
        (
            "assistants_ends_at_cancelling",
            "cancelling",
            {},
            "aborted",
            "stream_ended",
            [*base, "step", "cancelling"],
        ),
        ("assistants_unknown_status", "unknown:paused", {}, "unknown", "unknown_status", [*base, "step"]),
    ]
    for n, (name, outcome, kw, status, reason, phases) in enumerate(simple, start=1):
        rid, body, req = a(outcome, n, **kw)
        case(name, {f"{name}.sse": body}, [req], [run("assistants", rid, A_MODEL, status, reason, phases)])

    rid, tid = "run_a100", "thread_a100"
    ids = {"run_id": rid, "thread_id": tid, "model": A_MODEL, "t0": t.DEFAULT_T0 + 100}
    part1 = t.assistants_run("requires_action", **ids)
    part2 = t.assistants_continuation("completed", **ids)
    case(
        "assistants_requires_action",
        {"assistants_requires_action_part1.sse": part1, "assistants_requires_action_part2.sse": part2},
        [post.format(tid=tid), f"POST /v1/threads/{tid}/runs/{rid}/submit_tool_outputs"],
        [
            run(
                "assistants",
                rid,
                A_MODEL,
                "completed",
                "none",
                [*base, "step", "requires_action", *base, "step"],
            )
        ],
        "one run over two HTTP streams; part1 alone leaves the run paused (abandoned after the TTL)",
    )

    rid, tid = "run_a101", "thread_a101"
    ids = {"run_id": rid, "thread_id": tid, "model": A_MODEL, "t0": t.DEFAULT_T0 + 101}
    part1 = t.assistants_run("requires_action", **ids)
    part2 = t.assistants_continuation("incomplete:max_completion_tokens", **ids)
    case(
        "assistants_requires_action_incomplete",
        {
            "assistants_requires_action_incomplete_part1.sse": part1,
            "assistants_requires_action_incomplete_part2.sse": part2,
        },
        [post.format(tid=tid), f"POST /v1/threads/{tid}/runs/{rid}/submit_tool_outputs"],
        [
            run(
                "assistants",
                rid,
                A_MODEL,
                "incomplete",
                "max_completion_tokens",
                [*base, "step", "requires_action", *base, "step"],
            )
        ],
    )

    case(
        "assistants_comments_multiline",
        {"assistants_comments_multiline.sse": None},
        ["POST /v1/threads/thread_h001/runs"],
        [run("assistants", "run_h001", A_MODEL, "completed", "none", ["queued", "in_progress", "step"])],
        "hand-written: ':' comment lines, a JSON payload split over several data: lines, an unknown "
        "future event (thread.run.step.thinking) mid-run",
    )


# ----------------------------------------------------------------------------------- responses
def responses() -> None:
    post = "POST /v1/responses"
    simple: list[tuple[str, str, dict[str, Any], str, str, list[str]]] = [
        ("responses_completed", "completed", {}, "completed", "none", ["in_progress", "output_item"]),
        (
            "responses_function_call",
            "completed",
            {"tool": "function_call"},
            "completed",
            "none",
            ["in_progress", "output_item"],
        ),
        (
            "responses_web_search",
            "completed",
            {"tool": "web_search_call"},
            "completed",
            "none",
            ["in_progress", "output_item", "output_item"],
        ),
        (
            "responses_background",
            "completed",
            {"background": True},
            "completed",
            "none",
            ["queued", "in_progress", "output_item"],
        ),
    ]
    for reason in ("max_output_tokens", "max_messages", "content_filter", "steered"):
        simple.append(
            (
                f"responses_incomplete_{reason}",
                f"incomplete:{reason}",
                {},
                "incomplete",
                reason,
                ["in_progress", "output_item"],
            )
        )
    for code in ("server_error", "rate_limit_exceeded", "invalid_prompt", "vector_store_timeout"):
        simple.append(
            (f"responses_failed_{code}", f"failed:{code}", {}, "failed", code, ["in_progress", "output_item"])
        )
    simple += [
        (
            "responses_nested_error_then_failed",
            "nested_error:server_error",
            {},
            "failed",
            "server_error",
            ["in_progress", "output_item"],
        ),
        (
            "responses_error_event_flat",
            "error:rate_limit_exceeded",
            {},
            "failed",
            "rate_limit_exceeded",
            ["in_progress", "output_item"],
        ),
        ("responses_no_terminal", "aborted", {}, "aborted", "stream_ended", ["in_progress", "output_item"]),
        (
            "responses_unknown_status",
            "unknown:hibernating",
            {},
            "unknown",
            "unknown_status",
            ["in_progress", "output_item"],
        ),
    ]
    for n, (name, outcome, kw, status, reason, phases) in enumerate(simple, start=1):
        rid = f"resp_r{n:03d}"
        body = t.responses_stream(outcome, response_id=rid, model=R_MODEL, t0=t.DEFAULT_T0 + n, **kw)
        case(name, {f"{name}.sse": body}, [post], [run("responses", rid, R_MODEL, status, reason, phases)])

    # Resume: background response, the first connection drops after sequence 6; the client resumes
    # with GET ...?stream=true&starting_after=6 and gets sequence 7.. (no response.created).
    rid = "resp_r100"
    part1, part2 = t.responses_resume(
        "completed", starting_after=6, response_id=rid, model=R_MODEL, background=True, t0=t.DEFAULT_T0 + 100
    )
    case(
        "responses_resume",
        {"responses_resume_part1.sse": part1, "responses_resume_part2.sse": part2},
        [post, f"GET /v1/responses/{rid}?stream=true&starting_after=6"],
        [run("responses", rid, R_MODEL, "completed", "none", ["queued", "in_progress", "output_item"])],
        "one response over two HTTP streams; part2 starts at sequence_number 7 with an output_text.delta "
        "and carries no response id until the terminal: correlate it by the request URL",
    )

    rid = "resp_r101"
    full = t.responses_stream("completed", response_id=rid, model=R_MODEL, t0=t.DEFAULT_T0 + 101)
    cut = full.index(b'"delta":"', full.index(b"response.output_text.delta")) + 12  # inside the 1st delta
    case(
        "responses_truncated_mid_frame",
        {"responses_truncated_mid_frame.sse": full[:cut]},
        [post],
        [run("responses", rid, R_MODEL, "aborted", "stream_ended", ["in_progress", "output_item"])],
        "the body ends in the middle of a data: line (no newline): the partial frame must be dropped",
    )

    rid = "resp_r102"
    body = t.responses_stream("completed", response_id=rid, model=R_MODEL, t0=t.DEFAULT_T0 + 102)
    case(
        "responses_cr_only",
        {"responses_cr_only.sse": body.replace(b"\n", b"\r")},
        [post],
        [run("responses", rid, R_MODEL, "completed", "none", ["in_progress", "output_item"])],
        "CR-only line endings",
    )

    case(
        "responses_unknown_events",
        {"responses_unknown_events.sse": None},
        [post],
        [run("responses", "resp_h001", R_MODEL, "completed", "none", ["in_progress", "output_item"])],
        "hand-written: unknown future events (response.telepathy.delta, response.compaction.compacting) "
        "between known ones; the run still completes",
    )


# ---------------------------------------------------------------------------------------- chat
def chat() -> None:
    post = "POST /v1/chat/completions"
    table = [
        ("chat_stop", "stop", {}, "completed", "none"),
        ("chat_stop_no_usage", "stop", {"include_usage": False}, "completed", "none"),
        ("chat_length", "length", {}, "incomplete", "length"),
        ("chat_length_no_usage", "length", {"include_usage": False}, "incomplete", "length"),
        ("chat_content_filter", "content_filter", {}, "incomplete", "content_filter"),
        ("chat_tool_calls", "tool_calls", {"tool_calls": 2}, "completed", "none"),
        ("chat_function_call", "function_call", {}, "completed", "none"),
        ("chat_cut_before_done", "stop", {"done": False}, "completed", "none"),
        ("chat_cut_mid_stream", None, {}, "aborted", "stream_ended"),
    ]
    for n, (name, finish, kw, status, reason) in enumerate(table, start=1):
        cid = f"chatcmpl-c{n:03d}"
        body = t.chat_stream(finish, id=cid, model=C_MODEL, t0=t.DEFAULT_T0 + n, **kw)
        case(name, {f"{name}.sse": body}, [post], [run("chat", cid, C_MODEL, status, reason, [])])

    cid = "chatcmpl-c100"
    body = t.chat_stream("length", id=cid, model=C_MODEL, t0=t.DEFAULT_T0 + 100)
    case(
        "chat_crlf",
        {"chat_crlf.sse": body.replace(b"\n", b"\r\n")},
        [post],
        [run("chat", cid, C_MODEL, "incomplete", "length", [])],
        "CRLF line endings",
    )
    cid = "chatcmpl-c101"

    def two_choices() -> bytes:
        # n=2 with both choices in each chunk: choice 1 stops on the token limit while choice 0
        # is still streaming, in one chunk that also carries a plain "finish_reason":null.
        def chunk(choices: list[Any], usage: Any = None) -> bytes:
            head = {"id": cid, "object": "chat.completion.chunk", "created": t.DEFAULT_T0 + 101}
            return t.sse_frame({**head, "model": C_MODEL, "choices": choices, "usage": usage})

        def choice(i: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {"index": i, "delta": delta, "logprobs": None, "finish_reason": finish}

        return b"".join(
            [
                chunk(
                    [
                        choice(0, {"role": "assistant", "content": ""}),
                        choice(1, {"role": "assistant", "content": ""}),
                    ]
                ),
                chunk([choice(0, {"content": "Hello"}), choice(1, {"content": "Hi"})]),
                chunk([choice(0, {"content": " there"}), choice(1, {"content": " you"})]),
                chunk([choice(0, {"content": ","}), choice(1, {}, "length")]),
                chunk([choice(0, {"content": " friend"})]),
                chunk([choice(0, {}, "stop")]),
                chunk([], {"prompt_tokens": 19, "completion_tokens": 7, "total_tokens": 26}),
                b"data: [DONE]\n\n",
            ]
        )

    case(
        "chat_two_choices_length",
        {"chat_two_choices_length.sse": two_choices},
        [post],
        [run("chat", cid, C_MODEL, "incomplete", "length", [])],
        "n=2, two choices per chunk: one stops on length beside an unfinished one",
    )
    case(
        "chat_comments_fields",
        {"chat_comments_fields.sse": None},
        [post],
        [run("chat", "chatcmpl-h001", C_MODEL, "completed", "none", [])],
        "hand-written: ': PROCESSING' comments (as proxies send), id: and retry: fields, a field without "
        "a space after the colon",
    )


# -------------------------------------------------------------------------------------- agents
def agents() -> None:
    phases = ["queued", "in_progress"]
    table = [
        ("agents_completed", ["completed"], "completed", "none"),
        ("agents_failed_max_output_tokens", ["failed:max_output_tokens"], "failed", "max_output_tokens"),
        (
            "agents_failed_context_length_exceeded",
            ["failed:context_length_exceeded"],
            "failed",
            "context_length_exceeded",
        ),
        (
            "agents_failed_session_budget_exceeded",
            ["failed:session_budget_exceeded"],
            "failed",
            "session_budget_exceeded",
        ),
        (
            "agents_failed_usage_limit_exceeded",
            ["failed:usage_limit_exceeded"],
            "failed",
            "usage_limit_exceeded",
        ),
        ("agents_cancelled", ["cancelled"], "cancelled", "none"),
        ("agents_stream_ended", ["aborted"], "aborted", "stream_ended"),
    ]
    for n, (name, turns, status, reason) in enumerate(table, start=1):
        sid = f"sess_g{n:03d}"
        body = t.agent_session_events(turns, session_id=sid, model=G_MODEL, t0=t.DEFAULT_T0 + n)
        case(
            name,
            {f"{name}.sse": body},
            [f"GET /v1/agents/sessions/{sid}/events"],
            [run("agents", f"turn_g{n:03d}_1", G_MODEL, status, reason, phases)],
        )
    sid = "sess_g100"
    body = t.agent_session_events(
        ["completed", "failed:max_output_tokens", "completed"],
        session_id=sid,
        model=G_MODEL,
        t0=t.DEFAULT_T0 + 100,
        session_created=True,
    )
    case(
        "agents_session_three_turns",
        {"agents_session_three_turns.sse": body},
        [f"GET /v1/agents/sessions/{sid}/events"],
        [
            run("agents", "turn_g100_1", G_MODEL, "completed", "none", phases),
            run("agents", "turn_g100_2", G_MODEL, "failed", "max_output_tokens", phases),
            run("agents", "turn_g100_3", G_MODEL, "completed", "none", phases),
        ],
        "one session stream, three turns (runs), each followed by agent.session.idle",
    )


def main() -> None:
    assistants()
    responses()
    chat()
    agents()
    expected: dict[str, Any] = {}
    for c in CASES:
        for fname, body in c["files"].items():
            path = HERE / fname
            if body is None:
                if not path.exists():
                    raise SystemExit(f"hand-written transcript {fname} is missing")
                continue
            path.write_bytes(body if isinstance(body, bytes) else body())
        entry: dict[str, Any] = {"files": list(c["files"]), "requests": c["requests"], "runs": c["runs"]}
        if c["note"]:
            entry["note"] = c["note"]
        expected[c["name"]] = entry
    (HERE / "expected.json").write_text(json.dumps(expected, indent=2) + "\n")
    print(f"{len(CASES)} cases, {sum(len(c['files']) for c in CASES)} files")


if __name__ == "__main__":
    main()
