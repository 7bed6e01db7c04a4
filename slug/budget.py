"""Time budgets that guard a stage without deciding its output.

A training stage's length is fixed by the config (steps, epochs), so the same config gives the same
model on a fast and on a slow machine. A time budget only guards against a run that would take far
longer than expected: reaching it stops the job with :class:`TimeBudgetExceeded`, naming the setting
and the measured rate, and the stage writes nothing. Only a run the user explicitly marks as time-limited
(``stop=True``) ends early instead, and then its record says so (``TimeBudget.record``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable


class TimeBudgetExceeded(RuntimeError):
    """A stage reached its time budget before doing the work its config asks for."""


@dataclass
class TimeBudget:
    """``minutes`` of wall time for ``total`` units of work (``None``: no guard).

    ``setting`` is the config key of the budget, ``length_setting`` the key that fixes the work
    (both are named in the error); ``stop_setting`` the key that makes the run time-limited.
    """

    minutes: float | None
    setting: str
    length_setting: str
    total: int
    unit: str = "step"
    stop: bool = False
    stop_setting: str | None = None
    clock: Callable[[], float] = time.monotonic
    _t0: float = field(default=0.0, init=False)
    stopped_at: int | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.minutes is not None and not self.minutes > 0:
            raise ValueError(f"{self.setting} must be > 0 minutes or null (no guard), not {self.minutes!r}")
        self._t0 = self.clock()

    def elapsed(self) -> float:
        return self.clock() - self._t0

    def reached(self, done: int) -> bool:
        """After ``done`` units: False to go on; True when a time-limited run must stop now.

        Raises :class:`TimeBudgetExceeded` when the budget is reached and the run is not time-limited.
        """
        if self.minutes is None or done >= self.total:
            return False
        elapsed = self.elapsed()
        if elapsed <= 60.0 * self.minutes:
            return False
        if self.stop:
            self.stopped_at = done
            return True
        rate = elapsed / max(done, 1)
        need = rate * self.total / 60.0
        fixes = [f"raise {self.setting} (or set it to null for no guard)", f"lower {self.length_setting}"]
        if self.stop_setting:
            fixes.append(f"set {self.stop_setting}: true to accept a shorter training that depends on the "
                         "machine's speed (recorded, and shown in the report)")
        raise TimeBudgetExceeded(
            f"{self.setting} = {self.minutes:g} min reached after {done} of {self.total} {self.unit}s "
            f"({rate:.3g} s per {self.unit}; all {self.total} need about {need:.1f} min at this rate). "
            f"The length is fixed by {self.length_setting} so that the result does not depend on the machine's "
            f"speed; nothing was written. To go on: {'; or '.join(fixes)}.")

    def record(self) -> dict:
        """What the stage's record says of the budget."""
        return {"max_minutes": self.minutes, "time_limited": self.stop,
                "stopped_by_time_budget": self.stopped_at is not None, "stopped_at": self.stopped_at}
