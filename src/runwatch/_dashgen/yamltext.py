"""A small YAML emitter for the rules file: block scalars keep multi-line PromQL readable.

Emits only what the rules document holds (mappings, lists, strings, numbers, booleans), always
as YAML that PyYAML and Prometheus read back to the same values (a test round-trips it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Final

__all__ = ["to_yaml"]

# Identifiers and PromQL durations ("5m") are unambiguous YAML strings without quotes.
# YAML 1.1 readers (PyYAML) turn these bare words into booleans or null.
_YAML_WORDS: Final = frozenset({"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"})
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z|[0-9]+[smhdwy]\Z")


def _yaml_scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    # Plain identifiers stay bare; PromQL (full of double quotes) reads best single-quoted; a
    # JSON string, also a valid YAML double-quoted scalar, covers anything else.
    if _PLAIN.match(text) and text.lower() not in _YAML_WORDS:
        return text
    if text.isprintable():
        return "'" + text.replace("'", "''") + "'"
    return json.dumps(text)


def _block_ok(text: str) -> bool:
    # A leading space would need an indentation indicator, trailing spaces are invisible: JSON.
    lines = text.split("\n")
    return (
        len(lines) > 1
        and not text[:1].isspace()
        and all(line.isprintable() and line == line.rstrip() for line in lines)
    )


def _yaml_lines(value: object, indent: int) -> Iterable[str]:
    pad = " " * indent
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(item, Mapping | list):
                yield f"{pad}{key}:"
                yield from _yaml_lines(item, indent + 2)
            elif isinstance(item, str) and _block_ok(item):
                # Block scalar: multi-line PromQL stays readable in the checked-in file.
                yield f"{pad}{key}: |-"
                yield from (f"{pad}  {line}" if line else "" for line in item.split("\n"))
            else:
                yield f"{pad}{key}: {_yaml_scalar(item)}"
    elif isinstance(value, list):
        for item in value:
            lines = list(_yaml_lines(item, indent + 2))
            if isinstance(item, Mapping | list) and lines:
                yield f"{pad}- {lines[0][indent + 2 :]}"
                yield from lines[1:]
            else:
                yield f"{pad}- {_yaml_scalar(item)}"
    else:
        yield f"{pad}{_yaml_scalar(value)}"


def to_yaml(doc: object) -> str:
    """``doc`` as YAML text ending in a newline.

    Example::

        >>> to_yaml({"a": ["yes", "5m"]}).splitlines()
        ['a:', "  - 'yes'", '  - 5m']
    """
    return "\n".join(_yaml_lines(doc, 0)) + "\n"
