"""The progress bar's text: one rate per quantity, scaled counts and byte rates."""

from __future__ import annotations

import io
import re

from wmhub.progress import Progress


def _render(total: int, unit: str, rate_unit: str, updates: list[tuple[int, int]]) -> str:
    out = io.StringIO()
    bar = Progress(total, unit, rate_unit, "job", file=out)
    for units, secondary in updates:
        bar.update(units, secondary)
    bar.bar.refresh()
    bar.close()
    return out.getvalue().split("\r")[-1]


def test_a_bar_whose_units_are_its_secondary_count_shows_one_rate():
    text = _render(100, "frame", "frames", [(10, 10), (30, 30)])
    assert "frames/s" not in text, text
    assert len(re.findall(r"frame/s", text)) == 1, text


def test_bytes_are_scaled_by_1024_and_shown_once():
    text = _render(200 * 1024 * 1024, "B", "bytes", [(40 * 1024 * 1024, 40 * 1024 * 1024)])
    assert "40.0M/200M" in text, text
    assert "bytes/s" not in text and not re.search(r"\d{4,}(\.\d+)?B/s", text), text
    assert re.search(r"[kMG]?B/s", text), text


def test_a_distinct_secondary_count_keeps_its_rate():
    text = _render(10, "ep", "transitions", [(1, 200), (1, 200)])
    assert "transitions/s" in text and "2/10" in text, text


def test_counts_are_scaled():
    assert "15.0k/30.0k" in _render(30_000, "step", "samples", [(15_000, 15_000 * 64)])
    assert "150/300" in _render(300, "step", "samples", [(150, 150 * 64)])  # small counts stay whole
