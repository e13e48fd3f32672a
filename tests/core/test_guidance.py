"""Classifier-free guidance: the formula, one batched pass, learned variance, and the views a chain shows."""

from __future__ import annotations

import pytest
import torch

from diffusion_studio.core.chain import ChainFrame, estimate_chain_bytes, run_chain
from diffusion_studio.core.errors import InputError
from diffusion_studio.core.guidance import GuidedModel, guidance_scale, guidance_weight
from diffusion_studio.core.samplers import make_sampler
from diffusion_studio.core.schedules import make_schedule


class CountingNet(torch.nn.Module):
    """ε̂ = x·(1 + label), so the conditional and unconditional outputs differ predictably."""

    def __init__(self, out_factor: int = 1):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(()))  # a parameter, so the chain finds the device
        self.calls: list[int] = []
        self.out_factor = out_factor

    def forward(self, x, t, class_labels):
        self.calls.append(x.shape[0])
        out = x * (1.0 + class_labels.float().view(-1, 1, 1, 1))
        return torch.cat([out] + [out * 10] * (self.out_factor - 1), dim=1)


def _inputs(n=3):
    return torch.randn(n, 2, 4, 4, generator=torch.Generator().manual_seed(0)), torch.full((n,), 5)


@pytest.mark.parametrize("scale", [0.0, 1.0, 3.0, 7.5])
def test_guided_output_is_unconditional_plus_scale_times_difference_in_one_pass(scale):
    net = CountingNet()
    x, t = _inputs()
    guided = GuidedModel(net, {"class_labels": torch.tensor([2])}, {"class_labels": torch.tensor([0])}, scale)
    out = guided(x, t)
    conditional, unconditional = x * 3.0, x * 1.0
    assert torch.allclose(out, unconditional + scale * (conditional - unconditional))
    assert net.calls == ([3] if scale in (0.0, 1.0) else [6])  # cond + uncond batched into one forward


def test_the_two_conventions():
    assert guidance_weight(7.5) == 6.5 and guidance_scale(6.5) == 7.5 and guidance_weight(1.0) == 0.0


def test_only_the_prediction_channels_are_guided_the_variance_is_the_conditional_one():
    net = CountingNet(out_factor=2)
    x, t = _inputs()
    out = GuidedModel(net, {"class_labels": torch.tensor([2])}, {"class_labels": torch.tensor([0])}, 4.0,
                      prediction_channels=2)(x, t)
    assert torch.allclose(out[:, :2], x + 4.0 * (3 * x - x))
    assert torch.allclose(out[:, 2:], 30 * x)


def test_bad_scales_and_conditions_are_refused():
    net = CountingNet()
    for scale in (-1, float("nan"), float("inf"), 1e6):
        with pytest.raises(InputError, match="guidance scale"):
            GuidedModel(net, {"class_labels": torch.tensor([1])}, {"class_labels": torch.tensor([0])}, scale)
    with pytest.raises(InputError, match="same inputs"):
        GuidedModel(net, {"class_labels": torch.tensor([1])}, {}, 2.0)
    x, t = _inputs(3)
    with pytest.raises(InputError, match="cannot guide a batch of 3"):
        GuidedModel(net, {"class_labels": torch.tensor([1, 2])}, {"class_labels": torch.tensor([0, 0])}, 2.0)(x, t)


def test_a_chain_shows_conditional_unconditional_and_added_noise_per_kept_step():
    net = CountingNet()
    guided = GuidedModel(net, {"class_labels": torch.tensor([1])}, {"class_labels": torch.tensor([0])}, 2.0,
                         record=True)
    sampler = make_sampler("ddim", make_schedule("linear", 20), num_steps=4)
    frames = [f for f in run_chain(guided, sampler, num_samples=2, seed=0, image_size=4, channels=2, stride=2,
                                   extra_views=guided.views) if isinstance(f, ChainFrame)]
    assert [f.index for f in frames] == [0, 2, 4]
    for frame in frames:
        assert set(frame.extras) == {"eps_conditional", "eps_unconditional", "guidance_added"}
        assert frame.extras["eps_conditional"].shape == frame.pred_noise.shape
        assert frame.nbytes == 6 * frame.x_t.nbytes
    # ε̂(c) = 2x and ε̂(∅) = x: the guided ε̂ (the frame's pred_noise) is x + 2·(2x − x) = 3x
    first = frames[0]
    assert (first.extras["eps_conditional"] != first.extras["eps_unconditional"]).any()
    assert estimate_chain_bytes(4, 2, 4, 2, stride=2, extra_views=3) == sum(f.nbytes for f in frames)


def test_a_large_cpu_batch_takes_two_passes_with_the_same_result():
    from diffusion_studio.core.guidance import CPU_BATCHED_VALUES

    net = CountingNet()
    n = CPU_BATCHED_VALUES // (2 * 16) + 1  # 2 channels of 4×4: one past the crossover
    x, t = torch.randn(n, 2, 4, 4, generator=torch.Generator().manual_seed(1)), torch.full((n,), 5)
    labels = {"class_labels": torch.tensor([2])}, {"class_labels": torch.tensor([0])}
    guided = GuidedModel(net, *labels, 4.0, record=True)
    out = guided(x, t)
    assert net.calls == [n, n]
    assert torch.allclose(out, x + 4.0 * (3 * x - x)) and torch.allclose(guided.last_unconditional, x)
    net.calls.clear()
    GuidedModel(net, *labels, 4.0)(x[: n // 2], t[: n // 2])
    assert net.calls == [2 * (n // 2)]  # below it: one batched pass
