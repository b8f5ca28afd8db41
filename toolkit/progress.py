"""Progress display for long jobs: counts, rate and ETA on stderr (tqdm)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm.auto import tqdm

BYTE_UNIT = "B"
SCALED_TOTAL = 10_000  # from this total on, counts and rates read 12.5k rather than 12500 (bytes: always)


class Progress:
    """A progress bar over a unit (episodes) with a secondary rate (transitions/s).

    Bytes and counts of 10,000 or more are scaled (``38.3MB/s`` by 1024, ``15.0k/30.0k``). The secondary
    rate is shown only when it differs from the bar's own rate, so a bar whose units and
    secondary count are the same thing (frames and frames, bytes and bytes) shows one rate.
    ``enabled=False`` prints nothing (tests, ``--quiet``). When ``file`` is not a terminal,
    tqdm still prints updates, at most every few seconds.

    Args:
        total: units the job has to do.
        unit: the bar's unit (``"ep"``, ``"step"``, ``"B"`` for bytes).
        rate_unit: the secondary count's name (``"transitions"``).
        desc: the text before the bar.
        enabled: False prints nothing.
        initial: units already done (a resumed job).
        file: where the bar is written (default: stderr).

    Example:
        >>> bar = Progress(10, "ep", "transitions", "generate reacher", enabled=False)
        >>> bar.update(1, 200)
        >>> bar.close()
    """

    def __init__(self, total: int, unit: str, rate_unit: str, desc: str, enabled: bool = True,
                 initial: int = 0, file: TextIO | None = None) -> None:
        self.enabled = enabled
        self.rate_unit = rate_unit
        self.secondary = 0
        self.units = 0  # units advanced by update(), compared with ``secondary`` to spot a duplicate rate
        self.start = time.perf_counter()
        out = file if file is not None else sys.stderr
        self.bar = tqdm(total=total, unit=unit, desc=desc, disable=not enabled, dynamic_ncols=True, initial=initial,
                        unit_scale=unit == BYTE_UNIT or total >= SCALED_TOTAL,
                        unit_divisor=1024 if unit == BYTE_UNIT else 1000,
                        mininterval=0.5 if out.isatty() else 5.0, miniters=1, file=out)
        # miniters=1: tqdm's default dynamic miniters, tuned on a fast first burst, would hide the
        # updates of jobs whose later steps are slow (seen as a training bar stuck at 0/300)

    def update(self, units: int, secondary: int, extra: str = "") -> None:
        """Advance by ``units`` (e.g. episodes) and ``secondary`` (e.g. transitions).

        Args:
            units: units done since the last update.
            secondary: secondary count done since the last update.
            extra: text shown after the rate.
        """
        self.secondary += secondary
        self.units += units
        self.bar.update(units)
        parts = [] if self.secondary == self.units else [self._secondary_rate()]
        if extra:
            parts.append(extra)
        self.bar.set_postfix_str(", ".join(parts), refresh=False)

    def _secondary_rate(self) -> str:
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        value = self.secondary / elapsed
        return f"{value:,.0f} {self.rate_unit}/s" if value >= 10 else f"{value:.2g} {self.rate_unit}/s"

    def close(self) -> None:
        """Finish the bar."""
        self.bar.close()

    @property
    def elapsed(self) -> float:
        """Seconds since the bar started."""
        return time.perf_counter() - self.start
