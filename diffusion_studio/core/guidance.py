"""Classifier-free guidance (Ho & Salimans 2022): one network, asked with and without the condition.

The convention here is diffusers' ``guidance_scale`` s (the UI shows both numbers):

    ε̃ = ε̂(x_t, ∅) + s·(ε̂(x_t, c) − ε̂(x_t, ∅))        s = 1: the conditional model, no guidance
                                                         s = 0: the unconditional model

Ho & Salimans write the same with w = s − 1: ε̃ = (1 + w)·ε̂(x_t, c) − w·ε̂(x_t, ∅) (their eq. 6).
As diffusers' pipelines do, the combination is applied to the raw network output — ε, x0 or v:
at a fixed x_t each of them is an affine function of ε̂, so guiding the output is guiding ε̂.

:class:`GuidedModel` wraps ``model(x, t, **condition)`` into the ``model(x, t)`` a sampler's chain
calls, evaluating the conditional and the unconditional input in **one batched forward pass**
(unconditional first, as diffusers orders them). It keeps the two outputs of its last call, so a
chain can show what guidance adds (:meth:`GuidedModel.views`).

On the CPU a large batch runs as two passes instead: there a network call of 2N rows costs more than
two calls of N once the activations outgrow the caches (the demo model at N = 64: 2.27× one call of N,
against 1.97× for two), while small batches, whose calls are mostly fixed overhead, gain from one pass
(N = 1: 1.3× against 2.0×; ``benchmarks/bench_guidance.py``). :data:`CPU_BATCHED_VALUES` is the
crossover, in input values of the doubled batch.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable, Mapping

from .errors import InputError

if TYPE_CHECKING:
    import torch

    from .samplers import Sampler

__all__ = ["GuidedModel", "guidance_weight", "guidance_scale", "check_guidance_scale", "MAX_GUIDANCE_SCALE",
           "CPU_BATCHED_VALUES"]

#: Beyond this even strongly guided models produce saturated noise; refused as a typo.
MAX_GUIDANCE_SCALE = 100.0
#: On the CPU, the conditional and unconditional inputs share one pass while the doubled input holds at most
#: this many values (2·N·C·H·W: 24 gray 16² images; measured: one pass of 2N costs 1.3× one of N at N = 1,
#: 1.7× at N = 12, 1.95× at 16 and 2.2× at 32, two passes 1.9–2.0×), and take two passes above it.
CPU_BATCHED_VALUES = 6144


def guidance_weight(scale: float) -> float:
    """Ho & Salimans' w for diffusers' guidance scale s: w = s − 1."""
    return float(scale) - 1.0


def guidance_scale(weight: float) -> float:
    """diffusers' guidance scale s for Ho & Salimans' w: s = 1 + w."""
    return 1.0 + float(weight)


def check_guidance_scale(scale: float) -> float:
    scale = float(scale)
    if not math.isfinite(scale) or not 0.0 <= scale <= MAX_GUIDANCE_SCALE:
        raise InputError(f"the guidance scale must be a number from 0 to {MAX_GUIDANCE_SCALE:g}, got {scale}")
    return scale


def _batched(value: "torch.Tensor", batch: int) -> "torch.Tensor":
    # A condition given once (one class, one prompt) applies to the whole batch.
    if value.shape[0] == batch:
        return value
    if value.shape[0] == 1:
        return value.expand(batch, *value.shape[1:])
    raise InputError(f"a condition for {value.shape[0]} samples cannot guide a batch of {batch}")


class GuidedModel:
    """``model(x, t)`` = the guided output of ``network(x, t, **condition)`` at guidance scale ``scale``.

    ``condition`` / ``null_condition``: the keyword tensors for the conditional and the unconditional
    input (e.g. ``class_labels`` with the null label, or ``encoder_hidden_states`` of the prompt and
    of the empty or negative prompt), each with batch size 1 or N. ``prediction_channels``: for a
    learned-variance model only the first channels are guided; the variance channels come from the
    conditional output (as in GLIDE and diffusers). ``record``: keep both outputs of every call,
    even at s = 1, for :meth:`views`.
    """

    def __init__(self, network: Callable, condition: Mapping[str, "torch.Tensor"],
                 null_condition: Mapping[str, "torch.Tensor"], scale: float, *,
                 prediction_channels: int | None = None, record: bool = False):
        self.network = network
        self.condition = dict(condition)
        self.null_condition = dict(null_condition)
        if set(self.condition) != set(self.null_condition):
            raise InputError("the conditional and the unconditional input must name the same inputs")
        self.scale = check_guidance_scale(scale)
        self.prediction_channels = prediction_channels
        self.record = bool(record)
        self.last_conditional: "torch.Tensor | None" = None
        self.last_unconditional: "torch.Tensor | None" = None

    @property
    def weight(self) -> float:
        return guidance_weight(self.scale)

    def parameters(self):
        """The network's parameters (a chain finds the model's device through them)."""
        return self.network.parameters()

    def _conditions(self, which: Mapping[str, "torch.Tensor"], batch: int) -> dict:
        return {name: _batched(value, batch) for name, value in which.items()}

    def __call__(self, x: "torch.Tensor", t: "torch.Tensor") -> "torch.Tensor":
        import torch

        batch = x.shape[0]
        if not self.record and self.scale == 1.0:
            return self.network(x, t, **self._conditions(self.condition, batch))
        if not self.record and self.scale == 0.0:
            return self.network(x, t, **self._conditions(self.null_condition, batch))
        if x.device.type == "cpu" and 2 * x.numel() > CPU_BATCHED_VALUES:
            unconditional = self.network(x, t, **self._conditions(self.null_condition, batch))
            conditional = self.network(x, t, **self._conditions(self.condition, batch))
        else:
            inputs = {name: torch.cat([_batched(self.null_condition[name], batch), _batched(value, batch)])
                      for name, value in self.condition.items()}
            output = self.network(torch.cat([x, x]), torch.cat([t, t]), **inputs)
            unconditional, conditional = output.chunk(2)
        if self.record:
            self.last_conditional, self.last_unconditional = conditional, unconditional
        channels = self.prediction_channels or conditional.shape[1]
        guided = unconditional[:, :channels] + self.scale * (conditional[:, :channels] - unconditional[:, :channels])
        if channels < conditional.shape[1]:
            guided = torch.cat([guided, conditional[:, channels:]], dim=1)
        return guided

    def views(self, x_t: "torch.Tensor", t: int, sampler: "Sampler") -> dict[str, "torch.Tensor"]:
        """ε̂ of the last call with and without the condition, and what guidance adds: (s − 1)·(ε̂(c) − ε̂(∅)).

        Empty unless ``record`` is on. Each is (N, C, H, W), ready for :func:`core.chain.run_chain`'s
        ``extra_views``.
        """
        if self.last_conditional is None or self.last_unconditional is None:
            return {}
        channels = self.prediction_channels or self.last_conditional.shape[1]
        eps_c = sampler.predict_epsilon(self.last_conditional[:, :channels], t, x_t)
        eps_u = sampler.predict_epsilon(self.last_unconditional[:, :channels], t, x_t)
        return {"eps_conditional": eps_c, "eps_unconditional": eps_u,
                "guidance_added": self.weight * (eps_c - eps_u)}
