"""Shared pieces of the dashboard and rules tests (a plain module: a unique name on sys.path)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = REPO / "dashboards"

# A raw runwatch metric (not a recorded series such as api:runwatch_runs:rate5m) and the body of
# the matcher braces that follow it, if any.
RAW_METRIC = re.compile(r"(?<![:\w])(runwatch_[a-z_]+)(?![:\w])(\{[^}]*\})?")


def binary(name: str) -> str:
    """The path of a Prometheus binary; a missing binary FAILS (CI installs it), never skips."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (Debian/Ubuntu: apt-get install prometheus)")
    return path


def dashboard_exprs(dashboard: dict[str, object]) -> Iterator[tuple[str, str]]:
    """(panel title, expr) for every target of every panel."""
    for panel in dashboard["panels"]:  # type: ignore[attr-defined]
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def rule_exprs(rules_yaml: str) -> Iterator[tuple[str, str]]:
    """(record or alert name, expr) for every rule."""
    import yaml

    for group in yaml.safe_load(rules_yaml)["groups"]:
        for rule in group["rules"]:
            yield rule.get("record") or rule["alert"], rule["expr"]
