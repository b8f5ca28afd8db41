"""Progress display for long jobs: counts, rate and ETA on stderr (tqdm)."""

from __future__ import annotations

import sys
import time

from tqdm.auto import tqdm


class Progress:
    """A progress bar over a unit (episodes) with a secondary rate (transitions/s).

    ``enabled=False`` prints nothing (tests, ``--quiet``). When stderr is not a
    terminal, tqdm still prints updates, at most every few seconds.
    """

    def __init__(self, total: int, unit: str, rate_unit: str, desc: str, enabled: bool = True,
                 initial: int = 0) -> None:
        self.enabled = enabled
        self.rate_unit = rate_unit
        self.secondary = 0
        self.start = time.perf_counter()
        self.bar = tqdm(total=total, unit=unit, desc=desc, disable=not enabled, dynamic_ncols=True, initial=initial,
                        mininterval=0.5 if sys.stderr.isatty() else 5.0, miniters=1, file=sys.stderr)
        # miniters=1: tqdm's default dynamic miniters, tuned on a fast first burst, would hide the
        # updates of jobs whose later steps are slow (seen as a training bar stuck at 0/300)

    def update(self, units: int, secondary: int, extra: str = "") -> None:
        """Advance by ``units`` (e.g. episodes) and ``secondary`` (e.g. transitions).

        ``extra`` is shown after the rate.
        """
        self.secondary += secondary
        self.bar.update(units)
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        value = self.secondary / elapsed
        rate = f"{value:,.0f} {self.rate_unit}/s" if value >= 10 else f"{value:.2g} {self.rate_unit}/s"
        self.bar.set_postfix_str(f"{rate}, {extra}" if extra else rate, refresh=False)

    def close(self) -> None:
        """Finish the bar."""
        self.bar.close()

    @property
    def elapsed(self) -> float:
        """Seconds since the bar started."""
        return time.perf_counter() - self.start
