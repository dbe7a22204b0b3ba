"""Regenerate the checked-in dashboard and rules: ``.venv/bin/python dashboards/build.py``.

The source of truth is :mod:`runwatch._dashgen` (also used by ``runwatch dashboards``); this
script only writes its default output next to itself. ``rules.test.yml`` is hand-written and
not touched: it is the independent check of the generated rules.
"""

from __future__ import annotations

from pathlib import Path

from runwatch._dashgen import write

if __name__ == "__main__":
    for path in write(Path(__file__).resolve().parent):
        print(path)
