"""The user's selector: validated once, then put into every runwatch metric of a query.

The panels and rules are written as plain PromQL without a selector; :func:`scope` is the one
place that adds it, to the dashboard template at run time and to the rules alike.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["RESERVED_LABELS", "parse_selector", "scope"]

#: Labels runwatch sets itself: a selector on them would silently empty the ratios.
RESERVED_LABELS: Final = frozenset(
    {
        "__name__", "api", "model", "status", "reason", "phase", "type", "tool_type", "kind", "stage",
        "status_code", "code", "le",
    }
)  # fmt: skip

_MATCHER: Final = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*')

# A quoted string (skipped: label values are not metric names), or a raw runwatch metric (not a
# recorded series such as api:runwatch_runs:rate5m) and the brace that may follow it.
_METRIC: Final = re.compile(r'"(?:[^"\\]|\\.)*"|(?<![:\w])(runwatch_[a-z_]+)(?![:\w])(\{)?')


def parse_selector(selector: str) -> str:
    """Validate a label-matcher body (``job="api",namespace=~"prod-.*"``); return it normalized.

    Example::

        >>> parse_selector(' job = "api" ,')
        'job="api"'
    """
    if not isinstance(selector, str):
        raise ValueError(f"selector must be a string, got {selector!r}")
    text = selector.strip()
    if text.startswith("{"):
        raise ValueError(f"selector {selector!r}: give the matchers without braces, e.g. 'job=\"api\"'")
    matchers: list[str] = []
    pos = 0
    while pos < len(text):
        m = _MATCHER.match(text, pos)
        if m is None:
            raise ValueError(
                f"selector {selector!r} is not a list of PromQL label matchers "
                f'(expected name="value", name!="value", name=~"regex" or name!~"regex", '
                f"separated by commas) near {text[pos:]!r}"
            )
        name, op, value = m.groups()
        if name in RESERVED_LABELS:
            raise ValueError(
                f"selector {selector!r}: label {name!r} is set by runwatch itself; the selector is "
                f"for target labels such as job, namespace or instance"
            )
        matchers.append(f'{name}{op}"{value}"')
        pos = m.end()
        if pos < len(text):
            if text[pos] != ",":
                raise ValueError(f"selector {selector!r}: expected ',' between matchers at {text[pos:]!r}")
            pos += 1
    return ",".join(matchers)


def scope(expr: str, selector: str) -> str:
    """Put a parsed ``selector`` first into the matchers of every raw runwatch metric of ``expr``.

    First, so that it reads like a scope; a metric without braces gets them. Apply once, to a
    query written without a selector.

    Example::

        >>> scope('sum(rate(runwatch_runs_total{api="chat"}[5m])) / runwatch_runs_in_progress', 'job="a"')
        'sum(rate(runwatch_runs_total{job="a",api="chat"}[5m])) / runwatch_runs_in_progress{job="a"}'
    """
    if not selector:
        return expr

    def put(m: re.Match[str]) -> str:
        metric, brace = m.groups()
        if metric is None:  # a quoted string
            return m.group(0)
        return f"{metric}{{{selector}," if brace else f"{metric}{{{selector}}}"

    return _METRIC.sub(put, expr)
