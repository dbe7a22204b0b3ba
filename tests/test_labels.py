"""Closed sets of label values are declared once (runwatch._labels) and everything the tracker can
produce is in them: a status, reason or anomaly kind written in the code that is not a label value
would be counted as ``_other`` on every dashboard. These tests read the source, so they fail the
moment someone writes a new one without declaring it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from runwatch import _labels, protocols
from runwatch._events import ANOMALY_KINDS, APIS, STATUSES
from runwatch._stream import CLOSE_REASONS

SRC = Path(__file__).resolve().parent.parent / "src" / "runwatch"
#: Reasons every api's label set holds (the tracker's own outcomes).
COMMON = frozenset.intersection(*_labels.REASONS.values())


def _calls() -> list[tuple[str, str, list[ast.expr]]]:
    """(file, called name, positional args) of every call in the package's core and adapters."""
    out = []
    for path in [*SRC.glob("*.py"), *SRC.glob("adapters/*.py")]:
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                out.append((path.name, name, node.args))
    return out


def _literal(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


CALLS = _calls()


def test_every_literal_status_and_reason_passed_to_finish_is_a_label_value() -> None:
    """``finish(status, reason)`` and ``park(rt, t, status, reason)`` with literal values: the
    status is a ``status`` label value and the reason one every api's ``reason`` set holds."""
    seen = 0
    for file, name, args in CALLS:
        if name == "finish" and len(args) >= 2:
            status, reason = _literal(args[0]), _literal(args[1])
        elif name == "park" and len(args) >= 4:
            status, reason = _literal(args[2]), _literal(args[3])
        else:
            continue
        if status is not None:
            seen += 1
            assert status in STATUSES, (file, status)
        if reason is not None:
            assert reason in COMMON, (file, reason)
    assert seen >= 5  # the scan really found the tracker's endings


def test_every_literal_anomaly_kind_is_a_label_value() -> None:
    """``anomaly(kind)``, ``_anomaly(kind)`` and ``Anomaly(api, kind, ...)`` with a literal kind:
    the kind is a ``kind`` label value of ``runwatch_stream_anomalies_total``."""
    kinds = set()
    for file, name, args in CALLS:
        if name in ("anomaly", "_anomaly") and args:
            kind = _literal(args[0])
        elif name == "Anomaly" and len(args) >= 2:
            kind = _literal(args[1])
        else:
            continue
        if kind is not None:
            kinds.add(kind)
            assert kind in ANOMALY_KINDS, (file, kind)
    assert {"duplicate_id", "missing_terminal", "unknown_event"} <= kinds


def test_close_reasons_are_reasons() -> None:
    """Why a stream stopped becomes an aborted run's reason: each one is a label value (``poll``
    is not a reason: a polled run waits or ends ``stream_ended``)."""
    assert CLOSE_REASONS - {"poll"} <= COMMON


@pytest.mark.parametrize("api", APIS)
def test_protocol_tables_produce_only_label_values(api: str) -> None:
    """What a protocol table can make a run say: its terminal statuses are statuses, its phases
    are phase label values, its tool types are tool_type label values."""
    proto = protocols.get(api)
    for kind, value in proto.statuses.values():
        if kind == "terminal":
            assert value in STATUSES
        else:
            assert _labels.phase_label(value, None) == value
    assert set(proto.tool_types.values()) <= _labels.TOOL_TYPES
    assert set(protocols.TOOL_ITEM_TYPES.values()) <= _labels.TOOL_TYPES
