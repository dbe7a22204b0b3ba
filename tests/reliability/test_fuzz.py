"""The fuzz target of fuzz_decoder_tracker.py, run with a moderate number of examples in the suite."""

from __future__ import annotations

from fuzz_decoder_tracker import EXAMPLES, property_test


def test_decoder_tracker_fuzz() -> None:
    """On spliced, truncated, duplicated, noisy bodies of all four APIs in random chunks: nothing
    raises (the fuzz target asks internal errors to re-raise), every started run ends exactly once after
    close + flush, the gauge returns to 0, every span ends, and decoding ignores chunking."""
    before = EXAMPLES["n"]
    property_test(150)()
    assert EXAMPLES["n"] - before >= 150
