"""When the training loop draws an EMA sample grid: early by the clock, then every ``sample_every`` steps.

Two rules, combined:

- **Steps** (``--sample-every N``): a grid at every multiple of N steps and at the last step, as always.
  Grids of different runs at the same step stay comparable, and a long GPU run keeps its step-based grids.
- **Time, early on** (``--first-samples-after S``): so that a slow run (a laptop's CPU) shows something
  within seconds, grids also come after S seconds of training, then after 2S, 4S, 8S … — until the first
  step-based grid of this session, after which only the step rule counts. S = 0 turns the time rule off.

The clock is the loop's training time (pauses excluded). An early grid never comes sooner after the
previous one than ``1 / MAX_PREVIEW_SHARE`` times what that grid took to draw, so early grids cost
at most that share of the time (a big model whose grid takes 20 s gets its next one 200 s later).
"""

from __future__ import annotations

__all__ = ["PreviewCadence", "MAX_PREVIEW_SHARE"]

#: Early grids take at most this share of the training time.
MAX_PREVIEW_SHARE = 0.1


class PreviewCadence:
    """``due(step, elapsed_s)`` before drawing, ``taken(step, elapsed_s, cost_s)`` after; pure, no clock of its own."""

    def __init__(self, sample_every: int, first_after_s: float, final_step: int):
        self.sample_every = int(sample_every)
        self.final_step = int(final_step)
        self._next_time = float(first_after_s) if first_after_s > 0 else None  # None: the time rule is over
        self._last_step: int | None = None

    @property
    def last_step(self) -> int | None:
        """The step of the last grid drawn (None: none yet in this session)."""
        return self._last_step

    @property
    def early(self) -> bool:
        """The time rule still applies (no step-based grid yet)."""
        return self._next_time is not None

    def by_steps(self, step: int) -> bool:
        return step % self.sample_every == 0 or step == self.final_step

    def due(self, step: int, elapsed_s: float) -> bool:
        """A grid is due after ``step`` at ``elapsed_s`` seconds of training."""
        if step == self._last_step:
            return False
        if self.by_steps(step):
            return True
        return self._next_time is not None and elapsed_s >= self._next_time

    def taken(self, step: int, elapsed_s: float, cost_s: float = 0.0) -> None:
        """A grid was drawn after ``step``; it began at ``elapsed_s`` and took ``cost_s`` seconds."""
        self._last_step = step
        if self._next_time is None:
            return
        if self.by_steps(step):
            self._next_time = None  # the step rule has taken over
            return
        self._next_time = max(2.0 * self._next_time, elapsed_s + cost_s / MAX_PREVIEW_SHARE)
