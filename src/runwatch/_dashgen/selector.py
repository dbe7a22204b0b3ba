"""The user's selector: validated once, then put into every runwatch metric of a query.

The panels and rules are written as plain PromQL without a selector, on the default metric names
(``runwatch_*``); :class:`Scope` is the one place that localizes them: it renames raw metrics to
the sink's namespace, adds the selector to them, and adds the scope's matchers to recorded series
and ``ALERTS``, so two rule sets in one Prometheus never read each other's series. :func:`scope`
is the selector part alone.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Final

__all__ = [
    "DEFAULT_NAMESPACE",
    "RESERVED_LABELS",
    "SCOPE_LABEL",
    "Scope",
    "check_namespace",
    "check_scope_name",
    "parse_selector",
    "scope",
]

DEFAULT_NAMESPACE: Final = "runwatch"

#: The label an explicit scope name (``--scope``) puts on every recorded series and alert.
SCOPE_LABEL: Final = "scope"

#: Labels runwatch sets itself: a selector on them would silently empty the ratios. ``slo``,
#: ``long``, ``short`` and ``severity`` are labels of runwatch's alerts.
RESERVED_LABELS: Final = frozenset(
    {
        "__name__", "api", "model", "status", "reason", "phase", "type", "tool_type", "kind", "stage",
        "status_code", "code", "le", "slo", "long", "short", "severity", "alertname", "alertstate",
    }
)  # fmt: skip

_MATCHER: Final = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*')

# A quoted string (skipped: label values are not metric names), or a raw runwatch metric (not a
# recorded series such as api:runwatch_runs:rate5m) and the brace that may follow it.
_METRIC: Final = re.compile(r'"(?:[^"\\]|\\.)*"|(?<![:\w])(runwatch_[a-z_]+)(?![:\w])(\{)?')

# A quoted string, or a series runwatch's rules record (api:runwatch_runs:rate5m,
# runwatch:slo_objective:ratio) or ALERTS, and the brace that may follow it.
_RECORDED: Final = re.compile(
    r'"(?:[^"\\]|\\.)*"|(?<![:\w])([a-z_]+:[a-z0-9_]+:[a-z0-9_]+|ALERTS)(?![:\w])(\{)?'
)

_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _matchers(selector: str) -> list[tuple[str, str, str]]:
    """The (label, operator, quoted-value body) of each matcher; ValueError naming the problem."""
    if not isinstance(selector, str):
        raise ValueError(f"selector must be a string, got {selector!r}")
    text = selector.strip()
    if text.startswith("{"):
        raise ValueError(f"selector {selector!r}: give the matchers without braces, e.g. 'job=\"api\"'")
    matchers: list[tuple[str, str, str]] = []
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
        if any(name == seen and op == "=" == seen_op for seen, seen_op, _ in matchers):
            raise ValueError(f"selector {selector!r}: label {name!r} is matched for equality twice")
        matchers.append((name, op, value))
        pos = m.end()
        if pos < len(text):
            if text[pos] != ",":
                raise ValueError(f"selector {selector!r}: expected ',' between matchers at {text[pos:]!r}")
            pos += 1
    return matchers


def parse_selector(selector: str) -> str:
    """Validate a label-matcher body (``job="api",namespace=~"prod-.*"``); return it normalized.

    Example::

        >>> parse_selector(' job = "api" ,')
        'job="api"'
    """
    return ",".join(f'{name}{op}"{value}"' for name, op, value in _matchers(selector))


def check_namespace(namespace: object) -> str:
    """The metric name prefix of ``PrometheusSink(namespace=...)``: a PromQL name without colons."""
    if not isinstance(namespace, str) or not _NAME.match(namespace):
        raise ValueError(
            f"namespace must be a metric name prefix (letters, digits, '_', not starting with a digit), "
            f"got {namespace!r}"
        )
    return namespace


def check_scope_name(name: object) -> str:
    """An explicit scope name: a label value without quotes, backslashes or control characters."""
    if not isinstance(name, str) or not name.isprintable() or any(c in name for c in '"\\{}'):
        raise ValueError(f"scope must be printable text without quotes, backslashes or braces, got {name!r}")
    return name


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


@dataclass(frozen=True, slots=True)
class Scope:
    """Where one set of rules and its dashboard look: a selector on the raw metrics, the sink's
    metric namespace, and an optional explicit scope name.

    The scope's *labels* are the selector's equality matchers (``job="api"`` keeps ``job``) and,
    when a name is given, ``scope``: every recorded series and alert carries them, and every read
    of a recorded series matches on them. Build it with :meth:`of` (validates).

    Example::

        >>> s = Scope.of('job="api",env=~"p.*"', namespace="llm", name="prod")
        >>> s.labels, s.matchers
        (('job', 'scope'), 'job="api",scope="prod"')
        >>> s.apply('api:runwatch_runs:rate5m / rate(runwatch_runs_total[5m])')
        'api:runwatch_runs:rate5m{job="api",scope="prod"} / rate(llm_runs_total{job="api",env=~"p.*"}[5m])'
    """

    #: The selector's matchers, normalized (put into every raw metric).
    selector: str = ""
    namespace: str = DEFAULT_NAMESPACE
    #: The explicit scope name (label ``scope``), or "".
    name: str = ""
    #: The selector's equality matchers: (label, value as written between the quotes).
    equal: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, selector: str = "", *, namespace: str = DEFAULT_NAMESPACE, name: str = "") -> Scope:
        parsed = _matchers(selector)
        check_namespace(namespace)
        check_scope_name(name)
        equal = tuple((label, value) for label, op, value in parsed if op == "=")
        for _, value in equal:
            _unquote(value, selector)
        if name and any(label == SCOPE_LABEL for label, _ in equal):
            raise ValueError(
                f"scope {name!r}: the selector already sets the label {SCOPE_LABEL!r}; give one or the other"
            )
        selector = ",".join(f'{n}{op}"{v}"' for n, op, v in parsed)
        return cls(selector=selector, namespace=namespace, name=name, equal=equal)

    @property
    def labels(self) -> tuple[str, ...]:
        """Labels every recorded series and alert carries (equality matchers, then ``scope``)."""
        return (*(label for label, _ in self.equal), *((SCOPE_LABEL,) if self.name else ()))

    @property
    def matcher_list(self) -> list[str]:
        """The scope's matchers one by one: the equality matchers, then ``scope="name"``."""
        pairs = [*self.equal, *(((SCOPE_LABEL, self.name),) if self.name else ())]
        return [f'{label}="{value}"' for label, value in pairs]

    @property
    def matchers(self) -> str:
        """Matchers of recorded series and ALERTS (:attr:`matcher_list`, joined)."""
        return ",".join(self.matcher_list)

    @property
    def static_labels(self) -> dict[str, str]:
        """``labels:`` of a rule whose expression has no scope labels of its own (``vector(...)``)."""
        pairs = [*self.equal, *(((SCOPE_LABEL, self.name),) if self.name else ())]
        return {label: _unquote(value, self.selector) for label, value in pairs}

    def by(self, *labels: str) -> str:
        """A ``by``/``on`` list over recorded series: the scope's labels, then ``labels``."""
        return ", ".join((*self.labels, *labels))

    def raw_by(self, *labels: str) -> str:
        """A ``by``/``on`` list over raw metrics: the equality matchers' labels, then ``labels``
        (raw metrics do not carry ``scope``; the rules add it as a static label)."""
        return ", ".join((*(label for label, _ in self.equal), *labels))

    def apply(self, expr: str) -> str:
        """``expr`` localized: raw metrics renamed to the namespace and given the selector, recorded
        series and ALERTS given the scope's matchers. Apply once, to a query written without them."""
        matchers = self.matchers

        def raw(m: re.Match[str]) -> str:
            metric, brace = m.groups()
            if metric is None:
                return m.group(0)
            metric = self.namespace + metric.removeprefix(DEFAULT_NAMESPACE)
            if not self.selector:
                return metric + (brace or "")
            return f"{metric}{{{self.selector}," if brace else f"{metric}{{{self.selector}}}"

        def recorded(m: re.Match[str]) -> str:
            series, brace = m.groups()
            if series is None or not matchers:
                return m.group(0)
            return f"{series}{{{matchers}," if brace else f"{series}{{{matchers}}}"

        return _RECORDED.sub(recorded, _METRIC.sub(raw, expr))


def _unquote(value: str, selector: str) -> str:
    """The label value a PromQL double-quoted string body stands for (its common escapes)."""
    try:
        text = json.loads(f'"{value}"')
    except ValueError:
        raise ValueError(f"selector {selector!r}: unsupported escape in the value {value!r}") from None
    assert isinstance(text, str)
    return text
