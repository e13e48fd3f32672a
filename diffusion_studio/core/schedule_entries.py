"""One schedule in the schedule lab: what the person asked for and the last schedule that worked.

Qt-free on purpose (plain dataclass), so the lab's bookkeeping is easy to test. The
requested fields may be invalid (β end = 1, start > end …); ``schedule`` then keeps the
last valid curve and ``error`` says why the request was refused.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from .schedules import SCHEDULE_PARAMS, NoiseSchedule, ScheduleError, make_schedule

__all__ = ["ScheduleEntry", "SHORT_NAMES", "short_name", "compact_params"]

#: how a canonical name reads in legends and lists
SHORT_NAMES: dict[str, str] = {"squaredcos_cap_v2": "cosine", "sigmoid_alphas_cumprod": "sigmoid ᾱ"}

_UIDS = itertools.count(1)


def short_name(name: str) -> str:
    return SHORT_NAMES.get(name, name)


def compact_params(name: str, params: dict[str, float]) -> str:
    """The parameters that tell two schedules of the same name apart, in a few characters."""
    p = params
    if "beta_start" in p:
        return f"β {p['beta_start']:.3g}→{p['beta_end']:.3g}"
    if name == "squaredcos_cap_v2":
        return f"s={p['s']:.3g}" + ("" if p["max_beta"] == 0.999 else f", max β={p['max_beta']:.4g}")
    if name == "sigmoid_alphas_cumprod":
        return f"{p['start']:g}…{p['end']:g}, τ={p['tau']:.3g}"
    if name == "laplace":
        return f"μ={p['mu']:.3g}, b={p['b']:.3g}"
    return ", ".join(f"{k}={v:.3g}" for k, v in p.items())


@dataclass
class ScheduleEntry:
    """A schedule on the lab's plots (the first one is the forward view's)."""

    schedule: NoiseSchedule
    color_index: int
    visible: bool = True
    primary: bool = False
    # What the editor shows; equal to the schedule's own values unless the last request failed.
    name: str = ""
    num_timesteps: int = 0
    zero_terminal_snr: bool = False
    params: dict[str, float] = field(default_factory=dict)
    error: str = ""
    #: a stable id for the plots' curves (rows move when others are removed)
    uid: int = field(default_factory=lambda: next(_UIDS))

    def __post_init__(self) -> None:
        if not self.name:
            self._take_request_from(self.schedule)

    def _take_request_from(self, schedule: NoiseSchedule) -> None:
        self.name = schedule.name
        self.num_timesteps = schedule.num_timesteps
        self.zero_terminal_snr = schedule.zero_terminal_snr
        self.params = dict(schedule.params)

    def request(self, name: str, num_timesteps: int, zero_terminal_snr: bool, params: dict[str, float]) -> bool:
        """Ask for new values. True when they made a new valid schedule; otherwise ``error`` says why."""
        allowed = SCHEDULE_PARAMS.get(name, {})
        self.name, self.num_timesteps, self.zero_terminal_snr = name, int(num_timesteps), bool(zero_terminal_snr)
        self.params = {**allowed, **{k: float(v) for k, v in params.items() if k in allowed}}
        try:
            schedule = make_schedule(name, self.num_timesteps, zero_terminal_snr=self.zero_terminal_snr, **self.params)
        except ScheduleError as exc:
            self.error = str(exc)
            return False
        self.error = ""
        changed = schedule != self.schedule
        self.schedule = schedule
        return changed

    def adopt(self, schedule: NoiseSchedule) -> None:
        """Replace everything with ``schedule`` (the forward view changed it)."""
        self.schedule = schedule
        self.error = ""
        self._take_request_from(schedule)

    def title(self) -> str:
        """Legend text: name, T, the telling parameters and the zero-SNR flag."""
        s = self.schedule
        zero = ", zero SNR" if s.zero_terminal_snr else ""
        return f"{short_name(s.name)} T={s.num_timesteps} ({compact_params(s.name, s.params)}{zero})"
