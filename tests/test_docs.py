"""Docs that match the code: every relative link in the README and the docs resolves (file and
``#anchor``), and the runbook promises nothing runwatch does not record."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted(
    {ROOT / "README.md", ROOT / "CHANGELOG.md", *ROOT.glob("docs/*.md"), *ROOT.glob("dashboards/*.md")}
)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    fenced = False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        heading = re.match(r"#+ (.*)", line)
        if heading:
            slug = _slug(heading.group(1))
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            found.add(slug if n == 0 else f"{slug}-{n}")
        found.update(re.findall(r'<a (?:name|id)="([^"]+)"', line))
    return found


def _links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # code is not a link
    return [t for t in re.findall(r"\]\(([^)\s]+)\)", text) if not re.match(r"[a-z]+:", t)]


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_relative_links_resolve(page: Path) -> None:
    """Each relative link names a file that exists and, with ``#anchor``, a heading in it."""
    broken = []
    for target in _links(page):
        path, _, fragment = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif fragment and dest.suffix == ".md" and fragment not in _anchors(dest):
            broken.append(f"{target}: no heading #{fragment}")
    assert broken == []


def test_the_anchor_rule_knows_code_and_punctuation() -> None:
    """The slug rule the link check relies on, on headings like the README's."""
    assert _slug("Zero-code (`opentelemetry-instrument`)") == "zero-code-opentelemetry-instrument"
    assert _slug("Prometheus `/metrics` in a FastAPI app, one process or many workers") == (
        "prometheus-metrics-in-a-fastapi-app-one-process-or-many-workers"
    )


def test_runbook_sends_no_one_to_headers_runwatch_does_not_record() -> None:
    """runwatch records no HTTP headers (guarantee 8): wherever the runbook mentions the
    ``x-ratelimit-*`` headers it says they are not in runwatch's telemetry."""
    for line in (ROOT / "docs" / "runbook.md").read_text().splitlines():
        if "x-ratelimit" in line:
            assert "runwatch records no headers" in line, line
