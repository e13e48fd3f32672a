"""Reverse trajectories of a particle cloud: N(0, I) → data through the app's own samplers.

>>> from diffusion_studio.core.schedules import make_schedule
>>> from diffusion_studio.core.playground import IdealDenoiser, make_dataset
>>> schedule = make_schedule("cosine", 1000)
>>> denoiser = IdealDenoiser(make_dataset("moons", 300).points, schedule)
>>> paths = run_trajectories(denoiser, schedule, SampleConfig(sampler="ddim", steps=20, particles=100))
>>> paths.positions.shape, int(paths.timesteps[0]), int(paths.timesteps[-1])
((21, 100, 2), 950, -1)

Any denoiser works that is called as ``denoiser(x_t, t)`` and has a ``prediction`` (``epsilon``,
``sample`` or ``v_prediction``): :class:`~.ideal.IdealDenoiser` (x0) and
:class:`~.mlp.LearnedDenoiser` (what it was trained for). The samplers are ``core.samplers``
(DDPM, DDIM, DPM-Solver++), unchanged, with x̂0 clipping off: 2D data are not confined to [−1, 1].

The starting noise comes from ``seed`` alone, so DDPM, DDIM and DPM-Solver++ runs with the same
seed and particle count start from the same points: their paths can be compared one to one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np

from ..samplers import make_sampler
from ..samplers.base import Sampler
from ..schedules import NoiseSchedule
from .configs import MAX_PARTICLES, SampleConfig

if TYPE_CHECKING:  # torch is imported by sample_trajectories, so the containers here stay light
    import torch

__all__ = ["SampleConfig", "TrajectoryFrame", "Trajectories", "sample_trajectories", "run_trajectories",
           "build_sampler", "planned_frames", "MAX_PARTICLES", "FRAME_BUDGET_BYTES"]

#: positions, x̂0 and ε̂ of every kept frame (float32) stay under this; frames are thinned beyond
FRAME_BUDGET_BYTES = 256 * 2**20


def build_sampler(config: SampleConfig, schedule: NoiseSchedule, prediction: str) -> Sampler:
    """The ``core.samplers`` sampler for ``config``, x̂0 clipping off (2D data have no [−1, 1] range).

    DDPM with ``steps`` ≥ T runs the full chain; DDIM and DPM-Solver++ refuse more steps than T
    allows (a :class:`~diffusion_studio.core.samplers.SamplerError`, an ``InputError``).
    """
    steps = config.resolved_steps
    options: dict = {"prediction": prediction, "clip_sample": False, "spacing": config.spacing}
    if config.sampler == "ddpm":
        options["num_steps"] = None if steps >= schedule.num_timesteps else steps
    else:
        options["num_steps"] = steps
    if config.sampler == "ddim":
        options["eta"] = config.eta
    return make_sampler(config.sampler, schedule, **options)


@dataclass(frozen=True)
class TrajectoryFrame:
    """Particles at one point of the chain: x_t, and what the denoiser made of x_t (x̂0, ε̂).

    ``t = −1`` is the final frame (the samples); there x̂0 is the samples themselves and ε̂ is 0.
    """

    index: int
    t: int
    alphas_cumprod: float
    positions: np.ndarray  # float32 (P, 2)
    pred_x0: np.ndarray  # float32 (P, 2)
    pred_epsilon: np.ndarray  # float32 (P, 2)

    @property
    def is_final(self) -> bool:
        return self.t < 0


class Trajectories:
    """The kept frames of a run, stacked: ``positions`` / ``pred_x0`` / ``pred_epsilon`` are (F, P, 2).

    Frames can be appended while a run goes on (the arrays are allocated for ``capacity`` frames;
    the properties are views of the frames so far).
    """

    def __init__(self, capacity: int, particles: int, label: str = ""):
        self._positions = np.empty((capacity, particles, 2), np.float32)
        self._pred_x0 = np.empty_like(self._positions)
        self._pred_epsilon = np.empty_like(self._positions)
        self._timesteps = np.empty(capacity, np.int64)
        self._alphas_cumprod = np.empty(capacity, np.float64)
        self._count = 0
        self.label = label

    @classmethod
    def from_frames(cls, frames: list[TrajectoryFrame], label: str = "") -> "Trajectories":
        if not frames:
            raise ValueError("no frames")
        trajectories = cls(len(frames), len(frames[0].positions), label)
        for frame in frames:
            trajectories.append(frame)
        return trajectories

    def append(self, frame: TrajectoryFrame) -> None:
        if self._count == len(self._timesteps):  # more frames than planned: grow
            for name in ("_positions", "_pred_x0", "_pred_epsilon", "_timesteps", "_alphas_cumprod"):
                old = getattr(self, name)
                setattr(self, name, np.concatenate([old, np.empty_like(old[: max(1, len(old))])]))
        i = self._count
        self._positions[i], self._pred_x0[i], self._pred_epsilon[i] = frame.positions, frame.pred_x0, frame.pred_epsilon
        self._timesteps[i], self._alphas_cumprod[i] = frame.t, frame.alphas_cumprod
        self._count += 1

    def __len__(self) -> int:
        return self._count

    @property
    def positions(self) -> np.ndarray:
        return self._positions[: self._count]

    @property
    def pred_x0(self) -> np.ndarray:
        return self._pred_x0[: self._count]

    @property
    def pred_epsilon(self) -> np.ndarray:
        return self._pred_epsilon[: self._count]

    @property
    def timesteps(self) -> np.ndarray:
        """(F,) ints, −1 for the final frame."""
        return self._timesteps[: self._count]

    @property
    def alphas_cumprod(self) -> np.ndarray:
        return self._alphas_cumprod[: self._count]

    @property
    def num_particles(self) -> int:
        return int(self._positions.shape[1])

    @property
    def complete(self) -> bool:
        return self._count > 0 and int(self._timesteps[self._count - 1]) < 0

    @property
    def samples(self) -> np.ndarray:
        """The last frame's positions (the samples, when the run finished)."""
        return self.positions[-1]

    def frame(self, index: int) -> TrajectoryFrame:
        return TrajectoryFrame(index, int(self.timesteps[index]), float(self.alphas_cumprod[index]),
                               self.positions[index], self.pred_x0[index], self.pred_epsilon[index])

    def nearest_frame(self, t: int) -> int:
        """The index of the frame whose t is nearest ``t`` (the final frame counts as t = −1)."""
        return int(np.argmin(np.abs(self.timesteps - int(t))))


def planned_frames(config: "SampleConfig", schedule: NoiseSchedule) -> int:
    """How many frames :func:`sample_trajectories` yields for ``config`` (with the start and the end)."""
    steps = build_sampler(config, schedule, "epsilon").num_steps
    stride = _frame_stride(steps + 1, config.particles)
    return len(range(0, steps, stride)) + 1


def _frame_stride(num_frames: int, particles: int) -> int:
    """Keep every k-th frame so positions, x̂0 and ε̂ (float32) of the run fit FRAME_BUDGET_BYTES."""
    budget = FRAME_BUDGET_BYTES
    per_frame = particles * 2 * 4 * 3
    return max(1, -(-num_frames * per_frame // budget))


def sample_trajectories(
    denoiser: Callable,
    schedule: NoiseSchedule,
    config: SampleConfig | None = None,
    *,
    should_stop: Callable[[], bool] | None = None,
) -> Iterator[TrajectoryFrame]:
    """Yield a :class:`TrajectoryFrame` for the start, every kept step, and the final samples.

    A frame is taken after the denoiser saw x_t, so it holds x_t with its x̂0 and ε̂. Beyond
    :data:`FRAME_BUDGET_BYTES` only every k-th step is yielded (always the first and the final).
    ``should_stop()`` is polled between steps: the frames so far stay valid.
    """
    import torch

    config = config or SampleConfig()
    stop = should_stop or (lambda: False)
    sampler = build_sampler(config, schedule, denoiser.prediction)
    sampler.reset()
    generator = torch.Generator().manual_seed(config.seed)
    x = torch.randn(config.particles, 2, generator=generator)
    timesteps = [int(t) for t in sampler.timesteps]
    stride = _frame_stride(len(timesteps) + 1, config.particles)
    for index, t in enumerate(timesteps):
        if stop():
            return
        with torch.no_grad():  # per step: a generator must not leave its thread in no-grad mode between yields
            output = denoiser(x, t)
            step = sampler.step(output, t, x, generator=generator)
        if index % stride == 0:
            epsilon = sampler.predict_epsilon(output, t, x)
            yield TrajectoryFrame(index, t, sampler.alpha_cumprod(t), _numpy(x), _numpy(step.pred_original_sample),
                                  _numpy(epsilon))
        x = step.prev_sample
    final = _numpy(x)
    yield TrajectoryFrame(len(timesteps), -1, 1.0, final, final, np.zeros_like(final))


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().float().numpy().copy()


def run_trajectories(denoiser: Callable, schedule: NoiseSchedule, config: SampleConfig | None = None,
                     *, should_stop: Callable[[], bool] | None = None) -> Trajectories:
    """:func:`sample_trajectories` collected into one :class:`Trajectories`."""
    config = config or SampleConfig()
    trajectories = Trajectories(planned_frames(config, schedule), config.particles, config.describe())
    for frame in sample_trajectories(denoiser, schedule, config, should_stop=should_stop):
        trajectories.append(frame)
    return trajectories
