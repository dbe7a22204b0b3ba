"""Every closed set of label values, declared once: what a metric label, a span's low-cardinality
attribute or a log field may take. Sinks map values onto these sets (anything else is ``_other``);
docs/reference.md, the dashboard generator and the tests derive from them.

Statuses and anomaly kinds are the tracker's own vocabulary (:mod:`runwatch._events`); stages are
:mod:`runwatch._safety`'s; tool types and phases are derived from the protocol tables; reasons and
request-error codes are the documented codes of each API. ``tests/test_labels.py`` checks that every
value the tracker can pass to ``finish()`` or ``anomaly()`` is a label value.
"""

from __future__ import annotations

import threading
from typing import Final

from . import protocols
from ._events import ANOMALY_KINDS, APIS, STATUSES
from ._safety import STAGES
from .protocols import chat

OTHER: Final = "_other"
UNKNOWN: Final = "unknown"

# Outcomes the tracker itself produces, whatever the protocol said (or failed to say).
_COMMON_REASONS: Final = frozenset(
    {
        "none",
        "stream_ended",
        "client_closed",
        "transport_error",
        "cancelled",
        "handler_error",
        "ttl_expired",
        # Reserved, emitted by nothing: a request failing before its first event is not a run but
        # a request error (runwatch_request_errors_total). Kept so label values stay stable.
        "http_error",
        "unknown_status",
    }
)

# openai/types/responses/response_error.py (openai 3.57): the image_* family and friends.
_RESPONSES_IMAGE_CODES: Final = frozenset(
    {
        "invalid_image",
        "invalid_image_format",
        "invalid_base64_image",
        "invalid_image_url",
        "image_too_large",
        "image_too_small",
        "image_parse_error",
        "image_content_policy_violation",
        "invalid_image_mode",
        "image_file_too_large",
        "unsupported_image_media_type",
        "empty_image_file",
        "failed_to_download_image",
        "image_file_not_found",
    }
)

# Codes OpenAI-compatible servers put in the errors they send inside a 200 stream (an ``error``
# event, or an ``error`` object in a chat chunk) and that are not OpenAI's own. The reason stays
# raw on spans and logs (``runwatch.run.reason``); only the label is folded onto these sets.
_IN_BAND_ERROR_CODES: Final = frozenset(
    {
        # OpenAI's own mid-stream chat errors name a type, not a code ({"error": {"type":
        # "server_error", ...}}): read as the reason when there is no code (_payload.error_code).
        "server_error",
        "rate_limit_exceeded",
        "insufficient_quota",
        "context_length_exceeded",
        "invalid_request_error",
        "invalid_prompt",
        # Groq (console.groq.com/docs/tool-use, "failed_generation"; console.groq.com/docs/
        # structured-outputs): a tool call or a JSON answer the model got wrong, sent as
        # `event: error` with {"error": {"code": ..., "failed_generation": ...}}.
        "tool_use_failed",
        "json_validate_failed",
    }
)
# HTTP statuses as error codes, mid-stream: OpenRouter's error.code is a number
# (openrouter.ai/docs/api-reference/errors: 400, 401, 402, 403, 408, 429, 502, 503; "any error
# that occurs while the LLM is producing the output will be emitted ... as an SSE data event"),
# vLLM's and SGLang's streaming errors carry ErrorResponse.code = the HTTPStatus value
# (vllm/entrypoints/openai/serving_engine.py create_streaming_error_response), and LiteLLM
# passes upstream statuses on. An int code reads as its text (_payload.error_code).
_HTTP_STATUS_CODES: Final = frozenset(
    {"400", "401", "402", "403", "404", "408", "413", "422", "429", "500", "502", "503", "504"}
)

#: The closed set of ``reason`` label values per api (anything else becomes ``_other``).
REASONS: Final[dict[str, frozenset[str]]] = {
    "assistants": _COMMON_REASONS
    | {
        "max_completion_tokens",
        "max_prompt_tokens",
        "server_error",
        "rate_limit_exceeded",
        "invalid_prompt",
    },
    "responses": _COMMON_REASONS
    | _RESPONSES_IMAGE_CODES
    | _HTTP_STATUS_CODES
    | {
        "max_output_tokens",
        "max_messages",
        "content_filter",
        "steered",
        "server_error",
        "rate_limit_exceeded",
        "invalid_prompt",
        "data_residency_mismatch",
        "bio_policy",
        "misalignment_policy_violation",
        "vector_store_timeout",
        "insufficient_quota",
    },
    "chat": _COMMON_REASONS
    | _IN_BAND_ERROR_CODES
    | _HTTP_STATUS_CODES
    | {"length", "content_filter", "stop", "tool_calls", "function_call", chat.NO_FINISH_REASON},
    "agents": _COMMON_REASONS
    | {
        "max_output_tokens",
        "context_length_exceeded",
        "session_budget_exceeded",
        "usage_limit_exceeded",
        "server_error",
        "rate_limit_exceeded",
    },
}

#: The closed set of ``tool_type`` label values (anything else becomes ``_other``): every tool
#: type a protocol table names (Assistants steps, Responses and agent items; chat's ``function``).
TOOL_TYPES: Final = frozenset(
    {"function", *protocols.TOOL_ITEM_TYPES.values()}.union(
        *(protocols.get(api).tool_types.values() for api in APIS)
    )
)

#: ``Phase.kind`` -> ``phase`` label value: every status phase a protocol table names, and output
#: items; ``step`` is split by :func:`phase_label`.
PHASES: Final[dict[str, str]] = {
    **{
        value: value
        for api in APIS
        for kind, value in protocols.get(api).statuses.values()
        if kind != "terminal"
    },
    "output_item": "output_item",
}

#: The closed set of ``status_code`` label values of request errors (HTTP statuses the OpenAI API
#: and proxies in front of it answer with); others become ``_other``, no response ``transport``.
REQUEST_STATUS_CODES: Final = frozenset(
    {"400", "401", "403", "404", "408", "409", "413", "422", "429", "500", "502", "503", "504"}
)
#: ``status_code`` of a request that got no response (transport error, timeout, cancellation).
TRANSPORT: Final = "transport"

#: The closed set of ``code`` label values of request errors: the ``code`` (or ``type``) of OpenAI
#: HTTP error bodies, the transport failure kinds, and ``none``; anything else becomes ``_other``.
REQUEST_ERROR_CODES: Final = frozenset(
    {
        # error.code / error.type of HTTP error bodies
        "rate_limit_exceeded",
        "insufficient_quota",
        "invalid_api_key",
        "model_not_found",
        "context_length_exceeded",
        "invalid_request_error",
        "authentication_error",
        "permission_error",
        "not_found_error",
        "server_error",
        "unsupported_parameter",
        "unsupported_value",
        "invalid_value",
        "missing_required_parameter",
        "content_policy_violation",
        "invalid_prompt",
        # no response
        "timeout",
        "connect_error",
        "read_error",
        "write_error",
        "remote_protocol_error",
        "transport_error",
        "cancelled",
        "none",
    }
)

STATUS_SET: Final = frozenset(STATUSES)
API_SET: Final = frozenset(APIS)
STAGE_SET: Final = frozenset(STAGES)
#: ``kind`` of ``runwatch_stream_anomalies_total`` (the tracker's own, :mod:`runwatch._events`).
ANOMALY_KIND_SET: Final = ANOMALY_KINDS


def phase_label(kind: str, tool_type: str | None) -> str:
    """The ``phase`` label of a phase: its kind, with Assistants steps split by what they did.

    >>> phase_label("step", "function"), phase_label("step", None), phase_label("weird", None)
    ('tool_call', 'message_creation', '_other')
    """
    if kind == "step":
        return "tool_call" if tool_type else "message_creation"
    return PHASES.get(kind, OTHER)


def reason_label(api: str, reason: str) -> str:
    """``reason`` if it is in the api's closed set, else ``_other``."""
    return reason if reason in REASONS.get(api, _COMMON_REASONS) else OTHER


def status_code_label(status_code: int | None) -> str:
    """The ``status_code`` label of a failed request: the code if in the closed set, ``transport``
    when there was no response, else ``_other``.

    >>> status_code_label(429), status_code_label(None), status_code_label(418)
    ('429', 'transport', '_other')
    """
    if status_code is None:
        return TRANSPORT
    label = str(status_code)
    return label if label in REQUEST_STATUS_CODES else OTHER


def request_code_label(code: str) -> str:
    """The ``code`` label of a failed request: ``code`` if in the closed set (an empty code is
    ``none``), else ``_other``.

    >>> request_code_label("rate_limit_exceeded"), request_code_label(""), request_code_label("x")
    ('rate_limit_exceeded', 'none', '_other')
    """
    if not code:
        return "none"
    return code if code in REQUEST_ERROR_CODES else OTHER


_MAX_MODEL_LEN: Final = 100


class ModelLabels:
    """Caps the distinct model label values: the first ``max_models`` names are kept, the rest
    share ``_other``. Names are cut to 100 characters; unprintable ones become ``_other``.

    >>> labels = ModelLabels(max_models=1)
    >>> labels("gpt-4o"), labels("gpt-4o"), labels("gpt-5"), labels(None)
    ('gpt-4o', 'gpt-4o', '_other', 'unknown')
    """

    __slots__ = ("_lock", "_max", "_seen")

    def __init__(self, max_models: int = 50) -> None:
        self._max = max(0, max_models)
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, model: str | None) -> str:
        if not model:
            return UNKNOWN
        if model in self._seen:
            return model
        model = model[:_MAX_MODEL_LEN]
        if not model.isprintable() or model in (UNKNOWN, OTHER):
            return OTHER
        with self._lock:
            if model in self._seen:
                return model
            if len(self._seen) >= self._max:
                return OTHER
            self._seen.add(model)
        return model
