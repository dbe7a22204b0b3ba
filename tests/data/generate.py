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
    **extra: Any,
) -> None:
    """``files`` maps file name -> body (None for a hand-written file that already exists).
    ``extra``: ``params``, ``anomalies``, ``replay_anomalies``, ``server``, ``helper_error`` (see
    README.md)."""
    CASES.append({"name": name, "files": files, "requests": requests, "runs": runs, "note": note, **extra})


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


# ----------------------------------------------------------- OpenAI-compatible servers
# Shapes of compatible servers' streams, each written from the server's documentation or source
# (``server`` says which and where). ``params``: the request fields runwatch reads, per file;
# ``anomalies``: what runwatch reports with that request (transport tap and SDK alike);
# ``replay_anomalies``: what a replay reports, which has no request (defaults to ``anomalies``).
def _chunk(cid: str, model: str, choices: list[Any], **extra: Any) -> dict[str, Any]:
    return {"id": cid, "object": "chat.completion.chunk", "created": t.DEFAULT_T0 + 200, "model": model,
            "choices": choices, **extra}  # fmt: skip


def _choice(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish, **extra}


def _usage(prompt: int, completion: int) -> dict[str, Any]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _frames(*objs: Any) -> bytes:
    return b"".join(o if isinstance(o, bytes) else t.sse_frame(o) for o in objs)


def _words(n: int) -> list[str]:
    return t.text_deltas(n)


def _edit_responses(body: bytes, edit: Callable[[dict[str, Any]], dict[str, Any] | None]) -> bytes:
    """Rewrite each frame's data of a built Responses stream (None drops the frame)."""
    out = []
    for frame in t.split_frames(body):
        event, _, data = frame.decode().removesuffix("\n\n").partition("\ndata: ")
        obj = edit(json.loads(data))
        if obj is not None:
            out.append(t.sse_frame(obj, event=str(obj["type"])))
    return b"".join(out)


def compatible() -> None:
    post = "POST /v1/chat/completions"

    # Groq: an invalid tool call ends the stream with an error event naming the code.
    cid, model = "chatcmpl-g201", "llama-3.3-70b-versatile"
    groq = _frames(
        _chunk(cid, model, [_choice({"role": "assistant", "content": None})], x_groq={"id": "req_g201"}),
        _chunk(cid, model, [_choice({"content": "Let me check"})]),
        t.sse_frame(
            {"error": {"message": "Failed to call a function. Please adjust your prompt. See "
                       "'failed_generation' for more details.", "type": "invalid_request_error",
                       "code": "tool_use_failed",
                       "failed_generation": "<function=get_weather{\"city\": \"Paris\"}</function>"}},
            event="error",
        ),
    )  # fmt: skip
    case(
        "chat_groq_tool_use_failed",
        {"chat_groq_tool_use_failed.sse": groq},
        [post],
        [run("chat", cid, model, "failed", "tool_use_failed", [])],
        "a chat stream ended by `event: error` with a provider's own code (not OpenAI's)",
        server="Groq: console.groq.com/docs/tool-use (tool_use_failed, failed_generation), streamed as an "
        "`error` event",
        anomalies={},
    )

    # Snowflake Cortex: no finish_reason key at all, then a usage chunk and [DONE].
    cid, model = "c0ffee00-0000-4000-8000-000000000201", "llama3.1-70b"
    words = _words(4)
    cortex = _frames(
        *(_chunk(cid, model, [{"index": 0, "delta": {"content": w}}]) for w in words),
        _chunk(cid, model, [], usage=_usage(12, len(words))),
        t.sse_frame("[DONE]"),
    )
    case(
        "chat_cortex_no_finish_reason",
        {"chat_cortex_no_finish_reason.sse": cortex},
        [post],
        [run("chat", cid, model, "completed", "no_finish_reason", [])],
        "chunks without any finish_reason key, then usage, then [DONE]: the SDK sees a success",
        server="Snowflake Cortex Chat Completions API (docs.snowflake.com/user-guide/snowflake-cortex/"
        "open_ai_sdk), as recorded in issue 16",
        params=[{"stream_options": {"include_usage": True}}],
        anomalies={"missing_finish_reason": 1},
    )
    cid = "c0ffee00-0000-4000-8000-000000000202"
    case(
        "chat_cortex_cut",
        {"chat_cortex_cut.sse": _frames(*(_chunk(cid, model, [{"index": 0, "delta": {"content": w}}])
                                          for w in words))},
        [post],
        [run("chat", cid, model, "aborted", "stream_ended", [])],
        "the same shape cut before its usage and [DONE]: only a cut stream is aborted",
        server="Snowflake Cortex (as above), connection lost mid-stream",
        anomalies={"missing_terminal": 1},
    )  # fmt: skip

    # OpenRouter: an error object inside an ordinary chunk, then [DONE]; its code is the HTTP status.
    model = "anthropic/claude-3.5-sonnet"
    processing = b": OPENROUTER PROCESSING\n\n"
    for n, (finish, code) in enumerate((("error", 502), (None, 400)), start=1):
        cid = f"gen-or20{n}"
        body = _frames(
            processing,
            _chunk(cid, model, [_choice({"role": "assistant", "content": ""})], provider="Anthropic"),
            *(_chunk(cid, model, [_choice({"content": w})], provider="Anthropic") for w in _words(3)),
            _chunk(cid, model, [_choice({"content": ""}, finish, native_finish_reason=finish)],
                   provider="Anthropic", error={"code": code, "message": "Provider returned error",
                                                "metadata": {"provider_name": "Anthropic"}}),
            t.sse_frame("[DONE]"),
        )  # fmt: skip
        name = "chat_openrouter_error_finish" if finish else "chat_openrouter_error_null_finish"
        case(
            name,
            {f"{name}.sse": body},
            [post],
            [run("chat", cid, model, "failed", str(code), [])],
            f"a chunk with a top-level error (code {code}) beside finish_reason {json.dumps(finish)}, then "
            f"[DONE]; "
            "the SDK raises APIError",
            server="OpenRouter: openrouter.ai/docs/api-reference/errors (mid-stream errors as SSE data "
                   "events, "
            "error.code is the HTTP status) and /docs/api-reference/streaming (': OPENROUTER PROCESSING')",
            anomalies={},
        )

    # Azure OpenAI: the first chunk carries the prompt's content-filter results, with empty id,
    # model and object and no choices; every choice chunk carries its own filter results.
    cid, model = "chatcmpl-az201", "gpt-4o-2024-11-20"
    safe = {c: {"filtered": False, "severity": "safe"} for c in ("hate", "self_harm", "sexual", "violence")}
    first = {"choices": [], "created": 0, "id": "", "model": "", "object": "",
             "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {
                 **safe, "jailbreak": {"filtered": False, "detected": False}}}]}  # fmt: skip

    def az(choices: list[Any], **extra: Any) -> dict[str, Any]:
        return {"choices": choices, "created": t.DEFAULT_T0 + 201, "id": cid, "model": model,
                "object": "chat.completion.chunk", "system_fingerprint": "fp_az", **extra}  # fmt: skip

    azure = _frames(
        first,
        az([{"content_filter_results": {}, "delta": {"content": "", "refusal": None, "role": "assistant"},
             "finish_reason": None, "index": 0, "logprobs": None}]),
        *(az([{"content_filter_results": safe, "delta": {"content": w}, "finish_reason": None, "index": 0,
               "logprobs": None}]) for w in _words(3)),
        az([{"content_filter_results": {}, "delta": {}, "finish_reason": "stop", "index": 0,
             "logprobs": None}]),
        az([], usage=_usage(15, 3)),
        t.sse_frame("[DONE]"),
    )  # fmt: skip
    case(
        "chat_azure_prompt_filter_results",
        {"chat_azure_prompt_filter_results.sse": azure},
        [post],
        [run("chat", cid, model, "completed", "none", [])],
        "Azure's first chunk (choices [], empty id, model and object, prompt_filter_results) is part of "
        "the run, not an unknown event",
        server="Azure OpenAI: learn.microsoft.com/azure/ai-services/openai/concepts/content-filter "
        "(streaming: prompt annotations in the first chunk)",
        params=[{"stream_options": {"include_usage": True}}],
        anomalies={},
    )
    blocked = {**first, "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {
        **safe, "jailbreak": {"filtered": True, "detected": True}}}]}  # fmt: skip
    case(
        "chat_azure_prompt_filtered",
        {"chat_azure_prompt_filtered.sse": _frames(blocked, t.sse_frame("[DONE]"))},
        [post],
        [run("chat", None, None, "incomplete", "content_filter", [])],
        "the prompt's filter results say it was blocked (jailbreak filtered) and nothing is generated: "
        "incomplete / content_filter, as a filtered completion is",
        server="Azure OpenAI content filtering (as above); Azure usually rejects a blocked prompt with "
        "HTTP 400 code content_filter (a request error); this is the streamed form of the same verdict",
        anomalies={},
    )

    # Responses through proxies and compatible servers.
    rpost = "POST /v1/responses"
    rid = "resp_x201"
    base = t.responses_stream("completed", response_id=rid, model=R_MODEL, t0=t.DEFAULT_T0 + 201)

    def rotate(obj: dict[str, Any]) -> dict[str, Any]:
        names = {"response.in_progress": "resp_x201b", "response.completed": "resp_x201c"}
        if obj["type"] in names:
            obj["response"]["id"] = names[obj["type"]]
        return obj

    case(
        "responses_id_rotated",
        {"responses_id_rotated.sse": _edit_responses(base, rotate)},
        [rpost],
        [run("responses", rid, R_MODEL, "completed", "none", ["in_progress", "output_item"])],
        "the response id changes twice mid-stream: one run (under its first id), not one completed and two "
        "aborted",
        server="proxies that mint their own response ids per upstream call (issue 16: recorded gateway "
               "traffic)",
        anomalies={"id_changed": 1},
        # The SDK's responses.stream() helper refuses the stream after its first event; its caller
        # sees that exception and runwatch an aborted run (tests/adapters/test_compatible.py).
        helper_error="RuntimeError: Lifecycle response identity changed.",
    )

    rid = "resp_x202"
    base = t.responses_stream("completed", response_id=rid, model=R_MODEL, t0=t.DEFAULT_T0 + 202)

    def cut_item(obj: dict[str, Any]) -> dict[str, Any]:
        if obj["type"] == "response.output_item.done":
            obj["item"]["status"] = "incomplete"
        if obj["type"] == "response.completed":
            obj["response"]["output"][0]["status"] = "incomplete"
        return obj

    case(
        "responses_completed_incomplete_item",
        {"responses_completed_incomplete_item.sse": _edit_responses(base, cut_item)},
        [rpost],
        [run("responses", rid, R_MODEL, "completed", "none", ["in_progress", "output_item"])],
        "status completed, yet its message item ended incomplete",
        server="vLLM Responses: the harmony parser marks a cut message incomplete "
               "(vllm-project/vllm#24561) while "
        "the response status came from the engine's finish reason (fixed for other parsers in #31836)",
        anomalies={"completed_with_incomplete_item": 1},
    )

    rid = "resp_x203"
    base = t.responses_stream("incomplete:max_output_tokens", response_id=rid, model=R_MODEL,
                              t0=t.DEFAULT_T0 + 203)  # fmt: skip

    def misnamed(obj: dict[str, Any]) -> dict[str, Any]:
        if obj["type"] == "response.incomplete":
            obj["type"] = "response.completed"
        return obj

    case(
        "responses_completed_event_incomplete",
        {"responses_completed_event_incomplete.sse": _edit_responses(base, misnamed)},
        [rpost],
        [run("responses", rid, R_MODEL, "incomplete", "max_output_tokens", ["in_progress", "output_item"])],
        "the terminal event is response.completed, the response in it says incomplete: its status decides",
        server="vLLM Responses streams (vllm-project/agentic-api#273: 'the direct vLLM stream's terminal "
               "event has "
        "type response.completed, even though the embedded response is incomplete')",
        anomalies={"status_mismatch": 1},
    )

    rid = "resp_x204"
    base = t.responses_stream("completed", response_id=rid, model=R_MODEL, t0=t.DEFAULT_T0 + 204)
    case(
        "responses_sequence_gap",
        {"responses_sequence_gap.sse": _edit_responses(
            base, lambda o: None if o["type"] == "response.in_progress" else o)},
        [rpost],
        [run("responses", rid, R_MODEL, "completed", "none", ["in_progress", "output_item"])],
        "sequence 1 (response.in_progress) never arrives: 0 is followed by 2",
        server="gateways that drop or merge events after numbering them (ENTERPILOT/GoModel#953: a "
               "guardrail left "
        "[0,1,2,3,4,24,54,...])",
        anomalies={"sequence_gap": 1},
    )  # fmt: skip

    rid = "resp_x209"
    base = t.responses_stream("completed", response_id=rid, model=R_MODEL, t0=t.DEFAULT_T0 + 209)

    def lose_a_delta(obj: dict[str, Any]) -> dict[str, Any] | None:
        return None if obj["type"] == "response.output_text.delta" and obj["sequence_number"] == 6 else obj

    case(
        "responses_sequence_gap_in_deltas",
        {"responses_sequence_gap_in_deltas.sse": _edit_responses(base, lose_a_delta)},
        [rpost],
        [run("responses", rid, R_MODEL, "completed", "none", ["in_progress", "output_item"])],
        "a content delta after the first token never arrives (sequence 6): runwatch skips deltas unread "
        "but counts them, so the events around it are one number apart too many",
        server="gateways that drop events after numbering them (ENTERPILOT/GoModel#953: a guardrail left "
               "[0,1,2,3,4,24,54,...], deltas among them)",
        anomalies={"sequence_gap": 1},
    )  # fmt: skip

    rid = "resp_x205"
    base = t.responses_stream("completed", response_id=rid, model=R_MODEL, t0=t.DEFAULT_T0 + 205)

    def zeros(obj: dict[str, Any]) -> dict[str, Any]:
        if obj["type"].endswith(".done"):
            obj["sequence_number"] = 0
        return obj

    case(
        "responses_sequence_repeated",
        {"responses_sequence_repeated.sse": _edit_responses(base, zeros)},
        [rpost],
        [run("responses", rid, R_MODEL, "completed", "none", ["in_progress", "output_item"])],
        "the .done events all carry sequence_number 0",
        server="LiteLLM's Responses bridge (BerriAI/litellm#28899: a default sequence_number of 0 makes the "
        "numbers non-monotonic)",
        anomalies={"sequence_gap": 1},
    )

    rid = "resp_x206"
    base = t.responses_stream("completed", response_id=rid, model=R_MODEL, t0=t.DEFAULT_T0 + 206)

    def at_limit(obj: dict[str, Any]) -> dict[str, Any]:
        if "response" in obj:
            obj["response"]["max_output_tokens"] = 5  # the builders stream 5 output tokens
        return obj

    case(
        "responses_stop_at_max_output_tokens",
        {"responses_stop_at_max_output_tokens.sse": _edit_responses(base, at_limit)},
        [rpost],
        [run("responses", rid, R_MODEL, "completed", "none", ["in_progress", "output_item"])],
        "completed with output_tokens equal to max_output_tokens (echoed in the response): cut, said "
        "completed",
        server="Responses servers that always say completed (jundot/omlx#2817; vllm-project/vllm#24184)",
        params=[{"max_output_tokens": 5}],
        anomalies={"stop_at_max_tokens": 1},
    )

    # Chat: the request asked for a limit or for usage, and the stream does not agree.
    cid = "chatcmpl-x207"
    case(
        "chat_stop_at_max_tokens",
        {"chat_stop_at_max_tokens.sse": t.chat_stream("stop", id=cid, model=C_MODEL, deltas=16,
                                                      t0=t.DEFAULT_T0 + 207)},
        [post],
        [run("chat", cid, C_MODEL, "completed", "none", [])],
        "finish_reason stop with completion_tokens equal to the request's max_tokens",
        server="Ollama behind LiteLLM (BerriAI/litellm#25825: finish_reason always 'stop' when max_tokens "
               "is hit); "
        "LocalAI (mudler/LocalAI#3533)",
        params=[{"max_tokens": 16, "stream_options": {"include_usage": True}}],
        anomalies={"stop_at_max_tokens": 1},
        replay_anomalies={},
    )  # fmt: skip
    cid = "chatcmpl-x208"
    case(
        "chat_usage_missing",
        {"chat_usage_missing.sse": t.chat_stream("stop", id=cid, model=C_MODEL, include_usage=False,
                                                 t0=t.DEFAULT_T0 + 208)},
        [post],
        [run("chat", cid, C_MODEL, "completed", "none", [])],
        "the request asked for stream_options.include_usage; no usage chunk came before [DONE]",
        server="servers that ignore stream_options (openvinotoolkit/model_server#2640, "
               "janhq/cortex.llamacpp#265, "
        "ml-explore/mlx-examples#913 added it)",
        params=[{"stream_options": {"include_usage": True}}],
        anomalies={"usage_missing": 1},
        replay_anomalies={},
    )  # fmt: skip


def main() -> None:
    assistants()
    responses()
    chat()
    agents()
    compatible()
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
        for key in ("server", "params", "anomalies", "replay_anomalies", "helper_error"):
            if key in c:
                entry[key] = c[key]
        expected[c["name"]] = entry
    (HERE / "expected.json").write_text(json.dumps(expected, indent=2) + "\n")
    print(f"{len(CASES)} cases, {sum(len(c['files']) for c in CASES)} files")


if __name__ == "__main__":
    main()
